//! Access control lists at the listener: whitelists and blacklists of IPv4 and IPv6
//! blocks on TCP, UDP and HTTP listeners, checked before anything else (loopback
//! addresses 127.0.0.x as distinct clients), counted, and replaced at once.

mod common;
mod http_kit;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use common::{apply_ok, EchoBackend, STEP};
use slb_core::AclMatcher;
use slb_dataplane::spec::AclSpec;
use slb_dataplane::{DataPlane, SchedulerKind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, UdpSocket};

fn acl(white: bool, blocks: &[&str]) -> Option<AclSpec> {
    let nets: Vec<ipnet::IpNet> = blocks.iter().map(|b| b.parse().unwrap()).collect();
    Some(AclSpec {
        whitelist: white,
        matcher: Arc::new(AclMatcher::new(&nets)),
    })
}

/// Connects from `from` and returns the backend's greeting, or `None` when the listener
/// closed the connection without one.
async fn greeting(listener: SocketAddr, from: &str) -> Option<String> {
    let ip: IpAddr = from.parse().unwrap();
    let sock = if ip.is_ipv4() {
        TcpSocket::new_v4().unwrap()
    } else {
        TcpSocket::new_v6().unwrap()
    };
    sock.bind(SocketAddr::new(ip, 0)).unwrap();
    let s = sock.connect(listener).await.ok()?;
    let mut line = String::new();
    let n = tokio::time::timeout(STEP, BufReader::new(s).read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    (n > 0).then(|| line.trim_end().to_string())
}

fn denied(dp: &DataPlane) -> u64 {
    let mut out = String::new();
    dp.render_metrics(&mut out);
    out.lines()
        .filter(|l| l.starts_with("slb_listener_acl_denied_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

#[tokio::test]
async fn tcp_whitelist_and_blacklist_for_ipv4_and_ipv6_clients() {
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut white = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    white.acl = acl(true, &["127.0.0.2/32", "10.0.0.0/8"]);
    let mut black = common::spec(2, vec![b.spec(1)], SchedulerKind::Rr);
    black.acl = acl(false, &["127.0.0.2/32"]);
    let mut white6 = common::spec(3, vec![b.spec(1)], SchedulerKind::Rr);
    white6.bind = "[::1]:0".parse().unwrap();
    white6.acl = acl(true, &["::1/128"]);
    let mut black6 = common::spec(4, vec![b.spec(1)], SchedulerKind::Rr);
    black6.bind = "[::1]:0".parse().unwrap();
    black6.acl = acl(false, &["::1/128"]);
    let keys = [&white, &black, &white6, &black6].map(|s| s.key.clone());
    apply_ok(&dp, vec![white, black, white6, black6]).await;
    let [w, bl, w6, bl6] = keys.map(|k| dp.local_addr(&k).unwrap());

    assert_eq!(greeting(w, "127.0.0.2").await.as_deref(), Some("b"));
    assert_eq!(greeting(w, "127.0.0.3").await, None);
    assert_eq!(greeting(bl, "127.0.0.2").await, None);
    assert_eq!(greeting(bl, "127.0.0.3").await.as_deref(), Some("b"));
    assert_eq!(greeting(w6, "::1").await.as_deref(), Some("b"));
    assert_eq!(greeting(bl6, "::1").await, None);
    assert_eq!(denied(&dp), 3);

    // A changed list applies to the next connection.
    let mut only = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    only.bind = w;
    only.acl = acl(true, &["127.0.0.3/32"]);
    apply_ok(&dp, vec![only]).await;
    assert_eq!(greeting(w, "127.0.0.2").await, None);
    assert_eq!(greeting(w, "127.0.0.3").await.as_deref(), Some("b"));
    dp.shutdown().await;
}

#[tokio::test]
async fn udp_datagrams_from_unlisted_clients_are_dropped() {
    let baddr = common::udp_echo_backend().await;
    let dp = DataPlane::new();
    let mut spec = common::udp_spec(1, baddr);
    spec.acl = acl(true, &["127.0.0.2/32"]);
    let key = spec.key.clone();
    apply_ok(&dp, vec![spec]).await;
    let l = dp.local_addr(&key).unwrap();
    let echo = |from: &'static str| async move {
        let c = UdpSocket::bind(format!("{from}:0")).await.unwrap();
        c.send_to(b"hi", l).await.unwrap();
        let mut buf = [0u8; 16];
        tokio::time::timeout(Duration::from_millis(500), c.recv_from(&mut buf))
            .await
            .ok()
            .and_then(Result::ok)
            .map(|(n, _)| buf[..n].to_vec())
    };
    assert_eq!(echo("127.0.0.2").await.as_deref(), Some(&b"hi"[..]));
    assert_eq!(echo("127.0.0.3").await, None);
    assert_eq!(denied(&dp), 1);

    // IPv6: a blacklist of ::1 on a listener at [::1].
    let mut v6 = common::udp_spec(2, baddr);
    v6.bind = "[::1]:0".parse().unwrap();
    v6.acl = acl(false, &["::1/128"]);
    let k6 = v6.key.clone();
    apply_ok(&dp, vec![v6]).await;
    let l6 = dp.local_addr(&k6).unwrap();
    let c = UdpSocket::bind("[::1]:0").await.unwrap();
    c.send_to(b"hi", l6).await.unwrap();
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(500), c.recv_from(&mut buf))
            .await
            .is_err(),
        "a blacklisted IPv6 source gets nothing"
    );
    dp.shutdown().await;
}

#[tokio::test]
async fn http_blacklist_and_ipv6_whitelist() {
    let b = http_kit::HttpBackend::start("h").await;
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(1, vec![b.spec()]);
    spec.acl = acl(false, &["127.0.0.3/32"]);
    let l = http_kit::start(&dp, spec).await;
    let get = |from: &'static str| async move {
        let sock = TcpSocket::new_v4().unwrap();
        sock.bind(SocketAddr::new(from.parse().unwrap(), 0))
            .unwrap();
        let mut s = sock.connect(l).await.unwrap();
        let _ = s
            .write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            .await;
        let mut out = Vec::new();
        let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
        String::from_utf8_lossy(&out).into_owned()
    };
    assert!(get("127.0.0.2").await.starts_with("HTTP/1.1 200"));
    assert_eq!(get("127.0.0.3").await, "");
    assert_eq!(denied(&dp), 1);

    // IPv6 whitelist on an HTTP listener at [::1]: ::1 is served.
    let mut v6 = http_kit::http_spec(2, vec![b.spec()]);
    v6.bind = "[::1]:0".parse().unwrap();
    v6.acl = acl(true, &["::1/128"]);
    let l6 = http_kit::start(&dp, v6).await;
    let mut s = tokio::net::TcpStream::connect(l6).await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, s.read_to_end(&mut out)).await;
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    dp.shutdown().await;
}
