//! HTTP listeners: routing, forwarded headers, error pages, retries and live changes.

mod http_kit;

use std::time::Duration;

use http_kit::*;
use slb_dataplane::{DataPlane, ForwardedHeaders};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn routes_by_domain_and_url_then_default() {
    let (api, wild, stat, def) = (
        HttpBackend::start("api").await,
        HttpBackend::start("wild").await,
        HttpBackend::start("static").await,
        HttpBackend::start("default").await,
    );
    let dp = DataPlane::new();
    let mut spec = http_spec(80, vec![def.spec()]);
    spec.rules = vec![
        rule("r-api", Some("www.example.com"), Some("/api"), &api),
        rule("r-wild", Some("*.example.com"), None, &wild),
        rule("r-static", None, Some("/static"), &stat),
    ];
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    for (host, path, want) in [
        ("www.example.com", "/api/v1", "api"),
        ("WWW.Example.com:80", "/api", "api"),
        ("www.example.com", "/home", "wild"),
        ("a.b.example.com", "/api", "wild"),
        ("example.com", "/static/x.css", "static"),
        ("example.com", "/", "default"),
        ("other.org", "/apix", "default"),
    ] {
        let got = c.get(host, path).await;
        assert_eq!(got.status, 200, "{host}{path}");
        assert_eq!(got.text(), want, "{host}{path}");
    }
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_and_hop_by_hop() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(8080, vec![b.spec()]);
    spec.forwarded = ForwardedHeaders {
        proto: true,
        slb_ip: true,
        slb_id: true,
        port: true,
        client_src_port: false,
    };
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    let got = c
        .send(
            http::Request::get("/p?q=1")
                .header("host", "app.test")
                .header("x-forwarded-for", "203.0.113.7")
                .header("connection", "x-hop")
                .header("x-hop", "secret")
                .header("te", "trailers")
                .body(Default::default())
                .unwrap(),
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("x-seen-xff"), "203.0.113.7, 127.0.0.1");
    assert_eq!(got.header("x-seen-host"), "app.test");
    assert_eq!(got.header("x-seen-proto"), "http");
    assert_eq!(got.header("x-seen-slb-id"), "lb-http");
    assert_eq!(got.header("x-seen-port"), "8080");
    assert_eq!(got.header("x-seen-hop"), "", "hop-by-hop headers removed");
    assert_eq!(got.header("x-seen-uri"), "/p?q=1");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_503_502_504_are_openslb_pages() {
    let dp = DataPlane::new();
    // No backend at all: 503.
    let addr = start(&dp, http_spec(81, vec![])).await;
    let got = get(addr, "x", "/").await;
    assert_eq!(got.status, 503);
    assert!(
        got.text().contains("503 Service Unavailable"),
        "{}",
        got.text()
    );
    assert!(got.text().contains("OpenSLB"));
    assert_eq!(got.header("server"), "OpenSLB");

    // A refusing backend: 502.
    let mut spec = http_spec(81, vec![]);
    spec.default_backends = vec![slb_dataplane::BackendSpec {
        server_id: "dead".into(),
        addr: dead_addr(),
        weight: 1,
    }];
    let addr = start(&dp, spec).await;
    let got = get(addr, "x", "/").await;
    assert_eq!(got.status, 502);
    assert!(got.text().contains("502 Bad Gateway"));

    // A hanging backend: 504 after the request timeout.
    let slow = HttpBackend::start("slow").await;
    let mut spec = http_spec(81, vec![slow.spec()]);
    spec.request_timeout = Duration::from_millis(300);
    let addr = start(&dp, spec).await;
    let t = std::time::Instant::now();
    let got = get(addr, "x", "/sleep").await;
    assert_eq!(got.status, 504);
    assert!(t.elapsed() < Duration::from_secs(3));
    let total = "slb_http_requests_total{load_balancer_id=\"lb-http\",port=\"81\",protocol=\"http\",class=\"5xx\"} 3";
    let m = metrics_when(&dp, |m| m.contains(total)).await;
    assert!(m.contains(total), "{m}");
    assert!(m.contains("slb_http_upstream_timeouts_total{load_balancer_id=\"lb-http\",port=\"81\",protocol=\"http\"} 1"));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idempotent_request_retried_on_another_backend() {
    let good = HttpBackend::start("good").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(82, vec![good.spec()]);
    spec.default_backends.insert(
        0,
        slb_dataplane::BackendSpec {
            server_id: "dead".into(),
            addr: dead_addr(),
            weight: 100,
        },
    );
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    for _ in 0..6 {
        assert_eq!(c.get("x", "/").await.text(), "good");
    }
    // A POST with a body is not retried: some requests fail with 502.
    let mut statuses = Vec::new();
    for _ in 0..4 {
        let got = c
            .send(
                http::Request::post("/")
                    .header("host", "x")
                    .body(http_body_util::Full::new(bytes::Bytes::from_static(
                        b"data",
                    )))
                    .unwrap(),
            )
            .await;
        statuses.push(got.status.as_u16());
    }
    assert!(
        statuses.contains(&502) && statuses.contains(&200),
        "{statuses:?}"
    );
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keep_alive_connection_survives_rule_and_backend_swap() {
    let (a, b, c2) = (
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
    );
    let dp = DataPlane::new();
    let spec = http_spec(83, vec![a.spec()]);
    let addr = start(&dp, spec.clone()).await;
    let mut conn = Conn::open(addr).await;
    assert_eq!(conn.get("x", "/").await.text(), "a");

    let mut changed = spec.clone();
    changed.default_backends = vec![b.spec()];
    changed.rules = vec![rule("r1", None, Some("/c"), &c2)];
    assert_eq!(start(&dp, changed).await, addr, "no rebind");
    assert_eq!(conn.get("x", "/").await.text(), "b");
    assert_eq!(conn.get("x", "/c/1").await.text(), "c");
    assert!(!conn.is_closed());

    // Removing the listener closes its socket.
    dp.apply_http(vec![]).await;
    assert!(tokio::net::TcpStream::connect(addr).await.is_err());
    assert!(dp.health().is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_and_metrics_include_http_backends() {
    let a = HttpBackend::start("a").await;
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(84, vec![a.spec()]);
    spec.rules = vec![
        rule("r", None, Some("/b"), &b),
        rule("r2", None, Some("/a"), &a),
    ];
    let addr = start(&dp, spec).await;
    assert_eq!(get(addr, "x", "/").await.status, 200);
    let h = dp.health();
    assert_eq!(h.len(), 2, "each distinct backend once: {h:?}");
    let m = metrics_when(&dp, |m| m.contains("class=\"2xx\"} 1")).await;
    assert!(m.contains(&format!("slb_backend_healthy{{load_balancer_id=\"lb-http\",port=\"84\",protocol=\"http\",backend=\"{}\"}} 1", b.addr)), "{m}");
    assert!(m.contains("slb_listener_connections_total{load_balancer_id=\"lb-http\",port=\"84\",protocol=\"http\"} 1"));
    assert!(m.contains("class=\"2xx\"} 1"));
    assert!(m.contains("slb_http_request_duration_seconds_count{load_balancer_id=\"lb-http\",port=\"84\",protocol=\"http\"} 1"), "{m}");
    assert!(m.contains("le=\"+Inf\"} 1"));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_head_and_idle_keep_alive_are_cut_off() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(85, vec![b.spec()]);
    spec.idle_timeout = Duration::from_millis(300);
    let addr = start(&dp, spec).await;

    // A head that never completes.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").await.unwrap();
    let mut out = Vec::new();
    let t = std::time::Instant::now();
    tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .expect("closed in time")
        .ok();
    assert!(t.elapsed() < Duration::from_secs(2));
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 408"), "{out}");

    // A head dripped one byte at a time cannot hold the connection past the idle timeout.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let t = std::time::Instant::now();
    let mut cut = false;
    for b in
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa".iter()
    {
        if s.write_all(&[*b]).await.is_err() {
            cut = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut out = Vec::new();
    tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .expect("closed in time")
        .ok();
    let out = String::from_utf8_lossy(&out);
    assert!(cut || out.starts_with("HTTP/1.1 408"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(4));
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 0);

    // An idle keep-alive connection.
    let mut c = Conn::open(addr).await;
    assert_eq!(c.get("x", "/").await.status, 200);
    c.closed().await;
    dp.shutdown().await;
}

/// The idle timeout of a removed listener's open keep-alive connections still holds: the
/// listener's idle table is swept until its last connection is gone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_removed_listeners_idle_connections_still_time_out() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(85, vec![b.spec()]);
    spec.idle_timeout = Duration::from_millis(300);
    let addr = start(&dp, spec).await;
    let mut c = Conn::open(addr).await;
    assert_eq!(c.get("x", "/").await.status, 200);
    for (key, r) in dp.apply_http(vec![]).await {
        r.unwrap_or_else(|e| panic!("{key}: {e}"));
    }
    c.closed().await;
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn changes_under_keep_alive_load_fail_no_request() {
    let backends = [
        HttpBackend::start("a").await,
        HttpBackend::start("b").await,
        HttpBackend::start("c").await,
    ];
    let dp = DataPlane::new();
    let spec = http_spec(86, vec![backends[0].spec()]);
    let addr = start(&dp, spec.clone()).await;
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let stop = stop.clone();
        clients.push(tokio::spawn(async move {
            let mut c = Conn::open(addr).await;
            let mut n = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                let got = c
                    .get("x", if n.is_multiple_of(2) { "/" } else { "/r/1" })
                    .await;
                assert_eq!(got.status, 200, "{}", got.text());
                n += 1;
            }
            n
        }));
    }
    for i in 0..20 {
        let mut s = spec.clone();
        s.default_backends = vec![backends[i % 3].spec(), backends[(i + 1) % 3].spec()];
        if i.is_multiple_of(2) {
            s.rules = vec![rule("r", None, Some("/r"), &backends[(i + 2) % 3])];
        }
        assert_eq!(start(&dp, s).await, addr);
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let mut total = 0;
    for c in clients {
        total += c.await.expect("no failed request");
    }
    assert!(total > 40, "{total} requests");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unhealthy_backend_skipped_by_http_health_check() {
    let good = HttpBackend::start("good").await;
    let dead = dead_addr();
    let dp = DataPlane::new();
    let mut spec = http_spec(87, vec![good.spec()]);
    spec.default_backends.push(slb_dataplane::BackendSpec {
        server_id: "dead".into(),
        addr: dead,
        weight: 100,
    });
    spec.health = Some(slb_dataplane::HealthCheckSpec {
        kind: slb_dataplane::HealthCheckKind::Http {
            uri: "/".into(),
            domain: None,
            method: slb_dataplane::HttpMethod::Get,
            codes: "http_2xx".parse().unwrap(),
        },
        port: None,
        timeout: Duration::from_millis(200),
        interval: Duration::from_millis(50),
        healthy_threshold: 1,
        unhealthy_threshold: 1,
    });
    let addr = start(&dp, spec).await;
    let deadline = std::time::Instant::now() + STEP;
    while dp
        .health()
        .iter()
        .find(|h| h.addr == dead)
        .map(|h| h.status)
        != Some(slb_dataplane::HealthStatus::Unhealthy)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "dead backend never marked unhealthy"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut c = Conn::open(addr).await;
    for _ in 0..6 {
        assert_eq!(c.get("x", "/").await.text(), "good");
    }
    assert_eq!(
        dp.health()
            .iter()
            .find(|h| h.addr == good.addr)
            .unwrap()
            .status,
        slb_dataplane::HealthStatus::Healthy
    );
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_client_is_proxied_to_http1_backend() {
    use http_body_util::BodyExt;
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let addr = start(&dp, http_spec(88, vec![b.spec()])).await;
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, _conn) = h2_client(s).await;
    for _ in 0..3 {
        let resp = h2_get(&mut send, "http://h2.test/x").await;
        assert_eq!(resp.status(), 200);
        assert_eq!(resp.headers()["x-seen-host"], "h2.test");
        let body = resp.into_body().collect().await.unwrap().to_bytes();
        assert_eq!(&body[..], b"b");
    }
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_h2c_connection_closed_after_idle_timeout() {
    let b = HttpBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = http_spec(89, vec![b.spec()]);
    spec.idle_timeout = Duration::from_millis(300);
    let addr = start(&dp, spec).await;
    let s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = h2_client(s).await;
    // Requests spaced below the idle timeout keep the connection.
    for _ in 0..3 {
        let resp = h2_get(&mut send, "http://h2.test/x").await;
        assert_eq!(resp.status(), 200);
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    // Then silence: the balancer ends the connection (GOAWAY, close).
    let t = std::time::Instant::now();
    tokio::time::timeout(STEP, conn)
        .await
        .expect("idle h2 connection closed by the balancer")
        .unwrap()
        .ok();
    assert!(
        t.elapsed() >= Duration::from_millis(100),
        "{:?}",
        t.elapsed()
    );
}
