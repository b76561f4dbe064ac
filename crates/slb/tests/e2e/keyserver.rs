//! The key server in its own process: private keys uploaded through a node end up there
//! and nowhere in the node's state, every full handshake signs remotely, handshakes fail
//! with an alert while the key server is down (and uploads are refused), and both recover
//! when it is back.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::http::{echo_backend, group};
use crate::https::{https_get, self_signed, upload};
use crate::kit::*;

/// `slb keyserver` as a child process.
struct KeyServer {
    child: Child,
    addr: SocketAddr,
}

impl KeyServer {
    async fn start(data: &Path, listen: &str) -> KeyServer {
        Self::start_with(data, listen, &[]).await
    }

    async fn start_with(data: &Path, listen: &str, extra: &[&str]) -> KeyServer {
        let _ = std::fs::remove_file(data.join("keyserver.addr"));
        let child = Command::new(env!("CARGO_BIN_EXE_slb"))
            .args(["keyserver", "--listen", listen, "--data-dir"])
            .arg(data)
            .args(extra)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start slb keyserver");
        let deadline = Instant::now() + Duration::from_secs(20);
        let addr = loop {
            if let Ok(s) = std::fs::read_to_string(data.join("keyserver.addr")) {
                if let Ok(a) = s.trim().parse::<SocketAddr>() {
                    break a;
                }
            }
            assert!(Instant::now() < deadline, "key server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        KeyServer { child, addr }
    }

    fn kill(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for KeyServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' '))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} in /metrics"))
}

/// The body lines of a PEM key: what must not appear in a file that should not hold it.
fn key_body(pem: &str) -> Vec<String> {
    pem.lines()
        .filter(|l| !l.starts_with("-----"))
        .map(str::to_string)
        .collect()
}

fn file_contains(path: &Path, needle: &str) -> bool {
    let bytes = std::fs::read(path).unwrap();
    bytes.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handshakes_sign_on_the_key_server_and_survive_its_outage() {
    let ks_dir = tempfile::tempdir().unwrap();
    let mut ks = KeyServer::start(ks_dir.path(), "127.0.0.1:0").await;
    let tls_dir: PathBuf = ks_dir.path().join("pki");
    let addr = ks.addr.to_string();
    let d = Daemon::start_with(
        "127.61.81.0/24",
        &[
            "--keyserver",
            &addr,
            "--keyserver-tls-dir",
            tls_dir.to_str().unwrap(),
        ],
    )
    .await;

    let cert = self_signed("secure.test");
    let cert_id = upload(&d, &cert).await;
    // The key is on the key server, and not in the node's database file.
    for line in key_body(&cert.1) {
        assert!(
            !file_contains(&d.dir.join("slb.redb"), &line),
            "the node's state holds the private key"
        );
    }
    assert!(file_contains(
        &ks_dir.path().join("keys.redb"),
        &key_body(&cert.1)[0]
    ));

    let ip = https_listener(&d, &cert_id, "remote-key").await;

    // Each https_get is a new client configuration, so a full handshake.
    for _ in 0..3 {
        let out = https_get(ip, 8443, &cert.2).await.expect("remote-key TLS");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    let m = d.metrics().await;
    assert!(metric(&m, "slb_keyserver_signatures_total") >= 3.0, "{m}");
    assert_eq!(metric(&m, "slb_keyserver_sign_failures_total"), 0.0);

    // Key server down: handshakes fail cleanly (alert), counted; uploads are refused.
    ks.kill();
    let err = https_get(ip, 8443, &cert.2)
        .await
        .expect_err("no signature without the key server");
    assert!(err.to_string().contains("alert"), "{err}");
    let m = d.metrics().await;
    assert!(
        metric(&m, "slb_keyserver_sign_failures_total") >= 1.0,
        "{m}"
    );
    let other = self_signed("other.test");
    let (status, code) = d
        .err(
            "UploadServerCertificate",
            &[("ServerCertificate", &other.0), ("PrivateKey", &other.1)],
        )
        .await;
    assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"));

    // Back on the same address and key file: handshakes recover by themselves.
    let _ks = KeyServer::start(ks_dir.path(), &addr).await;
    let back = eventually(Duration::from_secs(10), || async {
        https_get(ip, 8443, &cert.2)
            .await
            .is_ok_and(|o| o.starts_with("HTTP/1.1 200"))
    })
    .await;
    assert!(
        back.is_some(),
        "handshakes recover once the key server is back"
    );
    upload(&d, &other).await;
}

/// Two key servers with one CA (`slb keyserver pki`): uploads store the key on both, and
/// handshakes go on through the second while the first is down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_key_server_takes_over() {
    let dir = tempfile::tempdir().unwrap();
    let pki_dir = dir.path().join("pki");
    let made = Command::new(env!("CARGO_BIN_EXE_slb"))
        .args(["keyserver", "pki", "--name", "127.0.0.1", "--dir"])
        .arg(&pki_dir)
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(made.success());
    let pki = pki_dir.to_str().unwrap();
    let (one_dir, two_dir) = (dir.path().join("one"), dir.path().join("two"));
    let mut one = KeyServer::start_with(&one_dir, "127.0.0.1:0", &["--tls-dir", pki]).await;
    let mut two = KeyServer::start_with(&two_dir, "127.0.0.1:0", &["--tls-dir", pki]).await;
    let both = format!("{},{}", one.addr, two.addr);
    let d = Daemon::start_with(
        "127.61.95.0/24",
        &["--keyserver", &both, "--keyserver-tls-dir", pki],
    )
    .await;

    let cert = self_signed("secure.test");
    let cert_id = upload(&d, &cert).await;
    for ks in [&one_dir, &two_dir] {
        assert!(file_contains(&ks.join("keys.redb"), &key_body(&cert.1)[0]));
    }
    let ip = https_listener(&d, &cert_id, "ha").await;
    let out = https_get(ip, 8443, &cert.2)
        .await
        .expect("TLS through the first");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");

    one.kill();
    for _ in 0..3 {
        let out = https_get(ip, 8443, &cert.2)
            .await
            .expect("TLS through the second");
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    }
    let other = self_signed("other.test");
    let (status, code) = d
        .err(
            "UploadServerCertificate",
            &[("ServerCertificate", &other.0), ("PrivateKey", &other.1)],
        )
        .await;
    assert_eq!((status, code.as_str()), (503, "ServiceUnavailable"));

    two.kill();
    let err = https_get(ip, 8443, &cert.2)
        .await
        .expect_err("no signature without any key server");
    assert!(err.to_string().contains("alert"), "{err}");
}

async fn https_listener(d: &Daemon, cert_id: &str, name: &str) -> std::net::IpAddr {
    let (lb, ip) = d.create_lb().await;
    let g = group(d, &lb, &[echo_backend(name).await]).await;
    d.ok(
        "CreateLoadBalancerHTTPSListener",
        &[
            ("LoadBalancerId", &lb),
            ("ListenerPort", "8443"),
            ("VServerGroupId", &g),
            ("HealthCheck", "off"),
            ("Bandwidth", "-1"),
            ("StickySession", "off"),
            ("ServerCertificateId", cert_id),
            ("TLSCipherPolicy", "tls_cipher_policy_1_2_strict_with_1_3"),
        ],
    )
    .await;
    d.ok(
        "StartLoadBalancerListener",
        &[("LoadBalancerId", &lb), ("ListenerPort", "8443")],
    )
    .await;
    ip
}

/// `slb serve --keyserver-listen`: the node runs the key server role itself, keeps its own
/// keys there rather than in its state, and a second node uses it like a standalone one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_can_run_the_key_server_for_itself_and_others() {
    let first = Daemon::start_with("127.61.82.0/24", &["--keyserver-listen", "127.0.0.1:0"]).await;
    let ks_dir = first.dir.join("keyserver");
    let addr = std::fs::read_to_string(ks_dir.join("keyserver.addr")).unwrap();
    let cert = self_signed("secure.test");
    let cert_id = upload(&first, &cert).await;
    let line = &key_body(&cert.1)[0];
    assert!(!file_contains(&first.dir.join("slb.redb"), line));
    assert!(file_contains(&ks_dir.join("keys.redb"), line));
    let ip = https_listener(&first, &cert_id, "in-process").await;
    let out = https_get(ip, 8443, &cert.2)
        .await
        .expect("TLS via the in-process key server");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");

    let second = Daemon::start_with(
        "127.61.83.0/24",
        &[
            "--keyserver",
            addr.trim(),
            "--keyserver-tls-dir",
            ks_dir.join("pki").to_str().unwrap(),
        ],
    )
    .await;
    let cert2 = self_signed("secure.test");
    let cert2_id = upload(&second, &cert2).await;
    assert!(file_contains(
        &ks_dir.join("keys.redb"),
        &key_body(&cert2.1)[0]
    ));
    let ip2 = https_listener(&second, &cert2_id, "second-node").await;
    let out = https_get(ip2, 8443, &cert2.2)
        .await
        .expect("TLS via the first node's key server");
    assert!(out.starts_with("HTTP/1.1 200"), "{out}");
    let m = second.metrics().await;
    assert!(metric(&m, "slb_keyserver_signatures_total") >= 1.0, "{m}");
}
