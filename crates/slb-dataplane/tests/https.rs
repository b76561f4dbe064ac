//! HTTPS listeners: TLS termination with rustls in front of the HTTP engine, ALPN h2 only
//! when enabled, TLS policies' versions, mutual TLS, and certificate rotation that leaves
//! established connections alone. Real TLS clients (tokio-rustls) on 127.0.0.1.

mod http_kit;

use std::net::SocketAddr;
use std::sync::Arc;

use http_kit::*;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, PKCS_ECDSA_P256_SHA256};
use slb_dataplane::{DataPlane, HttpListenerSpec, ListenerKey};
use slb_tls::TlsSettings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};
use tokio_rustls::TlsConnector;

/// A self-signed certificate for `name`, usable as a server certificate and as the
/// client's trust anchor: (certificate PEM, key PEM, DER).
type Cert = (String, String, rustls::pki_types::CertificateDer<'static>);

fn self_signed(name: &str) -> Cert {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(rcgen::DnType::CommonName, name);
    let c = p.self_signed(&key).unwrap();
    let der = c.der().clone();
    (c.pem(), key.serialize_pem(), der)
}

fn tls(cert: &Cert, policy: &str, h2: bool) -> TlsSettings {
    TlsSettings {
        chain_pem: cert.0.clone(),
        key: slb_tls::TlsKey::Pem(cert.1.clone()),
        client_ca_pem: None,
        policy: policy.into(),
        http2: h2,
        resumption: true,
        sni: Vec::new(),
        custom: None,
    }
}

fn https_spec(port: u16, b: &HttpBackend, settings: TlsSettings) -> HttpListenerSpec {
    let mut spec = http_spec(port, vec![b.spec()]);
    spec.key = ListenerKey {
        protocol: "https".into(),
        ..spec.key
    };
    spec.forwarded.proto = true;
    spec.tls = Some(settings);
    spec
}

/// Starts an HTTPS listener on `port` with `cert`, `policy` and ALPN h2 as given.
async fn serve(
    dp: &DataPlane,
    port: u16,
    b: &HttpBackend,
    cert: &Cert,
    policy: &str,
    h2: bool,
) -> SocketAddr {
    start(dp, https_spec(port, b, tls(cert, policy, h2))).await
}

/// A client trusting `root`, offering `alpn`, speaking only `versions`.
fn client(
    root: &rustls::pki_types::CertificateDer<'static>,
    alpn: &[&[u8]],
    versions: &[&'static rustls::SupportedProtocolVersion],
    identity: Option<(&str, &str)>,
) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    let b = ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut c = match identity {
        None => b.with_no_client_auth(),
        Some((cert, key)) => {
            use rustls::pki_types::pem::PemObject;
            let chain = rustls::pki_types::CertificateDer::pem_slice_iter(cert.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .unwrap();
            let key = rustls::pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap();
            b.with_client_auth_cert(chain, key).unwrap()
        }
    };
    c.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    TlsConnector::from(Arc::new(c))
}

const BOTH: &[&rustls::SupportedProtocolVersion] =
    &[&rustls::version::TLS13, &rustls::version::TLS12];

type Tls = tokio_rustls::client::TlsStream<tokio::net::TcpStream>;

async fn connect(c: &TlsConnector, addr: SocketAddr, sni: &str) -> std::io::Result<Tls> {
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from(sni.to_string()).unwrap();
    tokio::time::timeout(STEP, c.connect(name, tcp)).await?
}

/// One HTTP/1.1 request on `s`, reading one response with a Content-Length body.
async fn get(s: &mut Tls, path: &str) -> std::io::Result<String> {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: a.test\r\n\r\n").as_bytes())
        .await?;
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let n = tokio::time::timeout(STEP, s.read(&mut buf)).await??;
        if n == 0 {
            break;
        }
        out.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&out);
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let len: usize = head
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length: ")
                        .map(|v| v.trim().parse().unwrap())
                })
                .unwrap_or(0);
            if body.len() >= len {
                return Ok(text.into_owned());
            }
        }
    }
    Ok(String::from_utf8_lossy(&out).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminates_tls_and_forwards_with_https_proto() {
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let dp = DataPlane::new();
    let addr = serve(
        &dp,
        120,
        &b,
        &cert,
        "tls_cipher_policy_1_2_strict_with_1_3",
        false,
    )
    .await;
    let c = client(&cert.2, &[b"h2", b"http/1.1"], BOTH, None);
    let mut s = connect(&c, addr, "a.test").await.unwrap();
    assert_eq!(
        s.get_ref().1.alpn_protocol(),
        Some(&b"http/1.1"[..]),
        "h2 off"
    );
    assert_eq!(
        s.get_ref().1.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    let out = get(&mut s, "/").await.unwrap();
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    assert!(out.contains("x-seen-proto: https"), "{out}");
    // Keep-alive over TLS.
    let out = get(&mut s, "/again").await.unwrap();
    assert!(out.contains("x-seen-uri: /again"), "{out}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_by_alpn_when_enabled() {
    use http_body_util::BodyExt;
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let dp = DataPlane::new();
    let addr = serve(
        &dp,
        121,
        &b,
        &cert,
        "tls_cipher_policy_1_2_strict_with_1_3",
        true,
    )
    .await;
    let c = client(&cert.2, &[b"h2", b"http/1.1"], BOTH, None);
    let s = connect(&c, addr, "a.test").await.unwrap();
    assert_eq!(s.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, _conn) = h2_client(s).await;
    let resp = h2_get(&mut send, "https://a.test/h2").await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["x-seen-proto"], "https");
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"b");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn policy_versions_enforced() {
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let dp = DataPlane::new();
    // One desired set holds both listeners (each apply replaces the whole set).
    let a = https_spec(122, &b, tls(&cert, "tls_cipher_policy_1_2", false));
    let c = https_spec(
        123,
        &b,
        tls(&cert, "tls_cipher_policy_1_2_strict_with_1_3", false),
    );
    let (ka, kc) = (a.key.clone(), c.key.clone());
    for (k, r) in dp.apply_http(vec![a, c]).await {
        r.unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    let (only12, with13) = (dp.local_addr(&ka).unwrap(), dp.local_addr(&kc).unwrap());
    let tls13 = client(&cert.2, &[], &[&rustls::version::TLS13], None);
    let tls12 = client(&cert.2, &[], &[&rustls::version::TLS12], None);
    assert!(
        connect(&tls13, only12, "a.test").await.is_err(),
        "TLS 1.3 refused by a 1.2 policy"
    );
    let mut s = connect(&tls12, only12, "a.test").await.unwrap();
    assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
    let mut s = connect(&tls13, with13, "a.test").await.unwrap();
    assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn session_resumption_follows_the_listener_setting() {
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let dp = DataPlane::new();
    let policy = "tls_cipher_policy_1_2_strict_with_1_3";
    let on = https_spec(124, &b, tls(&cert, policy, false));
    let mut off_tls = tls(&cert, policy, false);
    off_tls.resumption = false;
    let off = https_spec(125, &b, off_tls);
    let (kon, koff) = (on.key.clone(), off.key.clone());
    for (k, r) in dp.apply_http(vec![on, off]).await {
        r.unwrap_or_else(|e| panic!("{k}: {e}"));
    }
    for (key, versions, resumes) in [
        (&kon, &[&rustls::version::TLS13][..], true),
        (&kon, &[&rustls::version::TLS12][..], true),
        (&koff, &[&rustls::version::TLS13][..], false),
        (&koff, &[&rustls::version::TLS12][..], false),
    ] {
        let addr = dp.local_addr(key).unwrap();
        // One client configuration, so its session cache carries over.
        let c = client(&cert.2, &[], versions, None);
        let mut kinds = Vec::new();
        for _ in 0..2 {
            let mut s = connect(&c, addr, "a.test").await.unwrap();
            // The response makes the client read the TLS 1.3 tickets sent after the handshake.
            assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
            kinds.push(s.get_ref().1.handshake_kind().unwrap());
        }
        let expected = if resumes {
            rustls::HandshakeKind::Resumed
        } else {
            rustls::HandshakeKind::Full
        };
        assert_eq!(kinds[0], rustls::HandshakeKind::Full);
        assert_eq!(kinds[1], expected, "{key} {versions:?}");
    }
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mutual_tls_requires_a_client_certificate_from_the_ca() {
    let b = HttpBackend::start("b").await;
    let server = self_signed("a.test");
    // A CA and a client certificate it issued.
    let ca_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Client CA");
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let client_params = CertificateParams::new(vec!["client.test".to_string()]).unwrap();
    let client_cert = client_params.signed_by(&client_key, &ca, &ca_key).unwrap();
    let foreign = self_signed("foreign.test");

    let dp = DataPlane::new();
    let mut settings = tls(&server, "tls_cipher_policy_1_2_strict_with_1_3", false);
    settings.client_ca_pem = Some(ca.pem());
    let addr = start(&dp, https_spec(124, &b, settings)).await;

    let good = client(
        &server.2,
        &[],
        BOTH,
        Some((&client_cert.pem(), &client_key.serialize_pem())),
    );
    let mut s = connect(&good, addr, "a.test").await.unwrap();
    assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));

    // TLS 1.3 reports a refused client certificate after the handshake, on first use.
    for refused in [
        client(&server.2, &[], BOTH, None),
        client(&server.2, &[], BOTH, Some((&foreign.0, &foreign.1))),
    ] {
        let result = match connect(&refused, addr, "a.test").await {
            Err(_) => true,
            Ok(mut s) => match get(&mut s, "/").await {
                Err(_) => true,
                Ok(out) => !out.starts_with("HTTP/1.1 200"),
            },
        };
        assert!(
            result,
            "a client without a certificate from the CA is refused"
        );
    }
    assert_eq!(b.hits.load(std::sync::atomic::Ordering::Relaxed), 1);
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_applies_to_new_handshakes_and_keeps_established_connections() {
    let b = HttpBackend::start("b").await;
    let old = self_signed("a.test");
    let new = self_signed("a.test");
    let dp = DataPlane::new();
    let spec = https_spec(
        125,
        &b,
        tls(&old, "tls_cipher_policy_1_2_strict_with_1_3", false),
    );
    let addr = start(&dp, spec.clone()).await;
    let trusts_old = client(&old.2, &[], BOTH, None);
    let trusts_new = client(&new.2, &[], BOTH, None);
    let mut established = connect(&trusts_old, addr, "a.test").await.unwrap();
    assert!(get(&mut established, "/")
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));

    let mut rotated = spec;
    rotated.tls = Some(tls(&new, "tls_cipher_policy_1_2_strict_with_1_3", false));
    assert_eq!(start(&dp, rotated).await, addr, "same socket, not rebound");
    assert!(
        connect(&trusts_old, addr, "a.test").await.is_err(),
        "new handshakes see the new certificate"
    );
    let mut s = connect(&trusts_new, addr, "a.test").await.unwrap();
    assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
    let out = get(&mut established, "/still").await.unwrap();
    assert!(
        out.contains("x-seen-uri: /still"),
        "established connection kept: {out}"
    );
    dp.shutdown().await;
}

/// Certificates rotated back and forth while clients keep opening connections: every
/// handshake and request succeeds, and both certificates are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_under_load_fails_no_request() {
    let b = HttpBackend::start("b").await;
    let certs = [self_signed("a.test"), self_signed("a.test")];
    let dp = DataPlane::new();
    let policy = "tls_cipher_policy_1_2_strict_with_1_3";
    let spec = https_spec(128, &b, tls(&certs[0], policy, false));
    let addr = start(&dp, spec.clone()).await;
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots.add(c.2.clone()).unwrap();
    }
    let config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
    let trusts_both = TlsConnector::from(Arc::new(config));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut clients = Vec::new();
    for _ in 0..4 {
        let (c, stop) = (trusts_both.clone(), stop.clone());
        clients.push(tokio::spawn(async move {
            let (mut ok, mut failed, mut seen) = (0u32, 0u32, Vec::new());
            // Bounded: at most 2,000 connections per client, or until told to stop.
            for _ in 0..2_000 {
                if stop.load(std::sync::atomic::Ordering::Relaxed) {
                    break;
                }
                match connect(&c, addr, "a.test").await {
                    Ok(mut s) => {
                        let leaf = s.get_ref().1.peer_certificates().unwrap()[0].clone();
                        match get(&mut s, "/").await {
                            Ok(r) if r.starts_with("HTTP/1.1 200") => ok += 1,
                            _ => failed += 1,
                        }
                        if !seen.contains(&leaf) {
                            seen.push(leaf);
                        }
                    }
                    Err(_) => failed += 1,
                }
            }
            (ok, failed, seen)
        }));
    }
    for i in 1..=10 {
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let mut rotated = spec.clone();
        rotated.tls = Some(tls(&certs[i % 2], policy, false));
        assert_eq!(start(&dp, rotated).await, addr);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let (mut ok, mut failed, mut seen) = (0, 0, Vec::new());
    for c in clients {
        let (o, f, s) = c.await.unwrap();
        ok += o;
        failed += f;
        seen.extend(s);
    }
    assert_eq!(failed, 0, "{ok} requests succeeded");
    assert!(ok > 20, "{ok} requests");
    assert!(seen.contains(&certs[0].2) && seen.contains(&certs[1].2));
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sni_picks_exact_then_wildcard_then_the_listener_certificate() {
    let b = HttpBackend::start("b").await;
    let default = self_signed("default.test");
    let exact = self_signed("www.example.com");
    let wild = self_signed("api.example.com");
    let mut settings = tls(&default, "tls_cipher_policy_1_2_strict_with_1_3", false);
    settings.sni = vec![
        slb_tls::SniCertificate {
            domain: "www.example.com".into(),
            chain_pem: exact.0.clone(),
            key: slb_tls::TlsKey::Pem(exact.1.clone()),
        },
        slb_tls::SniCertificate {
            domain: "*.example.com".into(),
            chain_pem: wild.0.clone(),
            key: slb_tls::TlsKey::Pem(wild.1.clone()),
        },
    ];
    let dp = DataPlane::new();
    let addr = start(&dp, https_spec(126, &b, settings)).await;
    // Each client trusts only the certificate it should get, so a handshake proves the pick.
    let cases: [(
        &str,
        &(String, String, rustls::pki_types::CertificateDer<'static>),
    ); 3] = [
        ("www.example.com", &exact),
        ("api.example.com", &wild),
        ("default.test", &default),
    ];
    for (sni, cert) in cases {
        let c = client(&cert.2, &[], BOTH, None);
        let mut s = connect(&c, addr, sni)
            .await
            .unwrap_or_else(|e| panic!("{sni}: {e}"));
        assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
    }
    let c = client(&default.2, &[], BOTH, None);
    assert!(
        connect(&c, addr, "www.example.com").await.is_err(),
        "the exact name does not get the default"
    );
    dp.shutdown().await;
}

#[derive(Default)]
struct Collect(std::sync::Mutex<Vec<slb_dataplane::AccessLogEntry>>);

impl slb_dataplane::AccessLog for Collect {
    fn log(&self, entry: &slb_dataplane::AccessLogEntry) {
        self.0.lock().unwrap().push(entry.clone());
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_counted_and_tls_details_logged() {
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let log = Arc::new(Collect::default());
    let dp = DataPlane::new().with_access_log(log.clone());
    let addr = serve(&dp, 127, &b, &cert, "tls_cipher_policy_1_2", false).await;
    let ok = client(&cert.2, &[], BOTH, None);
    let mut s = connect(&ok, addr, "a.test").await.unwrap();
    assert!(get(&mut s, "/").await.unwrap().starts_with("HTTP/1.1 200"));
    // The same client again: it offers the session it was given, and the listener resumes it.
    let mut again = connect(&ok, addr, "a.test").await.unwrap();
    assert!(get(&mut again, "/")
        .await
        .unwrap()
        .starts_with("HTTP/1.1 200"));
    let tls13_only = client(&cert.2, &[], &[&rustls::version::TLS13], None);
    assert!(connect(&tls13_only, addr, "a.test").await.is_err());

    let deadline = std::time::Instant::now() + STEP;
    let (mut entries, mut m) = (Vec::new(), String::new());
    while std::time::Instant::now() < deadline {
        entries = log.0.lock().unwrap().clone();
        m.clear();
        dp.render_metrics(&mut m);
        if !entries.is_empty() && m.contains("slb_tls_handshake_failures_total{load_balancer_id=\"lb-http\",port=\"127\",protocol=\"https\"} 1") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(entries[0].ssl_protocol, "TLSv1.2");
    assert!(
        entries[0].ssl_cipher.starts_with("TLS_ECDHE_"),
        "{}",
        entries[0].ssl_cipher
    );
    assert!(m.contains("slb_tls_handshakes_total{load_balancer_id=\"lb-http\",port=\"127\",protocol=\"https\"} 2"), "{m}");
    assert!(m.contains("slb_tls_resumed_handshakes_total{load_balancer_id=\"lb-http\",port=\"127\",protocol=\"https\"} 1"), "{m}");
    assert!(m.contains("slb_tls_handshake_failures_total{load_balancer_id=\"lb-http\",port=\"127\",protocol=\"https\"} 1"), "{m}");
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connection_close_ends_with_close_notify() {
    let b = HttpBackend::start("b").await;
    let cert = self_signed("a.test");
    let dp = DataPlane::new();
    let addr = serve(
        &dp,
        128,
        &b,
        &cert,
        "tls_cipher_policy_1_2_strict_with_1_3",
        false,
    )
    .await;
    let c = client(&cert.2, &[], BOTH, None);
    let mut s = connect(&c, addr, "a.test").await.unwrap();
    s.write_all(b"GET / HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut out = Vec::new();
    // rustls reports a missing close_notify as UnexpectedEof; a clean end reads to Ok.
    tokio::time::timeout(STEP, s.read_to_end(&mut out))
        .await
        .unwrap()
        .expect("the balancer sent close_notify");
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200"));
    dp.shutdown().await;
}
