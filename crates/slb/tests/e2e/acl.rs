//! Access control lists through the API: a list created and filled, attached to a TCP
//! listener as a whitelist, then a blacklist; changes to the list apply at once; a list
//! in use cannot be deleted; refusals are counted. And the older per-listener whitelist.

use std::net::{IpAddr, SocketAddr};

use crate::kit::*;

fn from(ip: &str) -> Option<IpAddr> {
    Some(ip.parse().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn whitelist_and_blacklist_through_the_api() {
    let d = Daemon::start("127.61.87.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let b = Backend::start("b").await;
    let acl = d
        .ok(
            "CreateAccessControlList",
            &[("AclName", "office"), ("AddressIPVersion", "ipv4")],
        )
        .await["AclId"]
        .as_str()
        .unwrap()
        .to_string();
    d.ok(
        "AddAccessControlListEntry",
        &[
            ("AclId", &acl),
            (
                "AclEntrys",
                r#"[{"entry":"127.0.0.2/32","comment":"desk"},{"entry":"10.0.0.0/8"}]"#,
            ),
        ],
    )
    .await;
    let (_, code) = d
        .err(
            "AddAccessControlListEntry",
            &[
                ("AclId", &acl),
                ("AclEntrys", r#"[{"entry":"2001:db8::/32"}]"#),
            ],
        )
        .await;
    assert_eq!(code, "InvalidParameter", "an IPv6 block in an IPv4 list");
    let (_, code) = d
        .err(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "7200"),
                ("BackendServerPort", "80"),
                ("AclStatus", "on"),
                ("AclType", "white"),
            ],
        )
        .await;
    assert_eq!(
        code, "MissingParameter",
        "AclId is needed with AclStatus on"
    );
    d.tcp_listener(
        &lb,
        7200,
        &[(&b, 100)],
        &[("AclStatus", "on"), ("AclType", "white"), ("AclId", &acl)],
    )
    .await;
    let l = SocketAddr::new(ip, 7200);
    assert!(hello_from(l, from("127.0.0.2")).await.is_some());
    assert!(hello_from(l, from("127.0.0.3")).await.is_none());

    let attr = d
        .ok("DescribeAccessControlListAttribute", &[("AclId", &acl)])
        .await;
    assert_eq!(attr["TotalAclEntry"], 2);
    assert_eq!(
        attr["RelatedListeners"]["RelatedListener"][0]["ListenerPort"],
        7200
    );
    let listener = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "7200")],
        )
        .await;
    assert_eq!(listener["AclStatus"], "on");
    assert_eq!(listener["AclId"], acl.as_str());

    // The list changes: the next connection sees it.
    d.ok(
        "RemoveAccessControlListEntry",
        &[
            ("AclId", &acl),
            ("AclEntrys", r#"[{"entry":"127.0.0.2/32"}]"#),
        ],
    )
    .await;
    assert!(hello_from(l, from("127.0.0.2")).await.is_none());
    // Blacklist: everyone but the listed.
    d.ok(
        "AddAccessControlListEntry",
        &[("AclId", &acl), ("AclEntrys", r#"[{"entry":"127.0.0.3"}]"#)],
    )
    .await;
    d.ok(
        "SetLoadBalancerTCPListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "7200"),
            ("AclType", "black"),
        ],
    )
    .await;
    assert!(hello_from(l, from("127.0.0.2")).await.is_some());
    assert!(hello_from(l, from("127.0.0.3")).await.is_none());
    let m = d.metrics().await;
    assert!(
        m.lines()
            .any(|x| x.starts_with("slb_listener_acl_denied_total{") && x.ends_with(" 3")),
        "{m}"
    );

    let (_, code) = d.err("DeleteAccessControlList", &[("AclId", &acl)]).await;
    assert_eq!(code, "ResourceInUse.Acl");
    d.ok(
        "SetLoadBalancerTCPListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "7200"),
            ("AclStatus", "off"),
        ],
    )
    .await;
    assert!(hello_from(l, from("127.0.0.3")).await.is_some());
    d.ok(
        "DeleteLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "7200")],
    )
    .await;
    d.ok("DeleteAccessControlList", &[("AclId", &acl)]).await;
    let (status, code) = d
        .err("DescribeAccessControlListAttribute", &[("AclId", &acl)])
        .await;
    assert_eq!((status, code.as_str()), (404, "AclNotExist"));
}

/// The older per-listener whitelist: open with no entry lets nobody in, entries let their
/// clients in, removing one shuts it out, closing lets everyone in; it cannot be on with
/// an access-control list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_older_listener_whitelist() {
    let d = Daemon::start("127.61.96.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let b = Backend::start("b").await;
    d.tcp_listener(&lb, 7300, &[(&b, 100)], &[]).await;
    let l = SocketAddr::new(ip, 7300);
    let listener = [("LoadBalancerId", lb.as_str()), ("ListenerPort", "7300")];
    let with = |k: &'static str, v: &'static str| {
        let mut p = listener.to_vec();
        p.push((k, v));
        p
    };
    let describe = || d.ok("DescribeListenerAccessControlAttribute", &listener);
    assert_eq!(describe().await["AccessControlStatus"], "close");

    d.ok(
        "SetListenerAccessControlStatus",
        &with("AccessControlStatus", "open_white_list"),
    )
    .await;
    assert!(
        hello_from(l, from("127.0.0.2")).await.is_none(),
        "empty: nobody"
    );
    d.ok(
        "AddListenerWhiteListItem",
        &with("SourceItems", "127.0.0.2,10.0.0.0/8"),
    )
    .await;
    assert!(hello_from(l, from("127.0.0.2")).await.is_some());
    assert!(hello_from(l, from("127.0.0.3")).await.is_none());
    let v = describe().await;
    assert_eq!(v["AccessControlStatus"], "open_white_list");
    assert_eq!(v["SourceItems"], "127.0.0.2/32,10.0.0.0/8");

    let (_, code) = d
        .err(
            "AddListenerWhiteListItem",
            &with("SourceItems", "0.0.0.0/0"),
        )
        .await;
    assert_eq!(code, "InvalidParameter");
    let acl = d
        .ok("CreateAccessControlList", &[("AclName", "office")])
        .await["AclId"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, code) = d
        .err(
            "SetLoadBalancerTCPListenerAttribute",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "7300"),
                ("AclStatus", "on"),
                ("AclType", "white"),
                ("AclId", &acl),
            ],
        )
        .await;
    assert_eq!(code, "OperationDenied.AccessControlConflict");

    d.ok(
        "RemoveListenerWhiteListItem",
        &with("SourceItems", "127.0.0.2"),
    )
    .await;
    assert!(hello_from(l, from("127.0.0.2")).await.is_none());
    d.ok(
        "SetListenerAccessControlStatus",
        &with("AccessControlStatus", "close"),
    )
    .await;
    assert!(hello_from(l, from("127.0.0.3")).await.is_some());
    assert_eq!(describe().await["SourceItems"], "10.0.0.0/8");
}
