//! Configuration changes under traffic: nothing established is dropped, nothing rebinds,
//! stopped listeners and instances accept nothing.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::kit::*;

const PORT: u16 = 7000;

async fn echoes(stream: &mut TcpStream) -> bool {
    let io = async {
        stream.write_all(b"ping").await.ok()?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await.ok()?;
        (&buf == b"ping").then_some(())
    };
    tokio::time::timeout(Duration::from_secs(3), io)
        .await
        .ok()
        .flatten()
        .is_some()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changes_under_steady_traffic_lose_nothing() {
    let d = Daemon::start("127.61.20.0/24").await;
    let (a, b, c) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("c").await,
    );
    let (lb, ip) = d.create_lb().await;
    let group = d
        .tcp_listener(&lb, PORT, &[(&a, 100), (&b, 100)], &[])
        .await;
    let addr = SocketAddr::new(ip, PORT);
    // One long-lived connection per backend that stays in the group throughout.
    let mut held = Vec::new();
    for _ in 0..2 {
        held.push(hello_from(addr, None).await.expect("served"));
    }
    let traffic = tokio::spawn(async move {
        let mut failed = 0;
        for _ in 0..300 {
            if hello(addr).await.is_none() {
                failed += 1;
            }
        }
        failed
    });
    let member = |b: &Backend, w: u32| {
        format!(
            r#"[{{"ServerId":"127.0.0.1","Type":"ip","Port":{},"Weight":{w}}}]"#,
            b.addr.port()
        )
    };
    let port = PORT.to_string();
    let other = (PORT + 1).to_string();
    let steps: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "SetVServerGroupAttribute",
            vec![
                ("VServerGroupId", group.clone()),
                ("BackendServers", member(&a, 30)),
            ],
        ),
        (
            "AddVServerGroupBackendServers",
            vec![
                ("VServerGroupId", group.clone()),
                ("BackendServers", member(&c, 50)),
            ],
        ),
        (
            "SetLoadBalancerTCPListenerAttribute",
            vec![
                ("LoadBalancerId", lb.clone()),
                ("ListenerPort", port.clone()),
                ("Scheduler", "wlc".into()),
            ],
        ),
        (
            "CreateLoadBalancerTCPListener",
            vec![
                ("LoadBalancerId", lb.clone()),
                ("ListenerPort", other.clone()),
                ("BackendServerPort", "9".into()),
            ],
        ),
        (
            "StartLoadBalancerListener",
            vec![
                ("LoadBalancerId", lb.clone()),
                ("ListenerPort", other.clone()),
            ],
        ),
        (
            "RemoveVServerGroupBackendServers",
            vec![
                ("VServerGroupId", group.clone()),
                ("BackendServers", member(&c, 50)),
            ],
        ),
        (
            "StopLoadBalancerListener",
            vec![
                ("LoadBalancerId", lb.clone()),
                ("ListenerPort", other.clone()),
            ],
        ),
        (
            "SetLoadBalancerTCPListenerAttribute",
            vec![
                ("LoadBalancerId", lb.clone()),
                ("ListenerPort", port.clone()),
                ("Scheduler", "rr".into()),
            ],
        ),
    ];
    for (action, params) in &steps {
        let p: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
        d.ok(action, &p).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let failed = traffic.await.unwrap();
    assert_eq!(failed, 0, "connections failed during configuration changes");
    for (name, stream) in held.iter_mut() {
        assert!(
            echoes(stream).await,
            "established connection to {name} survived"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn drain_keeps_a_removed_backends_connections() {
    let d = Daemon::start("127.61.21.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    let group = d
        .tcp_listener(
            &lb,
            PORT,
            &[(&a, 100), (&b, 100)],
            &[("ConnectionDrain", "on"), ("ConnectionDrainTimeout", "30")],
        )
        .await;
    let addr = SocketAddr::new(ip, PORT);
    let (mut on_a, mut on_b) = (None, None);
    for _ in 0..4 {
        let (name, s) = hello_from(addr, None).await.expect("served");
        if name == "a" {
            on_a = Some(s);
        } else {
            on_b = Some(s);
        }
    }
    let mut on_a = on_a.expect("a connection on a");
    let members = format!(
        r#"[{{"ServerId":"127.0.0.1","Type":"ip","Port":{}}}]"#,
        a.addr.port()
    );
    d.ok(
        "RemoveVServerGroupBackendServers",
        &[("VServerGroupId", &group), ("BackendServers", &members)],
    )
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(echoes(&mut on_a).await, "drained connection still served");
    assert!(echoes(on_b.as_mut().unwrap()).await);
    let t = tally(addr, 6).await;
    assert_eq!(
        t.get("b"),
        Some(&6),
        "removed backend takes no new connections: {t:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_listener_and_inactive_instance_accept_nothing() {
    let d = Daemon::start("127.61.22.0/24").await;
    let a = Backend::start("a").await;
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(&lb, PORT, &[(&a, 100)], &[]).await;
    let addr = SocketAddr::new(ip, PORT);
    assert_eq!(hello(addr).await.as_deref(), Some("a"));
    let port = PORT.to_string();
    let key = [
        ("LoadBalancerId", lb.as_str()),
        ("ListenerPort", port.as_str()),
    ];
    d.ok("StopLoadBalancerListener", &key).await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "stopped listener refuses"
    );
    d.ok("StartLoadBalancerListener", &key).await;
    assert_eq!(hello(addr).await.as_deref(), Some("a"));
    d.ok(
        "SetLoadBalancerStatus",
        &[("LoadBalancerId", &lb), ("LoadBalancerStatus", "inactive")],
    )
    .await;
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "inactive instance refuses"
    );
    d.ok(
        "SetLoadBalancerStatus",
        &[("LoadBalancerId", &lb), ("LoadBalancerStatus", "active")],
    )
    .await;
    assert_eq!(hello(addr).await.as_deref(), Some("a"));
    let listing = d
        .ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &lb)],
        )
        .await;
    assert_eq!(listing["Listeners"][0]["Status"], "running");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_listener_that_cannot_bind_leaves_the_others_serving() {
    let d = Daemon::start("127.61.23.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (good, ip) = d.create_lb().await;
    d.tcp_listener(&good, PORT, &[(&a, 100)], &[]).await;
    // 192.0.2.0/24 is TEST-NET-1: never a local address, so binding it fails.
    let bad = d
        .ok("CreateLoadBalancer", &[("Address", "192.0.2.10")])
        .await["LoadBalancerId"]
        .as_str()
        .unwrap()
        .to_string();
    d.tcp_listener(&bad, PORT, &[(&b, 100)], &[]).await;
    let addr = SocketAddr::new(ip, PORT);
    assert_eq!(hello(addr).await.as_deref(), Some("a"));
    // Later changes to the good listener still apply.
    let port = PORT.to_string();
    d.ok(
        "StopLoadBalancerListener",
        &[("LoadBalancerId", &good), ("ListenerPort", &port)],
    )
    .await;
    assert!(TcpStream::connect(addr).await.is_err());
}
