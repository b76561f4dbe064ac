//! Anti-DDoS in the data plane: one [`slb_core::ddos::DdosGuard`] per instance, shared by
//! its listeners, consulted for every new connection (TCP, HTTP, HTTPS) and every
//! datagram (UDP) before anything else; drops counted by reason, mode changes logged.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use slb_core::ddos::{DdosConfig, DdosGuard, Drop, Mode};

use crate::backend::lock;

/// The protection of one instance.
pub struct InstanceDdos {
    pub load_balancer_id: String,
    guard: Mutex<DdosGuard>,
    /// Drops by [`Drop`] (malformed, source limit, blackhole).
    pub dropped: [AtomicU64; 3],
}

fn index(d: Drop) -> usize {
    match d {
        Drop::Malformed => 0,
        Drop::SourceLimit => 1,
        Drop::Blackhole => 2,
    }
}

/// Drop reasons in the order of [`InstanceDdos::dropped`].
pub const DROP_REASONS: [Drop; 3] = [Drop::Malformed, Drop::SourceLimit, Drop::Blackhole];

impl InstanceDdos {
    pub fn new(load_balancer_id: &str, cfg: DdosConfig) -> Self {
        Self {
            load_balancer_id: load_balancer_id.to_string(),
            guard: Mutex::new(DdosGuard::new(cfg)),
            dropped: Default::default(),
        }
    }

    pub fn set_config(&self, cfg: DdosConfig) {
        lock(&self.guard).set_config(cfg);
    }

    fn judge(&self, f: impl FnOnce(&mut DdosGuard) -> Result<(), Drop>) -> bool {
        let mut g = lock(&self.guard);
        let before = g.mode();
        let verdict = f(&mut g);
        let after = g.mode();
        if before != after {
            let r = g.last_rates();
            match after {
                Mode::Normal => {
                    tracing::warn!(load_balancer = %self.load_balancer_id, from = before.as_str(), "anti-DDoS: back to normal")
                }
                mode => {
                    tracing::warn!(load_balancer = %self.load_balancer_id, action = mode.as_str(), bps = r.bps, pps = r.pps, cps = r.cps, "anti-DDoS: threshold reached")
                }
            }
        }
        drop(g);
        match verdict {
            Ok(()) => true,
            Err(d) => {
                self.dropped[index(d)].fetch_add(1, Ordering::Relaxed);
                false
            }
        }
    }

    /// Whether a new connection from `src` may proceed.
    pub fn connection(&self, src: std::net::IpAddr) -> bool {
        self.judge(|g| g.connection(src, Instant::now()))
    }

    /// Whether a datagram of `len` bytes from `src` may proceed.
    pub fn datagram(&self, src: std::net::IpAddr, len: usize) -> bool {
        self.judge(|g| g.datagram(src, len, Instant::now()))
    }

    /// Bytes a client sent on an established TCP connection: counted in the bit rate.
    pub fn bytes(&self, len: usize) {
        self.judge(|g| {
            g.bytes(len, Instant::now());
            Ok(())
        });
    }

    /// The current state (moved along to now), for the API and `/metrics`.
    pub fn report(&self) -> DdosReport {
        let mut g = lock(&self.guard);
        g.tick(Instant::now());
        DdosReport {
            mode: g.mode(),
            config: *g.config(),
            last: g.last_rates(),
            events: g.events().cloned().collect(),
            dropped: DROP_REASONS.map(|d| self.dropped[index(d)].load(Ordering::Relaxed)),
        }
    }
}

/// A snapshot of an instance's protection.
#[derive(Clone, Debug)]
pub struct DdosReport {
    pub mode: Mode,
    pub config: DdosConfig,
    pub last: slb_core::ddos::Rates,
    pub events: Vec<slb_core::ddos::Event>,
    /// Drops in the order of [`DROP_REASONS`].
    pub dropped: [u64; 3],
}
