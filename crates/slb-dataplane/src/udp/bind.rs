//! The socket a UDP listener receives on and replies from.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::UdpSocket;

use crate::error::DataPlaneError;

/// Kernel receive buffer asked for: bursts wait here rather than being dropped while the
/// loop forwards (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// Binds a non-blocking UDP socket on `addr`. Must run inside a tokio runtime.
pub(crate) fn bind(addr: SocketAddr) -> Result<UdpSocket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    UdpSocket::from_std(socket.into()).map_err(err)
}
