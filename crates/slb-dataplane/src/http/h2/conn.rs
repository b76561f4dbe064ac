//! One HTTP/2 connection (h2c with prior knowledge, or h2 negotiated by ALPN over TLS):
//! the h2 crate's framing, flow control and HPACK, with every stream served inside the
//! connection's own task. Streams are futures in a [`FuturesUnordered`] beside the
//! connection, not tasks: a request costs no spawn, and a stream's wake-up polls only that
//! stream.
//!
//! `IdleTimeout` applies here: when the client has sent nothing for that long the
//! connection is shut down gracefully (GOAWAY; streams still in flight finish). No
//! keep-alive pings are sent, since a client's ping answers would count as activity and
//! keep an idle connection open forever.

use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use futures_util::stream::{FuturesUnordered, StreamExt};
use h2::server::Connection;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::time::{Instant, Sleep};

use super::super::proxy::ConnCtx;
use super::super::{HttpShared, MAX_REQUEST_HEAD};
use super::rewind::{LastRead, Rewind};

/// Streams one connection may have open at once (hyper's default, which served HTTP/2 before).
pub const MAX_CONCURRENT_STREAMS: u32 = 200;

/// Flow-control window the balancer grants each stream and the connection: a request body
/// up to this size arrives without waiting for a WINDOW_UPDATE round trip.
const RECEIVE_WINDOW: u32 = 1024 * 1024;

/// Most response bytes h2 buffers per stream before the client's window opens.
const MAX_SEND_BUFFER: usize = 400 * 1024;

/// Serves an HTTP/2 connection whose first bytes (`prefix`) were already read; `ssl` names
/// the TLS version and cipher (empty without TLS).
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
    let handshake = h2::server::Builder::new()
        .max_concurrent_streams(MAX_CONCURRENT_STREAMS)
        .initial_window_size(RECEIVE_WINDOW)
        .initial_connection_window_size(RECEIVE_WINDOW)
        .max_send_buffer_size(MAX_SEND_BUFFER)
        .max_header_list_size(MAX_REQUEST_HEAD as u32)
        .handshake::<_, Bytes>(io);
    let mut conn = match tokio::time::timeout(idle, handshake).await {
        Ok(Ok(conn)) => conn,
        Ok(Err(e)) => {
            tracing::debug!(listener = %shared.key, %peer, error = %e, "h2 handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(listener = %shared.key, %peer, "h2 handshake timed out");
            return;
        }
    };
    let ctx = Arc::new(ConnCtx {
        shared: shared.clone(),
        ssl,
        peer,
        local,
        interim: super::Interim::default(),
    });
    let mut streams = FuturesUnordered::new();
    let mut idle_timer = IdleTimer {
        last_read,
        idle,
        sleep: Box::pin(tokio::time::sleep(idle)),
        closing: false,
    };
    let result = poll_fn(|cx| {
        idle_timer.poll(cx, &mut conn, &shared, peer);
        loop {
            // Streams first: what they queue goes out when the connection is polled next.
            while let Poll::Ready(Some(())) = streams.poll_next_unpin(cx) {}
            match conn.poll_accept(cx) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    streams.push(super::stream::serve(ctx.clone(), req, respond));
                }
                Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
    })
    .await;
    if let Err(e) = result {
        tracing::debug!(listener = %shared.key, %peer, error = %e, "h2 connection ended with error");
    }
}

/// The connection's idle deadline: its timer sleeps until the idle timeout after the last
/// read, and is moved on when reads happened meanwhile.
struct IdleTimer {
    last_read: LastRead,
    idle: Duration,
    sleep: Pin<Box<Sleep>>,
    /// GOAWAY sent: the connection ends when its streams have.
    closing: bool,
}

impl IdleTimer {
    fn poll<T>(
        &mut self,
        cx: &mut Context<'_>,
        conn: &mut Connection<T, Bytes>,
        shared: &HttpShared,
        peer: SocketAddr,
    ) where
        T: AsyncRead + AsyncWrite + Unpin,
    {
        while !self.closing && self.sleep.as_mut().poll(cx).is_ready() {
            let at = self.last_read.at() + self.idle;
            if Instant::now() >= at {
                tracing::debug!(listener = %shared.key, %peer, "h2 connection idle, closing");
                conn.graceful_shutdown();
                self.closing = true;
            } else {
                self.sleep.as_mut().reset(at);
            }
        }
    }
}
