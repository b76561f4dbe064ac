//! Creating listening sockets.

use std::net::SocketAddr;

use nix::{setsockopt_impl, sockopt_impl};
use socket2::{Domain, Protocol, Socket, Type};

use crate::error::DataPlaneError;

/// Listen backlog of a listener socket.
pub const LISTEN_BACKLOG: i32 = 1024;

/// A listening socket with `SO_REUSEADDR` (so a listener can be re-created on an address
/// whose old connections are still in `TIME_WAIT`), non-blocking, not yet registered with
/// a reactor: the worker that accepts from it registers it.
pub(crate) fn bind_socket(addr: SocketAddr) -> Result<Socket, DataPlaneError> {
    listening(addr, false)
}

/// `n` listening sockets on `addr`, one per worker (`workers.rs`): with `SO_REUSEPORT` the
/// kernel hashes each new connection to one of them. One socket without the option when
/// `n` is 1. Port 0 picks one port for all.
///
/// `SO_REUSEPORT` would also let a second listener (another node on this host, or this
/// node's own other instance) bind the same address and silently take a share of its
/// connections; a plain bind first keeps "address in use" an error: it fails on an
/// address someone listens on, and is closed again before the group binds.
pub(crate) fn bind_group(addr: SocketAddr, n: usize) -> Result<Vec<Socket>, DataPlaneError> {
    if n <= 1 {
        return Ok(vec![bind_socket(addr)?]);
    }
    let err = |source| DataPlaneError::Bind { addr, source };
    let addr = {
        let probe = new_socket(addr)?;
        probe.bind(&addr.into()).map_err(err)?;
        probe
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr)
    };
    (0..n).map(|_| listening(addr, true)).collect()
}

fn new_socket(addr: SocketAddr) -> Result<Socket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP)).map_err(err)?;
    socket.set_reuse_address(true).map_err(err)?;
    socket.set_nonblocking(true).map_err(err)?;
    Ok(socket)
}

fn listening(addr: SocketAddr, reuse_port: bool) -> Result<Socket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket = new_socket(addr)?;
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

    fn port_of(s: &Socket) -> u16 {
        s.local_addr().unwrap().as_socket().unwrap().port()
    }

    /// Port 0 gives every socket of the group the same port, and each accepts connections
    /// of its own; a second group (or a plain listener) on a taken address is refused.
    #[test]
    fn group_shares_one_port_and_keeps_address_in_use_an_error() {
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        assert_eq!(group.len(), 3);
        let port = port_of(&group[0]);
        assert!(group.iter().all(|s| port_of(s) == port));
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        assert!(matches!(
            bind_group(addr, 2),
            Err(DataPlaneError::Bind { .. })
        ));
        assert!(matches!(
            bind_socket(addr),
            Err(DataPlaneError::Bind { .. })
        ));
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
        let single = bind_socket("127.0.0.1:0".parse().unwrap()).unwrap();
        let addr = single.local_addr().unwrap().as_socket().unwrap();
        assert!(matches!(
            bind_group(addr, 2),
            Err(DataPlaneError::Bind { .. })
        ));
    }
}
