//! Backend selection through a real listener: weights, round robin, source hashing,
//! persistence and connect retries.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use common::*;
use slb_dataplane::{DataPlane, ListenerKey, SchedulerKind};

async fn tally(addr: std::net::SocketAddr, n: usize) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for _ in 0..n {
        *counts.entry(ask(addr).await).or_default() += 1;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrr_splits_by_weight() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    apply_ok(
        &dp,
        vec![spec(80, vec![a.spec(3), b.spec(1)], SchedulerKind::Wrr)],
    )
    .await;
    let addr = dp.local_addr(&ListenerKey::tcp("lb-test", 80)).unwrap();
    let counts = tally(addr, 400).await;
    let na = counts.get("a").copied().unwrap_or(0);
    let nb = counts.get("b").copied().unwrap_or(0);
    assert_eq!(na + nb, 400, "{counts:?}");
    assert!(na.abs_diff(300) <= 12, "{counts:?}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rr_alternates() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    apply_ok(
        &dp,
        vec![spec(81, vec![a.spec(5), b.spec(1)], SchedulerKind::Rr)],
    )
    .await;
    let addr = dp.local_addr(&ListenerKey::tcp("lb-test", 81)).unwrap();
    let mut last = ask(addr).await;
    for _ in 0..9 {
        let next = ask(addr).await;
        assert_ne!(next, last);
        last = next;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sch_sends_same_client_to_same_backend() {
    let bs = [
        EchoBackend::start("a").await,
        EchoBackend::start("b").await,
        EchoBackend::start("c").await,
    ];
    let dp = DataPlane::new();
    let backends = bs.iter().map(|b| b.spec(1)).collect();
    apply_ok(&dp, vec![spec(82, backends, SchedulerKind::Sch)]).await;
    let addr = dp.local_addr(&ListenerKey::tcp("lb-test", 82)).unwrap();
    let counts = tally(addr, 30).await;
    assert_eq!(counts.len(), 1, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistence_pins_client_to_backend() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(83, vec![a.spec(1), b.spec(1)], SchedulerKind::Wrr);
    s.persistence_timeout = Duration::from_secs(60);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let counts = tally(addr, 20).await;
    assert_eq!(counts.len(), 1, "{counts:?}");
    // Turning persistence off restores the 1:1 split.
    s.persistence_timeout = Duration::ZERO;
    apply_ok(&dp, vec![s]).await;
    let counts = tally(addr, 20).await;
    assert_eq!(counts.len(), 2, "{counts:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_failure_retries_another_backend() {
    let live = EchoBackend::start("live").await;
    let dead = slb_dataplane::BackendSpec {
        server_id: "dead".into(),
        addr: dead_addr(),
        weight: 1,
    };
    let dp = DataPlane::new();
    let s = spec(84, vec![dead, live.spec(1)], SchedulerKind::Rr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    for _ in 0..10 {
        assert_eq!(ask(addr).await, "live");
    }
    let mut out = String::new();
    dp.render_metrics(&mut out);
    let line = out
        .lines()
        .find(|l| l.starts_with("slb_listener_backend_connect_failures_total{"))
        .unwrap();
    let failures: u64 = line.rsplit(' ').next().unwrap().parse().unwrap();
    assert!(failures >= 5, "{line}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_reachable_backend_closes_client() {
    let dp = DataPlane::new();
    let dead = |i: u32| slb_dataplane::BackendSpec {
        server_id: format!("dead{i}"),
        addr: dead_addr(),
        weight: 1,
    };
    let s = spec(85, vec![dead(1), dead(2)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    use tokio::io::AsyncReadExt;
    let mut c = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut buf = [0u8; 8];
    let n = tokio::time::timeout(STEP, c.read(&mut buf))
        .await
        .unwrap()
        .unwrap_or(0);
    assert_eq!(n, 0);
}
