//! The API server over real HTTP on 127.0.0.1: signatures, replay protection and dispatch,
//! with an echo handler standing in for the actions.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use serde_json::{json, Value};
use slb_api::sign::{v1, v3};
use slb_api::{
    router, ActionHandler, ApiContext, ApiError, BoxFuture, Params, RequestContext,
    StaticCredentials,
};

const AK: &str = "LTAItest";
const SECRET: &str = "s3cret";

/// Echoes what it was given; counts calls so tests can prove nothing was dispatched.
#[derive(Default)]
struct Echo {
    calls: AtomicUsize,
}

impl ActionHandler for Echo {
    fn handle<'a>(
        &'a self,
        action: &'a str,
        params: &'a Params,
        req: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Value, ApiError>> {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if action == "Unknown" {
                return Err(ApiError::invalid_action(action));
            }
            Ok(json!({
                "Action": action,
                "Params": params.as_map(),
                "AccessKeyId": req.access_key_id,
                "Signature": format!("{:?}", req.signature_version),
                "Region": req.region,
            }))
        })
    }
}

struct Server {
    base: String,
    echo: Arc<Echo>,
    http: reqwest::Client,
}

async fn start() -> Server {
    let echo = Arc::new(Echo::default());
    let ctx = ApiContext::new(
        Arc::new(StaticCredentials::new(AK, SECRET)),
        echo.clone(),
        "local",
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, router(Arc::new(ctx))).await.unwrap() });
    Server {
        base: format!("http://{addr}"),
        echo,
        http: reqwest::Client::new(),
    }
}

fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// A V1 parameter set as aliyunsdkcore builds it, signed for `method` with `secret`.
fn v1_params(
    method: &str,
    action: &str,
    extra: &[(&str, &str)],
    timestamp: &str,
    secret: &str,
) -> BTreeMap<String, String> {
    let mut p: BTreeMap<String, String> = extra
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    for (k, v) in [
        ("Action", action.to_string()),
        ("Version", "2014-05-15".into()),
        ("Format", "JSON".into()),
        ("AccessKeyId", AK.into()),
        ("SignatureMethod", "HMAC-SHA1".into()),
        ("SignatureType", String::new()),
        ("SignatureVersion", "1.0".into()),
        ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
        ("Timestamp", timestamp.into()),
    ] {
        p.insert(k.into(), v);
    }
    let sig = v1::signature(method, &p, secret);
    p.insert("Signature".into(), sig);
    p
}

async fn send_v1_get(s: &Server, p: &BTreeMap<String, String>) -> (u16, Value) {
    let mut q = v1::canonical_query(p);
    q.push_str(&format!(
        "&Signature={}",
        slb_api::sign::percent_encode(&p["Signature"])
    ));
    let r = s.http.get(format!("{}/?{q}", s.base)).send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn v1_get_good_signature_dispatches() {
    let s = start().await;
    let p = v1_params(
        "GET",
        "DescribeLoadBalancers",
        &[("RegionId", "local"), ("LoadBalancerName", "a b*~/é")],
        &now(),
        SECRET,
    );
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Action"], "DescribeLoadBalancers");
    assert_eq!(body["Signature"], "V1");
    assert_eq!(body["AccessKeyId"], AK);
    assert_eq!(
        body["Params"],
        json!({"RegionId": "local", "LoadBalancerName": "a b*~/é"})
    );
    let rid = body["RequestId"].as_str().unwrap();
    assert_eq!(rid.len(), 36);
    assert_eq!(rid, rid.to_uppercase());
}

#[tokio::test]
async fn v1_post_form_body_is_signed_and_read() {
    let s = start().await;
    let extra = [
        ("LoadBalancerId", "lb-1"),
        ("BackendServers", r#"[{"ServerId":"i-1","Weight":"100"}]"#),
    ];
    let p = v1_params("POST", "AddBackendServers", &extra, &now(), SECRET);
    // Common parameters in the query, action parameters in the form body.
    let (query, form): (Vec<_>, Vec<_>) = p
        .iter()
        .partition(|(k, _)| !extra.iter().any(|(e, _)| e == k));
    let enc = |pairs: Vec<(&String, &String)>| {
        form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish()
    };
    let r = s
        .http
        .post(format!("{}/?{}", s.base, enc(query)))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(enc(form))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Params"]["LoadBalancerId"], "lb-1");
    assert_eq!(body["Params"]["BackendServers"], extra[1].1);
}

#[tokio::test]
async fn v1_bad_signature_is_refused_before_dispatch() {
    let s = start().await;
    let p = v1_params("GET", "DescribeRegions", &[], &now(), "wrong-secret");
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(status, 400);
    assert_eq!(body["Code"], "SignatureDoesNotMatch");
    assert!(body["Message"]
        .as_str()
        .unwrap()
        .contains("string to sign is:GET&%2F&"));
    assert!(body["RequestId"].is_string());
    assert_eq!(s.echo.calls.load(Ordering::SeqCst), 0);

    // Tampering after signing.
    let mut p = v1_params(
        "GET",
        "DescribeRegions",
        &[("RegionId", "local")],
        &now(),
        SECRET,
    );
    p.insert("RegionId".into(), "other".into());
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    assert_eq!(s.echo.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn v1_expired_and_malformed_timestamps() {
    let s = start().await;
    let old = (chrono::Utc::now() - chrono::Duration::minutes(16))
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string();
    let (status, body) =
        send_v1_get(&s, &v1_params("GET", "DescribeRegions", &[], &old, SECRET)).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Expired"))
    );
    let (status, body) = send_v1_get(
        &s,
        &v1_params("GET", "DescribeRegions", &[], "yesterday", SECRET),
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidTimeStamp.Format"))
    );
    assert_eq!(s.echo.calls.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn v1_reused_nonce_is_refused() {
    let s = start().await;
    let p = v1_params("GET", "DescribeRegions", &[], &now(), SECRET);
    assert_eq!(send_v1_get(&s, &p).await.0, 200);
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureNonceUsed"))
    );
    assert_eq!(s.echo.calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn v1_unknown_access_key_missing_params_version_and_action() {
    let s = start().await;
    let mut p = v1_params("GET", "DescribeRegions", &[], &now(), SECRET);
    p.insert("AccessKeyId".into(), "nobody".into());
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("InvalidAccessKeyId.NotFound"))
    );

    let r = s
        .http
        .get(format!("{}/?Action=DescribeRegions", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 400);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["Code"], "MissingParameter");

    let mut p = v1_params("GET", "DescribeRegions", &[], &now(), SECRET);
    p.insert("Version".into(), "2016-01-01".into());
    let sig = v1::signature("GET", &p, SECRET);
    p.insert("Signature".into(), sig);
    let (status, body) = send_v1_get(&s, &p).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("InvalidVersion"))
    );

    let (status, body) = send_v1_get(&s, &v1_params("GET", "Unknown", &[], &now(), SECRET)).await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (404, Some("InvalidAction.NotFound"))
    );
}

/// A V3 request as alibabacloud_tea_openapi builds it: parameters in the query, signed headers.
async fn send_v3(
    s: &Server,
    action: &str,
    query: &[(&str, &str)],
    secret: &str,
    tamper: bool,
) -> (u16, Value) {
    let host = s.base.trim_start_matches("http://").to_string();
    let mut headers: Vec<(String, String)> = vec![
        ("host".into(), host),
        ("x-acs-version".into(), "2014-05-15".into()),
        ("x-acs-action".into(), action.into()),
        ("x-acs-date".into(), now()),
        (
            "x-acs-signature-nonce".into(),
            uuid::Uuid::new_v4().simple().to_string(),
        ),
        ("accept".into(), "application/json".into()),
        ("x-acs-content-sha256".into(), v3::hex_sha256(b"")),
    ];
    let q: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let mut signed: Vec<String> = headers.iter().map(|(n, _)| n.clone()).collect();
    signed.sort();
    let req = v3::SignedRequest {
        method: "POST",
        path: "/",
        query: &q,
        headers: &headers,
        body: b"",
    };
    let cr = v3::canonical_request(&req, &signed, &v3::hex_sha256(b"")).unwrap();
    let sig = v3::signature(secret, &v3::string_to_sign(&cr));
    headers.push((
        "authorization".into(),
        format!(
            "ACS3-HMAC-SHA256 Credential={AK},SignedHeaders={},Signature={sig}",
            signed.join(";")
        ),
    ));
    let mut url_q = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &q {
        url_q.append_pair(k, if tamper { "tampered" } else { v });
    }
    let mut rb = s.http.post(format!("{}/?{}", s.base, url_q.finish()));
    for (n, v) in headers.iter().filter(|(n, _)| n != "host") {
        rb = rb.header(n.as_str(), v.as_str());
    }
    let r = rb.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap())
}

#[tokio::test]
async fn v3_good_signature_dispatches() {
    let s = start().await;
    let (status, body) = send_v3(
        &s,
        "CreateLoadBalancer",
        &[("LoadBalancerName", "a b~*"), ("Tag.1.Key", "k")],
        SECRET,
        false,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Action"], "CreateLoadBalancer");
    assert_eq!(body["Signature"], "V3");
    assert_eq!(
        body["Params"],
        json!({"LoadBalancerName": "a b~*", "Tag.1.Key": "k"})
    );
}

#[tokio::test]
async fn v3_bad_signature_is_refused() {
    let s = start().await;
    let (status, body) = send_v3(
        &s,
        "DescribeRegions",
        &[("RegionId", "local")],
        "wrong",
        false,
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    let (status, body) = send_v3(
        &s,
        "DescribeRegions",
        &[("RegionId", "local")],
        SECRET,
        true,
    )
    .await;
    assert_eq!(
        (status, body["Code"].as_str()),
        (400, Some("SignatureDoesNotMatch"))
    );
    assert_eq!(s.echo.calls.load(Ordering::SeqCst), 0);
}
