//! Listener bandwidth limits (Alibaba `Bandwidth`, Mbit/s): one token bucket per
//! direction, shared by every connection or session of the listener, so the listener as a
//! whole keeps to its limit however many clients it has.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use slb_core::TokenBucket;
use tokio::time::Instant;

use crate::backend::lock;

/// Which way bytes move.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Direction {
    /// Client to backend.
    Up,
    /// Backend to client.
    Down,
}

/// The pacing of one listener.
pub(crate) struct Shaper {
    pub mbps: u32,
    up: Mutex<TokenBucket>,
    down: Mutex<TokenBucket>,
}

impl Shaper {
    /// A shaper for `mbps` in each direction, allowing a burst of 50 ms of traffic (at
    /// least 16 KiB) before pacing starts.
    pub fn new(mbps: u32) -> Arc<Self> {
        let rate = TokenBucket::mbps_to_bytes(mbps);
        let burst = (rate / 20).max(16 * 1024);
        let now = Instant::now().into_std();
        Arc::new(Self {
            mbps,
            up: Mutex::new(TokenBucket::new(rate, burst, now)),
            down: Mutex::new(TokenBucket::new(rate, burst, now)),
        })
    }

    /// The shaper `mbps` asks for, reusing `current` when the rate is unchanged (its
    /// buckets keep their state).
    pub fn follow(current: Option<&Arc<Shaper>>, mbps: Option<u32>) -> Option<Arc<Shaper>> {
        match (current, mbps) {
            (Some(s), Some(m)) if s.mbps == m => Some(s.clone()),
            (_, Some(m)) => Some(Self::new(m)),
            (_, None) => None,
        }
    }

    /// Accounts for `n` bytes moved `dir`; how long to pause before moving more.
    pub fn delay(&self, dir: Direction, n: usize) -> Duration {
        let bucket = match dir {
            Direction::Up => &self.up,
            Direction::Down => &self.down,
        };
        lock(bucket).take(n as u64, Instant::now().into_std())
    }

    /// Accounts for `n` bytes and sleeps as long as the limit asks.
    pub async fn pace(&self, dir: Direction, n: usize) {
        let d = self.delay(dir, n);
        if !d.is_zero() {
            tokio::time::sleep(d).await;
        }
    }
}
