//! Thread-per-core serving: a data plane on worker threads accepts on one socket per
//! worker, keeps backend connections per worker, and closes every worker's socket on
//! rebind and stop.

mod common;
mod http_kit;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use common::{apply_ok, ask, spec, udp_metric, EchoBackend};
use http_kit::{http_spec, Conn, HttpBackend};
use slb_dataplane::{DataPlane, DataPlaneError, SchedulerKind, Workers};
use tokio::net::TcpStream;

/// Each worker's accepted connections, from the data plane's metrics.
fn accepted(dp: &DataPlane, workers: usize) -> Vec<u64> {
    let mut out = String::new();
    dp.render_metrics(&mut out);
    (0..workers)
        .map(|i| {
            let name = format!("slb_worker_accepted_connections_total{{worker=\"{i}\"}} ");
            out.lines()
                .find_map(|l| l.strip_prefix(&name))
                .unwrap_or_else(|| panic!("{name} in\n{out}"))
                .parse()
                .unwrap()
        })
        .collect()
}

/// Whether any of `n` connects to `addr` succeeds: with a socket per worker, one left
/// open would take some of them.
/// A second data plane on the same workers cannot bind `spec` on `addr`, which the first
/// holds: its sockets cannot join the first one's group.
async fn refused_by_another_data_plane(
    workers: Workers,
    mut spec: slb_dataplane::ListenerSpec,
    addr: SocketAddr,
) {
    let other = DataPlane::on_workers(workers);
    spec.bind = addr;
    let results = other.apply(vec![spec]).await;
    assert!(
        matches!(results[0].1, Err(DataPlaneError::Bind { .. })),
        "{:?}",
        results[0].1
    );
}

async fn any_accepts(addr: SocketAddr, n: usize) -> bool {
    for _ in 0..n {
        if TcpStream::connect(addr).await.is_ok() {
            return true;
        }
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_and_http_listeners_accept_on_every_worker() {
    let (workers, _threads) = Workers::start(2).unwrap();
    let dp = DataPlane::on_workers(workers);
    let echo = EchoBackend::start("a").await;
    let tcp = spec(300, vec![echo.spec(1)], SchedulerKind::Rr);
    apply_ok(&dp, vec![tcp.clone()]).await;
    let tcp_addr = dp.local_addr(&tcp.key).unwrap();
    let web = HttpBackend::start("w").await;
    let http_addr = http_kit::start(&dp, http_spec(301, vec![web.spec()])).await;

    for _ in 0..30 {
        assert_eq!(ask(tcp_addr).await, "a");
    }
    // Connections one after another, five keep-alive requests each: every worker keeps
    // the backend connection it opened and reuses it for its next client connection.
    for _ in 0..30 {
        let mut c = Conn::open(http_addr).await;
        for _ in 0..5 {
            let got = c.get("x", "/").await;
            assert_eq!(got.status, 200);
            assert_eq!(got.text(), "w");
        }
    }
    assert_eq!(web.hits.load(Ordering::Relaxed), 150);
    let backend_conns = web.conns.load(Ordering::Relaxed);
    assert!(
        (1..=2).contains(&backend_conns),
        "one pooled backend connection per worker, not {backend_conns}"
    );
    let per_worker = accepted(&dp, 2);
    assert_eq!(per_worker.iter().sum::<u64>(), 60, "{per_worker:?}");
    assert!(
        per_worker.iter().all(|&n| n > 0),
        "the kernel spread 60 connections over both sockets: {per_worker:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rebind_and_stop_close_every_worker_socket() {
    let (workers, _threads) = Workers::start(3).unwrap();
    let dp = DataPlane::on_workers(workers.clone());
    let web = HttpBackend::start("w").await;
    let mut s = http_spec(302, vec![web.spec()]);
    let old = http_kit::start(&dp, s.clone()).await;
    assert_eq!(http_kit::get(old, "x", "/").await.status, 200);

    // A second data plane cannot join the address with sockets of its own.
    refused_by_another_data_plane(workers, spec(303, Vec::new(), SchedulerKind::Rr), old).await;

    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    s.bind = free.local_addr().unwrap();
    drop(free);
    let moved = http_kit::start(&dp, s.clone()).await;
    assert_eq!(moved, s.bind);
    assert_eq!(http_kit::get(moved, "x", "/").await.status, 200);
    assert!(
        !any_accepts(old, 30).await,
        "a socket of the old address is open"
    );

    dp.shutdown().await;
    assert!(
        !any_accepts(moved, 30).await,
        "a socket outlived the listener"
    );
}

/// A UDP listener on workers: every client's reply comes from the listener's address, and
/// the session bound holds for the listener as a whole, whichever worker's socket each
/// client reached.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_sessions_span_the_workers_and_keep_one_bound() {
    let (workers, _threads) = Workers::start(3).unwrap();
    let dp = DataPlane::on_workers(workers.clone());
    let backend = common::udp_echo_backend().await;
    let mut s = common::udp_spec(304, backend);
    s.max_sessions = 8;
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let mut clients = Vec::new();
    for i in 0..20 {
        let c = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let msg = format!("ping {i}");
        c.send_to(msg.as_bytes(), addr).await.unwrap();
        let mut buf = [0u8; 64];
        let (n, from) = tokio::time::timeout(common::STEP, c.recv_from(&mut buf))
            .await
            .expect("a reply in time")
            .unwrap();
        assert_eq!(&buf[..n], msg.as_bytes());
        assert_eq!(from, addr, "the reply leaves from the listener's address");
        clients.push(c);
        // The gauge follows the table at once, an evicted session included, whichever
        // worker runs the evicted session's task.
        assert_eq!(
            udp_metric(&dp, "slb_udp_sessions_active"),
            (i + 1).min(8),
            "open sessions after client {i}"
        );
    }
    assert_eq!(udp_metric(&dp, "slb_udp_sessions_evicted_total"), 12);

    // The address is taken for another data plane's UDP listener too.
    refused_by_another_data_plane(workers, common::udp_spec(305, backend), addr).await;
    dp.shutdown().await;
    let probe = std::net::UdpSocket::bind(addr);
    assert!(probe.is_ok(), "every worker's socket closed: {probe:?}");
}
