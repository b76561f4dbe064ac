//! UDP health probe, with Alibaba's semantics: send `HealthCheckReq` to the backend port;
//! an ICMP port-unreachable answer (seen as `ECONNREFUSED` on a connected socket) is
//! unhealthy. With `HealthCheckExp` set, only a reply equal to it within the timeout is
//! healthy; without it, silence until the timeout counts as healthy (UDP services often
//! do not answer unknown input) and any reply too.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::net::UdpSocket;

/// Bytes a probe sends when no `HealthCheckReq` is configured.
pub const DEFAULT_UDP_PROBE: &[u8] = b"\n";

/// Largest reply compared against `HealthCheckExp`.
const MAX_REPLY: usize = 2048;

pub(super) async fn probe_udp(
    target: SocketAddr,
    request: &[u8],
    expect: Option<&[u8]>,
    timeout: Duration,
) -> bool {
    let bind: SocketAddr = if target.is_ipv4() {
        "0.0.0.0:0".parse().expect("literal")
    } else {
        "[::]:0".parse().expect("literal")
    };
    let Ok(socket) = UdpSocket::bind(bind).await else {
        return false;
    };
    if socket.connect(target).await.is_err() {
        return false;
    }
    let payload = if request.is_empty() {
        DEFAULT_UDP_PROBE
    } else {
        request
    };
    if socket.send(payload).await.is_err() {
        return false;
    }
    let mut buf = [0u8; MAX_REPLY];
    match tokio::time::timeout(timeout, socket.recv(&mut buf)).await {
        Ok(Ok(n)) => expect.is_none_or(|e| &buf[..n] == e),
        // ICMP port unreachable, or another error the kernel reports.
        Ok(Err(_)) => false,
        Err(_) => expect.is_none(),
    }
}
