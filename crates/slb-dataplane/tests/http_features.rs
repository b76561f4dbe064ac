//! HTTP listeners: cookie persistence, gzip, WebSocket-style upgrades, redirect, request
//! limits and the access log.

mod http_kit;

use std::collections::HashSet;
use std::io::Read as _;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_kit::*;
use slb_dataplane::{AccessLog, AccessLogEntry, DataPlane, StickySpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_insert_pins_and_forged_cookie_is_ignored() {
    let (a, b) = (HttpBackend::start("a").await, HttpBackend::start("b").await);
    let dp = DataPlane::new();
    let mut spec = http_spec(90, vec![a.spec(), b.spec()]);
    spec.sticky = Some(StickySpec::Insert {
        cookie_timeout: Duration::from_secs(120),
    });
    let addr = start(&dp, spec.clone()).await;
    let mut c = Conn::open(addr).await;
    let first = c.get("x", "/").await;
    let set = first.header("set-cookie");
    assert!(
        set.starts_with("SERVERID=") && set.ends_with("; Max-Age=120; Path=/"),
        "{set}"
    );
    let cookie = set.split(';').next().unwrap().to_owned();
    for _ in 0..10 {
        let got = c
            .send(
                http::Request::get("/")
                    .header("host", "x")
                    .header("cookie", format!("other=1; {cookie}"))
                    .body(Default::default())
                    .unwrap(),
            )
            .await;
        assert_eq!(got.text(), first.text(), "pinned");
        assert_eq!(got.header("set-cookie"), "", "valid cookie not re-issued");
    }
    // A forged cookie is ignored and a fresh signed one issued.
    let got = c
        .send(
            http::Request::get("/")
                .header("host", "x")
                .header("cookie", "SERVERID=MTI3LjAuMC4xOjE.AAAA")
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert_eq!(got.status, 200);
    assert!(got.header("set-cookie").starts_with("SERVERID="));
    // The pinned backend removed: rescheduled and re-issued, not failed.
    let pinned = if first.text() == "a" { &a } else { &b };
    let other = if first.text() == "a" { &b } else { &a };
    let mut changed = spec;
    changed.default_backends = vec![other.spec()];
    start(&dp, changed).await;
    let got = c
        .send(
            http::Request::get("/")
                .header("host", "x")
                .header("cookie", cookie)
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert_eq!(got.text(), other.name);
    assert_ne!(pinned.name, other.name);
    assert!(got.header("set-cookie").starts_with("SERVERID="));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sticky_server_follows_backend_cookie() {
    let (a, b) = (HttpBackend::start("a").await, HttpBackend::start("b").await);
    let dp = DataPlane::new();
    let mut spec = http_spec(91, vec![a.spec(), b.spec()]);
    spec.sticky = Some(StickySpec::Server {
        cookie: "sid".into(),
    });
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    let first = c.get("x", "/cookie").await;
    assert_eq!(
        first.header("set-cookie"),
        format!("sid={}; Path=/", first.text())
    );
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let got = c
            .send(
                http::Request::get("/")
                    .header("host", "x")
                    .header("cookie", format!("sid={}", first.text()))
                    .body(Default::default())
                    .unwrap(),
            )
            .await;
        seen.insert(got.text());
    }
    assert_eq!(seen.len(), 1);
    assert!(seen.contains(&first.text()));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gzip_applied_once_to_text() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(92, vec![b.spec()]);
    spec.gzip = true;
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    let req = |ae: &str| {
        http::Request::get("/text")
            .header("host", "x")
            .header("accept-encoding", ae)
            .body(Default::default())
            .unwrap()
    };
    let got = c.send(req("gzip, deflate")).await;
    assert_eq!(got.header("content-encoding"), "gzip");
    assert_eq!(got.header("vary"), "Accept-Encoding");
    assert!(got.body.len() < 1000, "compressed: {}", got.body.len());
    let mut plain = String::new();
    flate2::read::GzDecoder::new(&got.body[..])
        .read_to_string(&mut plain)
        .unwrap();
    assert_eq!(plain, "hello openslb ".repeat(430));
    // Not accepted: identity. Non-text (the default path has no content type): identity.
    assert_eq!(c.send(req("br")).await.header("content-encoding"), "");
    let got = c.get("x", "/").await;
    assert_eq!(got.header("content-encoding"), "");
    assert_eq!(got.text(), "b");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_passthrough_echoes_beyond_request_timeout() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(93, vec![b.spec()]);
    spec.request_timeout = Duration::from_millis(200);
    let addr = start(&dp, spec).await;
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
        .await
        .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        tokio::time::timeout(STEP, s.read_exact(&mut byte))
            .await
            .unwrap()
            .unwrap();
        head.push(byte[0]);
    }
    let head = String::from_utf8(head).unwrap();
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    for msg in ["ping", "pong after the request timeout"] {
        s.write_all(msg.as_bytes()).await.unwrap();
        let mut buf = vec![0u8; msg.len()];
        tokio::time::timeout(STEP, s.read_exact(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(buf, msg.as_bytes());
    }
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_keeps_host_path_and_query() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(94, vec![b.spec()]);
    spec.redirect_https_port = Some(8443);
    let addr = start(&dp, spec).await;
    let got = get(addr, "shop.example.com:94", "/cart?id=7").await;
    assert_eq!(got.status, 301);
    assert_eq!(
        got.header("location"),
        "https://shop.example.com:8443/cart?id=7"
    );
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_and_smuggling_shaped_requests_never_reach_a_backend() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let addr = start(&dp, http_spec(95, vec![b.spec()])).await;
    let big = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(70_000)
    );
    let out = raw(addr, big.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    let many: String = (0..150).map(|i| format!("X-H{i}: v\r\n")).collect();
    let out = raw(
        addr,
        format!("GET / HTTP/1.1\r\nHost: x\r\n{many}\r\n").as_bytes(),
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 431"), "{out}");
    let long = format!("GET /{} HTTP/1.1\r\nHost: x\r\n\r\n", "u".repeat(20_000));
    let out = raw(addr, long.as_bytes()).await;
    assert!(out.starts_with("HTTP/1.1 414"), "{out}");
    let out = raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 0);

    // Every shape two parsers could frame differently is refused outright: the balancer
    // never guesses where such a request ends.
    for shape in [
        &b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 40\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"[..],
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nabcde",
        b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
        b"GET / HTTP/1.1\r\nX-A: 1\r\n\r\n",
    ] {
        let out = raw(addr, shape).await;
        assert!(out.starts_with("HTTP/1.1 400"), "{out}");
        assert_eq!(out.matches("HTTP/1.1 ").count(), 1, "{out}");
        assert!(out.contains("OpenSLB"), "{out}");
    }
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 0);
    // A chunked body with bad framing is refused as soon as it is seen.
    let out = raw(
        addr,
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 400"), "{out}");
    dp.shutdown().await;
}

#[derive(Default)]
struct Collect(Mutex<Vec<AccessLogEntry>>);

impl AccessLog for Collect {
    fn log(&self, entry: &AccessLogEntry) {
        self.0.lock().unwrap().push(entry.clone());
    }
}

impl Collect {
    /// The entries once there are `n` (exactly `n`, within 5 s): an entry is written once
    /// its response has been sent, so it may trail the client.
    async fn entries(&self, n: usize) -> Vec<AccessLogEntry> {
        let deadline = std::time::Instant::now() + Duration::from_secs(5);
        while self.0.lock().unwrap().len() < n && std::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let entries = self.0.lock().unwrap().clone();
        assert_eq!(entries.len(), n);
        entries
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_gets_one_entry_per_request() {
    let b = HttpBackend::start("b").await;
    let log = Arc::new(Collect::default());
    let dp = DataPlane::new().with_access_log(log.clone());
    let addr = start(&dp, http_spec(96, vec![b.spec()])).await;
    let mut c = Conn::open(addr).await;
    c.get("h.test", "/a?b=1").await;
    c.get("h.test", "/text").await;
    let entries = log.entries(2).await;
    let e = &entries[0];
    assert_eq!(
        (e.host.as_str(), e.request_uri.as_str(), e.status),
        ("h.test", "/a?b=1", 200)
    );
    assert_eq!(e.upstream_addr, b.addr.to_string());
    assert_eq!(e.upstream_status, "200");
    assert_eq!(e.body_bytes_sent, 1);
    assert_eq!(e.slb_vport, 96);
    assert_eq!(e.client_ip, "127.0.0.1");
    assert_eq!(entries[1].body_bytes_sent, 14 * 430);
    dp.shutdown().await;
}

/// Over HTTP/2 too: a body that came whole with its head (sent at once, without waiting
/// for window room) and one streamed after it are both counted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_log_counts_http2_bodies_sent_whole_and_streamed() {
    use http_body_util::BodyExt;
    let b = HttpBackend::start("b").await;
    let log = Arc::new(Collect::default());
    let dp = DataPlane::new().with_access_log(log.clone());
    let addr = start(&dp, http_spec(101, vec![b.spec()])).await;
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, _conn) = h2_client(tcp).await;
    for (path, len) in [("/a", 1), ("/text", 14 * 430)] {
        let resp = h2_get(&mut send, &format!("http://h.test{path}")).await;
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(body.len(), len, "{path}");
    }
    let entries = log.entries(2).await;
    assert_eq!((entries[0].status, entries[0].body_bytes_sent), (200, 1));
    assert_eq!(
        (entries[1].status, entries[1].body_bytes_sent),
        (200, 14 * 430)
    );
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_answered_in_order() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let addr = start(&dp, http_spec(97, vec![b.spec()])).await;
    let out = raw(
        addr,
        b"GET /first HTTP/1.1\r\nHost: x\r\n\r\nGET /second HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    let first = out.find("x-seen-uri: /first").expect("first answered");
    let second = out.find("x-seen-uri: /second").expect("second answered");
    assert!(first < second, "{out}");
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 2);
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_bodies_relayed_by_length_and_chunked() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let addr = start(&dp, http_spec(98, vec![b.spec()])).await;
    // Content-Length: a body far larger than any buffer, streamed through.
    let payload: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let mut c = Conn::open(addr).await;
    let req = http::Request::post("/echo")
        .header("host", "x")
        .body(http_body_util::Full::new(bytes::Bytes::from(
            payload.clone(),
        )))
        .unwrap();
    let got = c.send(req).await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body.len(), payload.len());
    assert!(got.body == payload, "echoed body differs");
    // The same connection goes on after a body.
    assert_eq!(c.get("x", "/").await.status, 200);

    // Chunked, relayed as chunked.
    let out = raw(
        addr,
        b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: 1\r\n\r\n",
    )
    .await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("te=Some(\"chunked\")"), "{out}");
    assert!(out.ends_with("hello world"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http10_clients_get_closing_or_keep_alive_answers() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let addr = start(&dp, http_spec(99, vec![b.spec()])).await;
    // HTTP/1.0 without Host: answered, then closed (raw reads until close).
    let out = raw(addr, b"GET /old HTTP/1.0\r\n\r\n").await;
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: close"),
        "{out}"
    );
    assert!(out.ends_with("\r\n\r\nb"), "{out}");
    // HTTP/1.0 keep-alive: two requests on one connection.
    let out = raw(
        addr,
        b"GET /1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\nGET /2 HTTP/1.0\r\n\r\n",
    )
    .await;
    assert_eq!(out.matches("HTTP/1.1 200").count(), 2, "{out}");
    assert!(
        out.to_ascii_lowercase().contains("connection: keep-alive"),
        "{out}"
    );
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_with_own_settings_uses_its_persistence_and_health_check() {
    let a = HttpBackend::start("a").await;
    let dead = slb_dataplane::BackendSpec {
        server_id: "dead".into(),
        addr: dead_addr(),
        weight: 100,
    };
    let dp = DataPlane::new();
    // The listener: no persistence, no health check, over `a` and a dead backend.
    let mut spec = http_spec(100, vec![a.spec(), dead.clone()]);
    let mut own = rule("own", None, Some("/own"), &a);
    own.backends = vec![a.spec(), dead.clone()];
    own.own = Some(slb_dataplane::RuleOwnSpec {
        scheduler: slb_dataplane::SchedulerKind::Rr,
        sticky: Some(StickySpec::Insert {
            cookie_timeout: Duration::from_secs(60),
        }),
        health: Some(slb_dataplane::HealthCheckSpec {
            kind: slb_dataplane::HealthCheckKind::Tcp,
            port: None,
            timeout: Duration::from_millis(200),
            interval: Duration::from_millis(50),
            healthy_threshold: 1,
            unhealthy_threshold: 1,
        }),
    });
    spec.rules = vec![own];
    spec.scheduler = slb_dataplane::SchedulerKind::Rr;
    let addr = start(&dp, spec).await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The rule's own health check has taken the dead backend out of its group only.
    let before = connect_failures(&dp, 100);
    for _ in 0..10 {
        let got = get(addr, "x", "/own/page").await;
        assert_eq!(got.text(), "a");
        assert!(
            got.header("set-cookie").starts_with("SERVERID="),
            "the rule's own persistence inserts its cookie"
        );
    }
    assert_eq!(
        connect_failures(&dp, 100),
        before,
        "dead backend never tried"
    );
    for _ in 0..10 {
        let got = get(addr, "x", "/plain").await;
        assert_eq!(got.text(), "a", "retried on a");
        assert!(got.header("set-cookie").is_empty(), "the listener has none");
    }
    assert!(
        connect_failures(&dp, 100) > before,
        "the listener's group, unchecked, still tries the dead backend"
    );
    dp.shutdown().await;
}
