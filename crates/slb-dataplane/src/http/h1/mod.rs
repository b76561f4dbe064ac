//! The native HTTP/1.1 engine for client connections: one task per connection that parses
//! heads with httparse, relays bodies by their framing, and keeps its own pool of backend
//! connections. It exists because the generic hyper server and client cost twice the CPU
//! per request of nginx on the benchmark: no per-request channel hops, no `HeaderMap`
//! rebuilding, one write for a small response. Its strict framing rules also make the
//! smuggling decisions the balancer's own (see `head.rs`). HTTP/2 clients are handed to the
//! HTTP/2 server (`conn.rs`, `../h2/`), whose requests go to the backends over this
//! engine's pool too (`upstream.rs`).
//!
//! Layout: `client.rs` (the client socket, registered lazily), `conn.rs` (client loop),
//! `addrs.rs` and `idle.rs` (what an idle connection keeps: its addresses, its deadline in
//! the listener's timer table, which also times requests), `exchange.rs` (one request),
//! `head.rs` (parsing and framing) with `summary.rs` (the fields framing needs, in one
//! pass), `write.rs` (head serialization), `body.rs` (relaying bodies), `chunked.rs`,
//! `pool.rs`, `spare.rs` (buffers of idle connections, per thread), `upload.rs`,
//! `upstream.rs` and `names.rs` (HTTP/2 requests to HTTP/1.1 backends).

mod addrs;
mod body;
mod chunked;
mod client;
mod conn;
mod exchange;
mod head;
mod idle;
mod names;
mod pool;
mod spare;
mod summary;
mod upload;
mod upstream;
mod write;

pub(crate) use client::{ssl_info, Client, ClientStream};
pub(crate) use conn::serve;
pub(crate) use idle::IdleTimers;
pub(crate) use pool::Pool;
pub(crate) use spare::trim as trim_spares;
pub(crate) use upload::prepare as prepare_upload;
pub(crate) use upstream::{send as send_upstream, Outgoing, SendError, UpstreamBody};
pub(crate) use write::map_request_head;
