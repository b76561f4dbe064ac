//! Live state of one backend of one listener: health, active connections, and the signal
//! that closes its connections.
//!
//! This state lives beside the immutable listener snapshot (see `snapshot.rs`), not inside
//! it: a snapshot swap that keeps a backend (same address) hands the same
//! [`BackendState`] to the new snapshot, so health status and connection counts survive
//! configuration changes.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};

use slb_core::{HealthStatus, HealthTracker};
use tokio::sync::watch;

/// Health tracker with the thresholds it was built with, so a changed threshold rebuilds it.
struct TrackerSlot {
    tracker: HealthTracker,
    thresholds: (u32, u32),
}

/// Fast-changing state of a backend, shared by the snapshot(s) that contain it, its health
/// probe task and its connections.
pub(crate) struct BackendState {
    /// Last health status, encoded with [`encode`]; read on every pick.
    status: AtomicU8,
    /// Whether the health tracker lets the backend take new connections.
    health_ok: AtomicBool,
    /// The rise/fall state machine; only the probe task records into it.
    tracker: Mutex<Option<TrackerSlot>>,
    /// Connections open or being connected to this backend (for `wlc` and metrics).
    active: AtomicU32,
    /// Becomes `true` when the backend's connections must be closed (removed from the
    /// listener, after the drain timeout if any). Never goes back to `false`.
    closed: watch::Sender<bool>,
}

impl BackendState {
    pub(crate) fn new() -> Arc<Self> {
        Arc::new(Self {
            status: AtomicU8::new(encode(HealthStatus::Unknown)),
            health_ok: AtomicBool::new(true),
            tracker: Mutex::new(None),
            active: AtomicU32::new(0),
            closed: watch::Sender::new(false),
        })
    }

    /// Health status as last recorded ([`HealthStatus::Unknown`] before the first verdict).
    pub(crate) fn status(&self) -> HealthStatus {
        decode(self.status.load(Ordering::Relaxed))
    }

    /// Whether health lets this backend take new connections (true when never checked).
    pub(crate) fn health_ok(&self) -> bool {
        self.health_ok.load(Ordering::Relaxed)
    }

    /// Makes sure a tracker with these thresholds exists; an existing tracker with the same
    /// thresholds is kept so the status survives a probe restart.
    pub(crate) fn ensure_tracker(&self, healthy_threshold: u32, unhealthy_threshold: u32) {
        let mut slot = lock(&self.tracker);
        let thresholds = (healthy_threshold, unhealthy_threshold);
        if slot.as_ref().is_some_and(|s| s.thresholds == thresholds) {
            return;
        }
        let tracker = HealthTracker::new(healthy_threshold, unhealthy_threshold);
        self.publish(&tracker);
        *slot = Some(TrackerSlot {
            tracker,
            thresholds,
        });
    }

    /// Feeds one probe result; returns the new status when it changed.
    pub(crate) fn record_probe(&self, ok: bool) -> Option<HealthStatus> {
        let mut slot = lock(&self.tracker);
        let slot = slot.as_mut()?;
        let changed = slot.tracker.record(ok);
        self.publish(&slot.tracker);
        changed
    }

    /// Forgets health state (health check turned off): status back to unknown, eligible.
    pub(crate) fn reset_health(&self) {
        *lock(&self.tracker) = None;
        self.status
            .store(encode(HealthStatus::Unknown), Ordering::Relaxed);
        self.health_ok.store(true, Ordering::Relaxed);
    }

    fn publish(&self, tracker: &HealthTracker) {
        self.status
            .store(encode(tracker.status()), Ordering::Relaxed);
        self.health_ok
            .store(tracker.is_eligible(), Ordering::Relaxed);
    }

    /// Connections currently counted against this backend.
    pub(crate) fn active(&self) -> u32 {
        self.active.load(Ordering::Relaxed)
    }

    /// Counts a connection until the returned guard is dropped.
    pub(crate) fn track(self: &Arc<Self>) -> ActiveGuard {
        self.active.fetch_add(1, Ordering::Relaxed);
        ActiveGuard(self.clone())
    }

    /// Closes every connection to this backend, now and in the future.
    pub(crate) fn close(&self) {
        self.closed.send_replace(true);
    }

    /// Whether [`close`](Self::close) was called.
    pub(crate) fn is_closed(&self) -> bool {
        *self.closed.borrow()
    }

    /// Resolves once the backend's connections must be closed.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closed.subscribe();
        async move {
            // The sender lives as long as the state, which the waiting connection holds.
            if rx.wait_for(|closed| *closed).await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

/// Decrements the backend's active connection count when dropped.
pub(crate) struct ActiveGuard(Arc<BackendState>);

impl ActiveGuard {
    pub(crate) fn state(&self) -> &Arc<BackendState> {
        &self.0
    }
}

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::Relaxed);
    }
}

fn encode(s: HealthStatus) -> u8 {
    match s {
        HealthStatus::Unknown => 0,
        HealthStatus::Healthy => 1,
        HealthStatus::Unhealthy => 2,
    }
}

fn decode(v: u8) -> HealthStatus {
    match v {
        1 => HealthStatus::Healthy,
        2 => HealthStatus::Unhealthy,
        _ => HealthStatus::Unknown,
    }
}

/// Locks a mutex, ignoring poisoning: the guarded data stays consistent between statements.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guard_counts_and_close_latches() {
        let s = BackendState::new();
        let g1 = s.track();
        let g2 = s.track();
        assert_eq!(s.active(), 2);
        drop(g1);
        assert_eq!(s.active(), 1);
        drop(g2);
        assert_eq!(s.active(), 0);
        assert!(!s.is_closed());
        s.close();
        assert!(s.is_closed());
    }

    #[test]
    fn tracker_kept_when_thresholds_unchanged() {
        let s = BackendState::new();
        s.ensure_tracker(1, 1);
        s.record_probe(false);
        assert_eq!(s.status(), HealthStatus::Unhealthy);
        assert!(!s.health_ok());
        s.ensure_tracker(1, 1);
        assert_eq!(s.status(), HealthStatus::Unhealthy);
        s.ensure_tracker(2, 1);
        assert_ne!(s.status(), HealthStatus::Unhealthy);
        s.reset_health();
        assert_eq!(s.status(), HealthStatus::Unknown);
        assert!(s.health_ok());
    }
}
