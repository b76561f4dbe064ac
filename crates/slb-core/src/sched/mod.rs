//! Backend schedulers: given the backends of a listener, choose one for a new connection.
//!
//! Every scheduler implements [`Scheduler`] and is built from a [`SchedulerKind`] (Alibaba
//! SLB's `Scheduler` parameter) and the backend list with [`build`]. Schedulers are sans-IO:
//! health, draining and retry state are supplied per call through the `eligible` predicate,
//! and live connection counts through [`PickContext::active`], so the fast-changing state
//! lives beside the scheduler rather than inside it. A scheduler is rebuilt when the
//! backend list or a weight changes.

mod maglev;
mod rr;
mod wlc;
mod wrr;

pub use maglev::{HashKey, Maglev, MAGLEV_TABLE_SIZE};
pub use rr::RoundRobin;
pub use wlc::WeightedLeastConnections;
pub use wrr::SmoothWeightedRoundRobin;

use std::fmt;
use std::net::SocketAddr;
use std::str::FromStr;

/// Maximum backend weight accepted by Alibaba SLB; weights above it are clamped by [`build`].
pub const MAX_WEIGHT: u32 = 100;

/// Scheduling algorithm of a listener, named as in Alibaba SLB's `Scheduler` parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SchedulerKind {
    /// `wrr`: smooth weighted round robin (Alibaba's default).
    Wrr,
    /// `wlc`: weighted least connections.
    Wlc,
    /// `rr`: plain round robin, weights only used to exclude weight-0 backends.
    Rr,
    /// `sch`: consistent hash (Maglev) of the client IP.
    Sch,
    /// `tch`: consistent hash (Maglev) of the 4-tuple (client ip/port, local ip/port).
    Tch,
}

impl SchedulerKind {
    /// All kinds, in declaration order.
    pub const ALL: [SchedulerKind; 5] = [Self::Wrr, Self::Wlc, Self::Rr, Self::Sch, Self::Tch];

    /// The lowercase Alibaba name (`"wrr"`, `"wlc"`, `"rr"`, `"sch"`, `"tch"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Wrr => "wrr",
            Self::Wlc => "wlc",
            Self::Rr => "rr",
            Self::Sch => "sch",
            Self::Tch => "tch",
        }
    }
}

impl Default for SchedulerKind {
    /// `wrr`, Alibaba SLB's default scheduler.
    fn default() -> Self {
        Self::Wrr
    }
}

impl fmt::Display for SchedulerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Returned by [`SchedulerKind::from_str`] for a name that is not one of the Alibaba names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownSchedulerError(pub String);

impl fmt::Display for UnknownSchedulerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown scheduler {:?}; expected one of wrr, wlc, rr, sch, tch",
            self.0
        )
    }
}

impl std::error::Error for UnknownSchedulerError {}

impl FromStr for SchedulerKind {
    type Err = UnknownSchedulerError;

    /// Parses the exact lowercase Alibaba name; anything else is rejected.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| UnknownSchedulerError(s.to_owned()))
    }
}

/// One backend as the scheduler sees it. The position in the slice passed to [`build`] is
/// the backend's index everywhere else ([`PickContext::active`], `eligible`, the result).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendWeight {
    /// Stable identity, e.g. `"10.0.0.1:80"`. Consistent hashing places backends by this
    /// key, so it must be unique within a listener and identical on every node.
    pub key: String,
    /// Relative weight, `0..=100` ([`MAX_WEIGHT`]); `0` means "take no new connections".
    pub weight: u32,
}

impl BackendWeight {
    /// Convenience constructor.
    pub fn new(key: impl Into<String>, weight: u32) -> Self {
        Self {
            key: key.into(),
            weight,
        }
    }
}

/// Per-connection inputs to [`Scheduler::pick`].
#[derive(Debug, Clone, Copy)]
pub struct PickContext<'a> {
    /// Client (peer) address of the new connection; hashed by `sch` and `tch`.
    pub client: SocketAddr,
    /// Local (listener) address the connection arrived on; hashed by `tch`.
    pub local: SocketAddr,
    /// Current active connections per backend, in backend index order; used by `wlc`.
    /// Missing entries (a shorter slice) count as 0.
    pub active: &'a [u32],
}

/// A load-balancing algorithm. Implementations keep their mutable state (cursors, smooth
/// WRR weights) behind a `Mutex` or atomics so one instance serves all worker threads.
pub trait Scheduler: Send + Sync {
    /// Choose a backend index for a new connection. `eligible(i)` is false for backends that
    /// must not take new connections (unhealthy, weight 0, draining, or already tried for
    /// this connection). Returns `None` when no backend is eligible. Weight-0 backends are
    /// never returned even if `eligible` says yes.
    fn pick(&self, ctx: &PickContext<'_>, eligible: &dyn Fn(usize) -> bool) -> Option<usize>;
}

/// Builds the scheduler for `kind` over `backends`. Weights above [`MAX_WEIGHT`] are clamped.
pub fn build(kind: SchedulerKind, backends: &[BackendWeight]) -> Box<dyn Scheduler> {
    let weights: Vec<u32> = backends.iter().map(|b| b.weight.min(MAX_WEIGHT)).collect();
    match kind {
        SchedulerKind::Wrr => Box::new(SmoothWeightedRoundRobin::new(weights)),
        SchedulerKind::Wlc => Box::new(WeightedLeastConnections::new(weights)),
        SchedulerKind::Rr => Box::new(RoundRobin::new(weights)),
        SchedulerKind::Sch => Box::new(Maglev::new(backends, HashKey::ClientIp)),
        SchedulerKind::Tch => Box::new(Maglev::new(backends, HashKey::FourTuple)),
    }
}

#[cfg(test)]
pub(crate) mod test_util {
    use super::*;

    pub fn ctx(active: &[u32]) -> PickContext<'_> {
        PickContext {
            client: "192.0.2.1:40000".parse().unwrap(),
            local: "198.51.100.1:80".parse().unwrap(),
            active,
        }
    }

    pub fn backends(weights: &[u32]) -> Vec<BackendWeight> {
        weights
            .iter()
            .enumerate()
            .map(|(i, &w)| BackendWeight::new(format!("10.0.0.{}:80", i + 1), w))
            .collect()
    }

    pub fn all(_: usize) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use super::*;

    #[test]
    fn kind_round_trips_through_alibaba_names() {
        for k in SchedulerKind::ALL {
            assert_eq!(k.as_str().parse::<SchedulerKind>(), Ok(k));
            assert_eq!(k.to_string(), k.as_str());
        }
        assert_eq!(SchedulerKind::default(), SchedulerKind::Wrr);
    }

    #[test]
    fn kind_rejects_unknown_and_wrong_case() {
        assert!("WRR".parse::<SchedulerKind>().is_err());
        assert!("lc".parse::<SchedulerKind>().is_err());
        let err = "".parse::<SchedulerKind>().unwrap_err();
        assert!(err.to_string().contains("unknown scheduler"));
    }

    #[test]
    fn every_kind_returns_none_when_empty_or_nothing_eligible() {
        for k in SchedulerKind::ALL {
            let s = build(k, &[]);
            assert_eq!(s.pick(&ctx(&[]), &all), None, "{k} empty");
            let s = build(k, &backends(&[1, 2, 3]));
            assert_eq!(
                s.pick(&ctx(&[0, 0, 0]), &|_| false),
                None,
                "{k} none eligible"
            );
            let s = build(k, &backends(&[0, 0]));
            assert_eq!(s.pick(&ctx(&[0, 0]), &all), None, "{k} all weight 0");
        }
    }

    #[test]
    fn every_kind_excludes_weight_zero_and_ineligible() {
        for k in SchedulerKind::ALL {
            let s = build(k, &backends(&[5, 0, 5, 5]));
            for port in 0..200u16 {
                let mut c = ctx(&[0, 0, 0, 0]);
                c.client.set_port(port);
                let got = s.pick(&c, &|i| i != 2).unwrap();
                assert!(got == 0 || got == 3, "{k} picked {got}");
            }
        }
    }

    #[test]
    fn schedulers_are_shareable_across_threads() {
        fn assert_send_sync<T: Send + Sync + ?Sized>() {}
        assert_send_sync::<dyn Scheduler>();
        let s: std::sync::Arc<dyn Scheduler> = build(SchedulerKind::Wrr, &backends(&[1, 1])).into();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let s = s.clone();
                std::thread::spawn(move || {
                    (0..1000)
                        .filter(|_| s.pick(&ctx(&[]), &all) == Some(0))
                        .count()
                })
            })
            .collect();
        let zeros: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
        assert_eq!(zeros, 2000);
    }
}
