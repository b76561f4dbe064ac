//! Listener bandwidth limits (Alibaba `Bandwidth`): a limited TCP listener (both
//! directions), UDP listener and HTTP listener each measured within 10 % of the limit over
//! a few seconds, with several connections sharing one limit.

mod common;
mod http_kit;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use slb_dataplane::{BackendSpec, DataPlane, ListenerKey, SchedulerKind, PROTOCOL_UDP};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};

/// 8 Mbit/s: 1,000,000 bytes per second each way.
const MBPS: u32 = 8;
const RATE: f64 = 1_000_000.0;
const MEASURE: Duration = Duration::from_secs(3);

fn within_10_percent(bytes: usize, elapsed: Duration) {
    let rate = bytes as f64 / elapsed.as_secs_f64();
    assert!(
        (rate - RATE).abs() / RATE <= 0.10,
        "{rate:.0} B/s against a limit of {RATE:.0} B/s"
    );
}

/// A TCP backend that streams zeros to every client and discards what it reads.
async fn stream_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            tokio::spawn(async move {
                let (mut r, mut w) = s.into_split();
                tokio::spawn(async move {
                    let mut sink = vec![0u8; 65_536];
                    while matches!(r.read(&mut sink).await, Ok(n) if n > 0) {}
                });
                let chunk = vec![0u8; 65_536];
                while w.write_all(&chunk).await.is_ok() {}
            });
        }
    });
    addr
}

/// Reads from two connections at once for `MEASURE`; total bytes.
async fn download(listener: SocketAddr) -> usize {
    let mut tasks = Vec::new();
    for _ in 0..2 {
        tasks.push(tokio::spawn(async move {
            let mut s = TcpStream::connect(listener).await.unwrap();
            let mut buf = vec![0u8; 65_536];
            let mut total = 0;
            let deadline = tokio::time::Instant::now() + MEASURE;
            while let Ok(Ok(n)) = tokio::time::timeout_at(deadline, s.read(&mut buf)).await {
                if n == 0 {
                    break;
                }
                total += n;
            }
            total
        }));
    }
    let mut total = 0;
    for t in tasks {
        total += t.await.unwrap();
    }
    total
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_keeps_to_its_bandwidth_both_ways() {
    let backend = stream_backend().await;
    let dp = DataPlane::new();
    let mut spec = common::spec(
        1,
        vec![BackendSpec {
            server_id: "b".into(),
            addr: backend,
            weight: 100,
        }],
        SchedulerKind::Rr,
    );
    spec.bandwidth_mbps = Some(MBPS);
    let key = spec.key.clone();
    common::apply_ok(&dp, vec![spec]).await;
    let listener = dp.local_addr(&key).unwrap();

    within_10_percent(download(listener).await, MEASURE);

    // Upload: the client writes as fast as the listener lets it.
    let mut s = TcpStream::connect(listener).await.unwrap();
    let (_r, mut w) = s.split();
    let chunk = vec![0u8; 16_384];
    let start = Instant::now();
    let mut sent = 0;
    while start.elapsed() < MEASURE {
        match tokio::time::timeout(Duration::from_millis(100), w.write_all(&chunk)).await {
            Ok(Ok(())) => sent += chunk.len(),
            Ok(Err(e)) => panic!("{e}"),
            Err(_) => {}
        }
    }
    // What the kernel buffers between client and proxy (a few hundred KiB at most on
    // loopback) is not yet through the limit: compare what the listener forwarded.
    let mut out = String::new();
    dp.render_metrics(&mut out);
    let forwarded: usize = out
        .lines()
        .find(|l| l.starts_with("slb_listener_bytes_in_total{"))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap();
    assert!(sent >= forwarded);
    within_10_percent(forwarded, start.elapsed());
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn udp_listener_keeps_to_its_bandwidth() {
    // An echo backend: what arrives through the limit comes back.
    let backend = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let baddr = backend.local_addr().unwrap();
    tokio::spawn(async move {
        let mut buf = vec![0u8; 2048];
        while let Ok((n, from)) = backend.recv_from(&mut buf).await {
            let _ = backend.send_to(&buf[..n], from).await;
        }
    });
    let dp = DataPlane::new();
    let mut spec = common::spec(
        1,
        vec![BackendSpec {
            server_id: "b".into(),
            addr: baddr,
            weight: 100,
        }],
        SchedulerKind::Rr,
    );
    spec.key = ListenerKey {
        protocol: PROTOCOL_UDP.into(),
        ..spec.key
    };
    spec.bandwidth_mbps = Some(MBPS);
    let key = spec.key.clone();
    common::apply_ok(&dp, vec![spec]).await;
    let listener = dp.local_addr(&key).unwrap();
    let client = std::sync::Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
    // Offered: twice the limit, 1,000-byte datagrams, paced by the sender.
    let sender = {
        let c = client.clone();
        tokio::spawn(async move {
            let datagram = vec![0u8; 1000];
            let start = Instant::now();
            let mut sent = 0u64;
            while start.elapsed() < MEASURE {
                let _ = c.send_to(&datagram, listener).await;
                sent += 1;
                let due = Duration::from_micros(sent * 500);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    tokio::time::sleep(wait).await;
                }
            }
        })
    };
    let mut buf = vec![0u8; 2048];
    let mut received = 0;
    let start = Instant::now();
    let deadline = tokio::time::Instant::now() + MEASURE;
    while let Ok(Ok((n, _))) = tokio::time::timeout_at(deadline, client.recv_from(&mut buf)).await {
        received += n;
    }
    sender.await.unwrap();
    within_10_percent(received, start.elapsed());
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_listener_keeps_to_its_bandwidth() {
    // A backend answering one 3,000,000-byte body.
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let baddr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut head = vec![0u8; 4096];
                let _ = s.read(&mut head).await;
                let body = vec![b'x'; 3_000_000];
                let _ = s
                    .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 3000000\r\n\r\n")
                    .await;
                let _ = s.write_all(&body).await;
            });
        }
    });
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(
        1,
        vec![BackendSpec {
            server_id: "b".into(),
            addr: baddr,
            weight: 100,
        }],
    );
    spec.bandwidth_mbps = Some(MBPS);
    let listener = http_kit::start(&dp, spec).await;
    let mut s = TcpStream::connect(listener).await.unwrap();
    let start = Instant::now();
    s.write_all(b"GET /big HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut all))
        .await
        .unwrap()
        .unwrap();
    assert!(all.len() > 3_000_000);
    within_10_percent(all.len(), start.elapsed());
    dp.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_request_bodies_keep_to_the_bandwidth() {
    // A backend that reads the whole 3,000,000-byte upload, then answers.
    let baddr = http_kit::upload_sink(3_000_000).await;
    let dp = DataPlane::new();
    let mut spec = http_kit::http_spec(
        1,
        vec![BackendSpec {
            server_id: "b".into(),
            addr: baddr,
            weight: 100,
        }],
    );
    spec.bandwidth_mbps = Some(MBPS);
    let listener = http_kit::start(&dp, spec).await;
    let mut s = TcpStream::connect(listener).await.unwrap();
    let start = Instant::now();
    s.write_all(
        b"POST /up HTTP/1.1\r\nHost: a\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\n",
    )
    .await
    .unwrap();
    s.write_all(&vec![b'x'; 3_000_000]).await.unwrap();
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut answer))
        .await
        .unwrap()
        .unwrap();
    assert!(answer.starts_with(b"HTTP/1.1 200"));
    within_10_percent(3_000_000, start.elapsed());
    dp.shutdown().await;
}
