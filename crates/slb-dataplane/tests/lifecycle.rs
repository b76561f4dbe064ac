//! Configuration changes and connection life: swaps without rebinding, removals, drain,
//! half-close, idle timeout, bind errors and metrics.

mod common;

use std::time::{Duration, Instant};

use common::*;
use slb_dataplane::{DataPlane, DataPlaneError, ListenerKey, SchedulerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Reads until EOF (or error); returns what was read.
async fn read_to_end(conn: &mut tokio::io::BufReader<TcpStream>) -> String {
    let mut out = Vec::new();
    let _ = tokio::time::timeout(STEP, conn.read_to_end(&mut out))
        .await
        .expect("read to end timed out");
    String::from_utf8(out).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changed_backends_keep_socket_and_connections() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(100, vec![a.spec(1)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (name, mut conn) = open(addr).await;
    assert_eq!(name, "a");

    s.backends = vec![a.spec(2), b.spec(5)];
    s.scheduler = SchedulerKind::Wlc;
    s.established_timeout = Duration::from_secs(60);
    apply_ok(&dp, vec![s.clone()]).await;
    assert_eq!(dp.local_addr(&s.key), Some(addr), "not rebound");
    assert_eq!(
        echo_roundtrip(&mut conn, "still here").await.unwrap(),
        "still here"
    );
    let mut names = std::collections::HashSet::new();
    for _ in 0..10 {
        names.insert(ask(addr).await);
    }
    assert!(names.contains("b"), "{names:?}");

    // Removing `a` without drain closes its connection at once.
    s.backends = vec![b.spec(1)];
    apply_ok(&dp, vec![s.clone()]).await;
    let rest = read_to_end(&mut conn).await;
    assert!(
        !rest.contains("eof:a"),
        "closed by the proxy, not by a: {rest:?}"
    );
    for _ in 0..4 {
        assert_eq!(ask(addr).await, "b");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_backend_drains_until_timeout() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(101, vec![a.spec(1)], SchedulerKind::Wrr);
    s.drain_timeout = Some(Duration::from_millis(400));
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(addr).await;

    s.backends = vec![b.spec(1)];
    let removed_at = Instant::now();
    apply_ok(&dp, vec![s.clone()]).await;
    assert_eq!(
        ask(addr).await,
        "b",
        "no new connections to a draining backend"
    );
    assert_eq!(echo_roundtrip(&mut conn, "drain").await.unwrap(), "drain");
    read_to_end(&mut conn).await;
    let took = removed_at.elapsed();
    assert!(took >= Duration::from_millis(350), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_listener_refuses_but_keeps_connections() {
    let a = EchoBackend::start("a").await;
    let dp = DataPlane::new();
    let s = spec(102, vec![a.spec(1)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(addr).await;

    let results = dp.apply(vec![]).await;
    assert!(results.is_empty());
    assert_eq!(dp.local_addr(&s.key), None);
    let err = TcpStream::connect(addr).await.unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
    assert_eq!(echo_roundtrip(&mut conn, "after").await.unwrap(), "after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn half_close_propagates_both_ways() {
    let a = EchoBackend::start("a").await;
    let dp = DataPlane::new();
    let s = spec(103, vec![a.spec(1)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(addr).await;
    conn.get_mut().write_all(b"abc").await.unwrap();
    conn.get_mut().shutdown().await.unwrap();
    // The backend sees EOF and still answers; the answer reaches the half-closed client.
    assert_eq!(read_to_end(&mut conn).await, "abceof:a\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_timeout_closes_both_sides() {
    let a = EchoBackend::start("a").await;
    let dp = DataPlane::new();
    let mut s = spec(104, vec![a.spec(1)], SchedulerKind::Wrr);
    s.established_timeout = Duration::from_millis(300);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(addr).await;
    let start = Instant::now();
    // Traffic resets the timer.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(echo_roundtrip(&mut conn, "x").await.unwrap(), "x");
    let rest = read_to_end(&mut conn).await;
    let took = start.elapsed();
    assert_eq!(rest, "");
    assert!(took >= Duration::from_millis(450), "closed after {took:?}");
    assert!(took < Duration::from_secs(2), "closed after {took:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bind_failure_only_affects_its_listener() {
    let a = EchoBackend::start("a").await;
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let dp = DataPlane::new();
    let good = spec(105, vec![a.spec(1)], SchedulerKind::Wrr);
    let mut bad = spec(106, vec![a.spec(1)], SchedulerKind::Wrr);
    bad.bind = taken.local_addr().unwrap();
    let mut other = spec(107, vec![a.spec(1)], SchedulerKind::Wrr);
    other.key.protocol = "sctp".into();
    let results = dp
        .apply(vec![good.clone(), bad.clone(), other, good.clone()])
        .await;
    assert_eq!(results.len(), 4);
    assert!(results[0].1.is_ok());
    assert!(matches!(results[1].1, Err(DataPlaneError::Bind { .. })));
    assert!(matches!(
        results[2].1,
        Err(DataPlaneError::UnsupportedProtocol(_))
    ));
    assert!(matches!(
        results[3].1,
        Err(DataPlaneError::DuplicateListener)
    ));
    let addr = dp.local_addr(&good.key).unwrap();
    assert_eq!(ask(addr).await, "a");

    // A rebind to a taken address fails and keeps the listener where it was.
    let mut moved = good.clone();
    moved.bind = taken.local_addr().unwrap();
    let results = dp.apply(vec![moved]).await;
    assert!(results[0].1.is_err());
    assert_eq!(dp.local_addr(&good.key), Some(addr));
    assert_eq!(ask(addr).await, "a");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebind_on_changed_address() {
    let a = EchoBackend::start("a").await;
    let dp = DataPlane::new();
    let mut s = spec(108, vec![a.spec(1)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let old = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(old).await;
    s.bind = dead_addr();
    apply_ok(&dp, vec![s.clone()]).await;
    assert_eq!(dp.local_addr(&s.key), Some(s.bind));
    assert_eq!(ask(s.bind).await, "a");
    assert!(TcpStream::connect(old).await.is_err());
    assert_eq!(echo_roundtrip(&mut conn, "kept").await.unwrap(), "kept");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_report_connections_and_bytes() {
    let a = EchoBackend::start("a").await;
    let dp = DataPlane::new();
    let s = spec(109, vec![a.spec(1)], SchedulerKind::Wrr);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let (_, mut conn) = open(addr).await;
    echo_roundtrip(&mut conn, "12345").await.unwrap();
    let labels = "{load_balancer_id=\"lb-test\",port=\"109\",protocol=\"tcp\"";
    let expect = [
        format!("slb_listener_active_connections{labels}}} 1"),
        format!("slb_listener_connections_total{labels}}} 1"),
        format!("slb_listener_bytes_in_total{labels}}} 5"),
        format!("slb_listener_bytes_out_total{labels}}} 7"),
        format!("slb_listener_backend_connect_failures_total{labels}}} 0"),
        format!("slb_backend_healthy{labels},backend=\"{}\"}} 1", a.addr),
        format!(
            "slb_backend_active_connections{labels},backend=\"{}\"}} 1",
            a.addr
        ),
        "# TYPE slb_listener_bytes_in_total counter".to_owned(),
    ];
    // The relay counts a chunk once it is written, which may trail the client's read of
    // it on a multi-thread runtime.
    let mut out = String::new();
    let _ = tokio::time::timeout(STEP, async {
        loop {
            out.clear();
            dp.render_metrics(&mut out);
            if expect.iter().all(|e| out.lines().any(|l| l == e)) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;
    for e in expect {
        assert!(out.lines().any(|l| l == e), "missing {e:?} in\n{out}");
    }
    drop(conn);
    wait_until(STEP, "connection gone", || {
        let mut out = String::new();
        dp.render_metrics(&mut out);
        out.contains(&format!("slb_listener_active_connections{labels}}} 0"))
    })
    .await;
    dp.shutdown().await;
    let mut out = String::new();
    dp.render_metrics(&mut out);
    assert!(!out.contains("lb-test"));
    assert!(dp.local_addr(&ListenerKey::tcp("lb-test", 109)).is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backend_readded_during_drain_keeps_connections() {
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(110, vec![a.spec(1), b.spec(1)], SchedulerKind::Rr);
    s.drain_timeout = Some(Duration::from_millis(300));
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let mut conns = Vec::new();
    for _ in 0..2 {
        conns.push(open(addr).await);
    }
    let (_, conn_a) = conns.iter_mut().find(|(n, _)| n == "a").unwrap();
    let full = s.clone();
    s.backends = vec![b.spec(1)];
    apply_ok(&dp, vec![s.clone()]).await;
    apply_ok(&dp, vec![full]).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(echo_roundtrip(conn_a, "back").await.unwrap(), "back");

    // A removed listener with drain on closes its connections after the drain timeout.
    dp.apply(vec![]).await;
    for (_, c) in conns.iter_mut() {
        assert_eq!(echo_roundtrip(c, "x").await.unwrap(), "x");
    }
    let start = Instant::now();
    for (_, c) in conns.iter_mut() {
        read_to_end(c).await;
    }
    assert!(start.elapsed() < Duration::from_secs(1));
}
