//! The HTTP/1.1 engine against a raw backend that answers with exact bytes: chunked and
//! close-delimited responses, interim 1xx responses, HEAD, gzip over a chunked body, and
//! a backend that closes its connection after a response.

mod http_kit;

use std::io::Read as _;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use http_kit::*;
use slb_dataplane::{BackendSpec, DataPlane};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// What the raw backend answers to a request line containing the key.
const ANSWERS: &[(&str, &[u8])] = &[
    (
        "/chunked",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
    ),
    (
        "/eof",
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n\r\nuntil the end",
    ),
    (
        "/continue",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok",
    ),
    (
        "HEAD /",
        b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\nContent-Type: text/plain\r\n\r\n",
    ),
    (
        "/closing",
        b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: close\r\n\r\nbye",
    ),
    ("", b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi"),
];

/// A backend that reads request heads (bodies must be empty) and answers per
/// [`ANSWERS`]; counts the connections it accepted.
async fn raw_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                loop {
                    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                        let mut chunk = [0u8; 4096];
                        match s.read(&mut chunk).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => buf.extend_from_slice(&chunk[..n]),
                        }
                    }
                    let end = buf.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
                    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
                    buf.drain(..end);
                    let line = head.lines().next().unwrap_or("").to_owned();
                    let (_, answer) = ANSWERS
                        .iter()
                        .find(|(k, _)| line.contains(k))
                        .expect("the empty key matches");
                    if s.write_all(answer).await.is_err() {
                        return;
                    }
                    if line.contains("/eof") || line.contains("/closing") {
                        return;
                    }
                }
            });
        }
    });
    (addr, conns)
}

async fn listener(port: u16) -> (DataPlane, SocketAddr, Arc<AtomicUsize>) {
    let (be, conns) = raw_backend().await;
    let dp = DataPlane::new();
    let mut spec = http_spec(
        port,
        vec![BackendSpec {
            server_id: "raw".into(),
            addr: be,
            weight: 100,
        }],
    );
    // Alibaba's default; only requests with Accept-Encoding are affected.
    spec.gzip = true;
    let addr = start(&dp, spec).await;
    (dp, addr, conns)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_response_passed_through_or_dechunked_for_http10() {
    let (dp, addr, _) = listener(110).await;
    let out = raw(
        addr,
        b"GET /chunked HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("transfer-encoding: chunked"),
        "{out}"
    );
    assert!(
        out.ends_with("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"),
        "{out}"
    );
    let out = raw(addr, b"GET /chunked HTTP/1.0\r\n\r\n").await;
    assert!(
        !out.to_ascii_lowercase().contains("transfer-encoding"),
        "{out}"
    );
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nhello world"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delimited_response_relayed_then_connection_closed() {
    let (dp, addr, _) = listener(111).await;
    let out = raw(addr, b"GET /eof HTTP/1.1\r\nHost: x\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nuntil the end"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn interim_100_continue_relayed_before_the_final_response() {
    let (dp, addr, _) = listener(112).await;
    let out = raw(
        addr,
        b"GET /continue HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert!(
        out.starts_with("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nok"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_response_has_no_body_and_keeps_the_connection() {
    let (dp, addr, _) = listener(113).await;
    let out = raw(
        addr,
        b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    let (first, second) = out.split_once("\r\n\r\n").expect("two responses");
    assert!(first.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        first.to_ascii_lowercase().contains("content-length: 1000"),
        "{out}"
    );
    assert!(
        second.starts_with("HTTP/1.1 200"),
        "the next response follows at once: {out}"
    );
    assert!(second.ends_with("\r\n\r\nhi"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_applied_to_a_chunked_text_response() {
    let (dp, addr, _) = listener(114).await;
    let out = raw_bytes(
        addr,
        b"GET /chunked HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n",
    )
    .await;
    let end = out.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
    let head = String::from_utf8_lossy(&out[..end]).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    // De-chunk, then gunzip.
    let mut body = &out[end..];
    let mut gz = Vec::new();
    loop {
        let line_end = body.windows(2).position(|w| w == b"\r\n").unwrap();
        let size =
            usize::from_str_radix(std::str::from_utf8(&body[..line_end]).unwrap(), 16).unwrap();
        body = &body[line_end + 2..];
        if size == 0 {
            break;
        }
        gz.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
    let mut text = String::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_string(&mut text)
        .unwrap();
    assert_eq!(text, "hello world");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_closing_after_a_response_is_not_reused() {
    let (dp, addr, conns) = listener(115).await;
    let mut c = Conn::open(addr).await;
    assert_eq!(c.get("x", "/closing").await.text(), "bye");
    assert_eq!(c.get("x", "/closing").await.text(), "bye");
    assert_eq!(c.get("x", "/").await.text(), "hi");
    assert_eq!(c.get("x", "/").await.text(), "hi");
    assert_eq!(
        conns.load(Ordering::Relaxed),
        3,
        "two closed by the backend, then one kept for the keep-alive requests"
    );
    dp.shutdown().await;
}

/// Like `raw`, as bytes.
async fn raw_bytes(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
    out
}
