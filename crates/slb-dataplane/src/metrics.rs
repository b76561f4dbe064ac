//! Metric names and the atomic counters behind them, rendered as Prometheus text.
//!
//! Every metric name of the data plane is defined here and nowhere else. Counters are plain
//! atomics updated on the connection path (one relaxed `fetch_add` per read chunk); the
//! exposition text is built only when `/metrics` is scraped.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::spec::ListenerKey;

/// Gauge: client connections currently open on a listener.
pub const LISTENER_ACTIVE_CONNECTIONS: &str = "slb_listener_active_connections";
/// Counter: client connections accepted by a listener.
pub const LISTENER_CONNECTIONS_TOTAL: &str = "slb_listener_connections_total";
/// Counter: bytes received from clients and forwarded to backends.
pub const LISTENER_BYTES_IN_TOTAL: &str = "slb_listener_bytes_in_total";
/// Counter: bytes received from backends and forwarded to clients.
pub const LISTENER_BYTES_OUT_TOTAL: &str = "slb_listener_bytes_out_total";
/// Counter: backend connect attempts that failed (refused, unreachable or timed out).
pub const LISTENER_BACKEND_CONNECT_FAILURES_TOTAL: &str =
    "slb_listener_backend_connect_failures_total";
/// Gauge: 1 when a backend is eligible by health (healthy, not yet checked, or health check
/// off), 0 when its health check marked it unhealthy.
pub const BACKEND_HEALTHY: &str = "slb_backend_healthy";
/// Gauge: connections currently open (or being connected) to a backend.
pub const BACKEND_ACTIVE_CONNECTIONS: &str = "slb_backend_active_connections";

/// Counters of one listener. Shared by its accept loop and all its connections; survives
/// snapshot swaps.
#[derive(Debug, Default)]
pub struct ListenerMetrics {
    /// See [`LISTENER_ACTIVE_CONNECTIONS`].
    pub active_connections: AtomicU64,
    /// See [`LISTENER_CONNECTIONS_TOTAL`].
    pub connections_total: AtomicU64,
    /// See [`LISTENER_BYTES_IN_TOTAL`].
    pub bytes_in: AtomicU64,
    /// See [`LISTENER_BYTES_OUT_TOTAL`].
    pub bytes_out: AtomicU64,
    /// See [`LISTENER_BACKEND_CONNECT_FAILURES_TOTAL`].
    pub connect_failures: AtomicU64,
}

/// One sample line to render: the metric, its label set and the value.
pub(crate) struct Sample<'a> {
    pub key: &'a ListenerKey,
    pub backend: Option<String>,
    pub value: u64,
}

/// Metadata of each family, in rendering order: (name, type, help).
pub(crate) const FAMILIES: [(&str, &str, &str); 7] = [
    (
        LISTENER_ACTIVE_CONNECTIONS,
        "gauge",
        "Client connections currently open on the listener.",
    ),
    (
        LISTENER_CONNECTIONS_TOTAL,
        "counter",
        "Client connections accepted by the listener.",
    ),
    (
        LISTENER_BYTES_IN_TOTAL,
        "counter",
        "Bytes received from clients and forwarded to backends.",
    ),
    (
        LISTENER_BYTES_OUT_TOTAL,
        "counter",
        "Bytes received from backends and forwarded to clients.",
    ),
    (
        LISTENER_BACKEND_CONNECT_FAILURES_TOTAL,
        "counter",
        "Backend connect attempts that failed or timed out.",
    ),
    (
        BACKEND_HEALTHY,
        "gauge",
        "1 if the backend may take connections by health, 0 if marked unhealthy.",
    ),
    (
        BACKEND_ACTIVE_CONNECTIONS,
        "gauge",
        "Connections currently open to the backend.",
    ),
];

impl ListenerMetrics {
    /// The value of a listener-level family, `None` for backend-level ones.
    pub(crate) fn value(&self, family: &str) -> Option<u64> {
        let c = match family {
            LISTENER_ACTIVE_CONNECTIONS => &self.active_connections,
            LISTENER_CONNECTIONS_TOTAL => &self.connections_total,
            LISTENER_BYTES_IN_TOTAL => &self.bytes_in,
            LISTENER_BYTES_OUT_TOTAL => &self.bytes_out,
            LISTENER_BACKEND_CONNECT_FAILURES_TOTAL => &self.connect_failures,
            _ => return None,
        };
        Some(c.load(Ordering::Relaxed))
    }
}

/// Appends one metric family (HELP, TYPE and samples) in Prometheus text format 0.0.4.
pub(crate) fn render_family(out: &mut String, family: usize, samples: &[Sample<'_>]) {
    let (name, kind, help) = FAMILIES[family];
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    for s in samples {
        let _ = write!(
            out,
            "{name}{{load_balancer_id=\"{}\",port=\"{}\",protocol=\"{}\"",
            escape(&s.key.load_balancer_id),
            s.key.port,
            escape(&s.key.protocol)
        );
        if let Some(b) = &s.backend {
            let _ = write!(out, ",backend=\"{}\"", escape(b));
        }
        let _ = writeln!(out, "}} {}", s.value);
    }
}

/// Escapes a label value: backslash, double quote and newline.
fn escape(v: &str) -> String {
    let mut s = String::with_capacity(v.len());
    for c in v.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '\n' => s.push_str("\\n"),
            c => s.push(c),
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_labels_and_escapes_values() {
        let key = ListenerKey::tcp("lb-\"x\"", 80);
        let mut out = String::new();
        render_family(
            &mut out,
            5,
            &[Sample {
                key: &key,
                backend: Some("10.0.0.1:80".into()),
                value: 1,
            }],
        );
        assert!(out.starts_with("# HELP slb_backend_healthy "));
        assert!(out.contains("# TYPE slb_backend_healthy gauge\n"));
        assert!(out.contains(
            "slb_backend_healthy{load_balancer_id=\"lb-\\\"x\\\"\",port=\"80\",protocol=\"tcp\",backend=\"10.0.0.1:80\"} 1\n"
        ));
    }

    #[test]
    fn listener_values_map_to_families() {
        let m = ListenerMetrics::default();
        m.bytes_in.fetch_add(7, Ordering::Relaxed);
        assert_eq!(m.value(LISTENER_BYTES_IN_TOTAL), Some(7));
        assert_eq!(m.value(BACKEND_HEALTHY), None);
    }
}
