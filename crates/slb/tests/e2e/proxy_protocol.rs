//! `ProxyProtocolV2Enabled` on a TCP listener through the API: stored, described, and the
//! backend receives the client's address in a PROXY v2 header before the client's bytes.

use std::time::Duration;

use slb_core::proxy_protocol::{decode, Header, Transport};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt};

use crate::kit::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_listener_sends_the_client_address_to_the_backend() {
    let d = Daemon::start("127.61.84.0/24").await;
    let (lb, ip) = d.create_lb().await;
    // The kit's backend greets, then echoes everything it reads: the header comes back too.
    let b = Backend::start("pp").await;
    d.tcp_listener(
        &lb,
        9000,
        &[(&b, 100)],
        &[("ProxyProtocolV2Enabled", "true")],
    )
    .await;
    let attr = d
        .ok(
            "DescribeLoadBalancerTCPListenerAttribute",
            &[("LoadBalancerId", &lb), ("ListenerPort", "9000")],
        )
        .await;
    assert_eq!(attr["ProxyProtocolV2Enabled"], true);

    let listener = std::net::SocketAddr::new(ip, 9000);
    let s = tokio::net::TcpStream::connect(listener).await.unwrap();
    let me = s.local_addr().unwrap();
    let mut r = tokio::io::BufReader::new(s);
    let mut greeting = String::new();
    r.read_line(&mut greeting).await.unwrap();
    assert_eq!(greeting, "pp\n");
    r.get_mut().write_all(b"ping\n").await.unwrap();
    let mut echoed = vec![0u8; 28 + 5];
    tokio::time::timeout(Duration::from_secs(5), r.read_exact(&mut echoed))
        .await
        .unwrap()
        .unwrap();
    let (header, used) = decode(&echoed).unwrap().unwrap();
    assert_eq!(
        header,
        Header::Proxy {
            transport: Transport::Stream,
            source: me,
            destination: listener,
        }
    );
    assert_eq!(&echoed[used..], b"ping\n");
    let (status, code) = d
        .err(
            "SetLoadBalancerTCPListenerAttribute",
            &[
                ("LoadBalancerId", &lb),
                ("ListenerPort", "9000"),
                ("ProxyProtocolV2Enabled", "yes"),
            ],
        )
        .await;
    assert_eq!((status, code.as_str()), (400, "InvalidParameter"));
}
