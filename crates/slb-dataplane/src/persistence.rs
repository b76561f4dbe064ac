//! Source-IP session persistence of one listener (Alibaba `PersistenceTimeout`).
//!
//! Wraps the sans-IO [`slb_core::PersistenceTable`] behind a mutex and purges expired entries
//! at most once per [`PURGE_EVERY`]. The table belongs to the listener, not the snapshot, so
//! remembered clients survive a change of the backend list; a remembered backend that is no
//! longer present or eligible is simply not used.

use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use slb_core::PersistenceTable;

use crate::backend::lock;

/// Minimum time between two purges of expired entries.
pub const PURGE_EVERY: Duration = Duration::from_secs(1);

struct Inner {
    timeout: Duration,
    table: Option<PersistenceTable>,
    last_purge: Instant,
}

/// Thread-safe persistence table; disabled when the timeout is zero.
pub(crate) struct Persistence(Mutex<Inner>);

impl Persistence {
    pub(crate) fn new(timeout: Duration) -> Self {
        Self(Mutex::new(Inner {
            timeout,
            table: (!timeout.is_zero()).then(|| PersistenceTable::new(timeout)),
            last_purge: Instant::now(),
        }))
    }

    /// Changes the timeout; a different timeout starts with an empty table.
    pub(crate) fn set_timeout(&self, timeout: Duration) {
        let mut inner = lock(&self.0);
        if inner.timeout != timeout {
            *inner = Inner {
                timeout,
                table: (!timeout.is_zero()).then(|| PersistenceTable::new(timeout)),
                last_purge: Instant::now(),
            };
        }
    }

    /// The backend key remembered for `client`, if any and not expired.
    pub(crate) fn lookup(&self, client: IpAddr) -> Option<String> {
        let inner = lock(&self.0);
        let table = inner.table.as_ref()?;
        table.lookup(client, Instant::now()).map(str::to_owned)
    }

    /// Remembers (or refreshes) `client` → `backend_key`.
    pub(crate) fn record(&self, client: IpAddr, backend_key: &str) {
        let mut inner = lock(&self.0);
        let now = Instant::now();
        let purge = now.duration_since(inner.last_purge) >= PURGE_EVERY;
        if purge {
            inner.last_purge = now;
        }
        if let Some(table) = inner.table.as_mut() {
            if purge {
                table.purge_expired(now);
            }
            table.record(client, backend_key, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disabled_at_zero_and_reset_on_timeout_change() {
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let p = Persistence::new(Duration::ZERO);
        p.record(ip, "a");
        assert_eq!(p.lookup(ip), None);
        p.set_timeout(Duration::from_secs(60));
        p.record(ip, "a");
        assert_eq!(p.lookup(ip).as_deref(), Some("a"));
        p.set_timeout(Duration::from_secs(60));
        assert_eq!(p.lookup(ip).as_deref(), Some("a"));
        p.set_timeout(Duration::from_secs(30));
        assert_eq!(p.lookup(ip), None);
    }
}
