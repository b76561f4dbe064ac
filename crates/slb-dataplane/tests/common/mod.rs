//! Test kit: named echo backends, a tiny HTTP backend, and spec/client helpers.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use slb_dataplane::{
    BackendSpec, DataPlane, HealthStatus, ListenerKey, ListenerSpec, SchedulerKind,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// Bound on every single network step of a test.
pub const STEP: Duration = Duration::from_secs(3);

/// A TCP backend that greets each connection with `NAME\n`, echoes what it reads, and on
/// EOF writes `eof:NAME\n` before closing.
pub struct EchoBackend {
    pub name: String,
    pub addr: SocketAddr,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: Option<JoinHandle<()>>,
}

impl EchoBackend {
    pub async fn start(name: &str) -> Self {
        Self::start_on(name, "127.0.0.1:0".parse().unwrap()).await
    }

    pub async fn start_on(name: &str, addr: SocketAddr) -> Self {
        let listener = reuse_bind(addr);
        let addr = listener.local_addr().unwrap();
        let mut b = Self {
            name: name.to_owned(),
            addr,
            tasks: Arc::default(),
            accept: None,
        };
        b.spawn(listener);
        b
    }

    fn spawn(&mut self, listener: TcpListener) {
        let name = self.name.clone();
        let tasks = self.tasks.clone();
        self.accept = Some(tokio::spawn(async move {
            while let Ok((s, _)) = listener.accept().await {
                let t = tokio::spawn(echo(s, name.clone()));
                tasks.lock().unwrap().push(t);
            }
        }));
    }

    /// Closes the listening socket and every connection.
    pub async fn kill(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
            let _ = a.await;
        }
        let tasks: Vec<_> = self.tasks.lock().unwrap().drain(..).collect();
        for t in tasks {
            t.abort();
            let _ = t.await;
        }
    }

    /// Listens again on the same address.
    pub async fn restart(&mut self) {
        let listener = reuse_bind(self.addr);
        self.spawn(listener);
    }

    pub fn spec(&self, weight: u32) -> BackendSpec {
        BackendSpec {
            server_id: self.name.clone(),
            addr: self.addr,
            weight,
        }
    }
}

impl Drop for EchoBackend {
    fn drop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }
}

async fn echo(mut s: TcpStream, name: String) {
    if s.write_all(format!("{name}\n").as_bytes()).await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf).await {
            Ok(0) => {
                let _ = s.write_all(format!("eof:{name}\n").as_bytes()).await;
                let _ = s.shutdown().await;
                return;
            }
            Ok(n) => {
                if s.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
            Err(_) => return,
        }
    }
}

fn reuse_bind(addr: SocketAddr) -> TcpListener {
    let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.set_nonblocking(true).unwrap();
    s.bind(&addr.into()).unwrap();
    s.listen(128).unwrap();
    TcpListener::from_std(s.into()).unwrap()
}

/// A minimal HTTP backend: `200` for path `/ok`, `404` otherwise.
pub async fn http_backend() -> (SocketAddr, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut r = BufReader::new(s);
                let mut line = String::new();
                if r.read_line(&mut line).await.is_err() {
                    return;
                }
                let code = if line.split(' ').nth(1) == Some("/ok") {
                    "200 OK"
                } else {
                    "404 Not Found"
                };
                let _ = r
                    .get_mut()
                    .write_all(format!("HTTP/1.0 {code}\r\nContent-Length: 0\r\n\r\n").as_bytes())
                    .await;
            });
        }
    });
    (addr, task)
}

/// An address on which nothing listens (connects are refused).
pub fn dead_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// A listener spec on 127.0.0.1 with an ephemeral port, health off, no persistence.
pub fn spec(port: u16, backends: Vec<BackendSpec>, scheduler: SchedulerKind) -> ListenerSpec {
    ListenerSpec {
        key: ListenerKey::tcp("lb-test", port),
        bind: "127.0.0.1:0".parse().unwrap(),
        backends,
        scheduler,
        health: None,
        persistence_timeout: Duration::ZERO,
        established_timeout: Duration::from_secs(30),
        connect_timeout: Duration::from_secs(1),
        drain_timeout: None,
        proxy_protocol: false,
        max_sessions: 0,
        master_slave: false,
        bandwidth_mbps: None,
        acl: None,
        caps: None,
        ddos: None,
    }
}

/// Applies specs and panics on any error.
pub async fn apply_ok(dp: &DataPlane, specs: Vec<ListenerSpec>) {
    for (key, r) in dp.apply(specs).await {
        r.unwrap_or_else(|e| panic!("{key}: {e}"));
    }
}

/// Connects and returns the greeting (the backend's name).
pub async fn ask(addr: SocketAddr) -> String {
    let (name, _conn) = open(addr).await;
    name
}

/// Connects and returns the greeting and the open connection.
pub async fn open(addr: SocketAddr) -> (String, BufReader<TcpStream>) {
    let s = tokio::time::timeout(STEP, TcpStream::connect(addr))
        .await
        .expect("connect timed out")
        .expect("connect failed");
    let mut r = BufReader::new(s);
    let mut line = String::new();
    tokio::time::timeout(STEP, r.read_line(&mut line))
        .await
        .expect("greeting timed out")
        .expect("greeting failed");
    (line.trim_end().to_owned(), r)
}

/// Sends `msg` and reads the same number of bytes back.
pub async fn echo_roundtrip(conn: &mut BufReader<TcpStream>, msg: &str) -> std::io::Result<String> {
    tokio::time::timeout(STEP, async {
        conn.get_mut().write_all(msg.as_bytes()).await?;
        let mut buf = vec![0u8; msg.len()];
        conn.read_exact(&mut buf).await?;
        Ok(String::from_utf8(buf).unwrap())
    })
    .await
    .expect("echo timed out")
}

/// Polls until `f` holds, or panics after `limit`; returns the time it took.
pub async fn wait_until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    loop {
        if f() {
            return start.elapsed();
        }
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The health status of the backend at `addr`.
pub fn status_of(dp: &DataPlane, addr: SocketAddr) -> Option<HealthStatus> {
    dp.health()
        .into_iter()
        .find(|r| r.addr == addr && r.port == addr.port())
        .map(|r| r.status)
}

/// A UDP backend on 127.0.0.1 that echoes every datagram; runs until the test ends.
pub async fn udp_echo_backend() -> SocketAddr {
    let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let addr = s.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 65_536];
        while let Ok((n, from)) = s.recv_from(&mut buf).await {
            let _ = s.send_to(&buf[..n], from).await;
        }
    });
    addr
}

/// The sum of metric `name` over the data plane's UDP listeners.
pub fn udp_metric(dp: &DataPlane, name: &str) -> u64 {
    let mut out = String::new();
    dp.render_metrics(&mut out);
    out.lines()
        .filter(|l| l.starts_with(name) && l.contains("protocol=\"udp\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// A UDP listener spec (127.0.0.1, ephemeral port) in front of one backend.
pub fn udp_spec(port: u16, backend: SocketAddr) -> ListenerSpec {
    let mut s = spec(
        port,
        vec![BackendSpec {
            server_id: "u".into(),
            addr: backend,
            weight: 1,
        }],
        SchedulerKind::Rr,
    );
    s.key.protocol = slb_dataplane::PROTOCOL_UDP.into();
    s
}
