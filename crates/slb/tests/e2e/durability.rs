//! Restart after `kill -9`: every resource and running/stopped state is back and serving.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_restart_keeps_everything() {
    let d = Daemon::start("127.61.30.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(&lb, 7000, &[(&a, 100), (&b, 100)], &[("Scheduler", "rr")])
        .await;
    d.tcp_listener(&lb, 7001, &[(&a, 100)], &[]).await;
    d.ok(
        "StopLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "7001")],
    )
    .await;
    d.ok(
        "AddBackendServers",
        &[
            ("LoadBalancerId", &lb),
            (
                "BackendServers",
                r#"[{"ServerId":"127.0.0.9","Weight":"7"}]"#,
            ),
        ],
    )
    .await;
    d.ok(
        "SetLoadBalancerDeleteProtection",
        &[("LoadBalancerId", &lb), ("DeleteProtection", "on")],
    )
    .await;
    let before_lb = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &lb)])
        .await;
    let before_l = d
        .ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &lb)],
        )
        .await;
    let before_g = d
        .ok("DescribeVServerGroups", &[("LoadBalancerId", &lb)])
        .await;
    let revision = d.revision().await;

    let d = d.kill9_and_restart().await;
    assert_eq!(d.revision().await, revision);
    assert_eq!(
        d.ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &lb)])
            .await,
        before_lb
    );
    assert_eq!(
        d.ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &lb)]
        )
        .await,
        before_l
    );
    assert_eq!(
        d.ok("DescribeVServerGroups", &[("LoadBalancerId", &lb)])
            .await,
        before_g
    );
    let t = tally(SocketAddr::new(ip, 7000), 10).await;
    assert_eq!(
        (t.get("a"), t.get("b")),
        (Some(&5), Some(&5)),
        "serving again: {t:?}"
    );
    assert!(
        TcpStream::connect(SocketAddr::new(ip, 7001)).await.is_err(),
        "the stopped listener stays stopped"
    );
}
