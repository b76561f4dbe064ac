//! Refused requests get Alibaba's error, in Alibaba's format, and change nothing.

use crate::kit::*;
use slb_api::client::Client;

/// Asserts the error shape and that the store revision did not move.
async fn refused(d: &Daemon, before: u64, got: (u16, String), status: u16, code: &str) {
    assert_eq!(got, (status, code.to_string()));
    assert_eq!(d.revision().await, before, "{code} changed nothing");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn authentication_failures() {
    let d = Daemon::start("127.61.40.0/24").await;
    let create = [("LoadBalancerName", "x")];
    let before = d.revision().await;

    let wrong_secret = Client::new(&format!("http://{}", d.api), KEY_ID, "not-the-secret");
    let e = wrong_secret
        .call("CreateLoadBalancer", &create)
        .await
        .unwrap_err();
    assert!(
        e.body["RequestId"].is_string()
            && e.body["HostId"].is_string()
            && e.body["Message"].is_string(),
        "{}",
        e.body
    );
    refused(&d, before, (e.status, e.code), 400, "SignatureDoesNotMatch").await;

    let unknown = Client::new(&format!("http://{}", d.api), "LTAInobody", KEY_SECRET);
    let e = unknown
        .call("CreateLoadBalancer", &create)
        .await
        .unwrap_err();
    refused(
        &d,
        before,
        (e.status, e.code),
        404,
        "InvalidAccessKeyId.NotFound",
    )
    .await;

    let stale = d.client.signed_params("CreateLoadBalancer", &create, |p| {
        p.insert("Timestamp".into(), "2020-01-01T00:00:00Z".into());
    });
    let e = d.client.send(&stale).await.unwrap_err();
    refused(
        &d,
        before,
        (e.status, e.code),
        400,
        "InvalidTimeStamp.Expired",
    )
    .await;

    let once = d.client.signed_params("DescribeRegions", &[], |p| {
        p.insert("SignatureNonce".into(), "nonce-used-twice".into());
    });
    d.client.send(&once).await.expect("first use of the nonce");
    let again = d.client.signed_params("CreateLoadBalancer", &create, |p| {
        p.insert("SignatureNonce".into(), "nonce-used-twice".into());
    });
    let e = d.client.send(&again).await.unwrap_err();
    refused(&d, before, (e.status, e.code), 400, "SignatureNonceUsed").await;

    // Tampering with a signed parameter breaks the signature.
    let mut tampered = d
        .client
        .signed_params("CreateLoadBalancer", &create, |_| {});
    tampered.insert("LoadBalancerName".into(), "y".into());
    let e = d.client.send(&tampered).await.unwrap_err();
    refused(&d, before, (e.status, e.code), 400, "SignatureDoesNotMatch").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn parameter_and_id_errors() {
    let d = Daemon::start("127.61.41.0/24").await;
    let (lb, _) = d.create_lb().await;
    let before = d.revision().await;

    let e = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[("LoadBalancerId", &lb), ("BackendServerPort", "80")],
        )
        .await;
    refused(&d, before, e, 400, "MissingParameter").await;
    let e = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "80"),
                ("BackendServerPort", "80"),
                ("HealthCheckInterval", "51"),
            ],
        )
        .await;
    refused(&d, before, e, 400, "InvalidParameter").await;
    let e = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "70000"),
                ("BackendServerPort", "80"),
            ],
        )
        .await;
    refused(&d, before, e, 400, "InvalidParameter").await;
    let e = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "80"),
                ("BackendServerPort", "80"),
                ("Scheduler", "random"),
            ],
        )
        .await;
    refused(&d, before, e, 400, "InvalidParameter").await;
    let e = d
        .err(
            "AddBackendServers",
            &[
                ("LoadBalancerId", &lb),
                (
                    "BackendServers",
                    r#"[{"ServerId":"127.0.0.1","Weight":101}]"#,
                ),
            ],
        )
        .await;
    refused(&d, before, e, 400, "InvalidParameter").await;
    let e = d
        .err(
            "AddBackendServers",
            &[("LoadBalancerId", &lb), ("BackendServers", "[{")],
        )
        .await;
    refused(&d, before, e, 400, "InvalidParameter").await;

    let e = d
        .err(
            "DescribeLoadBalancerAttribute",
            &[("LoadBalancerId", "lb-doesnotexist")],
        )
        .await;
    refused(&d, before, e, 404, "InvalidLoadBalancerId.NotFound").await;
    let e = d
        .err(
            "DeleteLoadBalancer",
            &[("LoadBalancerId", "lb-doesnotexist")],
        )
        .await;
    refused(&d, before, e, 404, "InvalidLoadBalancerId.NotFound").await;
    let e = d
        .err(
            "AddBackendServers",
            &[
                ("LoadBalancerId", "lb-nope"),
                ("BackendServers", r#"[{"ServerId":"127.0.0.1"}]"#),
            ],
        )
        .await;
    refused(&d, before, e, 404, "InvalidLoadBalancerId.NotFound").await;
    let (status, code) = d
        .err(
            "DescribeVServerGroupAttribute",
            &[("VServerGroupId", "rsp-nope")],
        )
        .await;
    assert_eq!(status, 404, "{code}");
    let (status, _) = d
        .err(
            "StartLoadBalancerListener",
            &[("LoadBalancerId", &lb), ("ListenerPort", "81")],
        )
        .await;
    assert_eq!(status, 404);
    let e = d
        .err("DescribeLoadBalancers", &[("RegionId", "cn-elsewhere")])
        .await;
    refused(&d, before, e, 404, "InvalidRegionId.NotFound").await;
    let (status, _) = d.err("NoSuchAction", &[]).await;
    assert_eq!(status, 404);
    assert_eq!(d.revision().await, before);
}
