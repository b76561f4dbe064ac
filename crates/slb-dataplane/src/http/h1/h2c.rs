//! HTTP/2 (h2c with prior knowledge, or h2 negotiated by ALPN over TLS, `ssl` then naming
//! the TLS version and cipher): the connection,
//! with any bytes the engine already read put back, goes to hyper's HTTP/2 server and the
//! shared request handler (`proxy.rs`).
//!
//! hyper has no idle timeout for HTTP/2 connections, so `IdleTimeout` is applied here: when
//! the client has sent nothing for that long the connection is shut down gracefully (GOAWAY;
//! streams still in flight finish). No keep-alive pings are sent, since a client's ping
//! answers would count as activity and keep an idle connection open forever.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::Instant;

use super::super::proxy::{handle, ConnCtx};
use super::super::{HttpShared, MAX_REQUEST_HEAD};
use super::rewind::{LastRead, Rewind};

/// Serves an h2c connection whose first bytes (`prefix`) were already read.
pub(crate) async fn serve<T>(
    stream: T,
    prefix: Bytes,
    shared: Arc<HttpShared>,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    ssl: (String, String),
) where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let last_read = LastRead::new();
    let io = Rewind::new(prefix, stream, last_read.clone());
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        ssl,
        peer,
        local,
    });
    let svc = service_fn(move |req| handle(ctx.clone(), req));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_header_list_size(MAX_REQUEST_HEAD as u32);
    let conn = builder.serve_connection(TokioIo::new(io), svc);
    tokio::pin!(conn);
    let result = loop {
        let idle_at = last_read.at() + idle;
        if Instant::now() >= idle_at {
            tracing::debug!(listener = %shared.key, %peer, "h2 connection idle, closing");
            conn.as_mut().graceful_shutdown();
            break conn.await;
        }
        tokio::select! {
            r = &mut conn => break r,
            () = tokio::time::sleep_until(idle_at) => {}
        }
    };
    if let Err(e) = result {
        tracing::debug!(listener = %shared.key, %peer, error = %e, "h2 connection ended with error");
    }
}
