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
}

impl AccessLogEntry {
    /// The entry as one JSON object.
    pub fn to_json(&self) -> String {
        serde_json::json!({
            "time": self.time,
            "client_ip": self.client_ip,
            "client_port": self.client_port,
            "host": self.host,
            "request_method": self.request_method,
            "request_uri": self.request_uri,
            "status": self.status,
            "request_time": self.request_time,
            "upstream_addr": self.upstream_addr,
            "upstream_status": self.upstream_status,
            "upstream_response_time": self.upstream_response_time,
            "body_bytes_sent": self.body_bytes_sent,
            "http_user_agent": self.http_user_agent,
            "http_x_forwarded_for": self.http_x_forwarded_for,
            "slb_vport": self.slb_vport,
        })
        .to_string()
    }
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
        let mut line = entry.to_json();
        line.push('\n');
        let mut out = lock(&self.out);
        if let Err(e) = out.write_all(line.as_bytes()) {
            tracing::warn!(error = %e, "access log write failed");
        }
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
            http_user_agent: "ua".into(),
            http_x_forwarded_for: String::new(),
            slb_vport: 80,
        };
        let log = JsonLinesAccessLog::new(Vec::new());
        log.log(&e);
        let out = String::from_utf8(log.out.into_inner().unwrap()).unwrap();
        let v: serde_json::Value = serde_json::from_str(out.trim_end()).unwrap();
        assert_eq!(v["slb_vport"], 80);
        assert_eq!(v["upstream_status"], "200");
        assert!(e.time.ends_with('Z') && e.time.len() == 24, "{}", e.time);
    }
}
