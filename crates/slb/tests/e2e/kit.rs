//! Test kit: the daemon as a child process, naming TCP backends, and a client.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use slb_api::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub const KEY_ID: &str = "LTAItestkey000000001";
pub const KEY_SECRET: &str = "test-secret-0000000000000000001";

/// A running `slb serve` child with its own data directory and address pool.
pub struct Daemon {
    pub dir: PathBuf,
    pub pool: String,
    child: Child,
    pub api: SocketAddr,
    pub client: Client,
    _temp: Option<tempfile::TempDir>,
}

impl Daemon {
    /// Starts a node whose instances get addresses from `pool` (e.g. "127.61.0.0/24"),
    /// distinct per test so tests can run in parallel with fixed listener ports.
    pub async fn start(pool: &str) -> Daemon {
        Self::start_with(pool, &[]).await
    }

    /// Like [`Daemon::start`] with extra `slb serve` arguments.
    pub async fn start_with(pool: &str, extra: &[&str]) -> Daemon {
        let temp = tempfile::tempdir().unwrap();
        let dir = temp.path().to_path_buf();
        let mut d = Self::spawn(&dir, pool, extra).await;
        d._temp = Some(temp);
        d
    }

    async fn spawn(dir: &Path, pool: &str, extra: &[&str]) -> Daemon {
        let _ = std::fs::remove_file(dir.join("api.addr"));
        let child = Command::new(env!("CARGO_BIN_EXE_slb"))
            .args(["serve", "--api-addr", "127.0.0.1:0", "--region", "local"])
            .args(["--zone", "local-a", "--zone", "local-b"])
            .arg("--data-dir")
            .arg(dir)
            .args(["--address-pool", pool])
            .args(extra)
            .env("SLB_ACCESS_KEY_ID", KEY_ID)
            .env("SLB_ACCESS_KEY_SECRET", KEY_SECRET)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .expect("start slb serve");
        let deadline = Instant::now() + Duration::from_secs(20);
        let api = loop {
            if let Ok(s) = std::fs::read_to_string(dir.join("api.addr")) {
                if let Ok(a) = s.trim().parse::<SocketAddr>() {
                    break a;
                }
            }
            assert!(Instant::now() < deadline, "daemon did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let client = Client::new(&format!("http://{api}"), KEY_ID, KEY_SECRET);
        Daemon {
            dir: dir.to_path_buf(),
            pool: pool.to_string(),
            child,
            api,
            client,
            _temp: None,
        }
    }

    /// `kill -9` and start again on the same data directory.
    pub async fn kill9_and_restart(mut self) -> Daemon {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        let temp = self._temp.take();
        let mut d = Self::spawn(&self.dir, &self.pool, &[]).await;
        d._temp = temp;
        d
    }

    /// Sends SIGTERM and waits (bounded) for the process to exit; returns its exit status.
    pub async fn terminate(mut self) -> std::process::ExitStatus {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "slb serve did not exit on SIGTERM"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Calls an action that must succeed.
    pub async fn ok(&self, action: &str, params: &[(&str, &str)]) -> Value {
        match self.client.call(action, params).await {
            Ok(mut v) => {
                assert!(
                    v["RequestId"].is_string(),
                    "{action} answer has a RequestId"
                );
                v.as_object_mut().unwrap().remove("RequestId");
                v
            }
            Err(e) => panic!("{action} failed: {e}"),
        }
    }

    /// Calls an action that must fail; returns (HTTP status, Code).
    pub async fn err(&self, action: &str, params: &[(&str, &str)]) -> (u16, String) {
        match self.client.call(action, params).await {
            Ok(v) => panic!("{action} unexpectedly succeeded: {v}"),
            Err(e) => (e.status, e.code),
        }
    }

    /// The store revision from /metrics: proves whether a refused call changed anything.
    pub async fn revision(&self) -> u64 {
        let text = reqwest::get(format!("http://{}/metrics", self.api))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| l.strip_prefix("slb_store_revision "))
            .and_then(|v| v.trim().parse().ok())
            .expect("slb_store_revision in /metrics")
    }

    /// /metrics as text.
    pub async fn metrics(&self) -> String {
        reqwest::get(format!("http://{}/metrics", self.api))
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Creates an instance (address from the pool) and returns (id, address).
    pub async fn create_lb(&self) -> (String, IpAddr) {
        let v = self
            .ok("CreateLoadBalancer", &[("LoadBalancerName", "t")])
            .await;
        (
            v["LoadBalancerId"].as_str().unwrap().to_string(),
            v["Address"].as_str().unwrap().parse().unwrap(),
        )
    }

    /// Creates and starts a TCP listener on `port` whose VServer group holds `backends`
    /// with the given weights. Extra listener parameters are passed through.
    pub async fn tcp_listener(
        &self,
        lb: &str,
        port: u16,
        backends: &[(&Backend, u32)],
        extra: &[(&str, &str)],
    ) -> String {
        let members: Vec<Value> = backends
            .iter()
            .map(|(b, w)| {
                serde_json::json!({"ServerId": "127.0.0.1", "Type": "ip", "Port": b.addr.port(), "Weight": w})
            })
            .collect();
        let g = self
            .ok(
                "CreateVServerGroup",
                &[
                    ("LoadBalancerId", lb),
                    ("VServerGroupName", "g"),
                    ("BackendServers", &serde_json::to_string(&members).unwrap()),
                ],
            )
            .await;
        let group = g["VServerGroupId"].as_str().unwrap().to_string();
        let port_s = port.to_string();
        let mut params = vec![
            ("LoadBalancerId", lb),
            ("ListenerPort", port_s.as_str()),
            ("VServerGroupId", group.as_str()),
        ];
        params.extend_from_slice(extra);
        self.ok("CreateLoadBalancerTCPListener", &params).await;
        self.ok(
            "StartLoadBalancerListener",
            &[("LoadBalancerId", lb), ("ListenerPort", port_s.as_str())],
        )
        .await;
        group
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A TCP backend that greets every connection with its name and a newline, then echoes.
pub struct Backend {
    pub name: String,
    pub addr: SocketAddr,
    pub accepted: Arc<AtomicUsize>,
    task: Option<JoinHandle<()>>,
}

impl Backend {
    pub async fn start(name: &str) -> Backend {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        Self::serve(name, listener, addr)
    }

    fn serve(name: &str, listener: TcpListener, addr: SocketAddr) -> Backend {
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        let greeting = format!("{name}\n");
        let task = tokio::spawn(async move {
            let mut conns = tokio::task::JoinSet::new();
            while let Ok((mut s, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                let greeting = greeting.clone();
                conns.spawn(async move {
                    if s.write_all(greeting.as_bytes()).await.is_err() {
                        return;
                    }
                    let mut buf = [0u8; 4096];
                    loop {
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                if s.write_all(&buf[..n]).await.is_err() {
                                    break;
                                }
                            }
                        }
                    }
                });
            }
        });
        Backend {
            name: name.to_string(),
            addr,
            accepted,
            task: Some(task),
        }
    }

    /// Closes the listening socket and every connection: new connects are refused.
    pub fn kill(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }

    /// Listens again on the same address.
    pub async fn revive(&mut self) {
        let deadline = Instant::now() + Duration::from_secs(5);
        let listener = loop {
            match TcpListener::bind(self.addr).await {
                Ok(l) => break l,
                Err(_) if Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(50)).await
                }
                Err(e) => panic!("rebind {}: {e}", self.addr),
            }
        };
        let fresh = Self::serve(&self.name, listener, self.addr);
        self.accepted = fresh.accepted.clone();
        self.task = fresh.into_task();
    }

    fn into_task(mut self) -> Option<JoinHandle<()>> {
        self.task.take()
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Connects (optionally from a given source IP) and reads the backend's name.
pub async fn hello_from(addr: SocketAddr, source: Option<IpAddr>) -> Option<(String, TcpStream)> {
    let work = async {
        let stream = match source {
            Some(ip) => {
                let sock = TcpSocket::new_v4().ok()?;
                sock.bind(SocketAddr::new(ip, 0)).ok()?;
                sock.connect(addr).await.ok()?
            }
            None => TcpStream::connect(addr).await.ok()?,
        };
        let mut stream = stream;
        let mut name = Vec::new();
        let mut byte = [0u8; 1];
        loop {
            let n = stream.read(&mut byte).await.ok()?;
            if n == 0 {
                return None;
            }
            if byte[0] == b'\n' {
                break;
            }
            name.push(byte[0]);
        }
        Some((String::from_utf8(name).ok()?, stream))
    };
    tokio::time::timeout(Duration::from_secs(5), work)
        .await
        .ok()
        .flatten()
}

/// The backend name one fresh connection reaches, or None if it failed.
pub async fn hello(addr: SocketAddr) -> Option<String> {
    hello_from(addr, None).await.map(|(n, _)| n)
}

/// Counts which backend each of `n` sequential connections reached.
pub async fn tally(addr: SocketAddr, n: usize) -> std::collections::BTreeMap<String, usize> {
    let mut out = std::collections::BTreeMap::new();
    for _ in 0..n {
        let name = hello(addr).await.unwrap_or_else(|| "<failed>".into());
        *out.entry(name).or_insert(0) += 1;
    }
    out
}

/// Polls `check` every 100 ms until it is true or `limit` passes; returns the time taken.
pub async fn eventually<F, Fut>(limit: Duration, mut check: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if check().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    None
}

/// An HTTP/1.x server that answers `/health` with `health_status` and anything else with
/// 200 and its name; `requests` counts health requests.
pub async fn http_backend(name: &str, health_status: u16) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let probes = Arc::new(AtomicUsize::new(0));
    let count = probes.clone();
    let name = name.to_string();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let (count, name) = (count.clone(), name.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut n = 0;
                while !buf[..n].windows(4).any(|w| w == b"\r\n\r\n") && n < buf.len() {
                    match s.read(&mut buf[n..]).await {
                        Ok(0) | Err(_) => return,
                        Ok(k) => n += k,
                    }
                }
                let head = String::from_utf8_lossy(&buf[..n]).to_string();
                let status = if head.contains(" /health ") {
                    count.fetch_add(1, Ordering::SeqCst);
                    health_status
                } else {
                    200
                };
                let reply = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{name}",
                    name.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    (addr, probes)
}
