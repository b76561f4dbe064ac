//! HTTP/2 clients (h2 by ALPN, h2c with prior knowledge): the h2 crate's connection driven
//! by the balancer's own loop, each stream a future in the connection's task, and every
//! request forwarded over the HTTP/1.1 engine's backend pool (`h1/upstream.rs`).
//!
//! Layout: `conn.rs` (the connection loop and its idle timeout), `stream.rs` (one stream:
//! the response head, then the body under flow control), `request_body.rs` (the client's
//! body for the upload), `interim.rs` (a backend's 1xx responses passed on), `rewind.rs`
//! (bytes already read put back in front).

mod conn;
mod interim;
mod request_body;
mod rewind;
mod stream;

pub(crate) use conn::serve;
pub use conn::MAX_CONCURRENT_STREAMS;
pub(crate) use interim::Interim;
pub(crate) use request_body::RequestBody;
