//! The two addresses of a client connection, in 16 bytes rather than two `SocketAddr`s'
//! 64: they are part of every idle keep-alive connection's state.

use std::net::{SocketAddr, SocketAddrV4};

/// The client's address and the listener's address the client reached.
pub(crate) enum ConnAddrs {
    /// Both IPv4, the common case: inline.
    V4 {
        peer: SocketAddrV4,
        local: SocketAddrV4,
    },
    /// Anything else (IPv6, or IPv4 mapped into an IPv6 socket): boxed.
    Other(Box<(SocketAddr, SocketAddr)>),
}

impl ConnAddrs {
    pub(crate) fn new(peer: SocketAddr, local: SocketAddr) -> Self {
        match (peer, local) {
            (SocketAddr::V4(peer), SocketAddr::V4(local)) => Self::V4 { peer, local },
            _ => Self::Other(Box::new((peer, local))),
        }
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        match self {
            Self::V4 { peer, .. } => SocketAddr::V4(*peer),
            Self::Other(b) => b.0,
        }
    }

    /// The listener's address the client connected to.
    pub(crate) fn local(&self) -> SocketAddr {
        match self {
            Self::V4 { local, .. } => SocketAddr::V4(*local),
            Self::Other(b) => b.1,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gives_back_both_addresses_of_either_family() {
        for (peer, local) in [
            ("10.0.0.7:40000", "192.0.2.1:80"),
            ("[2001:db8::7]:40000", "[2001:db8::1]:443"),
            ("[::ffff:10.0.0.7]:40000", "[::ffff:192.0.2.1]:80"),
        ] {
            let (peer, local) = (peer.parse().unwrap(), local.parse().unwrap());
            let a = ConnAddrs::new(peer, local);
            assert_eq!((a.peer(), a.local()), (peer, local));
        }
        assert_eq!(std::mem::size_of::<ConnAddrs>(), 16);
    }
}
