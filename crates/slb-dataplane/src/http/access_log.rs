//! Access log hook: one [`AccessLogEntry`] per request, with Alibaba's field names.

use std::io::Write;
use std::sync::Mutex;

use crate::backend::lock;

/// One request as logged (field names follow Alibaba SLB's access log).
#[derive(Clone, Debug, PartialEq)]
pub struct AccessLogEntry {
    /// Time the request arrived, RFC 3339 in UTC.
    pub time: String,
    /// Client address as seen by the balancer.
    pub client_ip: String,
    /// Client port.
    pub client_port: u16,
    /// `Host` of the request.
    pub host: String,
    /// Method.
    pub request_method: String,
    /// Request target (path and query).
    pub request_uri: String,
    /// Status sent to the client.
    pub status: u16,
    /// Seconds from the request head to the end of the response body.
    pub request_time: f64,
    /// Backend that answered (`ip:port`), empty when none was reached.
    pub upstream_addr: String,
    /// Backend status, empty when none answered.
    pub upstream_status: String,
    /// Seconds until the backend's response head, 0 when none.
    pub upstream_response_time: f64,
    /// Response body bytes sent to the client.
    pub body_bytes_sent: u64,
    /// `User-Agent`.
    pub http_user_agent: String,
    /// `X-Forwarded-For` as the client sent it.
    pub http_x_forwarded_for: String,
    /// Listener (frontend) port.
    pub slb_vport: u16,
    /// HTTPS: the negotiated TLS version (`TLSv1.3`), else empty.
    pub ssl_protocol: String,
    /// HTTPS: the negotiated cipher suite (IANA name), else empty.
    pub ssl_cipher: String,
}

impl AccessLogEntry {
    /// The entry as one JSON object.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(384);
        self.write_json(&mut out);
        out
    }

    /// Appends the entry as one JSON object to `out`. Hand-written (no intermediate map) because
    /// it runs once per request: serde_json's `json!` map cost about a fifth of a proxied
    /// request's CPU time.
    pub fn write_json(&self, out: &mut String) {
        use std::fmt::Write as _;
        out.push('{');
        let strings = [
            ("time", &self.time),
            ("client_ip", &self.client_ip),
            ("host", &self.host),
            ("request_method", &self.request_method),
            ("request_uri", &self.request_uri),
            ("upstream_addr", &self.upstream_addr),
            ("upstream_status", &self.upstream_status),
            ("http_user_agent", &self.http_user_agent),
            ("http_x_forwarded_for", &self.http_x_forwarded_for),
            ("ssl_protocol", &self.ssl_protocol),
            ("ssl_cipher", &self.ssl_cipher),
        ];
        for (name, value) in strings {
            out.push('"');
            out.push_str(name);
            out.push_str("\":");
            json_string(out, value);
            out.push(',');
        }
        let _ = write!(
            out,
            "\"client_port\":{},\"status\":{},\"request_time\":{:.3},\"upstream_response_time\":{:.3},\"body_bytes_sent\":{},\"slb_vport\":{}}}",
            self.client_port,
            self.status,
            self.request_time,
            self.upstream_response_time,
            self.body_bytes_sent,
            self.slb_vport
        );
    }
}

/// Appends `s` as a JSON string literal (quotes, backslashes and control characters escaped).
fn json_string(out: &mut String, s: &str) {
    use std::fmt::Write as _;
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// Receives one entry per finished HTTP request. Called on the request path: implementations
/// must be quick (buffer, do not block on slow I/O).
pub trait AccessLog: Send + Sync {
    /// Records one request.
    fn log(&self, entry: &AccessLogEntry);
}

/// Writes entries as JSON lines to any writer (a file, stdout), one line per request, each
/// with a single `write_all` under a mutex. Buffering is the caller's choice: wrap a file in
/// `BufWriter` for throughput (and call [`flush`](Self::flush) on shutdown), or in
/// `LineWriter` to have every line reach the file at once.
pub struct JsonLinesAccessLog<W: Write + Send> {
    out: Mutex<W>,
}

impl<W: Write + Send> JsonLinesAccessLog<W> {
    /// Logs to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out: Mutex::new(out),
        }
    }

    /// Flushes the writer.
    pub fn flush(&self) -> std::io::Result<()> {
        lock(&self.out).flush()
    }
}

impl<W: Write + Send> AccessLog for JsonLinesAccessLog<W> {
    fn log(&self, entry: &AccessLogEntry) {
        let mut line = String::with_capacity(384);
        entry.write_json(&mut line);
        line.push('\n');
        let mut out = lock(&self.out);
        if let Err(e) = out.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "access log write failed");
        }
    }
}

impl<W: Write + Send + 'static> JsonLinesAccessLog<std::io::BufWriter<W>> {
    /// A buffered log (64 KiB) flushed every `every` by a background task, so a request costs
    /// no write syscall; at most `every` of entries are lost if the process is killed.
    /// Must be called inside a tokio runtime.
    pub fn buffered(out: W, every: std::time::Duration) -> std::sync::Arc<Self> {
        let log = std::sync::Arc::new(Self::new(std::io::BufWriter::with_capacity(64 * 1024, out)));
        let weak = std::sync::Arc::downgrade(&log);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let Some(log) = weak.upgrade() else { return };
                if let Err(e) = log.flush() {
                    tracing::warn!(error = %e, "access log flush failed");
                }
            }
        });
        log
    }
}

/// RFC 3339 UTC timestamp with millisecond precision, without a date library.
pub(crate) fn rfc3339_now() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86_400, secs % 86_400);
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        d.subsec_millis()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_line_has_alibaba_fields() {
        let e = AccessLogEntry {
            time: rfc3339_now(),
            client_ip: "1.2.3.4".into(),
            client_port: 5,
            host: "h".into(),
            request_method: "GET".into(),
            request_uri: "/".into(),
            status: 200,
            request_time: 0.5,
            upstream_addr: "10.0.0.1:80".into(),
            upstream_status: "200".into(),
            upstream_response_time: 0.25,
            body_bytes_sent: 3,
            http_user_agent: "ua \"quoted\" \\ \u{1}".into(),
            http_x_forwarded_for: String::new(),
            slb_vport: 80,
            ssl_protocol: String::new(),
            ssl_cipher: String::new(),
        };
        let log = JsonLinesAccessLog::new(Vec::new());
        log.log(&e);
        let out = String::from_utf8(log.out.into_inner().unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["slb_vport"], 80);
        assert_eq!(v["upstream_status"], "200");
        assert_eq!(v["http_user_agent"], e.http_user_agent);
        assert_eq!(v["request_time"], 0.5);
        assert_eq!(v["client_port"], 5);
        assert!(e.time.ends_with('Z') && e.time.len() == 24, "{}", e.time);
    }
}
