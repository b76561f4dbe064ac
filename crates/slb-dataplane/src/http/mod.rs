//! Layer-7 HTTP listeners: the native HTTP/1.1 engine (`h1`) and the HTTP/2 server
//! (`h2`, on the h2 crate) for h2 and h2c clients, routing by domain and URL, cookie
//! persistence, forwarded headers, pooled keep-alive connections to backends (the
//! engine's, for both), gzip, redirects, WebSocket passthrough and the balancer's own error
//! pages.
//!
//! Layout: `route.rs` (snapshot and rule matching), `runtime.rs` (bind/accept/diff of one
//! listener), `connection.rs` (admission and the path of one client connection), `h1/`
//! (HTTP/1.1 connections and the backend side of every request), `h2/` (HTTP/2
//! connections and streams), `proxy.rs` (one HTTP/2 request), `headers.rs` (with
//! `addr_text.rs`), `sticky.rs`, `gzip.rs`, `error_page.rs`, `tail.rs` (HTTP/2 response
//! body accounting), [`access_log`].

pub mod access_log;
mod addr_text;
mod connection;
mod error_page;
mod gzip;
mod h1;
mod h2;
mod headers;
mod proxy;
mod route;
mod runtime;
mod sticky;
mod tail;
mod tls_accept;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;

pub use error_page::SERVER_NAME;
pub(crate) use h1::trim_spares;
pub use h2::MAX_CONCURRENT_STREAMS;
pub use proxy::MAX_HTTP_ATTEMPTS;
pub(crate) use runtime::{HttpListenerRuntime, HttpShared};
pub use sticky::{INSERT_COOKIE_NAME, MAX_SERVER_COOKIES};

/// Error type of proxied bodies.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Body type flowing through the proxy in both directions.
pub(crate) type ProxyBody = BoxBody<Bytes, BoxError>;

/// Largest request head (request line and headers) accepted; larger heads get 431.
pub const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// Most request headers accepted; more get 431.
pub const MAX_REQUEST_HEADERS: usize = 100;

/// Longest request target accepted; longer ones get 414.
pub const MAX_URI_LEN: usize = 16 * 1024;

/// Idle time after which a pooled backend connection is closed.
pub const BACKEND_POOL_IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Backend connect timeout of HTTP listeners.
pub const BACKEND_CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);
