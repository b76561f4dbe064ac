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
    let (other, _) = d.create_lb().await;
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
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "instance"), ("ResourceId.1", &web)],
        )
        .await;
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
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "acl"), ("ResourceId.1", &acl)],
        )
        .await;
    assert_eq!(
        entries(&v),
        vec![(acl.clone(), "owner".into(), "it".into())]
    );
    let v = d
        .ok("DescribeAccessControlLists", &[("Tag.1.Key", "owner")])
        .await;
    assert_eq!(v["Acls"]["Acl"][0]["AclId"], acl.as_str());

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
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "instance"), ("ResourceId.1", &third)],
        )
        .await;
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
    let v = d
        .ok(
            "ListTagResources",
            &[("ResourceType", "acl"), ("ResourceId.1", &acl)],
        )
        .await;
    assert_eq!(entries(&v).len(), 1);
}
