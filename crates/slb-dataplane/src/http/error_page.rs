//! The balancer's own small error responses, identified as OpenSLB.

use bytes::Bytes;
use http::{header, HeaderValue, Response, StatusCode};
use http_body_util::{BodyExt, Full};

use super::ProxyBody;

/// Value of the `Server` header on responses the balancer generates itself.
pub const SERVER_NAME: &str = "OpenSLB";

/// A small `text/html` page such as `502 Bad Gateway — OpenSLB`.
pub(crate) fn error_response(status: StatusCode) -> Response<ProxyBody> {
    let title = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("Error")
    );
    let body = format!(
        "<html><head><title>{title}</title></head><body><center><h1>{title}</h1></center><hr><center>OpenSLB</center></body></html>\n"
    );
    let len = body.len();
    let mut resp = Response::new(full(body));
    *resp.status_mut() = status;
    let h = resp.headers_mut();
    h.insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    h.insert(header::SERVER, HeaderValue::from_static(SERVER_NAME));
    resp
}

/// A complete body from text.
pub(crate) fn full(s: impl Into<Bytes>) -> ProxyBody {
    Full::new(s.into()).map_err(|never| match never {}).boxed()
}

/// `301` to `location`.
pub(crate) fn redirect(location: &str) -> Response<ProxyBody> {
    let mut resp = error_response(StatusCode::MOVED_PERMANENTLY);
    if let Ok(v) = HeaderValue::from_str(location) {
        resp.headers_mut().insert(header::LOCATION, v);
    }
    resp
}

/// The same page as raw HTTP/1.1 bytes for the native engine: status line, `Server`,
/// `Content-Type`, `Content-Length`, then `extra` header lines (each ending in CRLF, e.g.
/// `location: ...\r\n`), `Connection: close` when the connection ends after it, and the body.
pub(crate) fn raw_page(status: u16, extra: &str, close: bool) -> Vec<u8> {
    use std::fmt::Write as _;
    let reason = StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Error");
    let body = format!(
        "<html><head><title>{status} {reason}</title></head><body><center><h1>{status} {reason}</h1></center><hr><center>OpenSLB</center></body></html>\n"
    );
    let mut out = String::with_capacity(body.len() + 160 + extra.len());
    let _ = write!(
        out,
        "HTTP/1.1 {status} {reason}\r\nserver: {SERVER_NAME}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\n{extra}{}\r\n{body}",
        body.len(),
        if close { "connection: close\r\n" } else { "" },
    );
    out.into_bytes()
}
