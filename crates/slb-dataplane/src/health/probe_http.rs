//! HTTP health probe: an HTTP/1.0 request whose status code must be in the configured set.
//!
//! HTTP/1.0 with `Connection: close` keeps the exchange trivial: no chunked bodies, no
//! keep-alive; only the status line is read, then the connection is dropped.

use std::net::SocketAddr;

use slb_core::HttpCodes;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::MAX_STATUS_LINE;
use crate::spec::HttpMethod;

/// Sends `METHOD uri HTTP/1.0` with `Host: host` to `target` and checks the status code.
/// The caller bounds it with the probe timeout.
pub(super) async fn probe_http(
    target: SocketAddr,
    method: HttpMethod,
    uri: &str,
    host: &str,
    codes: &HttpCodes,
) -> bool {
    match status_of(target, method, uri, host).await {
        Some(code) => codes.matches(code),
        None => false,
    }
}

async fn status_of(target: SocketAddr, method: HttpMethod, uri: &str, host: &str) -> Option<u16> {
    let mut stream = TcpStream::connect(target).await.ok()?;
    let _ = stream.set_nodelay(true);
    let request = build_request(method, uri, host);
    stream.write_all(request.as_bytes()).await.ok()?;
    let mut buf = Vec::with_capacity(256);
    let mut chunk = [0u8; 256];
    loop {
        if let Some(code) = parse_status_line(&buf) {
            return Some(code);
        }
        if buf.len() >= MAX_STATUS_LINE || buf.contains(&b'\n') {
            return None;
        }
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return parse_status_line(&buf);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// The request bytes. `uri` is sent as given ("/" when empty).
pub(super) fn build_request(method: HttpMethod, uri: &str, host: &str) -> String {
    let uri = if uri.is_empty() { "/" } else { uri };
    format!(
        "{} {uri} HTTP/1.0\r\nHost: {host}\r\nUser-Agent: openslb-health-check\r\nAccept: */*\r\nConnection: close\r\n\r\n",
        method.as_str()
    )
}

/// Parses `HTTP/1.x NNN ...` once the first line is complete; `None` while incomplete or
/// when malformed.
pub(super) fn parse_status_line(buf: &[u8]) -> Option<u16> {
    let end = buf.iter().position(|&b| b == b'\n')?;
    let line = std::str::from_utf8(&buf[..end])
        .ok()?
        .trim_end_matches('\r');
    let mut parts = line.splitn(3, ' ');
    let version = parts.next()?;
    if !version.starts_with("HTTP/") {
        return None;
    }
    let code = parts.next()?;
    if code.len() != 3 || !code.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    code.parse().ok().filter(|c| (100..=599).contains(c))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_status_lines() {
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK\r\n"), Some(200));
        assert_eq!(parse_status_line(b"HTTP/1.0 302\r\nLocation: x"), Some(302));
        assert_eq!(parse_status_line(b"HTTP/1.1 200 OK"), None, "incomplete");
        assert_eq!(parse_status_line(b"SSH-2.0-OpenSSH\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 2000 OK\r\n"), None);
        assert_eq!(parse_status_line(b"HTTP/1.1 099 OK\r\n"), None);
    }

    #[test]
    fn request_has_host_and_close() {
        let r = build_request(HttpMethod::Head, "/health", "example.com");
        assert!(r.starts_with("HEAD /health HTTP/1.0\r\nHost: example.com\r\n"));
        assert!(r.ends_with("Connection: close\r\n\r\n"));
        assert!(build_request(HttpMethod::Get, "", "h").starts_with("GET / HTTP/1.0"));
    }
}
