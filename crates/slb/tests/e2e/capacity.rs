//! Instance capacity through the daemon: a node-wide default for instances without a
//! `LoadBalancerSpec`, Alibaba's figures once ModifyLoadBalancerInstanceSpec sets one.

use std::net::SocketAddr;

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_caps_until_a_spec_is_set() {
    let d = Daemon::start_with("127.61.88.0/24", &["--default-max-connections", "2"]).await;
    let (lb, ip) = d.create_lb().await;
    let b = Backend::start("b").await;
    d.tcp_listener(&lb, 7500, &[(&b, 100)], &[]).await;
    let l = SocketAddr::new(ip, 7500);
    let first = hello_from(l, None).await.expect("first");
    let second = hello_from(l, None).await.expect("second");
    assert!(
        hello_from(l, None).await.is_none(),
        "a third is over the default cap"
    );
    let m = d.metrics().await;
    assert!(
        m.contains(&format!(
            "slb_instance_refused_total{{load_balancer_id=\"{lb}\",reason=\"max_connections\"}} 1"
        )),
        "{m}"
    );
    let (_, code) = d
        .err(
            "ModifyLoadBalancerInstanceSpec",
            &[("LoadBalancerId", &lb), ("LoadBalancerSpec", "slb.s9.huge")],
        )
        .await;
    assert_eq!(code, "InvalidParameter");
    d.ok(
        "ModifyLoadBalancerInstanceSpec",
        &[
            ("LoadBalancerId", &lb),
            ("LoadBalancerSpec", "slb.s1.small"),
        ],
    )
    .await;
    let attr = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &lb)])
        .await;
    assert_eq!(attr["LoadBalancerSpec"], "slb.s1.small");
    assert!(
        hello_from(l, None).await.is_some(),
        "slb.s1.small allows 5,000"
    );
    drop((first, second));
}
