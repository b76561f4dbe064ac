//! PROXY protocol v2 on TCP listeners: the backend reads the client's real address (IPv4
//! and IPv6 clients) in a header before the client's first byte, and only when enabled.

mod common;

use std::net::SocketAddr;

use common::*;
use slb_core::proxy_protocol::{decode, Header, Transport};
use slb_dataplane::{BackendSpec, DataPlane, SchedulerKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A backend that reads a PROXY v2 header if one comes, then answers one line: the header
/// it saw (or `none`) and the client's first bytes.
async fn header_backend() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 256];
                loop {
                    let n = s.read(&mut chunk).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    buf.extend_from_slice(&chunk[..n]);
                    if buf.ends_with(b"\n") {
                        break;
                    }
                }
                let (seen, rest) = match decode(&buf) {
                    Ok(Some((h, used))) => (format!("{h:?}"), &buf[used..]),
                    _ => ("none".to_string(), &buf[..]),
                };
                let reply = format!("{seen}|{}", String::from_utf8_lossy(rest));
                let _ = s.write_all(reply.as_bytes()).await;
            });
        }
    });
    addr
}

async fn exchange(listener: SocketAddr, from: &str) -> (String, SocketAddr) {
    let sock = if listener.is_ipv4() {
        tokio::net::TcpSocket::new_v4().unwrap()
    } else {
        tokio::net::TcpSocket::new_v6().unwrap()
    };
    let ip: std::net::IpAddr = from.parse().unwrap();
    sock.bind(SocketAddr::new(ip, 0)).unwrap();
    let mut s: TcpStream = sock.connect(listener).await.unwrap();
    let me = s.local_addr().unwrap();
    s.write_all(b"hello\n").await.unwrap();
    let mut out = String::new();
    tokio::time::timeout(STEP, s.read_to_string(&mut out))
        .await
        .unwrap()
        .unwrap();
    (out, me)
}

#[tokio::test]
async fn backend_reads_the_client_address_for_ipv4_and_ipv6_clients() {
    let backend = header_backend().await;
    let dp = DataPlane::new();
    let backends = vec![BackendSpec {
        server_id: "b".into(),
        addr: backend,
        weight: 100,
    }];
    let mut v4 = spec(1, backends.clone(), SchedulerKind::Rr);
    v4.proxy_protocol = true;
    let mut v6 = spec(2, backends.clone(), SchedulerKind::Rr);
    v6.proxy_protocol = true;
    v6.bind = "[::1]:0".parse().unwrap();
    let plain = spec(3, backends, SchedulerKind::Rr);
    let keys = [v4.key.clone(), v6.key.clone(), plain.key.clone()];
    apply_ok(&dp, vec![v4, v6, plain]).await;
    let [a4, a6, aplain] = keys.map(|k| dp.local_addr(&k).unwrap());

    for (listener, from) in [(a4, "127.0.0.9"), (a6, "::1")] {
        let (out, me) = exchange(listener, from).await;
        let expected = Header::Proxy {
            transport: Transport::Stream,
            source: me,
            destination: listener,
        };
        assert_eq!(out, format!("{expected:?}|hello\n"));
    }
    let (out, _) = exchange(aplain, "127.0.0.9").await;
    assert_eq!(out, "none|hello\n");
    dp.shutdown().await;
}
