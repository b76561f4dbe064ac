//! A real key server on 127.0.0.1 and a node-side client: keys stored over mutual TLS,
//! full TLS 1.2 and 1.3 handshakes (RSA and ECDSA) whose signature the key server
//! computes, refusals for unknown keys, bad keys and foreign node identities, and a clean
//! alert when the key server is gone.

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, ServerConfig, ServerConnection};
use slb_keyserver::proto::Status;
use slb_keyserver::{pki, KeyServerClient, KeyServerError, KeyStore};
use slb_tls::{RemoteKey, TlsKey, TlsSettings};

struct Running {
    addr: std::net::SocketAddr,
    stop: tokio::sync::watch::Sender<bool>,
    thread: std::thread::JoinHandle<()>,
}

/// A key server on its own runtime thread.
fn start(pki_dir: &std::path::Path, keys: &std::path::Path) -> Running {
    let tls = pki::server_config(pki_dir).unwrap();
    let store = Arc::new(KeyStore::open(keys).unwrap());
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(l.local_addr().unwrap()).unwrap();
            slb_keyserver::server::serve(l, tls, store, stopped)
                .await
                .unwrap();
        });
    });
    Running {
        addr: rx.recv().unwrap(),
        stop,
        thread,
    }
}

/// Drives a client and a server connection in memory until both finish the handshake.
fn handshake(server: Arc<ServerConfig>, client: Arc<ClientConfig>) -> Result<(), String> {
    let name = ServerName::try_from("rsa.test").unwrap();
    let mut c = ClientConnection::new(client, name).map_err(|e| e.to_string())?;
    let mut s = ServerConnection::new(server).map_err(|e| e.to_string())?;
    for _ in 0..10 {
        let mut buf = Vec::new();
        c.write_tls(&mut buf).unwrap();
        s.read_tls(&mut &buf[..]).unwrap();
        let server_result = s.process_new_packets().map(drop);
        let mut buf = Vec::new();
        s.write_tls(&mut buf).unwrap();
        c.read_tls(&mut &buf[..]).unwrap();
        c.process_new_packets()
            .map_err(|e| format!("client: {e}"))?;
        server_result.map_err(|e| format!("server: {e}"))?;
        if !c.is_handshaking() && !s.is_handshaking() {
            return Ok(());
        }
    }
    Err("handshake did not finish".into())
}

/// Accepts exactly one certificate (the test's RSA certificate is self-signed as a CA,
/// which path validation refuses as a leaf) but verifies the handshake signature with its
/// public key, which is what remote signing must get right.
#[derive(Debug)]
struct PinnedCert(CertificateDer<'static>);

impl rustls::client::danger::ServerCertVerifier for PinnedCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _: &[CertificateDer<'_>],
        _: &ServerName<'_>,
        _: &[u8],
        _: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        if end_entity.as_ref() == self.0.as_ref() {
            Ok(rustls::client::danger::ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General("unexpected certificate".into()))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &rustls::crypto::ring::default_provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        rustls::crypto::ring::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn client_trusting(cert_pem: &str, tls13: bool) -> Arc<ClientConfig> {
    let pinned = PinnedCert(CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap());
    let versions: &[&rustls::SupportedProtocolVersion] = if tls13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS12]
    };
    Arc::new(
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_protocol_versions(versions)
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(pinned))
            .with_no_client_auth(),
    )
}

fn remote_settings(client: &Arc<KeyServerClient>, id: &str, chain: &str) -> TlsSettings {
    let ready = client.clone();
    TlsSettings {
        chain_pem: chain.into(),
        key: TlsKey::Remote(RemoteKey {
            id: id.into(),
            signer: client.remote_key(id, slb_tls::key_kind(chain).unwrap()),
            ready: Arc::new(move || ready.ready()),
        }),
        client_ca_pem: None,
        policy: "tls_cipher_policy_1_2_strict_with_1_3".into(),
        http2: false,
        resumption: true,
        sni: Vec::new(),
        custom: None,
    }
}

#[test]
fn handshakes_sign_remotely_and_fail_cleanly_without_the_key_server() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::generate(&pki_dir, &["127.0.0.1".into()]).unwrap();
    let ks = start(&pki_dir, &dir.path().join("keys.redb"));
    let client =
        KeyServerClient::new(&ks.addr.to_string(), pki::client_config(&pki_dir).unwrap()).unwrap();

    // RSA (PKCS#8) and ECDSA P-256 keys, each over TLS 1.2 and 1.3.
    let rsa = (
        include_str!("../../slb-tls/testdata/rsa.crt").to_string(),
        include_str!("../../slb-tls/testdata/rsa.key").to_string(),
    );
    let ec_key = rcgen::KeyPair::generate().unwrap();
    let ec_cert = rcgen::CertificateParams::new(vec!["rsa.test".to_string()])
        .unwrap()
        .self_signed(&ec_key)
        .unwrap();
    let ec = (ec_cert.pem(), ec_key.serialize_pem());
    for (id, (chain, key)) in [("cert-rsa", &rsa), ("cert-ec", &ec)] {
        client.put(id, key).unwrap();
        let server = slb_tls::server_config(&remote_settings(&client, id, chain)).unwrap();
        for tls13 in [false, true] {
            handshake(server.clone(), client_trusting(chain, tls13))
                .unwrap_or_else(|e| panic!("{id} tls13={tls13}: {e}"));
        }
    }
    assert_eq!(
        client
            .stats
            .signatures
            .load(std::sync::atomic::Ordering::Relaxed),
        4
    );

    // Refusals: an unknown key, a key that is not a key.
    assert!(matches!(
        client.sign(
            "cert-none",
            rustls::SignatureScheme::ECDSA_NISTP256_SHA256,
            b"x"
        ),
        Err(KeyServerError::Refused(Status::NotFound, _))
    ));
    assert!(matches!(
        client.put("cert-bad", "not a key"),
        Err(KeyServerError::Refused(Status::BadRequest, _))
    ));

    // A node whose certificate another CA issued is refused by the key server.
    let other = tempfile::tempdir().unwrap();
    pki::generate(other.path(), &["127.0.0.1".into()]).unwrap();
    // Trust the real key server, present the foreign node certificate.
    let mut roots = RootCertStore::empty();
    let ca = std::fs::read(pki_dir.join(pki::CA_CERT)).unwrap();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let node_cert = std::fs::read(other.path().join(pki::NODE_CERT)).unwrap();
    let node_key = std::fs::read(other.path().join(pki::NODE_KEY)).unwrap();
    let foreign_config =
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_client_auth_cert(
                vec![CertificateDer::from_pem_slice(&node_cert).unwrap()],
                rustls::pki_types::PrivateKeyDer::from_pem_slice(&node_key).unwrap(),
            )
            .unwrap();
    let foreign = KeyServerClient::new(&ks.addr.to_string(), Arc::new(foreign_config)).unwrap();
    assert!(matches!(
        foreign.put("cert-x", &ec.1),
        Err(KeyServerError::Unreachable(..) | KeyServerError::Io(_))
    ));

    // Key server gone: the handshake is refused with an alert before the server's
    // first flight (the client sees an alert, not a torn connection).
    ks.stop.send(true).unwrap();
    ks.thread.join().unwrap();
    let server = slb_tls::server_config(&remote_settings(&client, "cert-ec", &ec.0)).unwrap();
    let err = handshake(server, client_trusting(&ec.0, true)).unwrap_err();
    assert!(err.contains("alert"), "{err}");
}

/// Two key servers with one CA: every key is stored on both, a handshake is signed by
/// whichever answers (the first one down, or lacking the key, passes to the second), and
/// an upload needs both.
#[test]
fn a_second_key_server_signs_while_the_first_is_down() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    pki::generate(&pki_dir, &["127.0.0.1".into()]).unwrap();
    let first = start(&pki_dir, &dir.path().join("keys-1.redb"));
    let second = start(&pki_dir, &dir.path().join("keys-2.redb"));
    let tls = pki::client_config(&pki_dir).unwrap();
    let both = format!("{},{}", first.addr, second.addr);
    let client = KeyServerClient::new(&both, tls.clone()).unwrap();
    assert_eq!(client.addr(), both);

    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["rsa.test".to_string()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    let (chain, pem) = (cert.pem(), key.serialize_pem());
    client.put("cert-ha", &pem).unwrap();
    // Each key server has it on its own.
    for ks in [&first, &second] {
        let alone = KeyServerClient::new(&ks.addr.to_string(), tls.clone()).unwrap();
        assert!(alone
            .sign(
                "cert-ha",
                rustls::SignatureScheme::ECDSA_NISTP256_SHA256,
                b"m"
            )
            .is_ok());
    }
    // A key only the second has (it was down when the first got it, say) is still signed.
    let only_second = KeyServerClient::new(&second.addr.to_string(), tls.clone()).unwrap();
    only_second.put("cert-late", &pem).unwrap();
    assert!(client
        .sign(
            "cert-late",
            rustls::SignatureScheme::ECDSA_NISTP256_SHA256,
            b"m"
        )
        .is_ok());

    // The first stops: handshakes go on through the second.
    first.stop.send(true).unwrap();
    first.thread.join().unwrap();
    let server = slb_tls::server_config(&remote_settings(&client, "cert-ha", &chain)).unwrap();
    for tls13 in [false, true] {
        handshake(server.clone(), client_trusting(&chain, tls13))
            .unwrap_or_else(|e| panic!("tls13={tls13}: {e}"));
    }
    // An upload now fails: the first key server would miss the key.
    assert!(matches!(
        client.put("cert-new", &pem),
        Err(KeyServerError::Unreachable(..) | KeyServerError::Io(_))
    ));

    // Both gone: the handshake is refused with an alert.
    second.stop.send(true).unwrap();
    second.thread.join().unwrap();
    let err = handshake(server, client_trusting(&chain, true)).unwrap_err();
    assert!(err.contains("alert"), "{err}");
}
