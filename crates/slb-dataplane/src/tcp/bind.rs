//! Creating listening sockets.

use std::net::SocketAddr;

use nix::{setsockopt_impl, sockopt_impl};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::DataPlaneError;

/// Listen backlog of a listener socket.
pub const LISTEN_BACKLOG: i32 = 1024;

/// `n` listening sockets on `addr`, one per worker: with `SO_REUSEPORT` the kernel hashes
/// each new connection to one of them (`reuseport.rs`).
pub(crate) fn bind_group(addr: SocketAddr, n: usize) -> Result<Vec<Socket>, DataPlaneError> {
    crate::reuseport::bind_group(addr, n, listening)
}

/// A listening socket with `SO_REUSEADDR` (so a listener can be re-created on an address
/// whose old connections are still in `TIME_WAIT`), non-blocking, not yet registered with
/// a reactor: the worker that accepts from it registers it.
fn listening(addr: SocketAddr, reuse_port: bool) -> Result<Socket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(err)?;
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Port 0 gives every socket of the group the same port, and each accepts connections
    /// of its own; a second group (or a plain listener) on a taken address is refused.
    #[test]
    fn group_shares_one_port_and_keeps_address_in_use_an_error() {
        let (group, addr) = crate::reuseport::bound_exclusively(bind_group);
        // Every connection lands on one of the group's sockets.
        let clients: Vec<_> = (0..32)
            .map(|_| std::net::TcpStream::connect(addr).unwrap())
            .collect();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut accepted = 0;
        for s in &group {
            while s.accept().is_ok() {
                accepted += 1;
            }
        }
        assert_eq!(accepted, clients.len());
        drop(group);
        // Closed, the address is free again, for a group or a single socket.
        bind_group(addr, 2).unwrap();
    }

    /// A group cannot join a single listener someone else holds either.
    #[test]
    fn group_refuses_an_address_held_without_reuse_port() {
        let single = bind_group("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let addr = single[0].local_addr().unwrap().as_socket().unwrap();
        assert!(matches!(
            bind_group(addr, 2),
            Err(DataPlaneError::Bind { .. })
        ));
    }
}
