//! HTTP/2 clients (h2c prior knowledge) through an HTTP listener to a raw HTTP/1.1 backend
//! that answers with exact bytes: chunked responses, request bodies of unknown length, pooled
//! connections reused and, when the backend dropped one, retried; 502 and 504 pages.

mod http_kit;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full};
use http_kit::*;
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use slb_dataplane::{BackendSpec, DataPlane};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

type ReqBody = BoxBody<Bytes, Infallible>;

/// A request as the raw backend read it.
struct Seen {
    line: String,
    /// `name: value` lines, names lowercased.
    fields: Vec<(String, String)>,
    body: Vec<u8>,
    /// A chunked body's trailer lines, as sent.
    trailers: Vec<String>,
}

impl Seen {
    fn field(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A backend that reads each request (head, and a body by `Content-Length` or chunked),
/// counts the connections it accepted, and answers by path:
/// - `/chunked`: a chunked body in two writes 50 ms apart (`hello world`);
/// - `/trailers`: a chunked `hello` with trailer fields `x-checksum: abc` and a
///   `content-length` that may not be one;
/// - `/echo-trailers`: the request body, its `Transfer-Encoding` and its trailer lines;
/// - `/echo`: the request body, with `x-framing` saying how it came;
/// - `/head`: the request head as text;
/// - `/once`: answers the first request of a connection, closes on any later one unanswered;
/// - `/mute`: closes without answering;
/// - `/slow`: answers after 3 s;
/// - `/hang`: never answers, counts in [`HANGING`] when it arrives and in [`HUNG_UP`] when
///   the balancer closes;
/// - `/big`: [`BIG`] bytes with `Content-Length`;
/// - `HEAD` anything: `Content-Length: 5` and no body;
/// - otherwise `hi`.
async fn raw_backend() -> (SocketAddr, Arc<AtomicUsize>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let conns = Arc::new(AtomicUsize::new(0));
    let c = conns.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            c.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(serve_raw(s));
        }
    });
    (addr, conns)
}

/// `/hang` requests the backend has received.
static HANGING: AtomicUsize = AtomicUsize::new(0);

/// `/hang` connections the balancer has closed.
static HUNG_UP: AtomicUsize = AtomicUsize::new(0);

/// Size of the `/big` body: three times the balancer's 1 MiB receive window, and more than
/// any client's default window.
const BIG: usize = 3 * 1024 * 1024;

/// Byte `i` of the `/big` body.
fn big_byte(i: usize) -> u8 {
    (i % 251) as u8
}

async fn serve_raw(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut served = 0;
    while let Some(req) = read_request(&mut s, &mut buf).await {
        served += 1;
        let target = req.line.split(' ').nth(1).unwrap_or("/");
        let path = target.split('?').next().unwrap_or("/").to_owned();
        let answer: Vec<u8> = match path.as_str() {
            _ if req.line.starts_with("HEAD ") => {
                b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n".to_vec()
            }
            "/hang" => {
                HANGING.fetch_add(1, Ordering::SeqCst);
                let mut b = [0u8; 1];
                let _ = s.read(&mut b).await;
                HUNG_UP.fetch_add(1, Ordering::SeqCst);
                return;
            }
            "/big" => {
                let mut a =
                    format!("HTTP/1.1 200 OK\r\nContent-Length: {BIG}\r\n\r\n").into_bytes();
                a.extend((0..BIG).map(big_byte));
                a
            }
            "/chunked" => {
                let first = b"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
                if !send_then_pause(&mut s, first, Duration::from_millis(50)).await {
                    return;
                }
                b"6\r\n world\r\n0\r\n\r\n".to_vec()
            }
            "/trailers" => {
                // Trailer fields after the last chunk, one of them not allowed as a trailer.
                b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-checksum\r\n\r\n5\r\nhello\r\n0\r\nx-checksum: abc\r\ncontent-length: 5\r\n\r\n".to_vec()
            }
            "/echo-trailers" => {
                let text = format!(
                    "{} te={:?} trailers={:?}",
                    String::from_utf8_lossy(&req.body),
                    req.field("transfer-encoding"),
                    req.trailers
                );
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )
                .into_bytes()
            }
            "/echo" => {
                let framing = format!(
                    "cl={:?} te={:?}",
                    req.field("content-length"),
                    req.field("transfer-encoding")
                );
                let mut a = format!(
                    "HTTP/1.1 200 OK\r\nx-framing: {framing}\r\nContent-Length: {}\r\n\r\n",
                    req.body.len()
                )
                .into_bytes();
                a.extend_from_slice(&req.body);
                a
            }
            "/head" => {
                let mut text = format!("{}\r\n", req.line);
                for (n, v) in &req.fields {
                    text.push_str(&format!("{n}: {v}\r\n"));
                }
                format!(
                    "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{text}",
                    text.len()
                )
                .into_bytes()
            }
            "/hints" => {
                // Early Hints, an unasked 100 Continue, and the answer a second later.
                let early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n";
                if !send_then_pause(&mut s, early, Duration::from_secs(1)).await {
                    return;
                }
                b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok".to_vec()
            }
            "/once" if served > 1 => return,
            "/mute" => return,
            "/slow" => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nslow".to_vec()
            }
            _ => b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nhi".to_vec(),
        };
        if s.write_all(&answer).await.is_err() {
            return;
        }
    }
}

/// Reads one request off `s` (bytes after it stay in `buf`); `None` when the peer closed.
/// Writes the first part of an answer and waits before the rest; false if the client left.
async fn send_then_pause(s: &mut TcpStream, first: &[u8], pause: Duration) -> bool {
    if s.write_all(first).await.is_err() {
        return false;
    }
    tokio::time::sleep(pause).await;
    true
}

async fn read_request(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<Seen> {
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        fill(s, buf).await?;
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    buf.drain(..end);
    let mut lines = head.split("\r\n").filter(|l| !l.is_empty());
    let line = lines.next()?.to_owned();
    let fields: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let mut seen = Seen {
        line,
        fields,
        body: Vec::new(),
        trailers: Vec::new(),
    };
    if let Some(n) = seen.field("content-length") {
        let n: usize = n.parse().unwrap();
        while buf.len() < n {
            fill(s, buf).await?;
        }
        seen.body = buf.drain(..n).collect();
    } else if seen.field("transfer-encoding") == Some("chunked") {
        loop {
            let line_end = loop {
                if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                    break i;
                }
                fill(s, buf).await?;
            };
            let size = usize::from_str_radix(std::str::from_utf8(&buf[..line_end]).ok()?, 16)
                .expect("hex chunk size");
            buf.drain(..line_end + 2);
            if size == 0 {
                // Trailer lines up to the blank one.
                loop {
                    let end = loop {
                        if let Some(i) = buf.windows(2).position(|w| w == b"\r\n") {
                            break i;
                        }
                        fill(s, buf).await?;
                    };
                    let line: Vec<u8> = buf.drain(..end + 2).take(end).collect();
                    if line.is_empty() {
                        break;
                    }
                    seen.trailers
                        .push(String::from_utf8_lossy(&line).into_owned());
                }
                break;
            }
            while buf.len() < size + 2 {
                fill(s, buf).await?;
            }
            assert_eq!(&buf[size..size + 2], b"\r\n", "chunk data ends in CRLF");
            seen.body.extend(buf.drain(..size));
            buf.drain(..2);
        }
    }
    Some(seen)
}

async fn fill(s: &mut TcpStream, buf: &mut Vec<u8>) -> Option<()> {
    let mut chunk = [0u8; 16 * 1024];
    match s.read(&mut chunk).await {
        Ok(0) | Err(_) => None,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            Some(())
        }
    }
}

/// An HTTP listener in front of the raw backend alone.
async fn listener(port: u16, timeout: Duration) -> (DataPlane, SocketAddr, Arc<AtomicUsize>) {
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
    spec.request_timeout = timeout;
    let addr = start(&dp, spec).await;
    (dp, addr, conns)
}

/// An h2c client whose requests can carry any body.
async fn h2(addr: SocketAddr) -> SendRequest<ReqBody> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(s))
        .await
        .unwrap();
    tokio::spawn(conn);
    send
}

/// Sends `req` and reads the whole response within [`STEP`].
async fn call(send: &mut SendRequest<ReqBody>, req: Request<ReqBody>) -> (Response<()>, Bytes) {
    tokio::time::timeout(STEP, async {
        let resp: Response<Incoming> = send.send_request(req).await.unwrap();
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.unwrap().to_bytes();
        (Response::from_parts(parts, ()), body)
    })
    .await
    .expect("response in time")
}

fn get(path: &str) -> Request<ReqBody> {
    Request::get(format!("http://h2.test{path}"))
        .body(Empty::new().boxed())
        .unwrap()
}

/// A request body sent piece by piece through a channel: no length known in advance.
struct ChanBody(mpsc::Receiver<Bytes>);

impl Body for ChanBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0.poll_recv(cx).map(|o| o.map(|b| Ok(Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_response_reaches_an_h2_client_whole_and_keeps_the_connection() {
    let (dp, addr, conns) = listener(201, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    for _ in 0..3 {
        let (resp, body) = call(&mut send, get("/chunked")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&body[..], b"hello world");
        assert!(resp.headers().get("transfer-encoding").is_none());
        assert!(resp.headers().get("content-length").is_none());
    }
    assert_eq!(
        conns.load(Ordering::Relaxed),
        1,
        "a chunked body that ended cleanly gives its connection back"
    );
    dp.shutdown().await;
}

/// A backend's chunked trailer fields reach the HTTP/2 client in a trailing HEADERS frame
/// (fields that may not be trailers left out), and the backend connection is reused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chunked_trailers_reach_an_h2_client() {
    let (dp, addr, conns) = listener(214, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    for _ in 0..2 {
        let req = Request::get("http://h2.test/trailers").body(()).unwrap();
        let (resp, _) = send.send_request(req, true).unwrap();
        let resp = tokio::time::timeout(STEP, resp).await.unwrap().unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let mut body = resp.into_body();
        assert_eq!(read_all(&mut body).await, b"hello");
        let trailers = tokio::time::timeout(STEP, body.trailers())
            .await
            .unwrap()
            .unwrap()
            .expect("trailers");
        assert_eq!(trailers["x-checksum"], "abc");
        assert!(trailers.get("content-length").is_none(), "{trailers:?}");
        send = send.ready().await.unwrap();
    }
    assert_eq!(conns.load(Ordering::Relaxed), 1);
    dp.shutdown().await;
}

/// An HTTP/2 client's request trailers reach the backend after a chunked body, whether
/// the body ended with the head's first read or streamed on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_trailers_reach_the_backend() {
    let (dp, addr, _) = listener(215, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    for pause in [Duration::ZERO, Duration::from_millis(100)] {
        let req = Request::post("http://h2.test/echo-trailers")
            .body(())
            .unwrap();
        let (resp, mut body) = send.send_request(req, false).unwrap();
        body.send_data(Bytes::from_static(b"abc"), false).unwrap();
        if !pause.is_zero() {
            tokio::time::sleep(pause).await;
            body.send_data(Bytes::from_static(b"def"), false).unwrap();
        }
        let mut trailers = http::HeaderMap::new();
        trailers.insert("x-digest", "sha-256=xyz".parse().unwrap());
        trailers.insert("content-type", "text/plain".parse().unwrap());
        body.send_trailers(trailers).unwrap();
        let resp = tokio::time::timeout(STEP, resp).await.unwrap().unwrap();
        let text = String::from_utf8(read_all(&mut resp.into_body()).await).unwrap();
        let sent = if pause.is_zero() { "abc" } else { "abcdef" };
        assert_eq!(
            text,
            format!("{sent} te=Some(\"chunked\") trailers=[\"x-digest: sha-256=xyz\"]"),
            "content-type may not be a trailer"
        );
        send = send.ready().await.unwrap();
    }
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_bodies_of_unknown_and_announced_length_reach_the_backend_intact() {
    let (dp, addr, _) = listener(202, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    // 200 KiB in 50 pieces, some sent after the request has gone out: more than the
    // balancer gathers into its first write, so the rest is streamed.
    let piece = |i: usize| Bytes::from((0..4096).map(|j| (i * 31 + j) as u8).collect::<Vec<u8>>());
    let expected: Vec<u8> = (0..50).flat_map(|i| piece(i).to_vec()).collect();
    for announced in [false, true] {
        let (tx, rx) = mpsc::channel(4);
        let mut req = Request::post("http://h2.test/echo");
        if announced {
            req = req.header("content-length", expected.len());
        }
        let req = req.body(ChanBody(rx).boxed()).unwrap();
        let feeder = tokio::spawn(async move {
            for i in 0..50 {
                if i % 10 == 5 {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                tx.send(piece(i)).await.unwrap();
            }
        });
        let (resp, body) = call(&mut send, req).await;
        feeder.await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(body.len(), expected.len());
        assert!(body[..] == expected[..], "body changed on the way");
        let framing = resp.headers()["x-framing"].to_str().unwrap();
        if announced {
            assert_eq!(framing, "cl=Some(\"204800\") te=None");
        } else {
            assert_eq!(framing, "cl=None te=Some(\"chunked\")");
        }
    }
    // A small body already complete goes with its exact length, in the head's write.
    let req = Request::post("http://h2.test/echo")
        .body(
            Full::new(Bytes::from_static(b"small"))
                .map_err(|e| match e {})
                .boxed(),
        )
        .unwrap();
    let (resp, body) = call(&mut send, req).await;
    assert_eq!(&body[..], b"small");
    assert_eq!(resp.headers()["x-framing"], "cl=Some(\"5\") te=None");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_request_head_is_rewritten_for_http1() {
    let (dp, addr, _) = listener(203, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    let req = Request::get("http://h2.test/head?q=1")
        .header("cookie", "a=1")
        .header("cookie", "b=2")
        .header("te", "trailers")
        .header("x-forwarded-for", "1.2.3.4")
        .body(Empty::new().boxed())
        .unwrap();
    let (resp, body) = call(&mut send, req).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let head = String::from_utf8(body.to_vec()).unwrap();
    assert!(head.starts_with("GET /head?q=1 HTTP/1.1\r\n"), "{head}");
    assert!(head.contains("\r\nhost: h2.test\r\n"), "{head}");
    assert!(head.contains("\r\ncookie: a=1; b=2\r\n"), "{head}");
    assert!(
        head.contains("\r\nx-forwarded-for: 1.2.3.4, 127.0.0.1\r\n"),
        "{head}"
    );
    assert!(!head.contains("\r\nte:"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_connection_dropped_by_the_backend_is_retried_for_get() {
    let (dp, addr, conns) = listener(204, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    // Each connection answers once and closes on its next request unanswered: from the
    // balancer's side, exactly a keep-alive connection the backend closed while idle.
    for _ in 0..3 {
        let (resp, body) = call(&mut send, get("/once")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&body[..], b"hi");
    }
    assert_eq!(conns.load(Ordering::Relaxed), 3);
    assert_eq!(
        connect_failures(&dp, 204),
        0,
        "a stale pooled connection is not the backend's failure"
    );
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_closing_without_an_answer_gives_502() {
    let (dp, addr, _) = listener(205, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    let (resp, body) = call(&mut send, get("/mute")).await;
    assert_eq!(resp.status(), StatusCode::BAD_GATEWAY);
    assert!(String::from_utf8_lossy(&body).contains("502 Bad Gateway"));
    assert_eq!(connect_failures(&dp, 205), 1);
    // The connection goes on.
    let (resp, body) = call(&mut send, get("/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(&body[..], b"hi");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn response_slower_than_request_timeout_gives_504() {
    let (dp, addr, _) = listener(206, Duration::from_millis(300)).await;
    let mut send = h2(addr).await;
    let t = std::time::Instant::now();
    let (resp, body) = call(&mut send, get("/slow")).await;
    assert_eq!(resp.status(), StatusCode::GATEWAY_TIMEOUT);
    assert!(String::from_utf8_lossy(&body).contains("504 Gateway Timeout"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2_requests_reuse_backend_connections() {
    let (dp, addr, conns) = listener(207, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    for _ in 0..20 {
        let (resp, body) = call(&mut send, get("/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&body[..], b"hi");
    }
    assert_eq!(
        conns.load(Ordering::Relaxed),
        1,
        "sequential requests share one"
    );
    // Ten streams at a time, three rounds: never more connections than streams at once.
    for _ in 0..3 {
        let mut round = Vec::new();
        for _ in 0..10 {
            let mut s = send.clone();
            round.push(tokio::spawn(async move { call(&mut s, get("/")).await }));
        }
        for r in round {
            let (resp, body) = r.await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert_eq!(&body[..], b"hi");
        }
    }
    let n = conns.load(Ordering::Relaxed);
    assert!(n <= 10, "{n} backend connections for 10 concurrent streams");
    dp.shutdown().await;
}

/// `slb_listener_backend_connect_failures_total` of the listener on `port`.
fn connect_failures(dp: &DataPlane, port: u16) -> u64 {
    let mut m = String::new();
    dp.render_metrics(&mut m);
    let prefix = format!(
        "slb_listener_backend_connect_failures_total{{load_balancer_id=\"lb-http\",port=\"{port}\",protocol=\"http\"}} "
    );
    m.lines()
        .find_map(|l| l.strip_prefix(prefix.as_str()))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {prefix} in {m}"))
}

/// The rest of a raw h2 response body, its flow-control window released as it is read.
async fn read_all(body: &mut h2::RecvStream) -> Vec<u8> {
    let mut got = Vec::new();
    while let Some(d) = tokio::time::timeout(STEP, body.data()).await.unwrap() {
        let d = d.unwrap();
        let _ = body.flow_control().release_capacity(d.len());
        got.extend_from_slice(&d);
    }
    got
}

/// A raw h2 client (the h2 crate's), for what hyper's client does not expose: interim
/// responses and stream resets.
async fn raw_h2(addr: SocketAddr) -> h2::client::SendRequest<Bytes> {
    let s = TcpStream::connect(addr).await.unwrap();
    let (send, conn) = h2::client::handshake(s).await.unwrap();
    tokio::spawn(conn);
    send.ready().await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_reset_by_the_client_closes_its_backend_request() {
    let (dp, addr, _) = listener(208, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    let (before, arrived) = (
        HUNG_UP.load(Ordering::SeqCst),
        HANGING.load(Ordering::SeqCst),
    );
    let req = Request::get("http://h2.test/hang").body(()).unwrap();
    let (resp, mut stream) = send.send_request(req, true).unwrap();
    // The backend has the request before the client gives up on it.
    tokio::time::timeout(STEP, async {
        while HANGING.load(Ordering::SeqCst) == arrived {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the backend has the request");
    stream.send_reset(h2::Reason::CANCEL);
    drop(resp);
    tokio::time::timeout(STEP, async {
        while HUNG_UP.load(Ordering::SeqCst) == before {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the backend connection is closed long before the 60 s request timeout");
    // The client's connection goes on.
    let mut send = h2(addr).await;
    let (resp, body) = call(&mut send, get("/")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(&body[..], b"hi");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn streams_of_one_connection_do_not_wait_for_each_other() {
    let (dp, addr, _) = listener(209, Duration::from_secs(60)).await;
    let send = h2(addr).await;
    let mut s = send.clone();
    let slow = tokio::spawn(async move { call(&mut s, get("/slow")).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let t = std::time::Instant::now();
    for _ in 0..5 {
        let mut s = send.clone();
        let (resp, body) = call(&mut s, get("/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&body[..], b"hi");
    }
    assert!(
        t.elapsed() < Duration::from_secs(2),
        "answered beside a 3 s response: {:?}",
        t.elapsed()
    );
    assert!(!slow.is_finished(), "the slow stream is still waiting");
    let (resp, body) = slow.await.unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(&body[..], b"slow");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let (dp, addr, _) = listener(210, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    let req = Request::post("http://h2.test/echo")
        .header("expect", "100-continue")
        .header("content-length", "5")
        .body(())
        .unwrap();
    let (mut resp, mut stream) = send.send_request(req, false).unwrap();
    let interim =
        tokio::time::timeout(STEP, std::future::poll_fn(|cx| resp.poll_informational(cx)))
            .await
            .expect("an interim response before any body byte")
            .expect("one interim response")
            .unwrap();
    assert_eq!(interim.status(), StatusCode::CONTINUE);
    stream
        .send_data(Bytes::from_static(b"hello"), true)
        .unwrap();
    let resp = tokio::time::timeout(STEP, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_all(&mut resp.into_body()).await, b"hello");
    dp.shutdown().await;
}

/// A backend's 103 Early Hints reach the HTTP/2 client while the backend still works on
/// the answer; its unasked 100 Continue does not (the balancer answers `Expect` itself).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn early_hints_reach_the_client_before_the_response() {
    let (dp, addr, _) = listener(213, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    let req = Request::get("http://h2.test/hints").body(()).unwrap();
    let (mut resp, _stream) = send.send_request(req, true).unwrap();
    let hint = tokio::time::timeout(STEP, std::future::poll_fn(|cx| resp.poll_informational(cx)))
        .await
        .expect("the hint in time")
        .expect("an interim response")
        .unwrap();
    assert_eq!(hint.status(), StatusCode::EARLY_HINTS);
    assert_eq!(hint.headers()["link"], "</style.css>; rel=preload");
    assert!(
        tokio::time::timeout(Duration::from_millis(200), &mut resp)
            .await
            .is_err(),
        "the hint came while the backend was still working"
    );
    let more = tokio::time::timeout(STEP, std::future::poll_fn(|cx| resp.poll_informational(cx)))
        .await
        .expect("the response in time");
    assert!(more.is_none(), "nothing else before the response: {more:?}");
    let resp = tokio::time::timeout(STEP, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(read_all(&mut resp.into_body()).await, b"ok");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn head_gets_the_length_without_a_body_and_the_backend_connection_goes_on() {
    let (dp, addr, conns) = listener(211, Duration::from_secs(60)).await;
    let mut send = h2(addr).await;
    for _ in 0..2 {
        let req = Request::head("http://h2.test/")
            .body(Empty::new().boxed())
            .unwrap();
        let (resp, body) = call(&mut send, req).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(resp.headers()["content-length"], "5");
        assert!(body.is_empty());
        let (resp, body) = call(&mut send, get("/")).await;
        assert_eq!(resp.status(), StatusCode::OK);
        assert_eq!(&body[..], b"hi");
    }
    assert_eq!(conns.load(Ordering::Relaxed), 1);
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_larger_than_every_window_arrives_whole() {
    let (dp, addr, _) = listener(212, Duration::from_secs(60)).await;
    let mut send = raw_h2(addr).await;
    let req = Request::get("http://h2.test/big").body(()).unwrap();
    let (resp, _) = send.send_request(req, true).unwrap();
    let resp = tokio::time::timeout(STEP, resp).await.unwrap().unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-length"], BIG.to_string().as_str());
    let mut body = resp.into_body();
    let mut got = 0usize;
    tokio::time::timeout(STEP, async {
        while let Some(d) = body.data().await {
            let d = d.unwrap();
            assert!(
                d.iter().enumerate().all(|(i, &b)| b == big_byte(got + i)),
                "bytes from {got} changed"
            );
            got += d.len();
            // A slow reader: the client's window (64 KiB by default) opens a frame at a time.
            if got % (256 * 1024) < d.len() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            let _ = body.flow_control().release_capacity(d.len());
        }
    })
    .await
    .expect("the whole body in time");
    assert_eq!(got, BIG);
    dp.shutdown().await;
}
