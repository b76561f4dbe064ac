//! Runs `slb-bench idle-conns` against a small in-test keep-alive HTTP server and checks
//! that the connections it reports are really open on the server side.

use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// Answers each request head with a 100-byte body and Content-Length, keeps connections
/// alive, and counts the connections currently open.
async fn server() -> (std::net::SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let open = Arc::new(AtomicUsize::new(0));
    let counter = open.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let open = counter.clone();
            open.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while let Ok(n) = s.read(&mut chunk).await {
                    if n == 0 {
                        break;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    while let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                        buf.drain(..i + 4);
                        let mut resp = b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n".to_vec();
                        resp.extend_from_slice(&[b'x'; 100]);
                        if s.write_all(&resp).await.is_err() {
                            break;
                        }
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (addr, open)
}

async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn holds_every_connection_until_sigterm() {
    let (addr, open) = server().await;
    let dir = tempfile::tempdir().unwrap();
    let ready = dir.path().join("ready");
    let child = Command::new(env!("CARGO_BIN_EXE_slb-bench"))
        .args(["idle-conns", "--conns", "200", "--hold", "30"])
        .args(["--addr", &addr.to_string()])
        .arg("--ready-file")
        .arg(&ready)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = nix::unistd::Pid::from_raw(child.id() as i32);
    let mut child = Guard(child);
    wait_until("the ready file", Duration::from_secs(10), || ready.exists()).await;
    assert_eq!(std::fs::read_to_string(&ready).unwrap(), "ready 200\n");
    // Every connection is open on the server's side too, and stays open while held.
    wait_until("200 open connections", Duration::from_secs(5), || {
        open.load(Ordering::SeqCst) == 200
    })
    .await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(open.load(Ordering::SeqCst), 200);

    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(s) = child.0.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "idle-conns ignored SIGTERM");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut stdout = String::new();
    std::io::Read::read_to_string(child.0.stdout.as_mut().unwrap(), &mut stdout).unwrap();
    assert!(status.success(), "exit {status}; stdout {stdout}");
    assert!(
        stdout.contains("established 200 failed 0 still_open 200 of 200"),
        "{stdout}"
    );
    wait_until("the connections to close", Duration::from_secs(5), || {
        open.load(Ordering::SeqCst) == 0
    })
    .await;
}

#[test]
fn refuses_more_connections_than_the_descriptor_limit() {
    let out = Command::new(env!("CARGO_BIN_EXE_slb-bench"))
        .args(["idle-conns", "--conns", "2000000000", "--hold", "0"])
        .args(["--addr", "127.0.0.1:9"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("RLIMIT_NOFILE"), "{err}");
}

/// Kills the child (by its own handle, i.e. its PID) if the test panics before it exits.
struct Guard(std::process::Child);

impl Drop for Guard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
