//! Anti-DDoS with bounded floods on 127.0.0.1: a UDP flood above the blackholing threshold
//! blackholes that instance only (another keeps serving) and it recovers by itself; a
//! source flooding new connections is throttled while scrubbing and another source is
//! served.

mod common;
mod http_kit;

use std::net::SocketAddr;
use std::time::Duration;

use common::{apply_ok, EchoBackend, STEP};
use slb_core::ddos::{DdosConfig, Mode};
use slb_dataplane::{DataPlane, ListenerSpec, SchedulerKind};
use tokio::io::AsyncBufReadExt;
use tokio::net::{TcpSocket, UdpSocket};

fn udp_listener(lb: &str, backend: SocketAddr, cfg: DdosConfig) -> ListenerSpec {
    let mut s = common::udp_spec(1, backend);
    s.key.load_balancer_id = lb.into();
    s.ddos = Some(cfg);
    s
}

async fn echo_ok(l: SocketAddr) -> bool {
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    c.send_to(b"ping", l).await.unwrap();
    let mut buf = [0u8; 16];
    tokio::time::timeout(Duration::from_millis(300), c.recv_from(&mut buf))
        .await
        .is_ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flood_blackholes_one_instance_which_recovers() {
    let baddr = common::udp_echo_backend().await;
    let cfg = DdosConfig {
        blackhole_pps: 1_000,
        blackhole_for: Duration::from_secs(2),
        ..DdosConfig::default()
    };
    let dp = DataPlane::new();
    let (a, b) = (
        udp_listener("lb-a", baddr, cfg),
        udp_listener("lb-b", baddr, cfg),
    );
    let keys = [a.key.clone(), b.key.clone()];
    apply_ok(&dp, vec![a, b]).await;
    let [la, lb] = keys.map(|k| dp.local_addr(&k).unwrap());
    assert!(echo_ok(la).await && echo_ok(lb).await);

    // Bounded flood: 5,000 datagrams within about half a second.
    let flood = UdpSocket::bind("127.0.0.5:0").await.unwrap();
    for i in 0..5_000u32 {
        let _ = flood.send_to(&[1u8; 64], la).await;
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    common::wait_until(Duration::from_secs(3), "blackhole", || {
        dp.ddos_report("lb-a").unwrap().mode == Mode::Blackholed
    })
    .await;
    assert!(!echo_ok(la).await, "the flooded instance drops everything");
    assert!(echo_ok(lb).await, "the other instance keeps serving");
    assert_eq!(dp.ddos_report("lb-b").unwrap().mode, Mode::Normal);
    // It recovers by itself after the blackhole time.
    let recovered = common::wait_until(Duration::from_secs(5), "recovery", || {
        dp.ddos_report("lb-a").unwrap().mode == Mode::Normal
    })
    .await;
    assert!(recovered <= Duration::from_secs(4));
    assert!(echo_ok(la).await);
    let report = dp.ddos_report("lb-a").unwrap();
    assert_eq!(report.events[0].action, Mode::Blackholed);
    assert!(report.events[0].ended.is_some() && report.events[0].peak.pps >= 1_000);
    assert!(report.dropped[2] > 0, "blackhole drops counted");
    dp.shutdown().await;
}

/// Connects from `from`; whether the backend's greeting arrives.
async fn served(l: SocketAddr, from: &str) -> bool {
    let sock = TcpSocket::new_v4().unwrap();
    sock.bind(SocketAddr::new(from.parse().unwrap(), 0))
        .unwrap();
    let Ok(s) = sock.connect(l).await else {
        return false;
    };
    let mut line = String::new();
    matches!(
        tokio::time::timeout(STEP, tokio::io::BufReader::new(s).read_line(&mut line)).await,
        Ok(Ok(n)) if n > 0
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scrubbing_throttles_a_connection_flooder_and_serves_others() {
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    spec.ddos = Some(DdosConfig {
        scrub_cps: 30,
        source_cps: 3,
        ..DdosConfig::default()
    });
    let key = spec.key.clone();
    apply_ok(&dp, vec![spec]).await;
    let l = dp.local_addr(&key).unwrap();
    // One source opens 60 connections in a second: the instance starts scrubbing.
    for _ in 0..60 {
        let _ = served(l, "127.0.0.2").await;
    }
    common::wait_until(Duration::from_secs(3), "scrubbing", || {
        dp.ddos_report("lb-test").unwrap().mode == Mode::Scrubbing
    })
    .await;
    // Within one second: the flooder gets at most its 3, the other source is served.
    let mut flooder_ok = 0;
    for _ in 0..20 {
        if served(l, "127.0.0.2").await {
            flooder_ok += 1;
        }
    }
    assert!(flooder_ok <= 6, "{flooder_ok} flooder connections served");
    assert!(served(l, "127.0.0.3").await, "another source is served");
    assert!(dp.ddos_report("lb-test").unwrap().dropped[1] > 0);
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_upload_bytes_count_in_the_inbound_bit_rate() {
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut spec = common::spec(1, vec![b.spec(1)], SchedulerKind::Rr);
    spec.ddos = Some(DdosConfig {
        scrub_bps: 8_000_000,
        ..DdosConfig::default()
    });
    let key = spec.key.clone();
    apply_ok(&dp, vec![spec]).await;
    let l = dp.local_addr(&key).unwrap();
    // 4 MB up one connection (the echo comes back and is discarded) in well under a second.
    let s = tokio::net::TcpStream::connect(l).await.unwrap();
    let (mut r, mut w) = s.into_split();
    let reader = tokio::spawn(async move {
        let mut sink = vec![0u8; 65_536];
        while matches!(tokio::io::AsyncReadExt::read(&mut r, &mut sink).await, Ok(n) if n > 0) {}
    });
    let chunk = vec![0u8; 65_536];
    for _ in 0..64 {
        tokio::io::AsyncWriteExt::write_all(&mut w, &chunk)
            .await
            .unwrap();
    }
    common::wait_until(Duration::from_secs(4), "scrubbing on TCP bytes", || {
        dp.ddos_report("lb-test").unwrap().mode == Mode::Scrubbing
    })
    .await;
    assert!(dp.ddos_report("lb-test").unwrap().last.bps >= 8_000_000);
    drop(w);
    reader.abort();
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_bodies_count_in_the_inbound_bit_rate() {
    // A backend that reads the whole upload, then answers.
    let baddr = http_kit::upload_sink(4_000_000).await;
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(
        1,
        vec![slb_dataplane::BackendSpec {
            server_id: "h".into(),
            addr: baddr,
            weight: 1,
        }],
    );
    spec.ddos = Some(DdosConfig {
        scrub_bps: 8_000_000,
        ..DdosConfig::default()
    });
    let key_lb = spec.key.load_balancer_id.clone();
    let l = http_kit::start(&dp, spec).await;
    let mut s = tokio::net::TcpStream::connect(l).await.unwrap();
    let body = vec![b'x'; 4_000_000];
    let head = format!(
        "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    tokio::io::AsyncWriteExt::write_all(&mut s, head.as_bytes())
        .await
        .unwrap();
    let _ = tokio::time::timeout(
        Duration::from_secs(5),
        tokio::io::AsyncWriteExt::write_all(&mut s, &body),
    )
    .await;
    common::wait_until(Duration::from_secs(4), "scrubbing on HTTP bytes", || {
        dp.ddos_report(&key_lb).unwrap().last.bps >= 8_000_000
    })
    .await;
    dp.shutdown().await;
}
