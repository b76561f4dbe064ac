//! Master/slave server groups through the API: created, described, attached to a TCP
//! listener; all traffic to the master while it is healthy, to the slave when its health
//! check fails, back to the master when it recovers; a group in use cannot be deleted.

use std::net::SocketAddr;
use std::time::Duration;

use crate::kit::*;

/// `ServerHealthStatus` of the backend on `port`.
async fn health(d: &Daemon, lb: &str, port: u16) -> String {
    let v = d
        .ok("DescribeHealthStatus", &[("LoadBalancerId", lb)])
        .await;
    v["BackendServers"]["BackendServer"]
        .as_array()
        .unwrap()
        .iter()
        .find(|b| b["Port"].as_u64() == Some(port.into()))
        .map(|b| b["ServerHealthStatus"].as_str().unwrap().to_string())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn master_takes_everything_until_it_fails_then_the_slave_until_it_returns() {
    let d = Daemon::start("127.61.86.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let (mut master, slave) = (
        Backend::start("master").await,
        Backend::start("slave").await,
    );
    let servers = serde_json::json!([
        {"ServerId": "127.0.0.1", "Type": "ip", "Port": slave.addr.port(), "Weight": 100, "ServerType": "Slave"},
        {"ServerId": "127.0.0.1", "Type": "ip", "Port": master.addr.port(), "Weight": 100, "ServerType": "Master"},
    ]);
    let created = d
        .ok(
            "CreateMasterSlaveServerGroup",
            &[
                ("LoadBalancerId", &lb),
                ("MasterSlaveServerGroupName", "pair"),
                ("MasterSlaveBackendServers", &servers.to_string()),
            ],
        )
        .await;
    let group = created["MasterSlaveServerGroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let members = &created["MasterSlaveBackendServers"]["MasterSlaveBackendServer"];
    assert_eq!(members[0]["ServerType"], "Master");
    assert_eq!(members[0]["Port"], master.addr.port());
    let one_server = serde_json::json!([servers[0]]).to_string();
    let (_, code) = d
        .err(
            "CreateMasterSlaveServerGroup",
            &[
                ("LoadBalancerId", &lb),
                ("MasterSlaveBackendServers", &one_server),
            ],
        )
        .await;
    assert_eq!(code, "InvalidParameter");

    d.ok(
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "7100"),
            ("MasterSlaveServerGroupId", &group),
            ("Bandwidth", "-1"),
            ("HealthCheckSwitch", "on"),
            ("HealthCheckInterval", "1"),
            ("UnhealthyThreshold", "2"),
            ("HealthyThreshold", "2"),
            ("HealthCheckConnectTimeout", "1"),
        ],
    )
    .await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "7100")],
    )
    .await;
    let attr = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "7100")],
        )
        .await;
    assert_eq!(attr["MasterSlaveServerGroupId"], group.as_str());
    let listed = d
        .ok(
            "DescribeMasterSlaveServerGroups",
            &[("LoadBalancerId", &lb), ("IncludeListener", "true")],
        )
        .await;
    let g = &listed["MasterSlaveServerGroups"]["MasterSlaveServerGroup"][0];
    assert_eq!(g["MasterSlaveServerGroupName"], "pair");
    assert_eq!(
        g["AssociatedObjects"]["Listeners"]["Listener"][0]["Port"],
        7100
    );
    let attr = d
        .ok(
            "DescribeMasterSlaveServerGroupAttribute",
            &[("MasterSlaveServerGroupId", &group)],
        )
        .await;
    assert_eq!(
        attr["MasterSlaveBackendServers"]["MasterSlaveBackendServer"][1]["ServerType"],
        "Slave"
    );

    let addr = SocketAddr::new(ip, 7100);
    assert_eq!(tally(addr, 10).await.get("master"), Some(&10));
    // Down: refused connects already move to the slave; once the health check marks the
    // master abnormal, every connection goes to the slave without trying the master.
    master.kill();
    let port = master.addr.port();
    let marked = eventually(Duration::from_secs(8), || async {
        health(&d, &lb, port).await == "abnormal"
    })
    .await;
    assert!(marked.is_some(), "the master is marked abnormal");
    assert_eq!(tally(addr, 10).await.get("slave"), Some(&10));
    // Back: traffic returns once the master is healthy again.
    master.revive().await;
    let healthy = eventually(Duration::from_secs(8), || async {
        health(&d, &lb, port).await == "normal"
    })
    .await;
    assert!(healthy.is_some(), "the master recovers");
    assert_eq!(tally(addr, 10).await.get("master"), Some(&10));

    let (_, code) = d
        .err(
            "DeleteMasterSlaveServerGroup",
            &[("MasterSlaveServerGroupId", &group)],
        )
        .await;
    assert_eq!(code, "RspoolVipExist");
    d.ok(
        "DeleteLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "7100")],
    )
    .await;
    d.ok(
        "DeleteMasterSlaveServerGroup",
        &[("MasterSlaveServerGroupId", &group)],
    )
    .await;
    let (status, code) = d
        .err(
            "DescribeMasterSlaveServerGroupAttribute",
            &[("MasterSlaveServerGroupId", &group)],
        )
        .await;
    assert_eq!(
        (status, code.as_str()),
        (404, "InvalidParameter.MasterSlaveServerGroupId")
    );
}
