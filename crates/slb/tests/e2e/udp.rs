//! UDP listeners through the API: created, described and listed, serving real UDP
//! backends from the instance address with a session per client, UDP health checks
//! (`healthCheckReq`/`healthCheckExp`) taking a silent backend out, and the UDP metrics.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

use crate::kit::*;

/// A UDP backend replying `name` to each datagram (and `pong` to `ping`), or silent.
async fn udp_backend(name: &'static str, silent: bool) -> SocketAddr {
    let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            if silent {
                continue;
            }
            let reply: &[u8] = if &buf[..n] == b"ping" {
                b"pong"
            } else {
                name.as_bytes()
            };
            let _ = s.send_to(reply, from).await;
        }
    });
    addr
}

async fn ask(c: &UdpSocket, to: SocketAddr) -> Option<String> {
    c.send_to(b"hello", to).await.unwrap();
    let mut buf = [0u8; 256];
    let (n, from) = tokio::time::timeout(Duration::from_secs(2), c.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    assert_eq!(from, to, "the reply comes from the listener's address");
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_listener_serves_sessions_and_checks_health() {
    let d = Daemon::start("127.61.85.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let (a, b, quiet) = (
        udp_backend("a", false).await,
        udp_backend("b", false).await,
        udp_backend("quiet", true).await,
    );
    let members: Vec<_> = [a, b, quiet]
        .iter()
        .map(|m| serde_json::json!({"ServerId": "127.0.0.1", "Type": "ip", "Port": m.port(), "Weight": 100}))
        .collect();
    let g = d
        .ok(
            "CreateVServerGroup",
            &[
                ("LoadBalancerId", &lb),
                ("VServerGroupName", "udp"),
                ("BackendServers", &serde_json::to_string(&members).unwrap()),
            ],
        )
        .await;
    let g = g["VServerGroupId"].as_str().unwrap().to_string();
    // The V1 SDK's spellings: healthCheckReq, healthCheckExp, healthCheckInterval.
    d.ok(
        "CreateLoadBalancerUDPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "5353"),
            ("VServerGroupId", &g),
            ("Bandwidth", "-1"),
            ("Scheduler", "rr"),
            ("HealthCheckSwitch", "on"),
            ("healthCheckReq", "ping"),
            ("healthCheckExp", "pong"),
            ("healthCheckInterval", "1"),
            ("HealthCheckConnectTimeout", "1"),
            ("HealthyThreshold", "2"),
            ("UnhealthyThreshold", "2"),
        ],
    )
    .await;
    // EstablishedTimeout is a TCP parameter: refused on a UDP listener.
    let (_, code) = d
        .err(
            "CreateLoadBalancerUDPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "5353"),
                ("VServerGroupId", &g),
                ("EstablishedTimeout", "100"),
            ],
        )
        .await;
    assert_eq!(code, "InvalidParameter");
    d.ok(
        "StartLoadBalancerListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "5353"),
            ("ListenerProtocol", "udp"),
        ],
    )
    .await;
    let attr = d
        .ok(
            "DescribeLoadBalancerUDPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "5353")],
        )
        .await;
    assert_eq!(attr["HealthCheckReq"], "ping");
    assert_eq!(attr["HealthCheckExp"], "pong");
    assert_eq!(attr["Status"], "running");
    let list = d
        .ok("DescribeLoadBalancerListeners", &[("LoadBalancerId", &lb)])
        .await;
    let entry = &list["Listeners"][0];
    assert_eq!(entry["ListenerProtocol"], "udp");
    assert_eq!(entry["UDPListenerConfig"]["HealthCheckExp"], "pong");

    // The silent backend fails its health check ...
    let listener = SocketAddr::new(ip, 5353);
    let abnormal = eventually(Duration::from_secs(10), || async {
        let v = d
            .ok("DescribeHealthStatus", &[("LoadBalancerId", lb.as_str())])
            .await;
        v["BackendServers"]["BackendServer"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| {
                s["Port"].as_u64() == Some(quiet.port().into())
                    && s["ServerHealthStatus"] == "abnormal"
            })
    })
    .await;
    assert!(abnormal.is_some(), "the silent backend is marked abnormal");
    // ... so every client session lands on a or b, and keeps its backend.
    let mut seen = std::collections::BTreeMap::new();
    let mut open = Vec::new();
    for _ in 0..8 {
        let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let first = ask(&c, listener).await.expect("a reply");
        assert_eq!(ask(&c, listener).await.as_deref(), Some(first.as_str()));
        *seen.entry(first).or_insert(0) += 1;
        // Kept open, so no later client reuses its port (and its session).
        open.push(c);
    }
    assert_eq!(seen.keys().cloned().collect::<Vec<_>>(), ["a", "b"]);
    let m = d.metrics().await;
    assert!(
        m.contains("slb_udp_datagrams_in_total{") && m.contains("slb_udp_sessions_active{"),
        "{m}"
    );
    // Stopped: nothing answers any more.
    d.ok(
        "StopLoadBalancerListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "5353"),
            ("ListenerProtocol", "udp"),
        ],
    )
    .await;
    let c = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    assert_eq!(ask(&c, listener).await, None);
}
