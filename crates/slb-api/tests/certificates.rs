//! Server and CA certificates through the real actions and store: upload validation (key
//! match, malformed PEM, validity), descriptions without private keys, rename, delete.

mod common;

use common::{env, s};
use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};

/// Borrowed parameter pairs.
fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect()
}

/// A self-signed ECDSA P-256 certificate for `names`, valid from `from` to `to` (years),
/// as (certificate PEM, key PEM).
fn cert(names: &[&str], from: i32, to: i32) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params =
        CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, names[0]);
    params.not_before = rcgen::date_time_ymd(from, 1, 1);
    params.not_after = rcgen::date_time_ymd(to, 1, 1);
    let c = params.self_signed(&key).unwrap();
    (c.pem(), key.serialize_pem())
}

#[tokio::test]
async fn server_certificates_validated_described_renamed_deleted() {
    let e = env();
    let (c, k) = cert(&["www.example.com", "*.example.com"], 2020, 2040);
    let up = e
        .ok(
            "UploadServerCertificate",
            &[
                ("ServerCertificate", &c),
                ("PrivateKey", &k),
                ("ServerCertificateName", "web"),
                ("Tag.1.Key", "team"),
                ("Tag.1.Value", "web"),
            ],
        )
        .await;
    let id = s(&up["ServerCertificateId"]);
    assert!(id.starts_with("cert-"));
    assert_eq!(up["Tags"]["Tag"][0]["TagValue"], "web");
    assert_eq!(up["CommonName"], "www.example.com");
    assert_eq!(up["EncryptionAlgorithm"], "ECC");
    assert_eq!(up["EncryptionKeyLength"], 256);
    assert_eq!(s(&up["Fingerprint"]).len(), 59);
    assert_eq!(up["ExpireTime"], "2040-01-01T00:00Z");
    assert_eq!(
        up["SubjectAlternativeNames"]["SubjectAlternativeName"][1],
        "*.example.com"
    );

    let listed = e.ok("DescribeServerCertificates", &[]).await;
    let text = listed.to_string();
    assert!(!text.contains("PRIVATE KEY"), "never the key: {text}");
    assert!(!text.contains("BEGIN CERTIFICATE"), "{text}");
    assert_eq!(
        listed["ServerCertificates"]["ServerCertificate"][0]["ServerCertificateName"],
        "web"
    );
    // Tagged at upload: filtered by tag, listed as a `certificate` resource.
    fn by_tag(v: &str) -> [(&str, &str); 2] {
        [("Tag.1.Key", "team"), ("Tag.1.Value", v)]
    }
    let found = e.ok("DescribeServerCertificates", &by_tag("web")).await;
    assert_eq!(
        found["ServerCertificates"]["ServerCertificate"][0]["ServerCertificateId"],
        id.as_str()
    );
    let none = e.ok("DescribeServerCertificates", &by_tag("db")).await;
    assert_eq!(
        none["ServerCertificates"]["ServerCertificate"],
        serde_json::json!([])
    );
    let tags = e
        .ok(
            "ListTagResources",
            &[("ResourceType", "certificate"), ("ResourceId.1", &id)],
        )
        .await;
    assert_eq!(tags["TagResources"]["TagResource"][0]["TagKey"], "team");

    e.ok(
        "SetServerCertificateName",
        &[
            ("ServerCertificateId", &id),
            ("ServerCertificateName", "web-2"),
        ],
    )
    .await;
    let one = e
        .ok(
            "DescribeServerCertificates",
            &[("ServerCertificateId", &id)],
        )
        .await;
    assert_eq!(
        one["ServerCertificates"]["ServerCertificate"][0]["ServerCertificateName"],
        "web-2"
    );

    // Refused uploads, each with its own code, and nothing stored.
    let (_, other_key) = cert(&["other.test"], 2020, 2040);
    let (old, old_key) = cert(&["old.test"], 2000, 2001);
    for (cert_pem, key_pem, code) in [
        (
            c.as_str(),
            other_key.as_str(),
            "InvalidParameter.KeyMismatch",
        ),
        ("garbage", k.as_str(), "InvalidParameter.Certificate"),
        (c.as_str(), "garbage", "InvalidParameter.PrivateKey"),
        (
            old.as_str(),
            old_key.as_str(),
            "InvalidParameter.CertificateExpired",
        ),
    ] {
        assert_eq!(
            e.code(
                "UploadServerCertificate",
                &[("ServerCertificate", cert_pem), ("PrivateKey", key_pem)]
            )
            .await,
            code
        );
    }
    assert_eq!(
        e.code("UploadServerCertificate", &[("ServerCertificate", &c)])
            .await,
        "MissingParameter"
    );
    let listed = e.ok("DescribeServerCertificates", &[]).await;
    assert_eq!(
        listed["ServerCertificates"]["ServerCertificate"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    e.ok("DeleteServerCertificate", &[("ServerCertificateId", &id)])
        .await;
    assert_eq!(
        e.code("DeleteServerCertificate", &[("ServerCertificateId", &id)])
            .await,
        "ServerCertificateId.NotFound"
    );
}

#[tokio::test]
async fn ca_certificates_lifecycle() {
    let e = env();
    let (ca, _) = cert(&["Example Root CA"], 2020, 2040);
    let up = e
        .ok(
            "UploadCACertificate",
            &[("CACertificate", &ca), ("CACertificateName", "root")],
        )
        .await;
    let id = s(&up["CACertificateId"]);
    assert_eq!(up["CommonName"], "Example Root CA");
    assert_eq!(
        e.code("UploadCACertificate", &[("CACertificate", "nope")])
            .await,
        "InvalidParameter.Certificate"
    );
    e.ok(
        "SetCACertificateName",
        &[("CACertificateId", &id), ("CACertificateName", "root-2")],
    )
    .await;
    let listed = e.ok("DescribeCACertificates", &[]).await;
    assert_eq!(
        listed["CACertificates"]["CACertificate"][0]["CACertificateName"],
        "root-2"
    );
    // CA certificates are `certificate` resources too.
    e.ok(
        "TagResources",
        &[
            ("ResourceType", "certificate"),
            ("ResourceId.1", &id),
            ("Tag.1.Key", "pki"),
        ],
    )
    .await;
    let found = e
        .ok("DescribeCACertificates", &[("Tag.1.Key", "pki")])
        .await;
    assert_eq!(
        found["CACertificates"]["CACertificate"][0]["CACertificateId"],
        id.as_str()
    );
    e.ok("DeleteCACertificate", &[("CACertificateId", &id)])
        .await;
    assert_eq!(
        e.code(
            "ListTagResources",
            &[("ResourceType", "certificate"), ("ResourceId.1", &id)]
        )
        .await,
        "InvalidResourceId.NotFound",
        "tags go with their resource"
    );
    assert_eq!(
        e.code("DescribeCACertificates", &[("CACertificateId", &id)])
            .await,
        "CACertificateId.NotFound"
    );
}

#[tokio::test]
async fn https_listener_and_domain_extensions() {
    let e = env();
    let lb = s(&e.ok("CreateLoadBalancer", &[]).await["LoadBalancerId"]);
    let (c, k) = cert(&["www.example.com"], 2020, 2040);
    let (wc, wk) = cert(&["*.example.com"], 2020, 2040);
    let cert_id = s(&e
        .ok(
            "UploadServerCertificate",
            &[("ServerCertificate", &c), ("PrivateKey", &k)],
        )
        .await["ServerCertificateId"]);
    let wild_id = s(&e
        .ok(
            "UploadServerCertificate",
            &[("ServerCertificate", &wc), ("PrivateKey", &wk)],
        )
        .await["ServerCertificateId"]);
    let listener = [
        ("LoadBalancerId", lb.as_str()),
        ("ListenerPort", "443"),
        ("BackendServerPort", "80"),
        ("HealthCheck", "off"),
    ];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v: Vec<(&str, &str)> = listener.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        e.code(
            "CreateLoadBalancerHTTPSListener",
            &with(&[("ServerCertificateId", "cert-missing")])
        )
        .await,
        "ServerCertificateId.NotFound"
    );
    let mut p = with(&[("TLSCipherPolicy", "tls_cipher_policy_1_2")]);
    p.push(("ServerCertificateId", &cert_id));
    e.ok("CreateLoadBalancerHTTPSListener", &p).await;
    let attr = e
        .ok(
            "DescribeLoadBalancerHTTPSListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "443")],
        )
        .await;
    assert_eq!(attr["ServerCertificateId"], cert_id.as_str());
    assert_eq!(attr["TLSCipherPolicy"], "tls_cipher_policy_1_2");
    let listed = e
        .ok("DescribeLoadBalancerListeners", &[("LoadBalancerId", &lb)])
        .await;
    assert_eq!(
        listed["Listeners"][0]["HTTPSListenerConfig"]["ServerCertificateId"],
        cert_id.as_str()
    );

    let ext = |domain: &'static str, cert: String| {
        vec![
            ("LoadBalancerId".to_string(), lb.clone()),
            ("ListenerPort".to_string(), "443".to_string()),
            ("Domain".to_string(), domain.to_string()),
            ("ServerCertificateId".to_string(), cert),
        ]
    };
    let wild = ext("*.example.com", wild_id.clone());
    let created = e.ok("CreateDomainExtension", &pairs(&wild)).await;
    let de = s(&created["DomainExtensionId"]);
    assert_eq!(
        e.code("CreateDomainExtension", &pairs(&wild)).await,
        "DomainExtensionExist"
    );
    let bad = ext("bad domain", wild_id.clone());
    assert_eq!(
        e.code("CreateDomainExtension", &pairs(&bad)).await,
        "InvalidParameter"
    );
    assert_eq!(
        e.code(
            "DeleteServerCertificate",
            &[("ServerCertificateId", &wild_id)]
        )
        .await,
        "ResourceInUse.Certificate"
    );
    e.ok(
        "SetDomainExtensionAttribute",
        &[
            ("DomainExtensionId", &de),
            ("ServerCertificateId", &cert_id),
        ],
    )
    .await;
    let listed = e
        .ok(
            "DescribeDomainExtensions",
            &[("LoadBalancerId", &lb), ("ListenerPort", "443")],
        )
        .await;
    let one = &listed["DomainExtensions"]["DomainExtension"][0];
    assert_eq!(one["Domain"], "*.example.com");
    assert_eq!(one["ServerCertificateId"], cert_id.as_str());
    let attr = e
        .ok(
            "DescribeDomainExtensionAttribute",
            &[("DomainExtensionId", &de)],
        )
        .await;
    assert_eq!(attr["Domain"], "*.example.com");
    assert_eq!(attr["ServerCertificateId"], cert_id.as_str());
    assert_eq!(attr["LoadBalancerId"], lb.as_str());
    assert_eq!(attr["ListenerPort"], 443);
    e.ok(
        "DeleteServerCertificate",
        &[("ServerCertificateId", &wild_id)],
    )
    .await;
    e.ok("DeleteDomainExtension", &[("DomainExtensionId", &de)])
        .await;
    assert_eq!(
        e.code("DeleteDomainExtension", &[("DomainExtensionId", &de)])
            .await,
        "InvalidParameter.DomainExtensionId"
    );
    assert_eq!(
        e.code(
            "DescribeDomainExtensionAttribute",
            &[("DomainExtensionId", &de)]
        )
        .await,
        "InvalidParameter.DomainExtensionId"
    );
}
