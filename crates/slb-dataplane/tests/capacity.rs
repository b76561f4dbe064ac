//! Instance capacity (`LoadBalancerSpec`): concurrent connections, new connections per
//! second and queries per second, shared by an instance's listeners. Over a cap new
//! connections are refused (TCP, UDP sessions) or answered 503 (HTTP); established ones
//! carry on; refusals are counted.

mod common;
mod http_kit;

use std::net::SocketAddr;

use common::{apply_ok, open, EchoBackend, STEP};
use slb_dataplane::{DataPlane, InstanceCaps, SchedulerKind};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpStream, UdpSocket};

fn caps(max_connections: u64, cps: u64, qps: u64) -> Option<InstanceCaps> {
    Some(InstanceCaps {
        max_connections,
        cps,
        qps,
    })
}

fn refused(dp: &DataPlane, reason: &str) -> u64 {
    let mut out = String::new();
    dp.render_metrics(&mut out);
    out.lines()
        .filter(|l| {
            l.starts_with("slb_instance_refused_total{")
                && l.contains(&format!("reason=\"{reason}\""))
        })
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// The greeting, or `None` when the listener closes the connection first.
async fn try_greeting(addr: SocketAddr) -> Option<String> {
    let s = TcpStream::connect(addr).await.ok()?;
    let mut line = String::new();
    let n = tokio::time::timeout(STEP, BufReader::new(s).read_line(&mut line))
        .await
        .ok()?
        .ok()?;
    (n > 0).then_some(line)
}

#[tokio::test]
async fn max_connections_is_shared_by_the_instance_listeners() {
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut one = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    one.caps = caps(2, 0, 0);
    let mut two = common::spec(2, vec![b.spec(1)], SchedulerKind::Rr);
    two.caps = caps(2, 0, 0);
    let keys = [one.key.clone(), two.key.clone()];
    apply_ok(&dp, vec![one, two]).await;
    let [a1, a2] = keys.map(|k| dp.local_addr(&k).unwrap());
    let (_, mut c1) = open(a1).await;
    let (_, mut c2) = open(a2).await;
    // Both listeners of the instance are full together.
    assert_eq!(try_greeting(a1).await, None);
    assert_eq!(try_greeting(a2).await, None);
    assert_eq!(refused(&dp, "max_connections"), 2);
    // Established connections carry on.
    assert_eq!(common::echo_roundtrip(&mut c1, "x").await.unwrap(), "x");
    drop(c2.get_mut().shutdown().await);
    drop(c2);
    common::wait_until(std::time::Duration::from_secs(3), "a slot frees", || {
        let mut out = String::new();
        dp.render_metrics(&mut out);
        out.contains("slb_instance_active_connections{load_balancer_id=\"lb-test\"} 1")
    })
    .await;
    assert!(try_greeting(a2).await.is_some());
    dp.shutdown().await;
}

#[tokio::test]
async fn new_connections_per_second_are_capped() {
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    spec.caps = caps(0, 5, 0);
    let key = spec.key.clone();
    apply_ok(&dp, vec![spec]).await;
    let a = dp.local_addr(&key).unwrap();
    let mut ok = 0;
    for _ in 0..10 {
        if try_greeting(a).await.is_some() {
            ok += 1;
        }
    }
    // A burst of one second's worth, plus what refills while the loop runs.
    assert!((5..=6).contains(&ok), "{ok} admitted");
    assert_eq!(refused(&dp, "cps"), 10 - ok);
    dp.shutdown().await;
}

#[tokio::test]
async fn http_over_capacity_gets_503() {
    let b = http_kit::HttpBackend::start("h").await;
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(1, vec![b.spec()]);
    spec.caps = caps(1, 0, 3);
    let l = http_kit::start(&dp, spec).await;
    let mut s = TcpStream::connect(l).await.unwrap();
    let mut statuses = Vec::new();
    for _ in 0..5 {
        s.write_all(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
            .await
            .unwrap();
        let mut buf = vec![0u8; 4096];
        let n = tokio::time::timeout(STEP, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        statuses.push(String::from_utf8_lossy(&buf[..12.min(n)]).into_owned());
    }
    assert_eq!(
        statuses,
        [
            "HTTP/1.1 200",
            "HTTP/1.1 200",
            "HTTP/1.1 200",
            "HTTP/1.1 503",
            "HTTP/1.1 503"
        ]
    );
    assert_eq!(refused(&dp, "qps"), 2);
    // The one connection allowed is in use: a second gets a 503 page and is closed.
    let mut second = TcpStream::connect(l).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(STEP, second.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 503"));
    dp.shutdown().await;
}

#[tokio::test]
async fn udp_sessions_count_as_connections() {
    let baddr = common::udp_echo_backend().await;
    let dp = DataPlane::new();
    let mut spec = common::udp_spec(1, baddr);
    spec.caps = caps(1, 0, 0);
    let key = spec.key.clone();
    apply_ok(&dp, vec![spec]).await;
    let l = dp.local_addr(&key).unwrap();
    let ask = |c: std::sync::Arc<UdpSocket>| async move {
        c.send_to(b"hi", l).await.unwrap();
        let mut buf = [0u8; 8];
        tokio::time::timeout(std::time::Duration::from_millis(500), c.recv_from(&mut buf))
            .await
            .is_ok()
    };
    let first = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    let second = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    assert!(ask(first.clone()).await);
    assert!(!ask(second).await, "a second session is over the cap");
    assert!(ask(first).await, "the first session carries on");
    assert_eq!(refused(&dp, "max_connections"), 1);
    dp.shutdown().await;
}

#[tokio::test]
async fn http2_requests_count_against_the_query_rate() {
    let b = http_kit::HttpBackend::start("h").await;
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(1, vec![b.spec()]);
    spec.caps = caps(0, 0, 2);
    let l = http_kit::start(&dp, spec).await;
    let tcp = TcpStream::connect(l).await.unwrap();
    let (mut send, _conn) = http_kit::h2_client(tcp).await;
    let mut statuses = Vec::new();
    for _ in 0..4 {
        statuses.push(
            http_kit::h2_get(&mut send, "http://a/")
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [200, 200, 503, 503]);
    assert_eq!(refused(&dp, "qps"), 2);
    dp.shutdown().await;
}
