//! The immutable per-listener snapshot read by every new connection.
//!
//! A snapshot holds what a configuration change replaces as one unit: the backend list, the
//! scheduler built over it and the timeouts. It is swapped atomically with `ArcSwap`; a
//! connection loads it once at accept. Fast-changing state (health, active counts, close
//! signals) is reached through each backend's shared [`BackendState`].

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use slb_core::{BackendWeight, PickContext, Scheduler};

use crate::backend::BackendState;
use crate::spec::{ListenerSpec, DEFAULT_CONNECT_TIMEOUT};

/// When every backend with a non-zero weight is unhealthy, keep forwarding to all of them
/// through the scheduler instead of refusing connections. This is Alibaba SLB's behaviour:
/// a health check that fails everywhere is more often wrong (bad URI, firewall) than all
/// backends being down, and refusing would turn a probe misconfiguration into an outage.
pub const FORWARD_WHEN_ALL_UNHEALTHY: bool = true;

/// Groups up to this size pick a backend without allocating.
const STACK_BACKENDS: usize = 64;

/// One backend inside a snapshot.
pub(crate) struct Backend {
    /// Where to connect.
    pub addr: SocketAddr,
    /// Reported back in health reports.
    pub server_id: String,
    /// Relative weight; 0 takes no new connections.
    pub weight: u32,
    /// Scheduler and persistence key: the address as text (unique within a listener).
    pub key: String,
    /// Shared live state; the same `Arc` across snapshots while the address stays.
    pub state: Arc<BackendState>,
}

/// Immutable view of a listener's configuration.
pub(crate) struct Snapshot {
    pub backends: Vec<Backend>,
    pub scheduler: Box<dyn Scheduler>,
    pub health_enabled: bool,
    pub persistence_timeout: Duration,
    pub established_timeout: Duration,
    pub connect_timeout: Duration,
    pub proxy_protocol: bool,
    pub max_sessions: usize,
    pub master_slave: bool,
    pub acl: Option<crate::spec::AclSpec>,
}

impl Snapshot {
    /// Builds a snapshot for `spec`, taking each backend's state from `state_for` (which
    /// reuses the state of an address already known to the listener).
    pub(crate) fn build(
        spec: &ListenerSpec,
        mut state_for: impl FnMut(SocketAddr) -> Arc<BackendState>,
    ) -> Self {
        // Duplicate addresses share one state so counts and health stay consistent.
        let mut seen: HashMap<SocketAddr, Arc<BackendState>> = HashMap::new();
        let backends: Vec<Backend> = spec
            .backends
            .iter()
            .map(|b| Backend {
                addr: b.addr,
                server_id: b.server_id.clone(),
                weight: b.weight,
                key: b.addr.to_string(),
                state: seen
                    .entry(b.addr)
                    .or_insert_with(|| state_for(b.addr))
                    .clone(),
            })
            .collect();
        let weights: Vec<BackendWeight> = backends
            .iter()
            .map(|b| BackendWeight {
                key: b.key.clone(),
                weight: b.weight,
            })
            .collect();
        Self {
            scheduler: slb_core::build(spec.scheduler, &weights),
            backends,
            health_enabled: spec.health.is_some(),
            persistence_timeout: spec.persistence_timeout,
            established_timeout: spec.established_timeout,
            proxy_protocol: spec.proxy_protocol,
            master_slave: spec.master_slave,
            acl: spec.acl.clone(),
            max_sessions: if spec.max_sessions == 0 {
                crate::spec::DEFAULT_UDP_MAX_SESSIONS
            } else {
                spec.max_sessions
            },
            connect_timeout: if spec.connect_timeout.is_zero() {
                DEFAULT_CONNECT_TIMEOUT
            } else {
                spec.connect_timeout
            },
        }
    }

    /// Finds a backend's state by address.
    pub(crate) fn state_of(&self, addr: SocketAddr) -> Option<&Arc<BackendState>> {
        self.backends
            .iter()
            .find(|b| b.addr == addr)
            .map(|b| &b.state)
    }

    /// Chooses a backend for a new connection, skipping indices in `tried`.
    ///
    /// Eligible: weight > 0, not closed, and healthy unless health checking is off or every
    /// weighted backend is unhealthy ([`FORWARD_WHEN_ALL_UNHEALTHY`]). A `persisted` key
    /// (source-IP persistence) wins when that backend is still present and eligible.
    pub(crate) fn choose(
        &self,
        client: SocketAddr,
        local: SocketAddr,
        tried: &[usize],
        persisted: Option<&str>,
    ) -> Option<usize> {
        let ignore_health = !self.health_enabled
            || (FORWARD_WHEN_ALL_UNHEALTHY
                && !self
                    .backends
                    .iter()
                    .any(|b| b.weight > 0 && !b.state.is_closed() && b.state.health_ok()));
        let eligible = |i: usize| {
            let b = &self.backends[i];
            b.weight > 0
                && !tried.contains(&i)
                && !b.state.is_closed()
                && (ignore_health || b.state.health_ok())
        };
        if self.master_slave {
            // The master while it may take traffic, else the slave.
            return (0..self.backends.len()).find(|&i| eligible(i));
        }
        if let Some(key) = persisted {
            if let Some(i) = self.backends.iter().position(|b| b.key == key) {
                if eligible(i) {
                    return Some(i);
                }
            }
        }
        // Live counts for `wlc`, on the stack for groups of up to `STACK_BACKENDS` (a pick
        // happens per connection or request; an allocation each time showed in profiles).
        let n = self.backends.len();
        let mut stack = [0u32; STACK_BACKENDS];
        let heap: Vec<u32>;
        let active: &[u32] = if n <= STACK_BACKENDS {
            for (slot, b) in stack.iter_mut().zip(&self.backends) {
                *slot = b.state.active();
            }
            &stack[..n]
        } else {
            heap = self.backends.iter().map(|b| b.state.active()).collect();
            &heap
        };
        let ctx = PickContext {
            client,
            local,
            active,
        };
        self.scheduler.pick(&ctx, &eligible)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{BackendSpec, HealthCheckKind, HealthCheckSpec, ListenerKey};
    use slb_core::SchedulerKind;

    fn spec(weights: &[u32], health: bool) -> ListenerSpec {
        ListenerSpec {
            key: ListenerKey::tcp("lb-1", 80),
            bind: "127.0.0.1:0".parse().unwrap(),
            backends: weights
                .iter()
                .enumerate()
                .map(|(i, &w)| BackendSpec {
                    server_id: format!("s{i}"),
                    addr: format!("10.0.0.{}:80", i + 1).parse().unwrap(),
                    weight: w,
                })
                .collect(),
            scheduler: SchedulerKind::Rr,
            health: health.then(|| HealthCheckSpec {
                kind: HealthCheckKind::Tcp,
                port: None,
                timeout: Duration::from_secs(1),
                interval: Duration::from_secs(1),
                healthy_threshold: 1,
                unhealthy_threshold: 1,
            }),
            persistence_timeout: Duration::ZERO,
            established_timeout: Duration::from_secs(900),
            connect_timeout: Duration::ZERO,
            drain_timeout: None,
            proxy_protocol: false,
            max_sessions: 0,
            master_slave: false,
            bandwidth_mbps: None,
            acl: None,
            caps: None,
            ddos: None,
        }
    }

    fn addrs() -> (SocketAddr, SocketAddr) {
        (
            "192.0.2.1:1234".parse().unwrap(),
            "198.51.100.1:80".parse().unwrap(),
        )
    }

    #[test]
    fn zero_connect_timeout_means_default() {
        let s = Snapshot::build(&spec(&[1], false), |_| BackendState::new());
        assert_eq!(s.connect_timeout, DEFAULT_CONNECT_TIMEOUT);
    }

    #[test]
    fn unhealthy_skipped_unless_all_unhealthy() {
        let s = Snapshot::build(&spec(&[1, 1], true), |_| BackendState::new());
        let (c, l) = addrs();
        for b in &s.backends {
            b.state.ensure_tracker(1, 1);
        }
        s.backends[0].state.record_probe(false);
        for _ in 0..10 {
            assert_eq!(s.choose(c, l, &[], None), Some(1));
        }
        s.backends[1].state.record_probe(false);
        const { assert!(FORWARD_WHEN_ALL_UNHEALTHY) };
        let picks: Vec<_> = (0..10).map(|_| s.choose(c, l, &[], None)).collect();
        assert!(picks.contains(&Some(0)) && picks.contains(&Some(1)));
    }

    #[test]
    fn master_slave_prefers_the_master_while_it_is_healthy() {
        let mut sp = spec(&[100, 100], true);
        sp.master_slave = true;
        let s = Snapshot::build(&sp, |_| BackendState::new());
        let (c, l) = addrs();
        for b in &s.backends {
            b.state.ensure_tracker(1, 1);
        }
        assert!((0..10).all(|_| s.choose(c, l, &[], Some("10.0.0.2:80")) == Some(0)));
        // A failed connect to the master tries the slave.
        assert_eq!(s.choose(c, l, &[0], None), Some(1));
        s.backends[0].state.record_probe(false);
        assert!((0..10).all(|_| s.choose(c, l, &[], None) == Some(1)));
        s.backends[0].state.record_probe(true);
        assert_eq!(s.choose(c, l, &[], None), Some(0), "fails back");
        // Both unhealthy: traffic keeps flowing, to the master.
        s.backends[0].state.record_probe(false);
        s.backends[1].state.record_probe(false);
        assert_eq!(s.choose(c, l, &[], None), Some(0));
    }

    #[test]
    fn persisted_key_wins_when_eligible_and_tried_are_skipped() {
        let s = Snapshot::build(&spec(&[1, 1, 0], false), |_| BackendState::new());
        let (c, l) = addrs();
        for _ in 0..5 {
            assert_eq!(s.choose(c, l, &[], Some("10.0.0.2:80")), Some(1));
            assert_eq!(s.choose(c, l, &[1], Some("10.0.0.2:80")), Some(0));
        }
        // Weight 0 is never used, even when persisted.
        assert_ne!(s.choose(c, l, &[], Some("10.0.0.3:80")), Some(2));
        assert_eq!(s.choose(c, l, &[0, 1], None), None);
        s.backends[0].state.close();
        assert_eq!(s.choose(c, l, &[1], None), None);
    }
}

#[cfg(test)]
mod wlc_tests {
    use super::*;
    use crate::spec::{BackendSpec, ListenerKey};
    use slb_core::SchedulerKind;

    /// `wlc` sees live counts both for groups that fit the stack buffer and larger ones.
    #[test]
    fn wlc_picks_the_idle_backend_in_small_and_large_groups() {
        for n in [3usize, STACK_BACKENDS, STACK_BACKENDS + 6] {
            let spec = ListenerSpec {
                key: ListenerKey::tcp("lb-1", 80),
                bind: "127.0.0.1:0".parse().unwrap(),
                backends: (0..n)
                    .map(|i| BackendSpec {
                        server_id: format!("s{i}"),
                        addr: SocketAddr::from(([10, 0, (i / 200) as u8, (i % 200) as u8 + 1], 80)),
                        weight: 100,
                    })
                    .collect(),
                scheduler: SchedulerKind::Wlc,
                health: None,
                persistence_timeout: Duration::ZERO,
                established_timeout: Duration::from_secs(900),
                connect_timeout: Duration::ZERO,
                drain_timeout: None,
                proxy_protocol: false,
                max_sessions: 0,
                master_slave: false,
                bandwidth_mbps: None,
                acl: None,
                caps: None,
                ddos: None,
            };
            let snap = Snapshot::build(&spec, |_| BackendState::new());
            let idle = n - 1;
            let _busy: Vec<_> = (0..n)
                .filter(|&i| i != idle)
                .map(|i| snap.backends[i].state.track())
                .collect();
            let client = "192.0.2.1:1234".parse().unwrap();
            let local = "198.51.100.1:80".parse().unwrap();
            assert_eq!(snap.choose(client, local, &[], None), Some(idle), "n={n}");
        }
    }
}
