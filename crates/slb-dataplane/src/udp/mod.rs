//! UDP listeners: one socket per worker on the listener address (a `SO_REUSEPORT` group
//! with workers), a session per client address, each with its own socket connected to the
//! chosen backend, so replies come back from the listener's address to the right client.
//!
//! - `bind`: the listener sockets.
//! - `sessions`: the bounded session table (idle expiry, eviction of the longest idle).
//! - `serve`: the datagram loops.
//!
//! Datagrams are forwarded one for one: never merged, never split (a 64 KiB buffer holds
//! any UDP payload). With PROXY protocol v2 on, each datagram to a backend starts with a
//! header carrying the client's address.

pub(crate) mod bind;
pub(crate) mod serve;
pub(crate) mod sessions;
