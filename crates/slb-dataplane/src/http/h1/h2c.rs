//! HTTP/2 (h2c with prior knowledge, or h2 negotiated by ALPN over TLS, `ssl` then naming
//! the TLS version and cipher): the connection,
//! with any bytes the engine already read put back, goes to hyper's HTTP/2 server and the
//! shared request handler (`proxy.rs`).
//!
//! hyper has no idle timeout for HTTP/2 connections, so `IdleTimeout` is applied here: when
//! the client has sent nothing for that long the connection is shut down gracefully (GOAWAY;
//! streams still in flight finish). No keep-alive pings are sent, since a client's ping
//! answers would count as activity and keep an idle connection open forever.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::super::proxy::{handle, ConnCtx};
use super::super::{HttpShared, MAX_REQUEST_HEAD};
use super::rewind::Rewind;

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
    let start = Instant::now();
    let last_read = Arc::new(AtomicU64::new(0));
    let io = ReadActivity {
        inner: Rewind::new(prefix, stream),
        start,
        last_read: last_read.clone(),
    };
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        https: !ssl.0.is_empty(),
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
        let quiet_since = start + Duration::from_millis(last_read.load(Ordering::Relaxed));
        let idle_at = quiet_since + idle;
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

/// Records when the client last sent bytes (milliseconds since `start`).
struct ReadActivity<T> {
    inner: T,
    start: Instant,
    last_read: Arc<AtomicU64>,
}

impl<T: AsyncRead + Unpin> AsyncRead for ReadActivity<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            let ms = self.start.elapsed().as_millis() as u64;
            self.last_read.store(ms, Ordering::Relaxed);
        }
        r
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for ReadActivity<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}
