//! Anti-DDoS through the daemon (`--ddos-protection` with small thresholds): a bounded UDP
//! flood blackholes the instance, DescribeLoadBalancerDdosStatus reports it with its event,
//! and the instance recovers by itself.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_flood_blackholes_and_recovers() {
    let d = Daemon::start_with(
        "127.61.92.0/24",
        &[
            "--ddos-protection",
            "--ddos-blackhole-pps",
            "1000",
            "--ddos-blackhole-seconds",
            "2",
        ],
    )
    .await;
    let (lb, ip) = d.create_lb().await;
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let port = backend.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut buf = [0u8; 256];
        while let Ok((n, from)) = backend.recv_from(&mut buf).await {
            let _ = backend.send_to(&buf[..n], from).await;
        }
    });
    d.ok(
        "AddBackendServers",
        &[
            ("LoadBalancerId", &lb),
            (
                "BackendServers",
                r#"[{"ServerId":"127.0.0.1","Type":"ip","Weight":100}]"#,
            ),
        ],
    )
    .await;
    d.ok(
        "CreateLoadBalancerUDPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "5300"),
            ("BackendServerPort", &port.to_string()),
            ("HealthCheckSwitch", "off"),
        ],
    )
    .await;
    d.ok(
        "StartLoadBalancerListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "5300"),
            ("ListenerProtocol", "udp"),
        ],
    )
    .await;
    let status = |v: &serde_json::Value| v["Status"].as_str().unwrap_or_default().to_string();
    let v = d
        .ok("DescribeLoadBalancerDdosStatus", &[("LoadBalancerId", &lb)])
        .await;
    assert_eq!(status(&v), "normal", "{v}");
    assert_eq!(v["Thresholds"]["BlackholePps"], 1000);

    let l = SocketAddr::new(ip, 5300);
    let flood = UdpSocket::bind("127.0.0.9:0").await.unwrap();
    for i in 0..5_000u32 {
        let _ = flood.send_to(&[7u8; 32], l).await;
        if i % 500 == 499 {
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    let blackholed = eventually(Duration::from_secs(4), || async {
        let v = d
            .ok("DescribeLoadBalancerDdosStatus", &[("LoadBalancerId", &lb)])
            .await;
        status(&v) == "blackholed"
    })
    .await;
    assert!(blackholed.is_some(), "the instance is blackholed");
    // While blackholed, nothing gets through.
    let client = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    client.send_to(b"ping", l).await.unwrap();
    let mut buf = [0u8; 16];
    assert!(
        tokio::time::timeout(Duration::from_millis(300), client.recv_from(&mut buf))
            .await
            .is_err()
    );
    let recovered = eventually(Duration::from_secs(6), || async {
        let v = d
            .ok("DescribeLoadBalancerDdosStatus", &[("LoadBalancerId", &lb)])
            .await;
        status(&v) == "normal"
    })
    .await;
    assert!(recovered.is_some(), "the instance recovers by itself");
    let v = d
        .ok("DescribeLoadBalancerDdosStatus", &[("LoadBalancerId", &lb)])
        .await;
    let event = &v["Events"]["Event"][0];
    assert_eq!(event["Action"], "blackholed");
    assert!(
        event["EndTime"].as_str().is_some_and(|t| !t.is_empty()),
        "{v}"
    );
    assert!(v["Dropped"]["blackhole"].as_u64().unwrap() > 0);
    let m = d.metrics().await;
    assert!(
        m.contains(&format!("slb_ddos_mode{{load_balancer_id=\"{lb}\"}} 0")),
        "{m}"
    );
}
