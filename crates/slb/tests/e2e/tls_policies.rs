//! Custom TLS policies through the API: created, attached to an HTTPS listener by id,
//! enforced in real handshakes (versions and cipher suites), changed under the listener,
//! listed with the listeners using them, protected while in use, kept across `kill -9`.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::http::{echo_backend, group};
use crate::https::{self_signed, upload};
use crate::kit::*;

/// A handshake offering only `versions` and `suites`: what was negotiated, or the error.
async fn handshake(
    ip: IpAddr,
    root: &rustls::pki_types::CertificateDer<'static>,
    versions: &[&'static rustls::SupportedProtocolVersion],
    suites: &[rustls::SupportedCipherSuite],
) -> std::io::Result<(rustls::ProtocolVersion, rustls::CipherSuite)> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let provider = rustls::crypto::CryptoProvider {
        cipher_suites: suites.to_vec(),
        ..rustls::crypto::ring::default_provider()
    };
    let config = ClientConfig::builder_with_provider(Arc::new(provider))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(SocketAddr::new(ip, 8443)).await?;
    let s = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("secure.test").unwrap(), tcp)
        .await?;
    let c = s.get_ref().1;
    Ok((
        c.protocol_version().unwrap(),
        c.negotiated_cipher_suite().unwrap().suite(),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn custom_tls_policies_govern_handshakes() {
    use rustls::crypto::ring::cipher_suite as cs;
    let tls12 = [&rustls::version::TLS12];
    let tls13 = [&rustls::version::TLS13];
    let all = rustls::crypto::ring::ALL_CIPHER_SUITES;

    let d = Daemon::start("127.61.98.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let g = group(&d, &lb, &[echo_backend("secure").await]).await;
    let cert = self_signed("secure.test");
    let cert_id = upload(&d, &cert).await;

    // Only TLS 1.0 and CBC: nothing OpenSLB can serve.
    let (_, code) = d
        .err(
            "CreateTLSCipherPolicy",
            &[
                ("Name", "legacy"),
                ("TLSVersions.1", "TLSv1.0"),
                ("Ciphers.1", "AES128-SHA"),
            ],
        )
        .await;
    assert_eq!(code, "InvalidParameter.Ciphers");
    let policy = d
        .ok(
            "CreateTLSCipherPolicy",
            &[
                ("Name", "tls12-ecdsa-256"),
                ("TLSVersions.1", "TLSv1.2"),
                ("Ciphers.1", "ECDHE-ECDSA-AES256-GCM-SHA384"),
                ("Ciphers.2", "AES128-SHA"),
            ],
        )
        .await["TLSCipherPolicyId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(policy.starts_with("tls-"));

    let listener = [("LoadBalancerId", lb.as_str()), ("ListenerPort", "8443")];
    let with = |k: &'static str, v: &'static str| {
        let mut p = listener.to_vec();
        p.push((k, v));
        p
    };
    let mut create = listener.to_vec();
    create.extend([
        ("VServerGroupId", g.as_str()),
        ("HealthCheck", "off"),
        ("Bandwidth", "-1"),
        ("StickySession", "off"),
        ("ServerCertificateId", cert_id.as_str()),
        ("TLSCipherPolicy", "tls-missing"),
    ]);
    let (status, code) = d.err("CreateLoadBalancerHTTPSListener", &create).await;
    assert_eq!((status, code.as_str()), (404, "TLSCipherPolicy.NotFound"));
    create.pop();
    create.push(("TLSCipherPolicy", policy.as_str()));
    d.ok("CreateLoadBalancerHTTPSListener", &create).await;
    d.ok("StartLoadBalancerListener", &listener).await;
    let attr = d
        .ok("DescribeLoadBalancerHTTPSListenerAttribute", &listener)
        .await;
    assert_eq!(attr["TLSCipherPolicy"], policy.as_str());

    // TLS 1.2 with the policy's suite only.
    let got = handshake(ip, &cert.2, &tls12, all).await.unwrap();
    assert_eq!(
        got,
        (
            rustls::ProtocolVersion::TLSv1_2,
            rustls::CipherSuite::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
        )
    );
    assert!(handshake(ip, &cert.2, &tls13, all).await.is_err());
    assert!(handshake(
        ip,
        &cert.2,
        &tls12,
        &[cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256]
    )
    .await
    .is_err());

    // Changed under the listener: the next handshakes follow.
    d.ok(
        "SetTLSCipherPolicyAttribute",
        &[
            ("TLSCipherPolicyId", policy.as_str()),
            ("TLSVersions.1", "TLSv1.3"),
            ("Ciphers.1", "TLS_AES_128_GCM_SHA256"),
        ],
    )
    .await;
    let got = handshake(ip, &cert.2, &tls13, all).await.unwrap();
    assert_eq!(
        got,
        (
            rustls::ProtocolVersion::TLSv1_3,
            rustls::CipherSuite::TLS13_AES_128_GCM_SHA256
        )
    );
    assert!(handshake(ip, &cert.2, &tls12, all).await.is_err());

    let listed = d
        .ok(
            "ListTLSCipherPolicies",
            &[("TLSCipherPolicyId", &policy), ("IncludeListener", "true")],
        )
        .await;
    let p = &listed["TLSCipherPolicies"][0];
    assert_eq!(p["Name"], "tls12-ecdsa-256");
    assert_eq!(p["TLSVersions"], serde_json::json!(["TLSv1.3"]));
    assert_eq!(p["RelateListeners"][0]["Port"], 8443);
    let (_, code) = d
        .err("DeleteTLSCipherPolicy", &[("TLSCipherPolicyId", &policy)])
        .await;
    assert_eq!(code, "ResourceInUse.TLSCipherPolicy");

    // Durable, and still what the listener uses after kill -9.
    let d = d.kill9_and_restart().await;
    let got = handshake(ip, &cert.2, &tls13, all).await.unwrap();
    assert_eq!(got.1, rustls::CipherSuite::TLS13_AES_128_GCM_SHA256);

    d.ok(
        "SetLoadBalancerHTTPSListenerAttribute",
        &with("TLSCipherPolicy", "tls_cipher_policy_1_2_strict_with_1_3"),
    )
    .await;
    assert!(handshake(ip, &cert.2, &tls12, all).await.is_ok());
    d.ok("DeleteTLSCipherPolicy", &[("TLSCipherPolicyId", &policy)])
        .await;
    let listed = d.ok("ListTLSCipherPolicies", &[]).await;
    assert_eq!(listed["TotalCount"], 0);
}
