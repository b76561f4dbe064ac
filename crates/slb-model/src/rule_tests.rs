use super::SettingsChange::{Keep, Listener as ListenerSettings, Own};
use super::*;
use crate::{Listener, LoadBalancer, Protocol, VServerGroup};

fn rule(id: &str, domain: Option<&str>, url: Option<&str>) -> Rule {
    Rule {
        id: id.into(),
        load_balancer_id: "lb-1".into(),
        listener_port: 80,
        protocol: Protocol::Http,
        name: id.into(),
        domain: domain.map(str::to_string),
        url: url.map(str::to_string),
        vserver_group_id: "rsp-1".into(),
        own_settings: None,
    }
}

fn group(id: &str, lb: &str) -> VServerGroup {
    VServerGroup {
        id: id.into(),
        name: id.into(),
        load_balancer_id: lb.into(),
        backend_servers: Vec::new(),
        tags: Vec::new(),
    }
}

/// lb-1 with an HTTP listener on 80 (group rsp-1), a TCP listener on 81, group rsp-2;
/// lb-2 with group rsp-9.
fn state() -> State {
    let mut s = State::default();
    s.create_load_balancer(LoadBalancer::new("lb-1", "127.0.0.1".parse().unwrap()))
        .unwrap();
    s.create_load_balancer(LoadBalancer::new("lb-2", "127.0.0.2".parse().unwrap()))
        .unwrap();
    for (g, lb) in [("rsp-1", "lb-1"), ("rsp-2", "lb-1"), ("rsp-9", "lb-2")] {
        s.create_vserver_group(group(g, lb)).unwrap();
    }
    let mut http = Listener::new_http("lb-1", 80);
    http.vserver_group_id = Some("rsp-1".into());
    s.create_listener(http).unwrap();
    let mut tcp = Listener::new(ListenerKey {
        load_balancer_id: "lb-1".into(),
        port: 81,
        protocol: Protocol::Tcp,
    });
    tcp.backend_server_port = Some(8080);
    s.create_listener(tcp).unwrap();
    s
}

#[test]
fn shapes_are_validated() {
    for d in ["www.example.com", "*.example.com", "a-b.c1", "localhost"] {
        assert!(valid_domain(d), "{d}");
    }
    for d in [
        "",
        "*",
        "*.",
        "a..b",
        "-a.com",
        "a_b.com",
        "www.*.com",
        "a.com/x",
        "*example.com",
    ] {
        assert!(!valid_domain(d), "{d}");
    }
    let long = format!("{}.com", "a".repeat(77));
    assert!(!valid_domain(&long));
    for u in ["/a", "/img/x.png", "/a?b&c#d", "/%20"] {
        assert!(valid_url(u), "{u}");
    }
    for u in [
        "/",
        "a",
        "",
        "/a b",
        "/a=b",
        &format!("/{}", "a".repeat(80)),
    ] {
        assert!(!valid_url(u), "{u}");
    }
    assert!(check_name("web_1/a.b-c").is_ok());
    assert!(check_name("").is_err() && check_name("a b").is_err());
    assert!(check_name(&"a".repeat(41)).is_err());
    assert!(rule("r", None, None).validate().is_err());
}

#[test]
fn rule_list_parses_alibaba_json() {
    let key = rule("x", None, None).listener_key();
    let mut owner = Listener::new_http(key.load_balancer_id.clone(), key.port);
    owner.key = key.clone();
    let key = owner.clone();
    let mut n = 0;
    let ids = || {
        n += 1;
        format!("rule-{n}")
    };
    let rules = Rule::parse_list(
        r#"[{"RuleName":"a","Domain":"WWW.Example.com","VServerGroupId":"rsp-1"},
            {"RuleName":"b","Url":"/img","VServerGroupId":"rsp-1","ListenerSync":"on"}]"#,
        &key,
        ids,
    )
    .unwrap();
    assert_eq!(rules[0].id, "rule-1");
    assert_eq!(rules[0].domain.as_deref(), Some("www.example.com"));
    assert_eq!(rules[1].url.as_deref(), Some("/img"));
    for bad in [
        "{}",
        "[]",
        r#"[{"RuleName":"a","VServerGroupId":"rsp-1"}]"#,
        r#"[{"Domain":"a.com","VServerGroupId":"rsp-1"}]"#,
        r#"[{"RuleName":"a","Domain":"a.com"}]"#,
        r#"[{"RuleName":"a","Domain":5,"VServerGroupId":"rsp-1"}]"#,
    ] {
        let err = Rule::parse_list(bad, &key, || "rule-x".into()).unwrap_err();
        assert_eq!(err.code, "InvalidParameter", "{bad}");
    }
    let eleven = format!(
        "[{}]",
        [r#"{"RuleName":"a","Url":"/a","VServerGroupId":"g"}"#; 11].join(",")
    );
    assert!(Rule::parse_list(&eleven, &key, || "r".into()).is_err());
    // ListenerSync=off: the rule's own settings, starting from the listener's.
    let own = Rule::parse_list(
        r#"[{"RuleName":"a","Url":"/a","VServerGroupId":"g","ListenerSync":"off","Scheduler":"rr","HealthCheckURI":"/hc","CookieTimeout":30,"StickySession":"on","StickySessionType":"insert"}]"#,
        &key,
        || "r".into(),
    )
    .unwrap();
    let s = own[0].own_settings.as_ref().expect("own settings");
    assert_eq!(s.scheduler, "rr");
    assert_eq!(s.health_check.uri, "/hc");
    assert_eq!(
        s.sticky_session,
        crate::StickySession::Insert { cookie_timeout: 30 }
    );
    let err = Rule::parse_list(
        r#"[{"RuleName":"a","Url":"/a","VServerGroupId":"g","ListenerSync":"off","Scheduler":"tch"}]"#,
        &key,
        || "r".into(),
    )
    .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
    let err = Rule::parse_list(
        r#"[{"RuleName":"a","Url":"/a","VServerGroupId":"g","ListenerSync":"maybe"}]"#,
        &key,
        || "r".into(),
    )
    .unwrap_err();
    assert_eq!(err.code, "InvalidParameter");
}

#[test]
fn precedence_is_most_specific_first() {
    let rules = [
        rule("r1", None, Some("/a")),
        rule("r2", None, Some("/a/b")),
        rule("r3", Some("*.example.com"), None),
        rule("r4", Some("*.shop.example.com"), None),
        rule("r5", Some("www.example.com"), None),
        rule("r6", Some("www.example.com"), Some("/a")),
        rule("r7", Some("a.example.com"), None),
        rule("r8", Some("*.example.com"), Some("/a")),
        rule("r0", None, Some("/a/c")),
    ];
    let refs: Vec<&Rule> = rules.iter().rev().collect();
    let order: Vec<&str> = rule_order(&refs).iter().map(|r| r.id.as_str()).collect();
    assert_eq!(
        order,
        ["r6", "r5", "r7", "r4", "r8", "r3", "r0", "r2", "r1"],
        "exact (longer first, with URL first) > wildcard > none; longer URL first; ties by id"
    );
    let ordered = rule_order(&refs);
    let pick = |host: &str, path: &str| select(&ordered, host, path).map(|r| r.id.as_str());
    assert_eq!(pick("WWW.example.com:8080", "/a/x"), Some("r6"));
    assert_eq!(pick("www.example.com.", "/z"), Some("r5"));
    assert_eq!(pick("x.shop.example.com", "/a"), Some("r4"));
    assert_eq!(pick("x.example.com", "/a"), Some("r8"));
    assert_eq!(pick("x.y.example.com", "/b"), Some("r3"));
    assert_eq!(
        pick("example.com", "/a/b/c"),
        Some("r2"),
        "wildcard excludes the bare domain"
    );
    assert_eq!(pick("other.org", "/a"), Some("r1"));
    assert_eq!(pick("other.org", "/b"), None);
    assert_eq!(pick("[::1]:80", "/a/cd"), Some("r0"));
}

#[test]
fn create_rules_is_all_or_nothing() {
    let mut s = state();
    s.create_rules(vec![rule("r1", Some("a.com"), None)])
        .unwrap();
    let before = s.clone();
    let cases: Vec<(Vec<Rule>, &str)> = vec![
        // Same Domain+Url as an existing rule, second in the batch.
        (
            vec![
                rule("r2", None, Some("/x")),
                rule("r3", Some("a.com"), None),
            ],
            "DomainUrlExist",
        ),
        // Duplicate within the batch.
        (
            vec![rule("r2", None, Some("/x")), rule("r3", None, Some("/x"))],
            "DomainUrlExist",
        ),
        (
            vec![Rule {
                name: "r1".into(),
                ..rule("r2", None, Some("/y"))
            }],
            "InvalidParameter.RuleName",
        ),
        (
            vec![Rule {
                vserver_group_id: "rsp-9".into(),
                ..rule("r2", None, Some("/y"))
            }],
            "InvalidParameter.VServerGroupId",
        ),
        (
            vec![Rule {
                vserver_group_id: "rsp-404".into(),
                ..rule("r2", None, Some("/y"))
            }],
            "InvalidParameter.VServerGroupId",
        ),
        (
            vec![Rule {
                listener_port: 81,
                protocol: Protocol::Tcp,
                ..rule("r2", None, Some("/y"))
            }],
            "OperationFailed.ListenerProtocol",
        ),
        (
            vec![Rule {
                listener_port: 82,
                ..rule("r2", None, Some("/y"))
            }],
            "InvalidListener.NotFound",
        ),
    ];
    for (batch, code) in cases {
        assert_eq!(s.create_rules(batch).unwrap_err().code, code);
        assert_eq!(s, before);
    }
    s.create_rules(vec![
        rule("r2", None, Some("/x")),
        Rule {
            vserver_group_id: "rsp-2".into(),
            ..rule("r3", Some("a.com"), Some("/x"))
        },
    ])
    .unwrap();
    let key = rule("x", None, None).listener_key();
    assert_eq!(s.rules_of(&key).count(), 3);
}

#[test]
fn set_and_delete_rules() {
    let mut s = state();
    s.create_rules(vec![
        rule("r1", Some("a.com"), None),
        rule("r2", None, Some("/x")),
    ])
    .unwrap();
    assert_eq!(
        s.set_rule("r1", Some("r2".into()), None, &Keep)
            .unwrap_err()
            .code,
        "InvalidParameter.RuleName"
    );
    assert_eq!(
        s.set_rule("r1", None, Some("rsp-9".into()), &Keep)
            .unwrap_err()
            .code,
        "InvalidParameter.VServerGroupId"
    );
    assert_eq!(
        s.set_rule("nope", None, None, &Keep).unwrap_err().status,
        404
    );
    s.set_rule("r1", Some("renamed".into()), Some("rsp-2".into()), &Keep)
        .unwrap();
    assert_eq!(s.rules["r1"].name, "renamed");
    assert_eq!(s.rules["r1"].vserver_group_id, "rsp-2");
    // ListenerSync off: own settings over the listener's; bad values change nothing.
    let p = crate::params::test_params;
    let bad = p(&[("Scheduler", "tch")]);
    let before = s.clone();
    assert!(s.set_rule("r1", None, None, &Own(&bad)).is_err());
    assert_eq!(s, before);
    let rr = p(&[("Scheduler", "rr")]);
    s.set_rule("r1", None, None, &Own(&rr)).unwrap();
    let own = s.rules["r1"].own_settings.clone().unwrap();
    assert_eq!(own.scheduler, "rr");
    assert_eq!(
        own.health_check,
        s.listeners.values().next().unwrap().health_check
    );
    let uri = p(&[("HealthCheckURI", "/hc")]);
    s.set_rule("r1", None, None, &Own(&uri)).unwrap();
    let own = s.rules["r1"].own_settings.clone().unwrap();
    assert_eq!(
        (own.scheduler.as_str(), own.health_check.uri.as_str()),
        ("rr", "/hc")
    );
    s.set_rule("r1", None, None, &ListenerSettings).unwrap();
    assert!(s.rules["r1"].own_settings.is_none());
    let before = s.clone();
    let err = s
        .delete_rules(&["r1".into(), "missing".into()])
        .unwrap_err();
    assert_eq!(err.code, "InvalidRuleId.NotFound");
    assert_eq!(s, before);
    s.delete_rules(&["r1".into()]).unwrap();
    assert_eq!(s.rules.keys().collect::<Vec<_>>(), ["r2"]);
}

#[test]
fn rules_follow_listener_instance_and_hold_their_group() {
    let mut s = state();
    s.create_rules(vec![Rule {
        vserver_group_id: "rsp-2".into(),
        ..rule("r1", Some("a.com"), None)
    }])
    .unwrap();
    assert_eq!(
        s.delete_vserver_group("rsp-2").unwrap_err().code,
        "RspoolVipExist"
    );
    s.delete_listener("lb-1", 80, Some(Protocol::Http)).unwrap();
    assert!(s.rules.is_empty());
    s.delete_vserver_group("rsp-2").unwrap();

    let mut s = state();
    s.create_rules(vec![rule("r1", Some("a.com"), None)])
        .unwrap();
    s.delete_load_balancer("lb-1").unwrap();
    assert!(s.rules.is_empty());
}

#[test]
fn tcp_http_and_https_share_ports_but_udp_does_not() {
    let mut s = state();
    let mut http = Listener::new_http("lb-1", 81);
    http.backend_server_port = Some(80);
    assert_eq!(
        s.create_listener(http).unwrap_err().code,
        "ListenerAlreadyExists"
    );
    let mut udp = Listener::new(ListenerKey {
        load_balancer_id: "lb-1".into(),
        port: 81,
        protocol: Protocol::Udp,
    });
    udp.backend_server_port = Some(80);
    s.create_listener(udp).unwrap();
    // An HTTP listener that only redirects needs no backends.
    let mut redirect = Listener::new_http("lb-1", 82);
    redirect.http.as_mut().unwrap().forward_port = Some(443);
    s.create_listener(redirect).unwrap();
}

#[test]
fn states_stored_before_rules_still_load() {
    let old = r#"{"load_balancers":{},"listeners":{},"vserver_groups":{}}"#;
    let back: State = serde_json::from_str(old).unwrap();
    assert!(back.rules.is_empty());
}
