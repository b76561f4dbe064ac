//! Active health checks: one probe task per (listener, backend address).
//!
//! Each task probes every `interval` (TCP connect, or an HTTP/1.0 request) within `timeout`
//! and feeds the result to the backend's `slb_core::HealthTracker`, whose rise/fall
//! thresholds decide the status. Tasks are owned by [`ProbeHandle`]s held by the listener;
//! dropping a handle aborts its task (backend or listener removed, health check changed).

mod probe_http;
mod probe_tcp;
mod probe_udp;
mod task;

pub(crate) use task::{spawn_probe, ProbeHandle};

/// Smallest probe interval used, whatever the spec says, so a zero interval cannot spin.
pub const MIN_PROBE_INTERVAL: std::time::Duration = std::time::Duration::from_millis(10);

/// Longest HTTP status line (and head prefix) read by an HTTP probe, in bytes.
pub const MAX_STATUS_LINE: usize = 1024;
