//! The command-line client against a real node, metrics after traffic, clean shutdown.

use std::net::SocketAddr;
use std::process::Command;

use crate::kit::*;

fn slb(d: &Daemon, args: &[&str]) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_slb"))
        .arg(args[0])
        .args(["--endpoint", &format!("http://{}", d.api)])
        .args(&args[1..])
        .env("SLB_ACCESS_KEY_ID", KEY_ID)
        .env("SLB_ACCESS_KEY_SECRET", KEY_SECRET)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

/// An instance created with `slb call` and a TCP listener on port 7000 to `a`: its id and
/// the listener's address.
async fn tcp_lb_via_cli(d: &Daemon, name: &str, a: &Backend) -> (String, SocketAddr) {
    let (ok, out) = slb(
        d,
        &["call", "CreateLoadBalancer", "--LoadBalancerName", name],
    );
    assert!(ok, "{out}");
    let created: serde_json::Value = serde_json::from_str(&out).unwrap();
    let lb = created["LoadBalancerId"].as_str().unwrap().to_string();
    let ip = created["Address"].as_str().unwrap();
    d.tcp_listener(&lb, 7000, &[(a, 100)], &[]).await;
    (lb, format!("{ip}:7000").parse().unwrap())
}

/// SIGTERM ends the node with success, and the listener on `addr` (every worker's socket
/// of it) is closed.
async fn terminates_cleanly(d: Daemon, addr: SocketAddr) {
    let status = d.terminate().await;
    assert!(status.success(), "clean exit on SIGTERM: {status}");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listeners closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_status_metrics_and_sigterm() {
    // This node runs the single-threaded runtime (`--workers 1`) that one-CPU nodes use.
    let d = Daemon::start_with("127.61.60.0/24", &["--workers", "1"]).await;
    let a = Backend::start("a").await;
    let (lb, addr) = tcp_lb_via_cli(&d, "cli-lb", &a).await;
    assert_eq!(tally(addr, 3).await.get("a"), Some(&3));

    // A refused call prints Alibaba's error body and exits non-zero.
    let (ok, out) = slb(
        &d,
        &[
            "call",
            "DescribeLoadBalancerAttribute",
            "--LoadBalancerId=lb-nope",
        ],
    );
    assert!(!ok);
    assert!(out.contains("InvalidLoadBalancerId.NotFound"), "{out}");

    let (ok, out) = slb(&d, &["status"]);
    assert!(ok, "{out}");
    assert!(
        out.contains("cli-lb") && out.contains("tcp:7000") && out.contains("running"),
        "{out}"
    );
    assert!(
        out.contains("ANTI-DDOS") && out.contains("disabled"),
        "{out}"
    );
    assert!(
        out.contains(&format!("127.0.0.1:{}", a.addr.port())),
        "{out}"
    );

    let metrics = d.metrics().await;
    let line = |name: &str| {
        metrics
            .lines()
            .find(|l| l.starts_with(name) && l.contains(&lb))
            .unwrap_or_else(|| panic!("{name} for {lb} in /metrics:\n{metrics}"))
            .to_string()
    };
    assert!(line("slb_listener_connections_total").ends_with(" 3"));
    assert!(!line("slb_listener_bytes_out_total").ends_with(" 0"));
    line("slb_listener_active_connections");
    line("slb_listener_backend_connect_failures_total");
    line("slb_backend_healthy");

    terminates_cleanly(d, addr).await;
}

/// A node with several workers serves thread-per-core: every worker accepts on its own
/// socket of the listener, `/metrics` counts each worker's share, and SIGTERM still ends
/// the node (and its worker threads) cleanly.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_share_the_connections_and_stop_on_sigterm() {
    let d = Daemon::start_with("127.61.61.0/24", &["--workers", "3"]).await;
    let a = Backend::start("a").await;
    let (_lb, addr) = tcp_lb_via_cli(&d, "tpc-lb", &a).await;
    assert_eq!(tally(addr, 60).await.get("a"), Some(&60));

    let metrics = d.metrics().await;
    let accepted: Vec<u64> = (0..3)
        .map(|i| {
            let name = format!("slb_worker_accepted_connections_total{{worker=\"{i}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(&name))
                .unwrap_or_else(|| panic!("{name} in /metrics:\n{metrics}"))
                .parse()
                .unwrap()
        })
        .collect();
    assert_eq!(accepted.iter().sum::<u64>(), 60, "{accepted:?}");
    assert!(
        accepted.iter().filter(|&&n| n > 0).count() >= 2,
        "the kernel spread 60 connections over the workers' sockets: {accepted:?}"
    );

    terminates_cleanly(d, addr).await;
}
