//! Tags through the API: set at creation and by TagResources, filtered by describe actions
//! and ListTagResources (paged), removed by UntagResources, refused with Alibaba's errors
//! without changing anything, and kept across `kill -9`.

use serde_json::Value;

use crate::kit::*;

/// `(ResourceId, TagKey, TagValue)` of every ListTagResources entry.
fn entries(v: &Value) -> Vec<(String, String, String)> {
    v["TagResources"]["TagResource"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["ResourceId"].as_str().unwrap().to_string(),
                e["TagKey"].as_str().unwrap().to_string(),
                e["TagValue"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// ListTagResources for one resource.
async fn tags_of(d: &Daemon, kind: &str, id: &str) -> Value {
    d.ok(
        "ListTagResources",
        &[("ResourceType", kind), ("ResourceId.1", id)],
    )
    .await
}

/// The ids DescribeLoadBalancers answers with for `filter`.
async fn described(d: &Daemon, filter: &[(&str, &str)]) -> Vec<String> {
    let v = d.ok("DescribeLoadBalancers", filter).await;
    v["LoadBalancers"]["LoadBalancer"]
        .as_array()
        .unwrap()
        .iter()
        .map(|lb| lb["LoadBalancerId"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tags_are_set_filtered_listed_removed_and_kept() {
    let d = Daemon::start("127.61.92.0/24").await;
    let web = d
        .ok(
            "CreateLoadBalancer",
            &[("Tag.1.Key", "team"), ("Tag.1.Value", "web")],
        )
        .await["LoadBalancerId"]
        .as_str()
        .unwrap()
        .to_string();
    let (other, other_ip) = d.create_lb().await;
    d.ok(
        "TagResources",
        &[
            ("ResourceType", "instance"),
            ("ResourceId.1", &web),
            ("ResourceId.2", &other),
            ("Tag.1.Key", "env"),
            ("Tag.1.Value", "prod"),
        ],
    )
    .await;

    // Describe filters by Tag.N (a key alone matches any value) and by the JSON `Tags`.
    assert_eq!(
        described(&d, &[("Tag.1.Key", "team")]).await,
        vec![web.clone()]
    );
    let mut both = described(&d, &[("Tag.1.Key", "env"), ("Tag.1.Value", "prod")]).await;
    both.sort();
    let mut expect = vec![web.clone(), other.clone()];
    expect.sort();
    assert_eq!(both, expect);
    assert_eq!(
        described(&d, &[("Tags", r#"[{"TagKey":"team","TagValue":"web"}]"#)]).await,
        vec![web.clone()]
    );
    assert!(
        described(&d, &[("Tag.1.Key", "team"), ("Tag.1.Value", "db")])
            .await
            .is_empty()
    );
    let attr = d
        .ok("DescribeLoadBalancerAttribute", &[("LoadBalancerId", &web)])
        .await;
    assert_eq!(
        attr["Tags"]["Tag"],
        serde_json::json!([
            {"TagKey": "team", "TagValue": "web"},
            {"TagKey": "env", "TagValue": "prod"},
        ])
    );

    // ListTagResources by id, and by tag over the whole type.
    let v = tags_of(&d, "instance", &web).await;
    assert_eq!(v["NextToken"], "");
    assert_eq!(
        entries(&v),
        vec![
            (web.clone(), "team".into(), "web".into()),
            (web.clone(), "env".into(), "prod".into()),
        ]
    );
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "instance"), ("Tag.1.Key", "env")],
        )
        .await;
    assert_eq!(entries(&v).len(), 3, "{v}");

    // Other resource types: an access-control list tagged at creation.
    let acl = d
        .ok(
            "CreateAccessControlList",
            &[
                ("AclName", "office"),
                ("Tag.1.Key", "owner"),
                ("Tag.1.Value", "it"),
            ],
        )
        .await["AclId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = tags_of(&d, "acl", &acl).await;
    assert_eq!(
        entries(&v),
        vec![(acl.clone(), "owner".into(), "it".into())]
    );
    let v = d
        .ok("DescribeAccessControlLists", &[("Tag.1.Key", "owner")])
        .await;
    assert_eq!(v["Acls"]["Acl"][0]["AclId"], acl.as_str());

    // Listeners (`LoadBalancerId_protocol_port`), tagged at creation and after, still
    // serving; VServer groups tagged at creation.
    let backend = Backend::start("a").await;
    d.tcp_listener(
        &other,
        7300,
        &[(&backend, 100)],
        &[("Tag.1.Key", "tier"), ("Tag.1.Value", "edge")],
    )
    .await;
    let listener = format!("{other}_tcp_7300");
    d.ok(
        "TagResources",
        &[
            ("ResourceType", "listener"),
            ("ResourceId.1", &listener),
            ("Tag.1.Key", "owner"),
        ],
    )
    .await;
    let v = d
        .ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &other), ("Tag.1.Key", "tier")],
        )
        .await;
    assert_eq!(
        v["Listeners"][0]["Tags"],
        serde_json::json!([
            {"TagKey": "tier", "TagValue": "edge"},
            {"TagKey": "owner", "TagValue": ""},
        ])
    );
    let v = d
        .ok(
            "DescribeLoadBalancerListeners",
            &[("LoadBalancerId.1", &other), ("Tag.1.Key", "nope")],
        )
        .await;
    assert_eq!(v["TotalCount"], 0);
    let attr = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &other), ("ListenerPort", "7300")],
        )
        .await;
    assert_eq!(attr["Tags"]["Tag"][0]["TagKey"], "tier");
    assert_eq!(hello((other_ip, 7300).into()).await.as_deref(), Some("a"));
    let group = d
        .ok(
            "CreateVServerGroup",
            &[
                ("LoadBalancerId", &other),
                ("VServerGroupName", "blue"),
                ("Tag.1.Key", "pool"),
                ("Tag.1.Value", "blue"),
            ],
        )
        .await["VServerGroupId"]
        .as_str()
        .unwrap()
        .to_string();
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "vservergroup"), ("Tag.1.Key", "pool")],
        )
        .await;
    assert_eq!(entries(&v), vec![(group, "pool".into(), "blue".into())]);

    // Refusals change nothing.
    let revision = d.revision().await;
    let refused = [
        (
            vec![
                ("ResourceType", "bucket"),
                ("ResourceId.1", web.as_str()),
                ("Tag.1.Key", "k"),
            ],
            (400, "InvalidParameter"),
        ),
        (
            vec![
                ("ResourceType", "instance"),
                ("ResourceId.1", web.as_str()),
                ("ResourceId.2", "lb-missing"),
                ("Tag.1.Key", "k"),
            ],
            (404, "InvalidLoadBalancerId.NotFound"),
        ),
        (
            vec![
                ("ResourceType", "instance"),
                ("ResourceId.1", web.as_str()),
                ("Tag.1.Key", "aliyun:reserved"),
            ],
            (400, "InvalidParameter"),
        ),
        (
            vec![("ResourceType", "instance"), ("ResourceId.1", web.as_str())],
            (400, "MissingParameter"),
        ),
        (
            vec![
                ("ResourceType", "listener"),
                ("ResourceId.1", web.as_str()),
                ("Tag.1.Key", "k"),
            ],
            (400, "InvalidParameter"),
        ),
    ];
    for (params, (status, code)) in refused {
        let (s, c) = d.err("TagResources", &params).await;
        assert_eq!((s, c.as_str()), (status, code), "{params:?}");
    }
    // 18 more tags fit beside team and env; the 21st does not.
    let keys: Vec<(String, String)> = (1..=18)
        .map(|n| (format!("Tag.{n}.Key"), format!("k{n}")))
        .collect();
    let mut params: Vec<(&str, &str)> = vec![("ResourceType", "instance"), ("ResourceId.1", &web)];
    params.extend(keys.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    d.ok("TagResources", &params).await;
    let revision_full = d.revision().await;
    assert!(revision_full > revision);
    let (s, c) = d
        .err(
            "TagResources",
            &[
                ("ResourceType", "instance"),
                ("ResourceId.1", &web),
                ("Tag.1.Key", "one-more"),
            ],
        )
        .await;
    assert_eq!((s, c.as_str()), (400, "QuotaExceeded.TagNum"));
    assert_eq!(d.revision().await, revision_full, "refusals wrote nothing");

    // Pages of 50: web's 20, other's 1 and two new instances' 20 each are 61 entries.
    let mut full: Vec<(&str, &str)> = keys.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    full.extend([("Tag.19.Key", "a"), ("Tag.20.Key", "b")]);
    let mut more = Vec::new();
    for _ in 0..2 {
        let id = d.ok("CreateLoadBalancer", &[]).await["LoadBalancerId"]
            .as_str()
            .unwrap()
            .to_string();
        let mut params: Vec<(&str, &str)> =
            vec![("ResourceType", "instance"), ("ResourceId.1", &id)];
        params.extend(full.iter().copied());
        d.ok("TagResources", &params).await;
        more.push(id);
    }
    let third = more[0].clone();
    let first = d
        .ok("ListTagResources", &[("ResourceType", "instance")])
        .await;
    assert_eq!(entries(&first).len(), 50);
    let token = first["NextToken"].as_str().unwrap().to_string();
    assert!(!token.is_empty());
    let rest = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "instance"), ("NextToken", &token)],
        )
        .await;
    assert_eq!(entries(&rest).len(), 11);
    assert_eq!(rest["NextToken"], "");

    // UntagResources by key, then every tag with All.
    d.ok(
        "UntagResources",
        &[
            ("ResourceType", "instance"),
            ("ResourceId.1", &web),
            ("ResourceId.2", &other),
            ("TagKey.1", "env"),
        ],
    )
    .await;
    assert_eq!(
        described(&d, &[("Tag.1.Key", "env")]).await,
        Vec::<String>::new()
    );
    assert_eq!(
        described(&d, &[("Tag.1.Key", "team")]).await,
        vec![web.clone()]
    );
    d.ok(
        "UntagResources",
        &[
            ("ResourceType", "instance"),
            ("ResourceId.1", &third),
            ("All", "true"),
        ],
    )
    .await;
    let v = tags_of(&d, "instance", &third).await;
    assert!(entries(&v).is_empty());

    // Durable: the same tags after kill -9.
    let before = d
        .ok("ListTagResources", &[("ResourceType", "instance")])
        .await;
    let d = d.kill9_and_restart().await;
    let after = d
        .ok("ListTagResources", &[("ResourceType", "instance")])
        .await;
    assert_eq!(entries(&after), entries(&before));
    assert_eq!(
        entries(&after).len(),
        39,
        "web's team and k1..k18, the fourth instance's 20"
    );
    let v = tags_of(&d, "acl", &acl).await;
    assert_eq!(entries(&v).len(), 1);
}

/// `(TagKey, TagValue, InstanceCount)` of every DescribeTags entry.
fn tag_sets(v: &Value) -> Vec<(String, String, u64)> {
    v["TagSets"]["TagSet"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["TagKey"].as_str().unwrap().to_string(),
                e["TagValue"].as_str().unwrap().to_string(),
                e["InstanceCount"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// The older per-instance actions share the tags of TagResources.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn add_remove_and_describe_tags() {
    let d = Daemon::start("127.61.93.0/24").await;
    let (one, _) = d.create_lb().await;
    let (two, _) = d.create_lb().await;
    d.ok(
        "AddTags",
        &[
            ("LoadBalancerId", &one),
            (
                "Tags",
                r#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":"2"}]"#,
            ),
        ],
    )
    .await;
    d.ok(
        "AddTags",
        &[
            ("LoadBalancerId", &two),
            ("Tags", r#"[{"TagKey":"a","TagValue":"1"}]"#),
        ],
    )
    .await;
    let s = |k: &str, v: &str, n: u64| (k.to_string(), v.to_string(), n);
    let all = d.ok("DescribeTags", &[]).await;
    assert_eq!(tag_sets(&all), vec![s("a", "1", 2), s("b", "2", 1)]);
    assert_eq!(all["TotalCount"], 2);
    let keys = d.ok("DescribeTags", &[("DistinctKey", "true")]).await;
    assert_eq!(tag_sets(&keys), vec![s("a", "", 2), s("b", "", 1)]);
    let of_two = d.ok("DescribeTags", &[("LoadBalancerId", &two)]).await;
    assert_eq!(tag_sets(&of_two), vec![s("a", "1", 1)]);
    let with_b = d
        .ok("DescribeTags", &[("Tags", r#"[{"TagKey":"b"}]"#)])
        .await;
    assert_eq!(tag_sets(&with_b), vec![s("a", "1", 1), s("b", "2", 1)]);
    let page = d
        .ok("DescribeTags", &[("PageNumber", "2"), ("PageSize", "1")])
        .await;
    assert_eq!(tag_sets(&page), vec![s("b", "2", 1)]);

    let revision = d.revision().await;
    let six: Vec<String> = (0..6)
        .map(|n| format!(r#"{{"TagKey":"k{n}","TagValue":""}}"#))
        .collect();
    let six = format!("[{}]", six.join(","));
    for (params, (status, code)) in [
        (
            vec![("LoadBalancerId", one.as_str()), ("Tags", six.as_str())],
            (400, "InvalidParameter"),
        ),
        (
            vec![("LoadBalancerId", one.as_str()), ("Tags", "a=1")],
            (400, "InvalidParameter"),
        ),
        (
            vec![("LoadBalancerId", one.as_str())],
            (400, "MissingParameter"),
        ),
        (
            vec![
                ("LoadBalancerId", "lb-missing"),
                ("Tags", r#"[{"TagKey":"a"}]"#),
            ],
            (404, "InvalidLoadBalancerId.NotFound"),
        ),
    ] {
        let (st, c) = d.err("AddTags", &params).await;
        assert_eq!((st, c.as_str()), (status, code), "{params:?}");
    }
    assert_eq!(d.revision().await, revision, "refusals wrote nothing");

    d.ok(
        "RemoveTags",
        &[("LoadBalancerId", &one), ("Tags", r#"[{"TagKey":"a"}]"#)],
    )
    .await;
    let v = tags_of(&d, "instance", &one).await;
    assert_eq!(entries(&v), vec![(one.clone(), "b".into(), "2".into())]);
}
