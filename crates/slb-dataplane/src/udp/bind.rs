//! The sockets a UDP listener receives on and replies from.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::DataPlaneError;

/// Kernel receive buffer asked for: bursts wait here rather than being dropped while the
/// loop forwards (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// `n` non-blocking UDP sockets on `addr`, one per worker, not yet registered with a
/// reactor. With more than one they form a `SO_REUSEPORT` group (`reuseport.rs`): the
/// kernel hashes each datagram by its addresses and ports, so a client's datagrams keep
/// reaching the same socket, which its replies leave from.
pub(crate) fn bind_group(addr: SocketAddr, n: usize) -> Result<Vec<Socket>, DataPlaneError> {
    crate::reuseport::bind_group(addr, n, socket)
}

fn socket(addr: SocketAddr, reuse_port: bool) -> Result<Socket, DataPlaneError> {
    let err = |source| DataPlaneError::Bind { addr, source };
    let socket =
        Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP)).map_err(err)?;
    let _ = socket.set_recv_buffer_size(RECV_BUFFER);
    socket.set_nonblocking(true).map_err(err)?;
    if reuse_port {
        socket.set_reuse_port(true).map_err(err)?;
    }
    socket.bind(&addr.into()).map_err(err)?;
    Ok(socket)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The group shares one port; neither another group nor a plain socket can join it,
    /// and a client's datagrams all reach one socket of the group.
    #[test]
    fn group_shares_one_port_and_a_client_stays_on_one_socket() {
        let (group, addr) = crate::reuseport::bound_exclusively(bind_group);
        let client = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for _ in 0..20 {
            client.send_to(b"x", addr).unwrap();
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
        let mut buf = [std::mem::MaybeUninit::<u8>::uninit(); 16];
        let per_socket: Vec<usize> = group
            .iter()
            .map(|s| std::iter::from_fn(|| s.recv(&mut buf).ok()).count())
            .collect();
        assert_eq!(per_socket.iter().sum::<usize>(), 20, "{per_socket:?}");
        assert!(
            per_socket.contains(&20),
            "one socket took them all: {per_socket:?}"
        );
        drop(group);
        bind_group(addr, 2).unwrap();
    }
}
