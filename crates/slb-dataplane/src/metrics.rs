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
/// Counter: client connections (or UDP datagrams) refused by the listener's access
/// control list.
pub const LISTENER_ACL_DENIED_TOTAL: &str = "slb_listener_acl_denied_total";
/// Counter: backend connect attempts that failed (refused, unreachable or timed out).
pub const LISTENER_BACKEND_CONNECT_FAILURES_TOTAL: &str =
    "slb_listener_backend_connect_failures_total";
/// Gauge: 1 when a backend is eligible by health (healthy, not yet checked, or health check
/// off), 0 when its health check marked it unhealthy.
pub const BACKEND_HEALTHY: &str = "slb_backend_healthy";
/// Gauge: connections currently open (or being connected) to a backend.
pub const BACKEND_ACTIVE_CONNECTIONS: &str = "slb_backend_active_connections";

/// Counter: HTTP responses sent to clients by an HTTP listener, labelled by status class
/// (`class="2xx"`), including the balancer's own error pages.
pub const HTTP_REQUESTS_TOTAL: &str = "slb_http_requests_total";
/// Counter: HTTP requests answered 504 because the backend sent no response head within the
/// listener's request timeout.
pub const HTTP_UPSTREAM_TIMEOUTS_TOTAL: &str = "slb_http_upstream_timeouts_total";

/// Histogram: seconds from a request head's arrival to the end of its response body (or the
/// client going away), per HTTP listener.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "slb_http_request_duration_seconds";

/// Upper bounds (seconds) of the [`HTTP_REQUEST_DURATION_SECONDS`] buckets; `+Inf` is implied.
pub const HTTP_DURATION_BUCKETS: [f64; 12] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 60.0,
];

/// Counter: TLS handshakes completed by an HTTPS listener.
pub const TLS_HANDSHAKES_TOTAL: &str = "slb_tls_handshakes_total";
/// Counter: TLS handshakes that resumed a session (no certificate, no signature), per
/// HTTPS listener; a subset of [`TLS_HANDSHAKES_TOTAL`].
pub const TLS_RESUMED_HANDSHAKES_TOTAL: &str = "slb_tls_resumed_handshakes_total";
/// Counter: TLS handshakes that failed (refused client certificate, no common version or
/// cipher, garbage) or timed out, per HTTPS listener.
pub const TLS_HANDSHAKE_FAILURES_TOTAL: &str = "slb_tls_handshake_failures_total";

/// Status classes of [`HTTP_REQUESTS_TOTAL`], in label order.
pub const HTTP_STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

/// HTTP-only counters of one HTTP listener (beside its [`ListenerMetrics`], where
/// `slb_listener_backend_connect_failures_total` counts failed backend requests).
#[derive(Debug, Default)]
pub struct HttpMetrics {
    /// See [`HTTP_REQUESTS_TOTAL`]; index into [`HTTP_STATUS_CLASSES`].
    pub requests_by_class: [AtomicU64; 5],
    /// See [`HTTP_UPSTREAM_TIMEOUTS_TOTAL`].
    pub upstream_timeouts: AtomicU64,
    /// Non-cumulative bucket counts of [`HTTP_REQUEST_DURATION_SECONDS`]; the last one is
    /// `+Inf`.
    pub duration_buckets: [AtomicU64; 13],
    /// Sum of observed durations in microseconds.
    pub duration_sum_micros: AtomicU64,
    /// See [`TLS_HANDSHAKES_TOTAL`].
    pub tls_handshakes: AtomicU64,
    /// See [`TLS_HANDSHAKE_FAILURES_TOTAL`].
    pub tls_handshake_failures: AtomicU64,
    /// See [`TLS_RESUMED_HANDSHAKES_TOTAL`].
    pub tls_resumed_handshakes: AtomicU64,
}

impl HttpMetrics {
    /// Counts one response.
    pub fn count_status(&self, status: http::StatusCode) {
        let i = usize::from(status.as_u16() / 100).clamp(1, 5) - 1;
        self.requests_by_class[i].fetch_add(1, Ordering::Relaxed);
    }

    /// Records one request duration.
    pub fn observe_duration(&self, d: std::time::Duration) {
        let secs = d.as_secs_f64();
        let i = HTTP_DURATION_BUCKETS
            .iter()
            .position(|&b| secs <= b)
            .unwrap_or(HTTP_DURATION_BUCKETS.len());
        self.duration_buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(d.as_micros()).unwrap_or(u64::MAX);
        self.duration_sum_micros
            .fetch_add(micros, Ordering::Relaxed);
    }
}

/// Appends the HTTP-only families for `listeners` (key and counters).
pub(crate) fn render_http(out: &mut String, listeners: &[(&ListenerKey, &HttpMetrics)]) {
    let labels = |k: &ListenerKey| {
        format!(
            "load_balancer_id=\"{}\",port=\"{}\",protocol=\"{}\"",
            escape(&k.load_balancer_id),
            k.port,
            escape(&k.protocol)
        )
    };
    let _ = writeln!(
        out,
        "# HELP {HTTP_REQUESTS_TOTAL} HTTP responses sent to clients, by status class."
    );
    let _ = writeln!(out, "# TYPE {HTTP_REQUESTS_TOTAL} counter");
    for (k, m) in listeners {
        for (i, class) in HTTP_STATUS_CLASSES.iter().enumerate() {
            let v = m.requests_by_class[i].load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{HTTP_REQUESTS_TOTAL}{{{},class=\"{class}\"}} {v}",
                labels(k)
            );
        }
    }
    let name = HTTP_REQUEST_DURATION_SECONDS;
    let _ = writeln!(
        out,
        "# HELP {name} Seconds from request head to the end of the response body."
    );
    let _ = writeln!(out, "# TYPE {name} histogram");
    for (k, m) in listeners {
        let l = labels(k);
        let mut cumulative = 0;
        for (i, c) in m.duration_buckets.iter().enumerate() {
            cumulative += c.load(Ordering::Relaxed);
            let le = HTTP_DURATION_BUCKETS
                .get(i)
                .map_or_else(|| "+Inf".to_owned(), |b| b.to_string());
            let _ = writeln!(out, "{name}_bucket{{{l},le=\"{le}\"}} {cumulative}");
        }
        let sum = m.duration_sum_micros.load(Ordering::Relaxed) as f64 / 1e6;
        let _ = writeln!(out, "{name}_sum{{{l}}} {sum}");
        let _ = writeln!(out, "{name}_count{{{l}}} {cumulative}");
    }
    for (name, help, pick) in [
        (
            TLS_HANDSHAKES_TOTAL,
            "TLS handshakes completed (HTTPS listeners).",
            (|m: &HttpMetrics| &m.tls_handshakes) as fn(&HttpMetrics) -> &AtomicU64,
        ),
        (
            TLS_RESUMED_HANDSHAKES_TOTAL,
            "TLS handshakes that resumed a session (HTTPS listeners).",
            |m: &HttpMetrics| &m.tls_resumed_handshakes,
        ),
        (
            TLS_HANDSHAKE_FAILURES_TOTAL,
            "TLS handshakes failed or timed out (HTTPS listeners).",
            |m: &HttpMetrics| &m.tls_handshake_failures,
        ),
    ] {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} counter");
        for (k, m) in listeners.iter().filter(|(k, _)| k.protocol == "https") {
            let v = pick(m).load(Ordering::Relaxed);
            let _ = writeln!(out, "{name}{{{}}} {v}", labels(k));
        }
    }
    let _ = writeln!(out, "# HELP {HTTP_UPSTREAM_TIMEOUTS_TOTAL} Requests answered 504: no response head within the request timeout.");
    let _ = writeln!(out, "# TYPE {HTTP_UPSTREAM_TIMEOUTS_TOTAL} counter");
    for (k, m) in listeners {
        let v = m.upstream_timeouts.load(Ordering::Relaxed);
        let _ = writeln!(out, "{HTTP_UPSTREAM_TIMEOUTS_TOTAL}{{{}}} {v}", labels(k));
    }
}

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
    /// See [`LISTENER_ACL_DENIED_TOTAL`].
    pub acl_denied: AtomicU64,
    /// UDP listeners only (zero elsewhere).
    pub udp: UdpMetrics,
}

/// Counter: datagrams received from clients by a UDP listener.
pub const UDP_DATAGRAMS_IN_TOTAL: &str = "slb_udp_datagrams_in_total";
/// Counter: datagrams sent to clients by a UDP listener (backend replies).
pub const UDP_DATAGRAMS_OUT_TOTAL: &str = "slb_udp_datagrams_out_total";
/// Gauge: sessions (client address → backend) currently open on a UDP listener.
pub const UDP_SESSIONS_ACTIVE: &str = "slb_udp_sessions_active";
/// Counter: sessions evicted to make room in a full session table.
pub const UDP_SESSIONS_EVICTED_TOTAL: &str = "slb_udp_sessions_evicted_total";
/// Counter: datagrams dropped, by `reason`: `no_backend` (none eligible), `unreachable`
/// (the backend port answered ICMP unreachable), `send_failed` (socket buffer full).
pub const UDP_DROPPED_TOTAL: &str = "slb_udp_dropped_total";

/// Counter: client connections accepted by each worker thread (`worker` label), over all
/// TCP, HTTP and HTTPS listeners; absent on a node that runs without workers. Shows how
/// evenly the kernel spreads connections over the workers' sockets.
pub const WORKER_ACCEPTED_CONNECTIONS_TOTAL: &str = "slb_worker_accepted_connections_total";

/// Renders [`WORKER_ACCEPTED_CONNECTIONS_TOTAL`], one sample per worker (nothing without).
pub(crate) fn render_workers(out: &mut String, accepted: &[u64]) {
    if accepted.is_empty() {
        return;
    }
    let name = WORKER_ACCEPTED_CONNECTIONS_TOTAL;
    let _ = writeln!(
        out,
        "# HELP {name} Client connections accepted by each worker thread."
    );
    let _ = writeln!(out, "# TYPE {name} counter");
    for (i, n) in accepted.iter().enumerate() {
        let _ = writeln!(out, "{name}{{worker=\"{i}\"}} {n}");
    }
}

/// Counters of a UDP listener beside its [`ListenerMetrics`] (where sessions count as
/// connections and payload bytes as bytes in/out).
#[derive(Debug, Default)]
pub struct UdpMetrics {
    pub datagrams_in: AtomicU64,
    pub datagrams_out: AtomicU64,
    pub sessions_evicted: AtomicU64,
    pub dropped_no_backend: AtomicU64,
    pub dropped_backend_unreachable: AtomicU64,
    pub dropped_send_failed: AtomicU64,
}

/// A UDP family rendered with one sample per listener: name, type, help, value.
type UdpFamily = (
    &'static str,
    &'static str,
    &'static str,
    fn(&ListenerMetrics) -> u64,
);

/// Appends the UDP families for `listeners` (UDP listeners only).
pub(crate) fn render_udp(out: &mut String, listeners: &[(&ListenerKey, &ListenerMetrics)]) {
    let labels = |k: &ListenerKey| {
        format!(
            "load_balancer_id=\"{}\",port=\"{}\",protocol=\"{}\"",
            escape(&k.load_balancer_id),
            k.port,
            escape(&k.protocol)
        )
    };
    let simple: [UdpFamily; 4] = [
        (
            UDP_DATAGRAMS_IN_TOTAL,
            "counter",
            "Datagrams received from clients.",
            |m| m.udp.datagrams_in.load(Ordering::Relaxed),
        ),
        (
            UDP_DATAGRAMS_OUT_TOTAL,
            "counter",
            "Datagrams sent to clients (backend replies).",
            |m| m.udp.datagrams_out.load(Ordering::Relaxed),
        ),
        (
            UDP_SESSIONS_ACTIVE,
            "gauge",
            "Client sessions currently open.",
            |m| m.active_connections.load(Ordering::Relaxed),
        ),
        (
            UDP_SESSIONS_EVICTED_TOTAL,
            "counter",
            "Sessions evicted from a full session table.",
            |m| m.udp.sessions_evicted.load(Ordering::Relaxed),
        ),
    ];
    for (name, kind, help, value) in simple {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
        for (k, m) in listeners {
            let _ = writeln!(out, "{name}{{{}}} {}", labels(k), value(m));
        }
    }
    let _ = writeln!(
        out,
        "# HELP {UDP_DROPPED_TOTAL} Datagrams dropped, by reason (no_backend, unreachable, send_failed)."
    );
    let _ = writeln!(out, "# TYPE {UDP_DROPPED_TOTAL} counter");
    for (k, m) in listeners {
        for (reason, c) in [
            ("no_backend", &m.udp.dropped_no_backend),
            ("unreachable", &m.udp.dropped_backend_unreachable),
            ("send_failed", &m.udp.dropped_send_failed),
        ] {
            let _ = writeln!(
                out,
                "{UDP_DROPPED_TOTAL}{{{},reason=\"{reason}\"}} {}",
                labels(k),
                c.load(Ordering::Relaxed)
            );
        }
    }
}

/// One sample line to render: the metric, its label set and the value.
pub(crate) struct Sample<'a> {
    pub key: &'a ListenerKey,
    pub backend: Option<String>,
    pub value: u64,
}

/// Metadata of each family, in rendering order: (name, type, help).
pub(crate) const FAMILIES: [(&str, &str, &str); 8] = [
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
        LISTENER_ACL_DENIED_TOTAL,
        "counter",
        "Client connections or datagrams refused by the access control list.",
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
            LISTENER_ACL_DENIED_TOTAL => &self.acl_denied,
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

/// Gauge: connections (and UDP sessions) open on an instance, all listeners together.
pub const INSTANCE_ACTIVE_CONNECTIONS: &str = "slb_instance_active_connections";
/// Counter: connections or requests refused by an instance's capacity, by `reason`
/// (`max_connections`, `cps`, `qps`).
pub const INSTANCE_REFUSED_TOTAL: &str = "slb_instance_refused_total";

/// Appends the instance capacity families.
pub(crate) fn render_instances(
    out: &mut String,
    limiters: &std::collections::BTreeMap<String, std::sync::Arc<crate::limits::InstanceLimiter>>,
) {
    use crate::limits::Refusal;
    let _ = writeln!(
        out,
        "# HELP {INSTANCE_ACTIVE_CONNECTIONS} Connections and UDP sessions open on the instance.\n# TYPE {INSTANCE_ACTIVE_CONNECTIONS} gauge"
    );
    for (id, l) in limiters {
        let _ = writeln!(
            out,
            "{INSTANCE_ACTIVE_CONNECTIONS}{{load_balancer_id=\"{}\"}} {}",
            escape(id),
            l.active()
        );
    }
    let _ = writeln!(
        out,
        "# HELP {INSTANCE_REFUSED_TOTAL} Connections or requests refused by the instance's capacity (LoadBalancerSpec).\n# TYPE {INSTANCE_REFUSED_TOTAL} counter"
    );
    for (id, l) in limiters {
        for r in [Refusal::MaxConnections, Refusal::Cps, Refusal::Qps] {
            let _ = writeln!(
                out,
                "{INSTANCE_REFUSED_TOTAL}{{load_balancer_id=\"{}\",reason=\"{}\"}} {}",
                escape(id),
                r.label(),
                l.refused[r as usize].load(Ordering::Relaxed)
            );
        }
    }
}

/// Gauge: an instance's anti-DDoS mode (0 normal, 1 scrubbing, 2 blackholed).
pub const DDOS_MODE: &str = "slb_ddos_mode";
/// Counter: connections and datagrams dropped by anti-DDoS, by `reason` (`malformed`,
/// `source_limit`, `blackhole`).
pub const DDOS_DROPPED_TOTAL: &str = "slb_ddos_dropped_total";

/// Appends the anti-DDoS families.
pub(crate) fn render_ddos(
    out: &mut String,
    all: &std::collections::BTreeMap<String, std::sync::Arc<crate::ddos::InstanceDdos>>,
) {
    use slb_core::ddos::Mode;
    let _ = writeln!(
        out,
        "# HELP {DDOS_MODE} Anti-DDoS mode: 0 normal, 1 scrubbing, 2 blackholed.\n# TYPE {DDOS_MODE} gauge"
    );
    let reports: Vec<_> = all.iter().map(|(id, d)| (id, d.report())).collect();
    for (id, r) in &reports {
        let mode = match r.mode {
            Mode::Normal => 0,
            Mode::Scrubbing => 1,
            Mode::Blackholed => 2,
        };
        let _ = writeln!(
            out,
            "{DDOS_MODE}{{load_balancer_id=\"{}\"}} {mode}",
            escape(id)
        );
    }
    let _ = writeln!(
        out,
        "# HELP {DDOS_DROPPED_TOTAL} Connections and datagrams dropped by anti-DDoS, by reason.\n# TYPE {DDOS_DROPPED_TOTAL} counter"
    );
    for (id, r) in &reports {
        for (reason, n) in crate::ddos::DROP_REASONS.iter().zip(r.dropped) {
            let _ = writeln!(
                out,
                "{DDOS_DROPPED_TOTAL}{{load_balancer_id=\"{}\",reason=\"{}\"}} {n}",
                escape(id),
                reason.label()
            );
        }
    }
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
            FAMILIES
                .iter()
                .position(|f| f.0 == BACKEND_HEALTHY)
                .unwrap(),
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
