//! Instance capacity (Alibaba `LoadBalancerSpec`): concurrent connections, new
//! connections per second and queries per second, shared by every listener of an
//! instance. Over a cap, new connections are refused (layer 4) or answered 503 (layer 7)
//! and counted; established connections are never touched.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use slb_core::TokenBucket;

use crate::backend::lock;

/// An instance's caps; 0 means unlimited.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct InstanceCaps {
    pub max_connections: u64,
    pub cps: u64,
    pub qps: u64,
}

/// Why a connection or request was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    MaxConnections,
    Cps,
    Qps,
}

impl Refusal {
    /// The `reason` label of `slb_instance_refused_total`.
    pub fn label(self) -> &'static str {
        match self {
            Refusal::MaxConnections => "max_connections",
            Refusal::Cps => "cps",
            Refusal::Qps => "qps",
        }
    }
}

/// The live counters of one instance.
pub struct InstanceLimiter {
    caps: Mutex<InstanceCaps>,
    active: AtomicU64,
    cps: Mutex<Option<TokenBucket>>,
    qps: Mutex<Option<TokenBucket>>,
    /// Refusals by [`Refusal`] (in its order).
    pub refused: [AtomicU64; 3],
}

fn bucket(rate: u64) -> Option<TokenBucket> {
    // One second of the rate as burst: a cap per second, not per millisecond.
    (rate > 0).then(|| TokenBucket::new(rate, rate, std::time::Instant::now()))
}

/// One admitted connection: counted until dropped.
pub struct Slot(Arc<InstanceLimiter>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

impl InstanceLimiter {
    pub fn new(caps: InstanceCaps) -> Arc<Self> {
        Arc::new(Self {
            caps: Mutex::new(caps),
            active: AtomicU64::new(0),
            cps: Mutex::new(bucket(caps.cps)),
            qps: Mutex::new(bucket(caps.qps)),
            refused: Default::default(),
        })
    }

    /// Follows changed caps (a new spec); rate buckets restart full.
    pub fn set_caps(&self, caps: InstanceCaps) {
        let mut current = lock(&self.caps);
        if *current != caps {
            *lock(&self.cps) = bucket(caps.cps);
            *lock(&self.qps) = bucket(caps.qps);
            *current = caps;
        }
    }

    /// Connections open now.
    pub fn active(&self) -> u64 {
        self.active.load(Ordering::Relaxed)
    }

    fn refuse(&self, r: Refusal) -> Refusal {
        self.refused[r as usize].fetch_add(1, Ordering::Relaxed);
        r
    }

    /// Admits a new connection (or UDP session) within the connection and rate caps.
    pub fn admit(self: &Arc<Self>) -> Result<Slot, Refusal> {
        let max = lock(&self.caps).max_connections;
        if max > 0 && self.active.load(Ordering::Relaxed) >= max {
            return Err(self.refuse(Refusal::MaxConnections));
        }
        if let Some(b) = lock(&self.cps).as_mut() {
            if !b.try_take(1, std::time::Instant::now()) {
                return Err(self.refuse(Refusal::Cps));
            }
        }
        self.active.fetch_add(1, Ordering::Relaxed);
        Ok(Slot(self.clone()))
    }

    /// Admits one HTTP request within the query rate.
    pub fn admit_query(&self) -> Result<(), Refusal> {
        if let Some(b) = lock(&self.qps).as_mut() {
            if !b.try_take(1, std::time::Instant::now()) {
                return Err(self.refuse(Refusal::Qps));
            }
        }
        Ok(())
    }
}
