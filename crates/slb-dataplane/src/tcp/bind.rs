//! Creating listening sockets.

use std::net::SocketAddr;

use nix::{setsockopt_impl, sockopt_impl};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::TcpListener;

use crate::error::DataPlaneError;

/// Listen backlog of a listener socket.
pub const LISTEN_BACKLOG: i32 = 1024;

/// Binds a listening socket with `SO_REUSEADDR`, so a listener can be re-created on an
/// address whose old connections are still in `TIME_WAIT`. Must run inside a tokio runtime.
pub(crate) fn bind(addr: SocketAddr) -> Result<TcpListener, DataPlaneError> {
    let socket = bind_socket(addr)?;
    TcpListener::from_std(socket.into()).map_err(|source| DataPlaneError::Bind { addr, source })
}

/// The same listening socket, non-blocking, not yet registered with the reactor (for an
/// accept loop of its own, see `http/runtime.rs`).
pub(crate) fn bind_socket(addr: SocketAddr) -> Result<Socket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    socket.bind(&addr.into()).map_err(err)?;
    socket.listen(LISTEN_BACKLOG).map_err(err)?;
    Ok(socket)
}

sockopt_impl!(
    /// `TCP_DEFER_ACCEPT`: seconds the kernel holds a new connection back from `accept`
    /// until its first data arrives.
    DeferAccept,
    SetOnly,
    libc::IPPROTO_TCP,
    libc::TCP_DEFER_ACCEPT,
    u32
);

/// Holds connections back from `accept` until the client has sent its first bytes (or
/// `secs` passed), for listeners whose clients speak first (HTTP, TLS): the proxy then
/// wakes once per connection, with the request already readable, instead of once for the
/// handshake and again for the request (nginx `listen ... deferred`, HAProxy
/// `defer-accept`). After `secs` the kernel hands the connection over anyway.
pub(crate) fn defer_accept(socket: &Socket, secs: u32) -> std::io::Result<()> {
    nix::sys::socket::setsockopt(socket, DeferAccept, &secs).map_err(std::io::Error::from)
}
