//! The management API over HTTPS (`--api-tls-cert`/`--api-tls-key`), and its request size
//! limit.

use std::sync::Arc;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_serves_https_when_given_a_certificate() {
    let pki = tempfile::tempdir().unwrap();
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["127.0.0.1".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (cert_path, key_path) = (pki.path().join("api.crt"), pki.path().join("api.key"));
    std::fs::write(&cert_path, cert.pem()).unwrap();
    std::fs::write(&key_path, key.serialize_pem()).unwrap();
    let d = Daemon::start_with(
        "127.61.90.0/24",
        &[
            "--api-tls-cert",
            cert_path.to_str().unwrap(),
            "--api-tls-key",
            key_path.to_str().unwrap(),
        ],
    )
    .await;

    let mut roots = RootCertStore::empty();
    roots.add(cert.der().clone()).unwrap();
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(d.api).await.unwrap();
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from("127.0.0.1").unwrap(), tcp)
        .await
        .expect("TLS to the API");
    tls.write_all(
        b"GET /?Action=DescribeRegions HTTP/1.1\r\nHost: api\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    let mut out = Vec::new();
    tls.read_to_end(&mut out).await.unwrap();
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("\"Code\":\"MissingParameter\""), "{text}");

    // Plain HTTP to the same port gets nothing useful.
    let plain = reqwest::get(format!("http://{}/?Action=DescribeRegions", d.api)).await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_requests_get_413() {
    let d = Daemon::start("127.61.91.0/24").await;
    let body = "a=".to_string() + &"x".repeat(2 * 1024 * 1024);
    let r = reqwest::Client::new()
        .post(format!("http://{}/", d.api))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 413);
    // The node still answers.
    d.ok("DescribeRegions", &[]).await;
}
