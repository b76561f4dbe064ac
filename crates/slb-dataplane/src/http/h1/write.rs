//! Serializes the heads the engine sends: the request to a backend and the response head
//! to a client, straight from the parsed offsets without building a `HeaderMap`; and the
//! request head of an HTTP/2 request, straight from its `HeaderMap` without copying it.

use http::{HeaderMap, Method};

use super::super::headers::{is_hop_by_hop, Origin};
use super::head::{RequestHead, ResponseHead};

/// Appends `name: value\r\n`.
pub(crate) fn push_field(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.extend_from_slice(name);
    out.extend_from_slice(b": ");
    out.extend_from_slice(value);
    out.extend_from_slice(b"\r\n");
}

/// The upstream request head: always HTTP/1.1 in origin form; the client's fields minus
/// hop-by-hop ones and the forwarded ones the balancer owns; `Host` kept (or `host` when the
/// client sent none); the forwarded headers; `Connection: upgrade` on an upgrade. The body's
/// framing headers pass through unchanged, since the body is relayed as framed.
pub(crate) fn request_head(out: &mut Vec<u8>, head: &RequestHead, origin: &Origin<'_>, host: &str) {
    out.clear();
    out.reserve(1024);
    out.extend_from_slice(head.method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(head.path_and_query().as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    let mut has_host = false;
    let listed = head.listed();
    for (name, value) in head.fields.iter() {
        if is_hop_by_hop(&listed, name, head.upgrade) || origin.owns(name) {
            continue;
        }
        has_host |= name.eq_ignore_ascii_case(b"host");
        push_field(out, name, value);
    }
    if !has_host && !host.is_empty() {
        push_field(out, b"host", host.as_bytes());
    }
    origin.fields(&head.fields, |n, v| push_field(out, n.as_bytes(), v));
    if head.upgrade {
        out.extend_from_slice(b"connection: upgrade\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// The upstream HTTP/1.1 request head of an HTTP/2 request, without its framing field and
/// final CRLF (the caller knows the body's framing only after looking at what has arrived):
/// hop-by-hop fields, `Content-Length`/`Transfer-Encoding` and the forwarded ones the balancer
/// owns dropped; `host` added when the client sent no `Host` (HTTP/2 carries it in
/// `:authority`); the `Cookie` fields HTTP/2 may split joined back into one with `"; "`
/// (RFC 9113 §8.2.3), since an HTTP/1.1 backend expects one.
pub(crate) fn map_request_head(
    out: &mut Vec<u8>,
    method: &Method,
    path_and_query: &str,
    headers: &HeaderMap,
    origin: &Origin<'_>,
    host: &str,
) {
    out.clear();
    out.reserve(1024);
    out.extend_from_slice(method.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(path_and_query.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    // h2 refuses requests with connection-specific fields (RFC 9113 §8.2.2), so there is
    // no `Connection` list to honour here, only the fixed hop-by-hop names (`TE`).
    let listed: [&[u8]; 0] = [];
    let mut has_host = false;
    let mut cookies_done = false;
    for (name, value) in headers {
        let name = name.as_str();
        let n = name.as_bytes();
        if is_hop_by_hop(&listed, n, false)
            || origin.owns(n)
            || name == "content-length"
            || name == "transfer-encoding"
        {
            continue;
        }
        if name == "cookie" {
            if !cookies_done {
                cookies_done = true;
                out.extend_from_slice(b"cookie: ");
                for (i, v) in headers.get_all("cookie").iter().enumerate() {
                    if i > 0 {
                        out.extend_from_slice(b"; ");
                    }
                    out.extend_from_slice(v.as_bytes());
                }
                out.extend_from_slice(b"\r\n");
            }
            continue;
        }
        has_host |= name == "host";
        push_field(out, n, value.as_bytes());
    }
    if !has_host && !host.is_empty() {
        push_field(out, b"host", host.as_bytes());
    }
    origin.fields(headers, |n, v| push_field(out, n.as_bytes(), v));
}

/// The response head's status line and the backend's fields minus hop-by-hop ones (and
/// minus `Content-Length`/`Transfer-Encoding` when `reframe`); the caller appends its own
/// fields and the final CRLF.
pub(crate) fn response_head_start(
    out: &mut Vec<u8>,
    resp: &ResponseHead,
    upgrade: bool,
    reframe: bool,
) {
    out.clear();
    out.reserve(1024);
    out.extend_from_slice(b"HTTP/1.1 ");
    out.extend_from_slice(&itoa3(resp.status));
    out.push(b' ');
    out.extend_from_slice(resp.reason());
    out.extend_from_slice(b"\r\n");
    let listed = resp.listed();
    for (name, value) in resp.fields.iter() {
        if is_hop_by_hop(&listed, name, upgrade)
            || (reframe
                && (name.eq_ignore_ascii_case(b"content-length")
                    || name.eq_ignore_ascii_case(b"transfer-encoding")))
        {
            continue;
        }
        push_field(out, name, value);
    }
}

/// A three-digit status code as ASCII.
fn itoa3(status: u16) -> [u8; 3] {
    let s = status.min(999);
    [
        b'0' + (s / 100) as u8,
        b'0' + (s / 10 % 10) as u8,
        b'0' + (s % 10) as u8,
    ]
}

#[cfg(test)]
mod tests {
    use super::super::head::{parse_request, parse_response};
    use super::*;
    use crate::spec::ForwardedHeaders;
    use bytes::BytesMut;
    use http::Method;

    #[test]
    fn upstream_head_drops_hop_by_hop_and_owned_fields() {
        let raw = "GET /p?q HTTP/1.1\r\nHost: a.com\r\nConnection: keep-alive, X-Secret\r\nX-Secret: 1\r\nKeep-Alive: 5\r\nX-Forwarded-For: 9.9.9.9\r\nSLB-ID: forged\r\nX-A: b\r\n\r\n";
        let head = parse_request(&mut BytesMut::from(raw)).unwrap().unwrap();
        let origin = Origin {
            https: false,
            flags: ForwardedHeaders {
                slb_id: true,
                ..Default::default()
            },
            client: "10.0.0.1:5000".parse().unwrap(),
            listener: "127.0.0.1:80".parse().unwrap(),
            load_balancer_id: "lb-1",
            listener_port: 80,
        };
        let mut out = Vec::new();
        request_head(&mut out, &head, &origin, "fallback");
        let s = String::from_utf8(out).unwrap();
        assert_eq!(
            s,
            "GET /p?q HTTP/1.1\r\nHost: a.com\r\nX-A: b\r\nx-forwarded-for: 9.9.9.9, 10.0.0.1\r\nslb-id: lb-1\r\n\r\n"
        );
    }

    #[test]
    fn h2_request_head_from_a_header_map() {
        let mut h = http::HeaderMap::new();
        h.append("cookie", http::HeaderValue::from_static("a=1"));
        h.append("x-a", http::HeaderValue::from_static("b"));
        h.append("cookie", http::HeaderValue::from_static("b=2"));
        h.append("te", http::HeaderValue::from_static("trailers"));
        h.append("content-length", http::HeaderValue::from_static("3"));
        h.append("slb-id", http::HeaderValue::from_static("forged"));
        let origin = Origin {
            https: true,
            flags: ForwardedHeaders {
                slb_id: true,
                proto: true,
                ..Default::default()
            },
            client: "10.0.0.1:5000".parse().unwrap(),
            listener: "127.0.0.1:443".parse().unwrap(),
            load_balancer_id: "lb-1",
            listener_port: 443,
        };
        let mut out = Vec::new();
        map_request_head(&mut out, &Method::POST, "/p?q", &h, &origin, "a.com");
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "POST /p?q HTTP/1.1\r\ncookie: a=1; b=2\r\nx-a: b\r\nhost: a.com\r\nx-forwarded-for: 10.0.0.1\r\nx-forwarded-proto: https\r\nslb-id: lb-1\r\n"
        );
    }

    #[test]
    fn response_head_reframed() {
        let mut buf = BytesMut::from(
            &b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\nX-B: c\r\n\r\nabc"
                [..],
        );
        let resp = parse_response(&mut buf, &Method::GET).unwrap().unwrap();
        let mut out = Vec::new();
        response_head_start(&mut out, &resp, false, true);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nX-B: c\r\n");
        response_head_start(&mut out, &resp, false, false);
        assert_eq!(out, b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nX-B: c\r\n");
    }
}
