//! The probe loop of one backend.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio::task::JoinHandle;
use tokio::time::MissedTickBehavior;

use super::probe_http::probe_http;
use super::probe_tcp::probe_tcp;
use super::probe_udp::probe_udp;
use super::MIN_PROBE_INTERVAL;
use crate::backend::BackendState;
use crate::spec::{HealthCheckKind, HealthCheckSpec};

/// A running probe task and the settings it was started with; aborts the task on drop.
pub(crate) struct ProbeHandle {
    /// Settings the task runs with; a different spec restarts the task.
    pub spec: HealthCheckSpec,
    task: JoinHandle<()>,
}

impl Drop for ProbeHandle {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts probing `backend` (the port replaced by `spec.port` when set). The backend's
/// tracker is kept when the thresholds are unchanged, so a restart keeps its status.
pub(crate) fn spawn_probe(
    listener: String,
    spec: HealthCheckSpec,
    backend: SocketAddr,
    state: Arc<BackendState>,
) -> ProbeHandle {
    state.ensure_tracker(spec.healthy_threshold, spec.unhealthy_threshold);
    let task = tokio::spawn(run(listener, spec.clone(), backend, state));
    ProbeHandle { spec, task }
}

async fn run(
    listener: String,
    spec: HealthCheckSpec,
    backend: SocketAddr,
    state: Arc<BackendState>,
) {
    let target = SocketAddr::new(backend.ip(), spec.port.unwrap_or(backend.port()));
    let host = match &spec.kind {
        HealthCheckKind::Http {
            domain: Some(d), ..
        } if !d.is_empty() => d.clone(),
        _ => host_of(backend.ip()),
    };
    let mut ticker = tokio::time::interval(spec.interval.max(MIN_PROBE_INTERVAL));
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticker.tick().await;
        let probe = async {
            match &spec.kind {
                HealthCheckKind::Tcp => probe_tcp(target).await,
                HealthCheckKind::Http {
                    uri, method, codes, ..
                } => probe_http(target, *method, uri, &host, codes).await,
                HealthCheckKind::Udp { .. } => false,
            }
        };
        let ok = match &spec.kind {
            // Silence until the timeout can mean healthy: the probe keeps its own clock.
            HealthCheckKind::Udp { request, expect } => {
                probe_udp(target, request, expect.as_deref(), spec.timeout).await
            }
            _ => tokio::time::timeout(spec.timeout, probe)
                .await
                .unwrap_or(false),
        };
        if let Some(status) = state.record_probe(ok) {
            tracing::info!(%listener, %backend, ?status, "backend health changed");
        }
    }
}

/// `Host` header value for an IP: IPv6 in brackets.
fn host_of(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
