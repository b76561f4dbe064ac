//! Health checks: a dead backend leaves rotation in time and comes back; all-unhealthy
//! listeners keep forwarding; DescribeHealthStatus reports what the probes see.

use std::net::SocketAddr;
use std::time::Duration;

use crate::kit::*;

const PORT: u16 = 7000;

async fn status_of(d: &Daemon, lb: &str, backend_port: u16) -> String {
    let v = d
        .ok("DescribeHealthStatus", &[("LoadBalancerId", lb)])
        .await;
    v["BackendServers"]["BackendServer"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["Port"].as_u64() == Some(backend_port as u64))
        .map(|b| b["ServerHealthStatus"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dead_backend_leaves_rotation_and_returns() {
    let d = Daemon::start("127.61.10.0/24").await;
    let (mut a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(
        &lb,
        PORT,
        &[(&a, 100), (&b, 100)],
        &[
            ("HealthCheckInterval", "1"),
            ("UnhealthyThreshold", "2"),
            ("HealthyThreshold", "2"),
            ("HealthCheckConnectTimeout", "1"),
        ],
    )
    .await;
    let addr = SocketAddr::new(ip, PORT);
    let (a_port, b_port) = (a.addr.port(), b.addr.port());
    eventually(Duration::from_secs(5), || async {
        status_of(&d, &lb, a_port).await == "normal" && status_of(&d, &lb, b_port).await == "normal"
    })
    .await
    .expect("both backends normal");

    a.kill();
    // interval × unhealthy threshold + one interval = 3 s; allow scheduling slack.
    let took = eventually(Duration::from_secs(6), || async {
        status_of(&d, &lb, a_port).await == "abnormal"
    })
    .await
    .expect("killed backend marked abnormal");
    assert!(took <= Duration::from_millis(3500), "took {took:?}");
    let t = tally(addr, 20).await;
    assert_eq!(
        t.get("b"),
        Some(&20),
        "all new connections to the live backend: {t:?}"
    );

    a.revive().await;
    eventually(Duration::from_secs(6), || async {
        status_of(&d, &lb, a_port).await == "normal"
    })
    .await
    .expect("revived backend normal again");
    let t = tally(addr, 20).await;
    assert_eq!(t.get("a"), Some(&10), "traffic returns: {t:?}");
    assert!(d.metrics().await.contains("slb_backend_healthy"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_unhealthy_still_forwards_and_check_off_reports_unavailable() {
    let d = Daemon::start("127.61.11.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    // Probes go to a closed port, so both backends look dead while they serve fine.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let closed = closed.to_string();
    d.tcp_listener(
        &lb,
        PORT,
        &[(&a, 100), (&b, 100)],
        &[
            ("HealthCheckInterval", "1"),
            ("UnhealthyThreshold", "2"),
            ("HealthCheckConnectTimeout", "1"),
            ("HealthCheckConnectPort", closed.as_str()),
        ],
    )
    .await;
    eventually(Duration::from_secs(6), || async {
        status_of(&d, &lb, a.addr.port()).await == "abnormal"
            && status_of(&d, &lb, b.addr.port()).await == "abnormal"
    })
    .await
    .expect("both abnormal");
    let t = tally(SocketAddr::new(ip, PORT), 10).await;
    assert_eq!(
        t.get("<failed>"),
        None,
        "Alibaba keeps forwarding when all are unhealthy: {t:?}"
    );

    let port = PORT.to_string();
    d.ok(
        "SetLoadBalancerTCPListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", &port),
            ("HealthCheckSwitch", "off"),
        ],
    )
    .await;
    eventually(Duration::from_secs(3), || async {
        status_of(&d, &lb, a.addr.port()).await == "unavailable"
    })
    .await
    .expect("health check off reports unavailable");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_health_check_uses_uri_and_codes() {
    let d = Daemon::start("127.61.12.0/24").await;
    let (good, good_probes) = http_backend("good", 204).await;
    let (bad, _) = http_backend("bad", 503).await;
    let (lb, _) = d.create_lb().await;
    let members = format!(
        r#"[{{"ServerId":"127.0.0.1","Type":"ip","Port":{}}},{{"ServerId":"127.0.0.1","Type":"ip","Port":{}}}]"#,
        good.port(),
        bad.port()
    );
    let g = d
        .ok(
            "CreateVServerGroup",
            &[("LoadBalancerId", &lb), ("BackendServers", &members)],
        )
        .await;
    let group = g["VServerGroupId"].as_str().unwrap();
    d.ok(
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "7000"),
            ("VServerGroupId", group),
            ("HealthCheckType", "http"),
            ("HealthCheckURI", "/health"),
            ("HealthCheckHttpCode", "http_2xx,http_3xx"),
            ("HealthCheckInterval", "1"),
            ("UnhealthyThreshold", "2"),
        ],
    )
    .await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "7000")],
    )
    .await;
    eventually(Duration::from_secs(6), || async {
        status_of(&d, &lb, good.port()).await == "normal"
            && status_of(&d, &lb, bad.port()).await == "abnormal"
    })
    .await
    .expect("204 on /health is normal, 503 is abnormal");
    assert!(good_probes.load(std::sync::atomic::Ordering::SeqCst) > 0);
}
