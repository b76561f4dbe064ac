//! Test kit for HTTP listeners: named hyper backends on 127.0.0.1, spec builders and a
//! keep-alive client.
#![allow(dead_code)]

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use slb_dataplane::{
    BackendSpec, DataPlane, ForwardedHeaders, HttpListenerSpec, HttpRuleSpec, ListenerKey,
    SchedulerKind,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bound on every single network step of a test.
pub const STEP: Duration = Duration::from_secs(5);

/// A hyper backend answering `NAME` plus what it saw; see [`respond`].
pub struct HttpBackend {
    pub name: String,
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    /// Connections accepted (the proxy's pool reuses them across requests).
    pub conns: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl HttpBackend {
    pub async fn start(name: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let conns = Arc::new(AtomicUsize::new(0));
        let (n, h, c) = (name.to_owned(), hits.clone(), conns.clone());
        let task = tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                c.fetch_add(1, Ordering::Relaxed);
                let (n, h) = (n.clone(), h.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| respond(n.clone(), h.clone(), req));
                    let _ = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                        .serve_connection_with_upgrades(TokioIo::new(s), svc)
                        .await;
                });
            }
        });
        Self {
            name: name.to_owned(),
            addr,
            hits,
            conns,
            task,
        }
    }

    pub fn spec(&self) -> BackendSpec {
        BackendSpec {
            server_id: self.name.clone(),
            addr: self.addr,
            weight: 100,
        }
    }
}

/// Backend behaviour by path:
/// - `/sleep`: waits 10 s before answering;
/// - `/text`: 6 000 bytes of `text/plain`;
/// - `/cookie`: sets `sid=NAME`;
/// - `/echo`: answers the request body (and `x-seen-framing`);
/// - an `Upgrade` request: 101, then echoes bytes;
/// - otherwise: body `NAME`, with headers `x-seen-*` describing the request.
async fn respond(
    name: String,
    hits: Arc<AtomicUsize>,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    hits.fetch_add(1, Ordering::Relaxed);
    if req.headers().contains_key(http::header::UPGRADE) {
        let on = hyper::upgrade::on(&mut req);
        tokio::spawn(async move {
            if let Ok(up) = on.await {
                let mut io = TokioIo::new(up);
                let mut buf = [0u8; 1024];
                while let Ok(n) = io.read(&mut buf).await {
                    if n == 0 || io.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            }
        });
        return Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header("connection", "upgrade")
            .header("upgrade", "echo")
            .body(Full::new(Bytes::new()))
            .unwrap());
    }
    let path = req.uri().path().to_owned();
    if path == "/echo" {
        let framing = format!(
            "cl={:?} te={:?}",
            req.headers().get("content-length"),
            req.headers().get("transfer-encoding")
        );
        let body = req.into_body().collect().await.map(|b| b.to_bytes());
        return Ok(Response::builder()
            .header("x-backend", name.as_str())
            .header("x-seen-framing", framing)
            .body(Full::new(body.unwrap_or_default()))
            .unwrap());
    }
    if path == "/sleep" {
        tokio::time::sleep(Duration::from_secs(10)).await;
    }
    let seen = |n: &str| {
        req.headers()
            .get_all(n)
            .iter()
            .map(|v| v.to_str().unwrap_or("?").to_owned())
            .collect::<Vec<_>>()
            .join("|")
    };
    let mut b = Response::builder()
        .header("x-backend", name.as_str())
        .header("x-seen-xff", seen("x-forwarded-for"))
        .header("x-seen-host", seen("host"))
        .header("x-seen-proto", seen("x-forwarded-proto"))
        .header("x-seen-slb-id", seen("slb-id"))
        .header("x-seen-port", seen("x-forwarded-port"))
        .header(
            "x-seen-hop",
            seen("x-hop") + &seen("te") + &seen("keep-alive"),
        )
        .header("x-seen-uri", req.uri().to_string());
    let body = match path.as_str() {
        "/text" => {
            b = b.header("content-type", "text/plain");
            "hello openslb ".repeat(430)
        }
        "/cookie" => {
            b = b.header("set-cookie", format!("sid={name}; Path=/"));
            name.clone()
        }
        _ => name.clone(),
    };
    Ok(b.body(Full::new(Bytes::from(body))).unwrap())
}

/// An HTTP listener spec on 127.0.0.1:0 with defaults and no rules.
pub fn http_spec(port: u16, backends: Vec<BackendSpec>) -> HttpListenerSpec {
    HttpListenerSpec {
        key: ListenerKey::http("lb-http", port),
        bind: "127.0.0.1:0".parse().unwrap(),
        default_backends: backends,
        rules: Vec::new(),
        scheduler: SchedulerKind::Rr,
        health: None,
        sticky: None,
        forwarded: ForwardedHeaders::default(),
        idle_timeout: Duration::from_secs(15),
        request_timeout: Duration::from_secs(60),
        gzip: false,
        redirect_https_port: None,
        cookie_key: [42; 32],
        tls: None,
        bandwidth_mbps: None,
        acl: None,
        caps: None,
        ddos: None,
    }
}

pub fn rule(id: &str, domain: Option<&str>, url: Option<&str>, b: &HttpBackend) -> HttpRuleSpec {
    HttpRuleSpec {
        rule_id: id.into(),
        domain: domain.map(Into::into),
        url: url.map(Into::into),
        backends: vec![b.spec()],
        own: None,
    }
}

/// Applies and returns the listener's address.
pub async fn start(dp: &DataPlane, spec: HttpListenerSpec) -> SocketAddr {
    let key = spec.key.clone();
    for (k, r) in dp.apply_http(vec![spec]).await {
        r.unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    dp.local_addr(&key).unwrap()
}

/// One HTTP/1.1 keep-alive connection to the listener.
pub struct Conn {
    send: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    pub task: JoinHandle<()>,
}

/// A finished response: status, headers and the whole body.
pub struct Got {
    pub status: StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Got {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
    pub fn header(&self, n: &str) -> String {
        self.headers
            .get(n)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default()
    }
}

impl Conn {
    pub async fn open(addr: SocketAddr) -> Self {
        let s = TcpStream::connect(addr).await.unwrap();
        let (send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(s))
            .await
            .unwrap();
        let task = tokio::spawn(async move {
            let _ = conn.await;
        });
        Self { send, task }
    }

    /// Waits until the balancer has closed the connection; panics after [`STEP`].
    pub async fn closed(&mut self) {
        tokio::time::timeout(STEP, &mut self.task)
            .await
            .expect("the connection closed in time")
            .unwrap();
    }

    pub async fn get(&mut self, host: &str, path: &str) -> Got {
        self.send(
            Request::get(path)
                .header("host", host)
                .body(Full::new(Bytes::new()))
                .unwrap(),
        )
        .await
    }

    pub async fn send(&mut self, req: Request<Full<Bytes>>) -> Got {
        tokio::time::timeout(STEP, async {
            self.send.ready().await.unwrap();
            let resp = self.send.send_request(req).await.unwrap();
            let (parts, body) = resp.into_parts();
            Got {
                status: parts.status,
                headers: parts.headers,
                body: body.collect().await.unwrap().to_bytes(),
            }
        })
        .await
        .expect("response in time")
    }

    pub fn is_closed(&self) -> bool {
        self.send.is_closed()
    }
}

/// One GET on a fresh connection.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Got {
    Conn::open(addr).await.get(host, path).await
}

/// Sends raw bytes and returns everything read until the peer closes or 2 s pass.
pub async fn raw(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut out)).await;
    String::from_utf8_lossy(&out).into_owned()
}

/// An address on which nothing listens (bound then closed).
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// An HTTP/2 client over `io` (h2c prior knowledge, or TLS with ALPN h2); the connection
/// task runs until the peer closes and reports how it ended.
pub async fn h2_client<T>(
    io: T,
) -> (
    hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    JoinHandle<Result<(), hyper::Error>>,
)
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (send, conn) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .unwrap();
    (send, tokio::spawn(conn))
}

/// One GET on an HTTP/2 client, within [`STEP`].
pub async fn h2_get(
    send: &mut hyper::client::conn::http2::SendRequest<http_body_util::Empty<Bytes>>,
    uri: &str,
) -> Response<Incoming> {
    let req = Request::get(uri)
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    tokio::time::timeout(STEP, send.send_request(req))
        .await
        .unwrap()
        .unwrap()
}

/// An HTTP backend that reads at least `bytes` of each connection (head and upload
/// body), then answers `200` with an empty body: uploads reach it whole before it replies.
pub async fn upload_sink(bytes: usize) -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 65_536];
                let mut total = 0usize;
                while total < bytes {
                    match tokio::io::AsyncReadExt::read(&mut s, &mut buf).await {
                        Ok(n) if n > 0 => total += n,
                        _ => return,
                    }
                }
                let _ = tokio::io::AsyncWriteExt::write_all(
                    &mut s,
                    b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
                )
                .await;
            });
        }
    });
    addr
}

/// The data plane's metrics once `ready` holds for them, or after [`STEP`] (the caller's
/// asserts then say what is missing). A request is counted once its response is sent,
/// which may trail the client's read of it on a multi-thread runtime.
pub async fn metrics_when(dp: &DataPlane, ready: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + STEP;
    let mut m = String::new();
    loop {
        m.clear();
        dp.render_metrics(&mut m);
        if ready(&m) || std::time::Instant::now() >= deadline {
            return m;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
