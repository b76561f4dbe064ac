//! The sockets a UDP listener receives on and replies from.

use std::net::SocketAddr;

use socket2::{Domain, Protocol, Socket, Type};

use crate::error::DataPlaneError;

/// Kernel receive buffer asked for: bursts wait here rather than being dropped while the
/// loop forwards (the kernel caps it at `net.core.rmem_max`).
const RECV_BUFFER: usize = 4 << 20;

/// `n` non-blocking UDP sockets on `addr`, one per worker (`workers.rs`), not yet
/// registered with a reactor. With more than one they form a `SO_REUSEPORT` group: the
/// kernel hashes each datagram by its addresses and ports, so a client's datagrams keep
/// reaching the same socket, which its replies leave from. A plain bind first keeps
/// "address in use" an error, as for TCP (`tcp/bind.rs`); port 0 picks one port for all.
pub(crate) fn bind_group(addr: SocketAddr, n: usize) -> Result<Vec<Socket>, DataPlaneError> {
    if n <= 1 {
        return Ok(vec![socket(addr, false)?]);
    }
    let addr = {
        let probe = socket(addr, false)?;
        probe
            .local_addr()
            .ok()
            .and_then(|a| a.as_socket())
            .unwrap_or(addr)
    };
    (0..n).map(|_| socket(addr, true)).collect()
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
        let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
        let addr = group[0].local_addr().unwrap().as_socket().unwrap();
        assert!(group
            .iter()
            .all(|s| s.local_addr().unwrap().as_socket() == Some(addr)));
        assert!(matches!(
            bind_group(addr, 2),
            Err(DataPlaneError::Bind { .. })
        ));
        assert!(matches!(
            bind_group(addr, 1),
            Err(DataPlaneError::Bind { .. })
        ));
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
