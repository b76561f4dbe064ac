//! A token bucket in bytes, sans-IO: how long to wait so that traffic keeps to a rate.
//!
//! Bytes are taken when they move, possibly into debt; the answer is how long the caller
//! must pause before moving more, so a large chunk waits in proportion to its size and the
//! long-run rate is exact whatever the chunk sizes.

use std::time::{Duration, Instant};

/// Rate in bytes per second with a burst allowance.
#[derive(Debug, Clone)]
pub struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket: `rate` bytes per second, at most `burst` bytes ahead of the rate.
    pub fn new(rate: u64, burst: u64, now: Instant) -> Self {
        Self {
            rate: rate.max(1) as f64,
            burst: burst as f64,
            tokens: burst as f64,
            last: now,
        }
    }

    /// Bytes per second a listener `Bandwidth` in Mbit/s allows.
    pub fn mbps_to_bytes(mbps: u32) -> u64 {
        u64::from(mbps) * 1_000_000 / 8
    }

    /// Takes `n` tokens if the bucket holds them (no debt): rate limiting that refuses
    /// what is over the rate instead of delaying it.
    pub fn try_take(&mut self, n: u64, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        if self.tokens >= n as f64 {
            self.tokens -= n as f64;
            true
        } else {
            false
        }
    }

    /// Accounts for `n` bytes moved at `now`; returns how long to pause before the next.
    pub fn take(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_in_proportion_and_refills_up_to_the_burst() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 100, t0);
        assert_eq!(b.take(100, t0), Duration::ZERO, "the burst is free");
        assert_eq!(b.take(500, t0), Duration::from_millis(500));
        // After the pause the debt is paid.
        let t1 = t0 + Duration::from_millis(500);
        assert_eq!(b.take(0, t1), Duration::ZERO);
        // Idle time refills only up to the burst.
        let t2 = t1 + Duration::from_secs(60);
        assert_eq!(b.take(100, t2), Duration::ZERO);
        assert_eq!(b.take(1, t2), Duration::from_millis(1));
        assert_eq!(TokenBucket::mbps_to_bytes(8), 1_000_000);
    }

    #[test]
    fn try_take_refuses_over_the_rate_without_debt() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(10, 10, t0);
        assert_eq!((0..15).filter(|_| b.try_take(1, t0)).count(), 10);
        // A refused burst leaves no debt: a tenth of a second later one more fits.
        assert!(b.try_take(1, t0 + Duration::from_millis(100)));
        assert!(!b.try_take(1, t0 + Duration::from_millis(100)));
    }

    #[test]
    fn long_run_rate_is_exact_for_any_chunking() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(125_000, 12_500, t0);
        let mut now = t0;
        let mut moved = 0u64;
        for i in 0..1000u64 {
            let n = 1 + (i * 7919) % 65_536;
            moved += n;
            now += b.take(n, now);
        }
        let rate = moved as f64 / (now - t0).as_secs_f64();
        assert!((rate - 125_000.0).abs() / 125_000.0 < 0.01, "{rate}");
    }
}
