//! A listener's sockets when it has one per worker (`workers.rs`): a `SO_REUSEPORT` group
//! on one address, for TCP (`tcp/bind.rs`) and UDP (`udp/bind.rs`) alike.
//!
//! `SO_REUSEPORT` would also let a second listener (another node on this host, or this
//! node's own other instance) bind the same address and silently take a share of its
//! traffic. A plain bind first keeps "address in use" an error: it fails on an address
//! someone holds, and is closed again before the group binds.

use std::net::SocketAddr;

use socket2::Socket;

use crate::error::DataPlaneError;

/// `n` sockets on `addr` made by `bind(addr, reuse_port)`: one plain socket when `n` is 1,
/// otherwise a `SO_REUSEPORT` group after a plain probe. Port 0 picks one port for all.
pub(crate) fn bind_group(
    addr: SocketAddr,
    n: usize,
    bind: impl Fn(SocketAddr, bool) -> Result<Socket, DataPlaneError>,
) -> Result<Vec<Socket>, DataPlaneError> {
    if n <= 1 {
        return Ok(vec![bind(addr, false)?]);
    }
    let addr = local_addr(&bind(addr, false)?).unwrap_or(addr);
    (0..n).map(|_| bind(addr, true)).collect()
}

/// The address `socket` is bound to.
pub(crate) fn local_addr(socket: &Socket) -> Option<SocketAddr> {
    socket.local_addr().ok()?.as_socket()
}

/// Shared checks of the TCP and UDP groups: three sockets bound by `bind_group` on port 0
/// share one port, and neither a second group nor a plain socket can take the address.
/// Returns the group and its address.
#[cfg(test)]
pub(crate) fn bound_exclusively(
    bind_group: fn(SocketAddr, usize) -> Result<Vec<Socket>, DataPlaneError>,
) -> (Vec<Socket>, SocketAddr) {
    let group = bind_group("127.0.0.1:0".parse().unwrap(), 3).unwrap();
    assert_eq!(group.len(), 3);
    let addr = local_addr(&group[0]).unwrap();
    assert!(group.iter().all(|s| local_addr(s) == Some(addr)));
    for n in [2, 1] {
        assert!(
            matches!(bind_group(addr, n), Err(DataPlaneError::Bind { .. })),
            "{n} more socket(s) on a taken address"
        );
    }
    (group, addr)
}
