//! HTTP listeners through the API with real HTTP backends: rules, headers, errors, stickiness.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::kit::*;

/// An HTTP backend answering every request with its name and the request head it saw.
pub(crate) async fn echo_backend(name: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name = name.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let name = name.clone();
            tokio::spawn(async move {
                loop {
                    let mut buf = vec![0u8; 16384];
                    let mut n = 0;
                    while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                        match s.read(&mut buf[n..]).await {
                            Ok(0) | Err(_) => return,
                            Ok(k) => n += k,
                        }
                    }
                    let head = String::from_utf8_lossy(&buf[..n]).to_lowercase();
                    let body = format!("{name}\n{head}");
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}",
                        body.len()
                    );
                    if s.write_all(reply.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

/// A backend that accepts and never answers.
async fn hanging_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    addr
}

pub(crate) async fn group(d: &Daemon, lb: &str, backends: &[SocketAddr]) -> String {
    let members: Vec<serde_json::Value> = backends
        .iter()
        .map(|b| serde_json::json!({"ServerId": "127.0.0.1", "Type": "ip", "Port": b.port()}))
        .collect();
    let g = d
        .ok(
            "CreateVServerGroup",
            &[
                ("LoadBalancerId", lb),
                ("BackendServers", &serde_json::to_string(&members).unwrap()),
            ],
        )
        .await;
    g["VServerGroupId"].as_str().unwrap().to_string()
}

async fn http_listener(d: &Daemon, lb: &str, port: u16, group: &str, extra: &[(&str, &str)]) {
    let port = port.to_string();
    let mut p = vec![
        ("LoadBalancerId", lb),
        ("ListenerPort", port.as_str()),
        ("VServerGroupId", group),
        ("StickySession", "off"),
        ("HealthCheck", "off"),
        ("Bandwidth", "-1"),
    ];
    p.extend_from_slice(extra);
    d.ok("CreateLoadBalancerHTTPListener", &p).await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", lb), ("ListenerPort", port.as_str())],
    )
    .await;
}

async fn get(url: &str, host: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap();
    let mut req = client.get(url).header("Host", host);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let resp = req.send().await.expect("response");
    let status = resp.status().as_u16();
    (status, resp.text().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rules_route_by_domain_and_url_and_headers_reach_the_backend() {
    let d = Daemon::start("127.61.70.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let default = group(&d, &lb, &[echo_backend("default").await]).await;
    let www = group(&d, &lb, &[echo_backend("www").await]).await;
    let api = group(&d, &lb, &[echo_backend("api").await]).await;
    let wild = group(&d, &lb, &[echo_backend("wild").await]).await;
    http_listener(
        &d,
        &lb,
        8000,
        &default,
        &[
            ("XForwardedFor_SLBID", "on"),
            ("XForwardedFor_proto", "on"),
            ("XForwardedFor_ClientSrcPort", "on"),
        ],
    )
    .await;
    let rules = serde_json::json!([
        {"RuleName": "www", "Domain": "www.example.com", "VServerGroupId": www},
        {"RuleName": "api", "Url": "/api", "VServerGroupId": api},
        {"RuleName": "wild", "Domain": "*.example.com", "VServerGroupId": wild},
    ]);
    d.ok(
        "CreateRules",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8000"),
            ("RuleList", &rules.to_string()),
        ],
    )
    .await;
    let base = format!("http://{ip}:8000");
    let cases = [
        ("www.example.com", "/", "www"),
        ("shop.example.com", "/", "wild"),
        ("other.test", "/api/v1", "api"),
        ("other.test", "/", "default"),
    ];
    for (host, path, want) in cases {
        let (status, body) = get(&format!("{base}{path}"), host, &[]).await;
        assert_eq!(status, 200);
        assert_eq!(body.lines().next(), Some(want), "{host}{path}: {body}");
    }
    let (_, body) = get(
        &format!("{base}/"),
        "other.test",
        &[("X-Forwarded-For", "203.0.113.9")],
    )
    .await;
    assert!(
        body.contains("x-forwarded-for: 203.0.113.9, 127.0.0.1"),
        "{body}"
    );
    assert!(body.contains("x-forwarded-proto: http"), "{body}");
    assert!(body.contains(&format!("slb-id: {lb}")), "{body}");
    assert!(body.contains("host: other.test"), "{body}");
    assert!(body.contains("x-forwarded-client-srcport: "), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_502_503_504_come_from_the_balancer() {
    let d = Daemon::start("127.61.71.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let refusing = group(&d, &lb, &[closed]).await;
    let hanging = group(&d, &lb, &[hanging_backend().await]).await;
    let empty = d
        .ok(
            "CreateVServerGroup",
            &[("LoadBalancerId", &lb), ("VServerGroupName", "empty")],
        )
        .await["VServerGroupId"]
        .as_str()
        .unwrap()
        .to_string();
    http_listener(&d, &lb, 8001, &refusing, &[]).await;
    http_listener(&d, &lb, 8002, &hanging, &[("RequestTimeout", "1")]).await;
    http_listener(&d, &lb, 8003, &empty, &[]).await;
    assert_eq!(get(&format!("http://{ip}:8001/"), "x", &[]).await.0, 502);
    assert_eq!(get(&format!("http://{ip}:8002/"), "x", &[]).await.0, 504);
    assert_eq!(get(&format!("http://{ip}:8003/"), "x", &[]).await.0, 503);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insert_cookie_keeps_a_client_on_one_backend() {
    let d = Daemon::start("127.61.72.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let g = group(&d, &lb, &[echo_backend("a").await, echo_backend("b").await]).await;
    http_listener(
        &d,
        &lb,
        8004,
        &g,
        &[
            ("StickySession", "on"),
            ("StickySessionType", "insert"),
            ("CookieTimeout", "600"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let first = client
        .get(format!("http://{ip}:8004/"))
        .send()
        .await
        .unwrap();
    let cookie = first
        .headers()
        .get("set-cookie")
        .expect("insert mode sets a cookie")
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let pinned = first
        .text()
        .await
        .unwrap()
        .lines()
        .next()
        .unwrap()
        .to_string();
    for _ in 0..10 {
        let body = client
            .get(format!("http://{ip}:8004/"))
            .header("Cookie", &cookie)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert_eq!(body.lines().next(), Some(pinned.as_str()));
    }
}

/// A backend that sets its own session cookie `JSESSIONID=<name>` on every answer.
async fn cookie_backend(name: &str) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let name = name.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let name = name.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nSet-Cookie: JSESSIONID={name}; Path=/\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_cookie_follows_the_backends_own_cookie() {
    let d = Daemon::start("127.61.73.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let g = group(
        &d,
        &lb,
        &[cookie_backend("a").await, cookie_backend("b").await],
    )
    .await;
    http_listener(
        &d,
        &lb,
        8005,
        &g,
        &[
            ("StickySession", "on"),
            ("StickySessionType", "server"),
            ("Cookie", "JSESSIONID"),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let url = format!("http://{ip}:8005/");
    // Without the cookie the scheduler alternates; with it, the named backend answers.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        seen.insert(client.get(&url).send().await.unwrap().text().await.unwrap());
    }
    assert_eq!(seen.len(), 2, "{seen:?}");
    for name in ["a", "b"] {
        for _ in 0..5 {
            let body = client
                .get(&url)
                .header("Cookie", format!("JSESSIONID={name}"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            assert_eq!(body, name);
        }
    }
}

/// Sends raw bytes and returns the status code of the answer (0 if the connection closed).
async fn raw_status(addr: SocketAddr, request: &[u8]) -> u16 {
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(request).await;
    let mut buf = vec![0u8; 1024];
    let n = tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf))
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or(0);
    String::from_utf8_lossy(&buf[..n])
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirect_gzip_limits_and_smuggling() {
    let d = Daemon::start("127.61.74.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let big = {
        // Text larger than any sensible compression threshold.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let _ = s.read(&mut buf).await;
                    let body = "hello OpenSLB ".repeat(500);
                    let reply = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = s.write_all(reply.as_bytes()).await;
                });
            }
        });
        addr
    };
    let g = group(&d, &lb, &[big]).await;
    http_listener(&d, &lb, 8006, &g, &[]).await;
    d.ok(
        "CreateLoadBalancerHTTPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8007"),
            ("ListenerForward", "on"),
            ("ForwardPort", "8443"),
            ("StickySession", "off"),
            ("HealthCheck", "off"),
            ("Bandwidth", "-1"),
        ],
    )
    .await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "8007")],
    )
    .await;

    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = no_redirects
        .get(format!("http://{ip}:8007/a/b?x=1"))
        .header("Host", "shop.example.com")
        .send()
        .await
        .unwrap();
    assert!(r.status().is_redirection(), "{}", r.status());
    assert_eq!(
        r.headers()["location"].to_str().unwrap(),
        "https://shop.example.com:8443/a/b?x=1"
    );
    // The instance describes the redirecting listener with where it forwards.
    let attr = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &lb)])
        .await;
    let ports = attr["ListenerPortsAndProtocol"]["ListenerPortAndProtocol"]
        .as_array()
        .unwrap();
    let redirect = ports.iter().find(|p| p["ListenerPort"] == 8007).unwrap();
    assert_eq!(redirect["ListenerForward"], "on", "{redirect}");
    assert_eq!(redirect["ForwardPort"], 8443);
    let plain_port = ports.iter().find(|p| p["ListenerPort"] == 8006).unwrap();
    assert_eq!(plain_port["ListenerForward"], "off");

    let r = no_redirects
        .get(format!("http://{ip}:8006/"))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["content-encoding"], "gzip");
    let compressed = r.bytes().await.unwrap();
    assert!(
        compressed.len() < 7000 / 4,
        "compressed to {}",
        compressed.len()
    );
    let plain = no_redirects
        .get(format!("http://{ip}:8006/"))
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());

    let addr = SocketAddr::new(ip, 8006);
    let huge = format!(
        "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(128 * 1024)
    );
    assert_eq!(raw_status(addr, huge.as_bytes()).await, 431);
    let twice =
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\nabcde";
    assert_eq!(raw_status(addr, twice).await, 400);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rule_and_backend_changes_under_keep_alive_load_lose_nothing() {
    let d = Daemon::start("127.61.75.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let (a, b, c) = (
        echo_backend("a").await,
        echo_backend("b").await,
        echo_backend("c").await,
    );
    let g = group(&d, &lb, &[a, b]).await;
    let other = group(&d, &lb, &[c]).await;
    http_listener(&d, &lb, 8008, &g, &[]).await;
    let url = format!("http://{ip}:8008/x");
    let load = tokio::spawn(async move {
        let client = reqwest::Client::new(); // keeps connections alive
        let mut failed = 0;
        for _ in 0..400 {
            match client.get(&url).send().await {
                Ok(r) if r.status() == 200 => {}
                _ => failed += 1,
            }
        }
        failed
    });
    let rules = serde_json::json!([{"RuleName": "x", "Url": "/x", "VServerGroupId": other}]);
    d.ok(
        "CreateRules",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8008"),
            ("RuleList", &rules.to_string()),
        ],
    )
    .await;
    let member = format!(
        r#"[{{"ServerId":"127.0.0.1","Type":"ip","Port":{}}}]"#,
        b.port()
    );
    d.ok(
        "RemoveVServerGroupBackendServers",
        &[("VServerGroupId", &g), ("BackendServers", &member)],
    )
    .await;
    d.ok(
        "SetLoadBalancerHTTPListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8008"),
            ("Scheduler", "rr"),
        ],
    )
    .await;
    assert_eq!(load.await.unwrap(), 0, "requests failed during changes");
    // The access log is buffered and flushed every second.
    let path = d.dir.join("access.log");
    eventually(Duration::from_secs(5), || async {
        std::fs::read_to_string(&path).is_ok_and(|l| l.lines().count() >= 400)
    })
    .await
    .expect("one access log line per request");
    let log = std::fs::read_to_string(&path).unwrap();
    let line = log.lines().last().unwrap();
    let entry: serde_json::Value = serde_json::from_str(line).unwrap();
    for field in [
        "time",
        "client_ip",
        "request_method",
        "status",
        "upstream_addr",
        "slb_vport",
    ] {
        assert!(entry.get(field).is_some(), "{field} in {line}");
    }
}

/// A backend that answers an Upgrade request with 101 and then echoes raw bytes.
async fn upgrade_echo_backend() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let reply = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n";
                if s.write_all(reply.as_bytes()).await.is_err() {
                    return;
                }
                let mut buf = [0u8; 1024];
                loop {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => {
                            if s.write_all(&buf[..k]).await.is_err() {
                                return;
                            }
                        }
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_upgrade_passes_through_beyond_the_request_timeout() {
    let d = Daemon::start("127.61.76.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let g = group(&d, &lb, &[upgrade_echo_backend().await]).await;
    http_listener(&d, &lb, 8009, &g, &[("RequestTimeout", "1")]).await;
    let mut s = tokio::net::TcpStream::connect(SocketAddr::new(ip, 8009))
        .await
        .unwrap();
    s.write_all(
        b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
    )
    .await
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).await.unwrap(),
            1,
            "head: {:?}",
            String::from_utf8_lossy(&head)
        );
        head.push(byte[0]);
    }
    assert!(
        head.starts_with(b"HTTP/1.1 101"),
        "{}",
        String::from_utf8_lossy(&head)
    );
    // Longer than RequestTimeout: an upgraded connection is not cut by it.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    for msg in [&b"hello"[..], b"world"] {
        s.write_all(msg).await.unwrap();
        let mut got = vec![0u8; msg.len()];
        tokio::time::timeout(Duration::from_secs(3), s.read_exact(&mut got))
            .await
            .expect("echo in time")
            .unwrap();
        assert_eq!(got, msg);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_health_checks_take_a_failing_backend_out() {
    let d = Daemon::start("127.61.77.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let (good, _) = http_backend("good", 200).await;
    let (bad, _) = http_backend("bad", 500).await;
    let g = group(&d, &lb, &[good, bad]).await;
    http_listener(
        &d,
        &lb,
        8010,
        &g,
        &[
            ("HealthCheck", "on"),
            ("HealthCheckURI", "/health"),
            ("HealthCheckInterval", "1"),
            ("UnhealthyThreshold", "2"),
            ("HealthyThreshold", "2"),
            ("HealthCheckMethod", "get"),
        ],
    )
    .await;
    eventually(Duration::from_secs(6), || async {
        let v = d
            .ok("DescribeHealthStatus", &[("LoadBalancerId", &lb)])
            .await;
        v["BackendServers"]["BackendServer"]
            .as_array()
            .unwrap()
            .iter()
            .any(|b| b["Port"] == bad.port() && b["ServerHealthStatus"] == "abnormal")
    })
    .await
    .expect("the failing backend is abnormal");
    for _ in 0..10 {
        let (status, body) = get(&format!("http://{ip}:8010/"), "x", &[]).await;
        assert_eq!((status, body.as_str()), (200, "good"));
    }
}
