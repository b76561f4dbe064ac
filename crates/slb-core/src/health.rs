//! Rise/fall health thresholds (Alibaba `HealthyThreshold` / `UnhealthyThreshold`).
//!
//! A single failed probe should not pull a backend out of rotation, nor a single success
//! put a flapping one back, so a status change needs a run of consecutive results. The
//! exception is the very first result: a new backend starts [`HealthStatus::Unknown`] and
//! is served immediately, and the first probe decides at once so a dead backend does not
//! keep receiving traffic for `unhealthy_threshold` probe intervals.
//!
//! The tracker is sans-IO: the prober calls [`HealthTracker::record`] with each result.

use std::fmt;

/// Alibaba's default `HealthyThreshold`: consecutive successes to become healthy.
pub const DEFAULT_HEALTHY_THRESHOLD: u32 = 3;
/// Alibaba's default `UnhealthyThreshold`: consecutive failures to become unhealthy.
pub const DEFAULT_UNHEALTHY_THRESHOLD: u32 = 3;

/// Health of one backend as seen by one listener's checker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum HealthStatus {
    /// No probe result yet. Eligible for traffic, so a new listener serves at once.
    #[default]
    Unknown,
    /// Passed the health check.
    Healthy,
    /// Failed the health check; takes no new connections.
    Unhealthy,
}

impl HealthStatus {
    /// Whether the backend may take new connections: anything but `Unhealthy`.
    pub fn is_eligible(self) -> bool {
        self != Self::Unhealthy
    }

    /// Lowercase name for logs and the API (`"unknown"`, `"healthy"`, `"unhealthy"`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unknown => "unknown",
            Self::Healthy => "healthy",
            Self::Unhealthy => "unhealthy",
        }
    }
}

impl fmt::Display for HealthStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Threshold state machine for one backend. See the module docs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthTracker {
    healthy_threshold: u32,
    unhealthy_threshold: u32,
    status: HealthStatus,
    /// Consecutive results that disagree with `status` (successes while Unhealthy,
    /// failures while Healthy).
    streak: u32,
}

impl Default for HealthTracker {
    /// Alibaba's defaults: 3 successes to rise, 3 failures to fall.
    fn default() -> Self {
        Self::new(DEFAULT_HEALTHY_THRESHOLD, DEFAULT_UNHEALTHY_THRESHOLD)
    }
}

impl HealthTracker {
    /// Creates a tracker in `Unknown`. `healthy_threshold` consecutive successes turn an
    /// unhealthy backend healthy; `unhealthy_threshold` consecutive failures turn a healthy
    /// one unhealthy. Alibaba allows 2..=10; a 0 is treated as 1.
    pub fn new(healthy_threshold: u32, unhealthy_threshold: u32) -> Self {
        Self {
            healthy_threshold: healthy_threshold.max(1),
            unhealthy_threshold: unhealthy_threshold.max(1),
            status: HealthStatus::Unknown,
            streak: 0,
        }
    }

    /// Current status.
    pub fn status(&self) -> HealthStatus {
        self.status
    }

    /// Shorthand for `self.status().is_eligible()`.
    pub fn is_eligible(&self) -> bool {
        self.status.is_eligible()
    }

    /// Records one probe result; returns `Some(new_status)` when the status changes.
    pub fn record(&mut self, ok: bool) -> Option<HealthStatus> {
        let (target, threshold) = match (self.status, ok) {
            (HealthStatus::Unknown, true) => (HealthStatus::Healthy, 1),
            (HealthStatus::Unknown, false) => (HealthStatus::Unhealthy, 1),
            (HealthStatus::Healthy, false) => (HealthStatus::Unhealthy, self.unhealthy_threshold),
            (HealthStatus::Unhealthy, true) => (HealthStatus::Healthy, self.healthy_threshold),
            // Result agrees with the status: any opposing streak is broken.
            (HealthStatus::Healthy, true) | (HealthStatus::Unhealthy, false) => {
                self.streak = 0;
                return None;
            }
        };
        self.streak += 1;
        if self.streak < threshold {
            return None;
        }
        self.status = target;
        self.streak = 0;
        Some(target)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use HealthStatus::*;

    fn feed(t: &mut HealthTracker, results: &[bool]) -> Vec<Option<HealthStatus>> {
        results.iter().map(|&ok| t.record(ok)).collect()
    }

    #[test]
    fn starts_unknown_and_eligible() {
        let t = HealthTracker::new(3, 2);
        assert_eq!(t.status(), Unknown);
        assert!(t.is_eligible());
        assert_eq!(HealthTracker::default(), HealthTracker::new(3, 3));
    }

    #[test]
    fn first_result_decides_immediately() {
        let mut t = HealthTracker::new(3, 3);
        assert_eq!(t.record(true), Some(Healthy));
        let mut t = HealthTracker::new(3, 3);
        assert_eq!(t.record(false), Some(Unhealthy));
        assert!(!t.is_eligible());
    }

    #[test]
    fn falls_after_unhealthy_threshold_consecutive_failures() {
        let mut t = HealthTracker::new(3, 2);
        t.record(true);
        assert_eq!(feed(&mut t, &[false, true, false]), vec![None, None, None]);
        assert_eq!(t.status(), Healthy);
        assert_eq!(t.record(false), Some(Unhealthy));
        assert_eq!(t.record(false), None);
    }

    #[test]
    fn rises_after_healthy_threshold_consecutive_successes() {
        let mut t = HealthTracker::new(3, 2);
        t.record(false);
        assert_eq!(feed(&mut t, &[true, true, false]), vec![None, None, None]);
        assert_eq!(t.status(), Unhealthy);
        assert_eq!(
            feed(&mut t, &[true, true, true]),
            vec![None, None, Some(Healthy)]
        );
        assert!(t.is_eligible());
    }

    #[test]
    fn zero_threshold_acts_as_one() {
        let mut t = HealthTracker::new(0, 0);
        t.record(true);
        assert_eq!(t.record(false), Some(Unhealthy));
        assert_eq!(t.record(true), Some(Healthy));
    }

    #[test]
    fn status_names() {
        assert_eq!(Unknown.to_string(), "unknown");
        assert_eq!(Healthy.as_str(), "healthy");
        assert_eq!(Unhealthy.as_str(), "unhealthy");
        assert!(!Unhealthy.is_eligible());
    }
}
