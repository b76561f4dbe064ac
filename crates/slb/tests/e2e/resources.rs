//! Resource lifecycle through the API: instances, default server group, VServer groups and
//! listeners, with Alibaba's response shapes.

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instances_and_regions() {
    let d = Daemon::start("127.61.50.0/29").await;
    let r = d.ok("DescribeRegions", &[]).await;
    assert_eq!(r["Regions"]["Region"][0]["RegionId"], "local");
    let z = d.ok("DescribeZones", &[]).await;
    assert_eq!(z["Zones"]["Zone"][0]["ZoneId"], "local-a");
    assert_eq!(
        z["Zones"]["Zone"][0]["SlaveZones"]["SlaveZone"][0]["ZoneId"],
        "local-b"
    );

    let explicit = d
        .ok(
            "CreateLoadBalancer",
            &[("Address", "127.61.50.5"), ("LoadBalancerName", "web")],
        )
        .await;
    assert_eq!(explicit["Address"], "127.61.50.5");
    let (status, code) = d
        .err("CreateLoadBalancer", &[("Address", "127.61.50.5")])
        .await;
    assert_eq!((status, code.as_str()), (400, "InvalidAddress.AlreadyUsed"));
    let id = explicit["LoadBalancerId"].as_str().unwrap().to_string();
    assert!(id.starts_with("lb-"));
    // A /29 has 6 hosts; one is taken explicitly, so five more can be allocated, then none.
    for _ in 0..5 {
        d.create_lb().await;
    }
    let (status, _) = d.err("CreateLoadBalancer", &[]).await;
    assert_eq!(status, 400, "pool exhausted");

    let all = d.ok("DescribeLoadBalancers", &[]).await;
    assert_eq!(all["TotalCount"], 6);
    let page = d
        .ok(
            "DescribeLoadBalancers",
            &[("PageSize", "4"), ("PageNumber", "2")],
        )
        .await;
    assert_eq!(
        page["LoadBalancers"]["LoadBalancer"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    let named = d
        .ok("DescribeLoadBalancers", &[("LoadBalancerName", "web")])
        .await;
    assert_eq!(named["TotalCount"], 1);
    assert_eq!(
        named["LoadBalancers"]["LoadBalancer"][0]["LoadBalancerId"],
        id.as_str()
    );

    d.ok(
        "SetLoadBalancerName",
        &[("LoadBalancerId", &id), ("LoadBalancerName", "shop")],
    )
    .await;
    d.ok(
        "SetLoadBalancerDeleteProtection",
        &[("LoadBalancerId", &id), ("DeleteProtection", "on")],
    )
    .await;
    let attr = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &id)])
        .await;
    assert_eq!(attr["LoadBalancerName"], "shop");
    assert_eq!(attr["DeleteProtection"], "on");
    assert_eq!(attr["MasterZoneId"], "local-a");
    let (status, _) = d
        .err("DeleteLoadBalancer", &[("LoadBalancerId", &id)])
        .await;
    assert_eq!(status, 400, "delete protection refuses");
    d.ok(
        "SetLoadBalancerDeleteProtection",
        &[("LoadBalancerId", &id), ("DeleteProtection", "off")],
    )
    .await;
    d.ok("DeleteLoadBalancer", &[("LoadBalancerId", &id)]).await;
    let all = d.ok("DescribeLoadBalancers", &[]).await;
    assert_eq!(all["TotalCount"], 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn server_groups_and_listeners() {
    let d = Daemon::start("127.61.51.0/24").await;
    let (lb, _) = d.create_lb().await;
    let added = d
        .ok(
            "AddBackendServers",
            &[("LoadBalancerId", &lb), ("BackendServers", r#"[{"ServerId":"127.0.0.1","Weight":"40","Type":"ip"},{"ServerId":"127.0.0.2"}]"#)],
        )
        .await;
    assert_eq!(
        added["BackendServers"]["BackendServer"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    d.ok(
        "SetBackendServers",
        &[
            ("LoadBalancerId", &lb),
            (
                "BackendServers",
                r#"[{"ServerId":"127.0.0.2","Weight":"5"}]"#,
            ),
        ],
    )
    .await;
    let attr = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &lb)])
        .await;
    assert_eq!(attr["BackendServers"]["BackendServer"][1]["Weight"], 5);
    let (status, _) = d
        .err(
            "SetBackendServers",
            &[
                ("LoadBalancerId", &lb),
                ("BackendServers", r#"[{"ServerId":"127.0.0.3"}]"#),
            ],
        )
        .await;
    assert_eq!(status, 400, "setting a non-member is refused");
    d.ok(
        "RemoveBackendServers",
        &[
            ("LoadBalancerId", &lb),
            ("BackendServers", r#"[{"ServerId":"127.0.0.1"}]"#),
        ],
    )
    .await;

    let g = d
        .ok(
            "CreateVServerGroup",
            &[
                ("LoadBalancerId", &lb),
                ("VServerGroupName", "api"),
                (
                    "BackendServers",
                    r#"[{"ServerId":"127.0.0.1","Port":8080,"Weight":10}]"#,
                ),
            ],
        )
        .await;
    let gid = g["VServerGroupId"].as_str().unwrap().to_string();
    d.ok(
        "AddVServerGroupBackendServers",
        &[
            ("VServerGroupId", &gid),
            (
                "BackendServers",
                r#"[{"ServerId":"127.0.0.1","Port":8081}]"#,
            ),
        ],
    )
    .await;
    let m = d
        .ok(
            "ModifyVServerGroupBackendServers",
            &[
                ("VServerGroupId", &gid),
                (
                    "OldBackendServers",
                    r#"[{"ServerId":"127.0.0.1","Port":8081}]"#,
                ),
                (
                    "NewBackendServers",
                    r#"[{"ServerId":"127.0.0.1","Port":8082,"Weight":20}]"#,
                ),
            ],
        )
        .await;
    let ports: Vec<u64> = m["BackendServers"]["BackendServer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| b["Port"].as_u64().unwrap())
        .collect();
    assert_eq!(ports, [8080, 8082]);
    d.ok(
        "SetVServerGroupAttribute",
        &[("VServerGroupId", &gid), ("VServerGroupName", "api2")],
    )
    .await;
    let ga = d
        .ok("DescribeVServerGroupAttribute", &[("VServerGroupId", &gid)])
        .await;
    assert_eq!(ga["VServerGroupName"], "api2");

    d.ok(
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "9000"),
            ("VServerGroupId", &gid),
            ("Scheduler", "sch"),
            ("PersistenceTimeout", "30"),
        ],
    )
    .await;
    let (status, code) = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "9000"),
                ("BackendServerPort", "80"),
            ],
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "ListenerAlreadyExists"));
    let l = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "9000")],
        )
        .await;
    assert_eq!(l["Status"], "stopped");
    assert_eq!(l["Scheduler"], "sch");
    assert_eq!(l["VServerGroupId"], gid.as_str());
    assert_eq!(l["HealthCheckInterval"], 2);
    assert_eq!(l["EstablishedTimeout"], 900);
    d.ok(
        "SetLoadBalancerTCPListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "9000"),
            ("EstablishedTimeout", "60"),
            ("HealthCheckType", "http"),
            ("HealthCheckURI", "/health"),
        ],
    )
    .await;
    let l = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "9000")],
        )
        .await;
    assert_eq!(l["EstablishedTimeout"], 60);
    assert_eq!(l["HealthCheckURI"], "/health");
    let groups = d
        .ok("DescribeVServerGroups", &[("LoadBalancerId", &lb)])
        .await;
    assert_eq!(
        groups["VServerGroups"]["VServerGroup"][0]["AssociatedObjects"]["Listeners"]["Listener"][0]
            ["Port"],
        9000
    );
    let (status, code) = d
        .err("DeleteVServerGroup", &[("VServerGroupId", &gid)])
        .await;
    assert_eq!((status, code.as_str()), (400, "RspoolVipExist"));
    d.ok(
        "DeleteLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "9000")],
    )
    .await;
    d.ok("DeleteVServerGroup", &[("VServerGroupId", &gid)])
        .await;
    let listing = d
        .ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &lb)],
        )
        .await;
    assert_eq!(listing["TotalCount"], 0);
}

/// (InternetChargeType, Bandwidth, PayType, ModificationProtectionStatus, …Reason) of `lb`.
async fn billing(d: &Daemon, lb: &str) -> (String, i64, String, String, String) {
    let v = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", lb)])
        .await;
    let text = |k: &str| v[k].as_str().unwrap().to_string();
    (
        text("InternetChargeType"),
        v["Bandwidth"].as_i64().unwrap(),
        text("PayType"),
        text("ModificationProtectionStatus"),
        text("ModificationProtectionReason"),
    )
}

/// The internet spec, pay type and modification protection of an instance: changed,
/// described, refused with Alibaba's errors, and kept across `kill -9`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_billing_and_protection_settings() {
    let d = Daemon::start("127.61.94.0/29").await;
    let lb = d
        .ok(
            "CreateLoadBalancer",
            &[
                ("InternetChargeType", "paybybandwidth"),
                ("Bandwidth", "100"),
                ("ModificationProtectionStatus", "ConsoleProtection"),
                ("ModificationProtectionReason", "managed-by-terraform"),
            ],
        )
        .await["LoadBalancerId"]
        .as_str()
        .unwrap()
        .to_string();
    let b = |c: &str, bw: i64, pay: &str, st: &str, r: &str| {
        (
            c.to_string(),
            bw,
            pay.to_string(),
            st.to_string(),
            r.to_string(),
        )
    };
    assert_eq!(
        billing(&d, &lb).await,
        b(
            "paybybandwidth",
            100,
            "PayOnDemand",
            "ConsoleProtection",
            "managed-by-terraform"
        )
    );

    // A listener limited to 60 Mbps: the instance cannot go below that.
    d.ok(
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "80"),
            ("BackendServerPort", "80"),
            ("Bandwidth", "60"),
        ],
    )
    .await;
    let revision = d.revision().await;
    for (action, params, (status, code)) in [
        (
            "ModifyLoadBalancerInternetSpec",
            vec![("LoadBalancerId", lb.as_str()), ("Bandwidth", "50")],
            (400, "InvalidParameter"),
        ),
        (
            "ModifyLoadBalancerInternetSpec",
            vec![("LoadBalancerId", lb.as_str()), ("Bandwidth", "6000")],
            (400, "InvalidParameter"),
        ),
        (
            "ModifyLoadBalancerInternetSpec",
            vec![("LoadBalancerId", "lb-missing"), ("Bandwidth", "10")],
            (404, "InvalidLoadBalancerId.NotFound"),
        ),
        (
            "ModifyLoadBalancerPayType",
            vec![("LoadBalancerId", lb.as_str()), ("PayType", "Monthly")],
            (400, "InvalidParameter"),
        ),
        (
            "SetLoadBalancerModificationProtection",
            vec![("LoadBalancerId", lb.as_str())],
            (400, "MissingParameter"),
        ),
    ] {
        let (s, c) = d.err(action, &params).await;
        assert_eq!((s, c.as_str()), (status, code), "{action} {params:?}");
    }
    assert_eq!(d.revision().await, revision, "refusals wrote nothing");

    d.ok(
        "ModifyLoadBalancerInternetSpec",
        &[("LoadBalancerId", &lb), ("Bandwidth", "60")],
    )
    .await;
    d.ok(
        "ModifyLoadBalancerPayType",
        &[("LoadBalancerId", &lb), ("PayType", "PrePay")],
    )
    .await;
    d.ok(
        "SetLoadBalancerModificationProtection",
        &[
            ("LoadBalancerId", &lb),
            ("ModificationProtectionStatus", "NonProtection"),
        ],
    )
    .await;
    assert_eq!(
        billing(&d, &lb).await,
        b("paybybandwidth", 60, "PrePay", "NonProtection", "")
    );
    d.ok(
        "ModifyLoadBalancerInternetSpec",
        &[
            ("LoadBalancerId", &lb),
            ("InternetChargeType", "paybytraffic"),
        ],
    )
    .await;
    // A create retried with its ClientToken answers with the instance it made.
    let create = [("ClientToken", "retry-1"), ("LoadBalancerName", "once")];
    let first = d.ok("CreateLoadBalancer", &create).await;
    let again = d.ok("CreateLoadBalancer", &create).await;
    assert_eq!(again, first);
    let d = d.kill9_and_restart().await;
    assert_eq!(
        billing(&d, &lb).await,
        b("paybytraffic", -1, "PrePay", "NonProtection", "")
    );
    assert_eq!(d.ok("CreateLoadBalancer", &create).await, first);
    let all = d.ok("DescribeLoadBalancers", &[]).await;
    assert_eq!(all["TotalCount"], 2, "{all}");
}

/// Billing by capacity units, resource groups and the resources zones offer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn charge_type_resource_groups_and_available_resources() {
    let d = Daemon::start("127.61.97.0/29").await;
    let lb = d
        .ok(
            "CreateLoadBalancer",
            &[("LoadBalancerSpec", "slb.s2.small")],
        )
        .await["LoadBalancerId"]
        .as_str()
        .unwrap()
        .to_string();
    let attr = |v: serde_json::Value| {
        (
            v["InstanceChargeType"].as_str().unwrap().to_string(),
            v["LoadBalancerSpec"].as_str().unwrap().to_string(),
            v["ResourceGroupId"].as_str().unwrap().to_string(),
        )
    };
    let id = [("LoadBalancerId", lb.as_str())];
    let describe = || d.ok("DescribeLoadBalancerAttribute", &id);
    assert_eq!(
        attr(describe().await),
        ("PayBySpec".into(), "slb.s2.small".into(), String::new())
    );

    d.ok(
        "ModifyLoadBalancerInstanceChargeType",
        &[("LoadBalancerId", &lb), ("InstanceChargeType", "PayByCLCU")],
    )
    .await;
    assert_eq!(
        attr(describe().await),
        ("PayByCLCU".into(), String::new(), String::new())
    );
    let (_, code) = d
        .err(
            "ModifyLoadBalancerInstanceSpec",
            &[
                ("LoadBalancerId", &lb),
                ("LoadBalancerSpec", "slb.s1.small"),
            ],
        )
        .await;
    assert_eq!(code, "OperationFailed.InstanceChargeType");
    let (_, code) = d
        .err(
            "ModifyLoadBalancerInstanceChargeType",
            &[("LoadBalancerId", &lb), ("InstanceChargeType", "PayBySpec")],
        )
        .await;
    assert_eq!(code, "MissingParameter");
    d.ok(
        "ModifyLoadBalancerInstanceChargeType",
        &[
            ("LoadBalancerId", &lb),
            ("InstanceChargeType", "PayBySpec"),
            ("LoadBalancerSpec", "slb.s1.small"),
        ],
    )
    .await;

    d.ok(
        "MoveResourceGroup",
        &[
            ("ResourceType", "loadbalancer"),
            ("ResourceId", &lb),
            ("NewResourceGroupId", "rg-platform"),
        ],
    )
    .await;
    assert_eq!(
        attr(describe().await),
        (
            "PayBySpec".into(),
            "slb.s1.small".into(),
            "rg-platform".into()
        )
    );
    let found = d
        .ok(
            "DescribeLoadBalancers",
            &[("ResourceGroupId", "rg-platform")],
        )
        .await;
    assert_eq!(found["TotalCount"], 1);
    let (_, code) = d
        .err(
            "MoveResourceGroup",
            &[
                ("ResourceType", "vpc"),
                ("ResourceId", &lb),
                ("NewResourceGroupId", "rg"),
            ],
        )
        .await;
    assert_eq!(code, "InvalidParameter");

    // Zones local-a and local-b: each is the other's slave; the pool is IPv4.
    let all = d.ok("DescribeAvailableResource", &[]).await;
    let pairs: Vec<(String, String)> = all["AvailableResources"]["AvailableResource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["MasterZoneId"].as_str().unwrap().to_string(),
                r["SlaveZoneId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        vec![
            ("local-a".to_string(), "local-b".to_string()),
            ("local-b".to_string(), "local-a".to_string())
        ]
    );
    assert_eq!(
        all["AvailableResources"]["AvailableResource"][0]["SupportResources"]["SupportResource"][0]
            ["AddressIPVersion"],
        "ipv4"
    );
    let v6 = d
        .ok("DescribeAvailableResource", &[("AddressIPVersion", "ipv6")])
        .await;
    assert_eq!(
        v6["AvailableResources"]["AvailableResource"],
        serde_json::json!([])
    );
}
