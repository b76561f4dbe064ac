//! The open-file limit: a load balancer holds two descriptors per proxied connection, and the
//! usual soft limit (1,024) would refuse clients long before memory or CPU run out.

/// Raises the soft `RLIMIT_NOFILE` to the hard limit, as nginx's `worker_rlimit_nofile` and
/// HAProxy's automatic `ulimit-n` do, and returns the limit now in force. Failure is not
/// fatal: the node runs with what it has, and says so.
pub fn raise_to_hard_limit() -> Option<u64> {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (soft, hard) = match getrlimit(Resource::RLIMIT_NOFILE) {
        Ok(l) => l,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the open-file limit");
            return None;
        }
    };
    if soft >= hard {
        return Some(soft);
    }
    match setrlimit(Resource::RLIMIT_NOFILE, hard, hard) {
        Ok(()) => Some(hard),
        Err(e) => {
            tracing::warn!(soft, hard, error = %e, "cannot raise the open-file limit");
            Some(soft)
        }
    }
}

#[cfg(test)]
mod tests {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};

    #[test]
    fn soft_limit_ends_at_the_hard_limit() {
        let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        // Start below the hard limit, as on a default system (1,024).
        setrlimit(Resource::RLIMIT_NOFILE, hard.min(1024) / 2, hard).unwrap();
        let limit = super::raise_to_hard_limit().expect("getrlimit works on Linux");
        let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        assert_eq!(soft, hard);
        assert_eq!(limit, soft);
    }
}
