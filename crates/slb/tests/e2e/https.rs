//! HTTPS listeners through the API: certificates uploaded, TLS terminated by the real
//! daemon, certificates in use protected, rotation by SetLoadBalancerHTTPSListenerAttribute.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::http::{echo_backend, group};
use crate::kit::*;

/// A self-signed certificate for `name`: (certificate PEM, key PEM, DER).
pub(crate) fn self_signed(
    name: &str,
) -> (String, String, rustls::pki_types::CertificateDer<'static>) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let c = CertificateParams::new(vec![name.to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let der = c.der().clone();
    (c.pem(), key.serialize_pem(), der)
}

pub(crate) async fn upload(
    d: &Daemon,
    cert: &(String, String, rustls::pki_types::CertificateDer<'static>),
) -> String {
    let up = d
        .ok(
            "UploadServerCertificate",
            &[("ServerCertificate", &cert.0), ("PrivateKey", &cert.1)],
        )
        .await;
    up["ServerCertificateId"].as_str().unwrap().to_string()
}

/// GET / over TLS trusting only `root`; the response text, or an error if the handshake
/// fails.
pub(crate) async fn https_get(
    ip: IpAddr,
    port: u16,
    root: &rustls::pki_types::CertificateDer<'static>,
) -> std::io::Result<String> {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(SocketAddr::new(ip, port)).await?;
    let name = ServerName::try_from("secure.test").unwrap();
    let mut s = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    s.write_all(b"GET / HTTP/1.1\r\nHost: secure.test\r\nConnection: close\r\n\r\n")
        .await?;
    let mut out = Vec::new();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(10), s.read_to_end(&mut out)).await;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_listener_terminates_tls_and_rotates_its_certificate() {
    let d = Daemon::start("127.61.80.0/24").await;
    let (lb, ip) = d.create_lb().await;
    let g = group(&d, &lb, &[echo_backend("secure").await]).await;
    let first = self_signed("secure.test");
    let second = self_signed("secure.test");
    let first_id = upload(&d, &first).await;
    let second_id = upload(&d, &second).await;

    let base = [("LoadBalancerId", lb.as_str()), ("ListenerPort", "8443")];
    let with = |extra: &[(&'static str, &str)]| {
        let mut v: Vec<(&str, String)> = base.iter().map(|(k, v)| (*k, v.to_string())).collect();
        v.extend(extra.iter().map(|(k, v)| (*k, v.to_string())));
        v
    };
    let call = |v: &Vec<(&'static str, String)>| {
        v.iter().map(|(k, v)| (*k, v.clone())).collect::<Vec<_>>()
    };
    let create = with(&[
        ("VServerGroupId", &g),
        ("HealthCheck", "off"),
        ("Bandwidth", "-1"),
        ("StickySession", "off"),
        ("XForwardedFor_proto", "on"),
        ("TLSCipherPolicy", "tls_cipher_policy_1_2_strict_with_1_3"),
    ]);
    let params: Vec<(&str, &str)> = create.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (_, code) = d.err("CreateLoadBalancerHTTPSListener", &params).await;
    assert_eq!(code, "MissingParameter", "ServerCertificateId is required");
    let mut with_cert = call(&create);
    with_cert.push(("ServerCertificateId", first_id.clone()));
    let params: Vec<(&str, &str)> = with_cert.iter().map(|(k, v)| (*k, v.as_str())).collect();
    d.ok("CreateLoadBalancerHTTPSListener", &params).await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "8443")],
    )
    .await;

    let out = https_get(ip, 8443, &first.2)
        .await
        .expect("TLS with the first certificate");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("x-forwarded-proto: https"), "{out}");

    let attr = d
        .ok(
            "DescribeLoadBalancerHTTPSListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "8443")],
        )
        .await;
    assert_eq!(attr["ServerCertificateId"], first_id.as_str());
    assert_eq!(attr["EnableHttp2"], "on");
    assert_eq!(attr["TLSSessionResumption"], "on");
    assert_eq!(
        attr["TLSCipherPolicy"],
        "tls_cipher_policy_1_2_strict_with_1_3"
    );
    let (_, code) = d
        .err(
            "DeleteServerCertificate",
            &[("ServerCertificateId", &first_id)],
        )
        .await;
    assert_eq!(code, "ResourceInUse.Certificate");

    // Rotation: new handshakes get the second certificate once the API has answered.
    d.ok(
        "SetLoadBalancerHTTPSListenerAttribute",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8443"),
            ("ServerCertificateId", &second_id),
        ],
    )
    .await;
    assert!(
        https_get(ip, 8443, &first.2).await.is_err(),
        "old certificate no longer served"
    );
    let out = https_get(ip, 8443, &second.2)
        .await
        .expect("TLS with the second certificate");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    d.ok(
        "DeleteServerCertificate",
        &[("ServerCertificateId", &first_id)],
    )
    .await;
}
