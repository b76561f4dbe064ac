//! HTTP listeners and forwarding rules through the real actions and a real store (no HTTP
//! transport or signatures: `tests/server.rs` covers those).

mod common;

use common::{env, s};

#[tokio::test]
async fn http_listener_and_rules_lifecycle() {
    let e = env();
    let lb = s(&e.ok("CreateLoadBalancer", &[]).await["LoadBalancerId"]);
    let g1 = s(&e
        .ok(
            "CreateVServerGroup",
            &[("LoadBalancerId", &lb), ("VServerGroupName", "a")],
        )
        .await["VServerGroupId"]);
    let g2 = s(&e
        .ok(
            "CreateVServerGroup",
            &[("LoadBalancerId", &lb), ("VServerGroupName", "b")],
        )
        .await["VServerGroupId"]);

    // HealthCheck is mandatory on create, as on Alibaba.
    let base = [("LoadBalancerId", lb.as_str()), ("ListenerPort", "80")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = base.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        e.code(
            "CreateLoadBalancerHTTPListener",
            &with(&[("BackendServerPort", "8080")])
        )
        .await,
        "MissingParameter"
    );
    assert_eq!(
        e.code(
            "CreateLoadBalancerHTTPListener",
            &with(&[
                ("HealthCheck", "on"),
                ("BackendServerPort", "8080"),
                ("IdleTimeout", "61")
            ])
        )
        .await,
        "InvalidParameter"
    );
    e.ok(
        "CreateLoadBalancerHTTPListener",
        &with(&[
            ("HealthCheck", "on"),
            ("BackendServerPort", "8080"),
            ("StickySession", "on"),
            ("StickySessionType", "insert"),
            ("CookieTimeout", "300"),
            ("XForwardedFor_proto", "on"),
        ]),
    )
    .await;
    // The port is taken for TCP too.
    assert_eq!(
        e.code(
            "CreateLoadBalancerTCPListener",
            &with(&[("BackendServerPort", "8080")])
        )
        .await,
        "ListenerAlreadyExists"
    );
    e.ok(
        "SetLoadBalancerHTTPListenerAttribute",
        &with(&[("RequestTimeout", "30"), ("Gzip", "off")]),
    )
    .await;
    let d = e
        .ok("DescribeLoadBalancerHTTPListenerAttribute", &base)
        .await;
    assert_eq!(d["RequestTimeout"], 30);
    assert_eq!(d["IdleTimeout"], 15);
    assert_eq!(d["Gzip"], "off");
    assert_eq!(d["StickySessionType"], "insert");
    assert_eq!(d["CookieTimeout"], 300);
    assert_eq!(d["XForwardedFor"], "on");
    assert_eq!(d["XForwardedFor_proto"], "on");
    assert_eq!(d["HealthCheckURI"], "/");
    assert_eq!(d["Status"], "stopped");

    let list = e
        .ok("DescribeLoadBalancerListeners", &[("LoadBalancerId", &lb)])
        .await;
    let entry = &list["Listeners"][0];
    assert_eq!(entry["ListenerProtocol"], "http");
    assert_eq!(entry["HTTPListenerConfig"]["RequestTimeout"], 30);
    assert!(entry.get("TCPListenerConfig").is_none());

    // Rules.
    let rule_list = format!(
        r#"[{{"RuleName":"img","Url":"/img","VServerGroupId":"{g1}"}},
            {{"RuleName":"www","Domain":"www.example.com","VServerGroupId":"{g2}"}}]"#
    );
    let created = e
        .ok(
            "CreateRules",
            &with(&[])
                .into_iter()
                .chain([("RuleList", rule_list.as_str())])
                .collect::<Vec<_>>(),
        )
        .await;
    let rules = created["Rules"]["Rule"].as_array().unwrap().clone();
    assert_eq!(rules.len(), 2);
    assert_eq!(rules[0]["RuleName"], "img");
    let img = s(&rules[0]["RuleId"]);
    // Same Domain+Url again is refused, and the batch adds nothing.
    let again = format!(
        r#"[{{"RuleName":"new","Url":"/new","VServerGroupId":"{g1}"}},
            {{"RuleName":"img2","Url":"/img","VServerGroupId":"{g1}"}}]"#
    );
    assert_eq!(
        e.code(
            "CreateRules",
            &with(&[])
                .into_iter()
                .chain([("RuleList", again.as_str())])
                .collect::<Vec<_>>()
        )
        .await,
        "DomainUrlExist"
    );
    let described = e.ok("DescribeRules", &base).await;
    let names: Vec<String> = described["Rules"]["Rule"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| s(&r["RuleName"]))
        .collect();
    assert_eq!(names, ["www", "img"], "domain rules come first");
    // Each group lists the rules that forward to it.
    let groups = e
        .ok("DescribeVServerGroups", &[("LoadBalancerId", &lb)])
        .await;
    let rules_of = |id: &str| -> Vec<String> {
        groups["VServerGroups"]["VServerGroup"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["VServerGroupId"] == id)
            .unwrap()["AssociatedObjects"]["Rules"]["Rule"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| s(&r["RuleName"]))
            .collect()
    };
    assert_eq!(rules_of(&g1), ["img"]);
    assert_eq!(rules_of(&g2), ["www"]);

    e.ok(
        "SetRule",
        &[
            ("RuleId", &img),
            ("VServerGroupId", &g2),
            ("RuleName", "images"),
        ],
    )
    .await;
    let attr = e.ok("DescribeRuleAttribute", &[("RuleId", &img)]).await;
    assert_eq!(attr["RuleName"], "images");
    assert_eq!(attr["VServerGroupId"], g2.as_str());
    assert_eq!(attr["Url"], "/img");
    assert_eq!(attr["ListenerPort"], "80");
    assert_eq!(attr["ListenerSync"], "on");
    // ListenerSync off gives the rule its own settings (starting from the listener's);
    // setting them needs ListenerSync off; on drops them.
    assert_eq!(
        e.code("SetRule", &[("RuleId", &img), ("Scheduler", "rr")])
            .await,
        "InvalidParameter"
    );
    assert_eq!(
        e.code(
            "SetRule",
            &[
                ("RuleId", &img),
                ("ListenerSync", "off"),
                ("Scheduler", "sch")
            ]
        )
        .await,
        "InvalidParameter"
    );
    e.ok(
        "SetRule",
        &[
            ("RuleId", &img),
            ("ListenerSync", "off"),
            ("Scheduler", "rr"),
            ("StickySession", "on"),
            ("StickySessionType", "server"),
            ("Cookie", "sid"),
            ("HealthCheckURI", "/img/health"),
        ],
    )
    .await;
    let attr = e.ok("DescribeRuleAttribute", &[("RuleId", &img)]).await;
    assert_eq!(attr["ListenerSync"], "off");
    assert_eq!(attr["Scheduler"], "rr");
    assert_eq!(attr["StickySession"], "on");
    assert_eq!(attr["StickySessionType"], "server");
    assert_eq!(attr["Cookie"], "sid");
    assert_eq!(attr["HealthCheckURI"], "/img/health");
    e.ok("SetRule", &[("RuleId", &img), ("HealthyThreshold", "5")])
        .await;
    let attr = e.ok("DescribeRuleAttribute", &[("RuleId", &img)]).await;
    assert_eq!(
        (attr["Scheduler"].clone(), attr["HealthyThreshold"].clone()),
        ("rr".into(), 5.into())
    );
    e.ok("SetRule", &[("RuleId", &img), ("ListenerSync", "on")])
        .await;
    let attr = e.ok("DescribeRuleAttribute", &[("RuleId", &img)]).await;
    assert_eq!(attr["ListenerSync"], "on");
    assert!(attr.get("Scheduler").is_none(), "{attr}");
    let own_list = format!(
        r#"[{{"RuleName":"own","Url":"/own","VServerGroupId":"{g1}","ListenerSync":"off","Scheduler":"wlc","CookieTimeout":30,"StickySession":"on","StickySessionType":"insert"}}]"#
    );
    let own = e
        .ok(
            "CreateRules",
            &with(&[])
                .into_iter()
                .chain([("RuleList", own_list.as_str())])
                .collect::<Vec<_>>(),
        )
        .await;
    let own_id = s(&own["Rules"]["Rule"][0]["RuleId"]);
    let attr = e.ok("DescribeRuleAttribute", &[("RuleId", &own_id)]).await;
    assert_eq!(attr["ListenerSync"], "off");
    assert_eq!(attr["Scheduler"], "wlc");
    assert_eq!(attr["CookieTimeout"], 30);
    let ids = format!(r#"["{own_id}"]"#);
    e.ok("DeleteRules", &[("RuleIds", &ids)]).await;

    // A group used by a rule can't go; deleting the rule frees it.
    assert_eq!(
        e.code("DeleteVServerGroup", &[("VServerGroupId", &g2)])
            .await,
        "RspoolVipExist"
    );
    let ids = format!(r#"["{img}"]"#);
    e.ok("DeleteRules", &[("RuleIds", &ids)]).await;
    assert_eq!(
        e.code("DescribeRuleAttribute", &[("RuleId", &img)]).await,
        "InvalidRuleId.NotFound"
    );

    // Start/stop/delete are generic; deleting the listener deletes its rules.
    e.ok("StartLoadBalancerListener", &base).await;
    let d = e
        .ok("DescribeLoadBalancerHTTPListenerAttribute", &base)
        .await;
    assert_eq!(d["Status"], "running");
    assert_eq!(d["Rules"]["Rule"].as_array().unwrap().len(), 1);
    e.ok("DeleteLoadBalancerListener", &base).await;
    e.ok("DeleteVServerGroup", &[("VServerGroupId", &g2)]).await;
    assert_eq!(
        e.code("DescribeLoadBalancerHTTPListenerAttribute", &base)
            .await,
        "InvalidListener.NotFound"
    );
}

#[tokio::test]
async fn rules_need_an_http_listener() {
    let e = env();
    let lb = s(&e.ok("CreateLoadBalancer", &[]).await["LoadBalancerId"]);
    let g = s(&e.ok("CreateVServerGroup", &[("LoadBalancerId", &lb)]).await["VServerGroupId"]);
    e.ok(
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "81"),
            ("BackendServerPort", "81"),
        ],
    )
    .await;
    let list = format!(r#"[{{"RuleName":"a","Url":"/a","VServerGroupId":"{g}"}}]"#);
    assert_eq!(
        e.code(
            "CreateRules",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "81"),
                ("RuleList", &list)
            ]
        )
        .await,
        "OperationFailed.ListenerProtocol"
    );
    assert_eq!(
        e.code(
            "CreateRules",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "82"),
                ("RuleList", &list)
            ]
        )
        .await,
        "InvalidListener.NotFound"
    );
    assert_eq!(
        e.code("DeleteRules", &[("RuleIds", "rule-x")]).await,
        "InvalidParameter"
    );
}
