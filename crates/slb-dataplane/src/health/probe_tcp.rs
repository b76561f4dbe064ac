//! TCP health probe: healthy when the three-way handshake completes.

use std::net::SocketAddr;

use tokio::net::TcpStream;

/// Connects to `target` and closes at once; the caller bounds it with the probe timeout.
pub(super) async fn probe_tcp(target: SocketAddr) -> bool {
    TcpStream::connect(target).await.is_ok()
}
