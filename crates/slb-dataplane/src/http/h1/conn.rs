//! The client side of one connection: read request heads within the idle timeout, refuse
//! bad ones with the balancer's page, hand HTTP/2 (prior knowledge) to the HTTP/2 server,
//! and run each request's exchange until the connection ends.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::BytesMut;
use http::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::super::connection::ConnHold;
use super::super::error_page::raw_page;
use super::client::Client;
use super::exchange::{exchange, Conn, Next};
use super::head::{parse_request, HeadError, RequestHead};

/// The HTTP/2 connection preface (RFC 9113 §3.4).
const H2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// How long a refused connection is drained before closing, so the client reads the
/// error page instead of a reset.
const LINGER: Duration = Duration::from_secs(1);
/// Most bytes drained while lingering.
const LINGER_BYTES: usize = 256 * 1024;

/// How reading a request head ended.
enum HeadRead {
    /// A complete, valid head (split off the buffer).
    Complete(RequestHead),
    /// The client speaks HTTP/2 with prior knowledge.
    H2,
    /// Refused before it was complete (431, 400...).
    Refused(HeadError),
    /// The idle timeout passed: silently when nothing had arrived, 408 otherwise.
    TimedOut { partial: bool },
    /// The client closed or failed.
    Closed,
}

/// How one request on the connection ended, for the connection's loop.
enum Outcome {
    /// Answered; wait for the next request.
    KeepAlive,
    /// Answered; the connection ends.
    Close,
    /// The client speaks HTTP/2 with prior knowledge (the preface is in `buf`).
    H2,
    /// Answer this status with the balancer's page, then close.
    Refuse(u16),
    /// The connection ends without an answer.
    Quit,
}

/// Serves one client connection until it closes. `idle` bounds both the wait for a request
/// between keep-alive requests and the time a client may take to send a head.
///
/// Written as a function returning an `async move` block, not an `async fn`: an async fn
/// keeps a second copy of its arguments in its state, and this state is what every idle
/// keep-alive connection costs. Everything a request needs (head reading, the exchange)
/// lives in one boxed future per request, so the state kept between requests is the
/// connection and its wait in the listener's idle table (`idle.rs`), 136 bytes.
pub(crate) fn serve(
    mut stream: Client,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    hold: ConnHold,
) -> impl std::future::Future<Output = ()> + Send {
    let mut c = Conn::new(hold, peer, local, idle);
    if c.shared().access_log.is_some() {
        c.ssl = Some(Box::new(stream.ssl_info()));
    }
    async move {
        let mut first = true;
        loop {
            if c.is_released() {
                // Idle between requests without buffers: take them once bytes arrive.
                let ready = match stream.idle_socket() {
                    Ok(socket) => c.shared().idle.wait(socket, c.idle_ms()).await,
                    Err(now) => now,
                };
                if !ready {
                    return;
                }
            }
            match Box::pin(request(&mut c, &mut stream, first)).await {
                Outcome::KeepAlive => {}
                Outcome::Close => {
                    if stream.is_tls() {
                        // TLS ends with close_notify (RFC 8446 §6.1), so the client can
                        // tell a complete response from a truncated one.
                        let _ = Box::pin(tokio::time::timeout(LINGER, stream.shutdown())).await;
                    }
                    return;
                }
                Outcome::H2 => {
                    let prefix = c.scratch().buf.split().freeze();
                    let _ = stream.set_nodelay(true);
                    let ssl = stream.ssl_info();
                    let h2 = super::super::h2::serve(
                        stream,
                        prefix,
                        c.shared().clone(),
                        c.peer(),
                        c.local(),
                        c.idle(),
                        ssl,
                    );
                    return Box::pin(h2).await;
                }
                Outcome::Refuse(status) => return Box::pin(refuse(stream, &c, status)).await,
                Outcome::Quit => return,
            }
            if std::mem::replace(&mut first, false) {
                // Like nginx's `tcp_nodelay`: only a connection that stays open for more
                // requests needs Nagle off; a one-request connection saves the syscall.
                let _ = stream.set_nodelay(true);
            }
            c.release_idle();
        }
    }
}

/// Reads one request head and runs its exchange.
async fn request(c: &mut Conn, stream: &mut Client, first: bool) -> Outcome {
    let deadline = Instant::now() + c.idle();
    let head = match read_head(stream, &mut c.scratch().buf, deadline, first).await {
        HeadRead::Complete(head) => head,
        HeadRead::H2 => return Outcome::H2,
        HeadRead::Refused(e) => {
            tracing::debug!(listener = %c.shared().key, peer = %c.peer(), error = ?e, "request refused");
            return Outcome::Refuse(e.status());
        }
        HeadRead::TimedOut { partial: true } => return Outcome::Refuse(408),
        HeadRead::TimedOut { partial: false } | HeadRead::Closed => return Outcome::Quit,
    };
    match exchange(c, stream, head).await {
        Next::KeepAlive => Outcome::KeepAlive,
        Next::Close => Outcome::Close,
    }
}

async fn read_head(
    stream: &mut Client,
    buf: &mut BytesMut,
    deadline: Instant,
    first: bool,
) -> HeadRead {
    loop {
        if !buf.is_empty() {
            let preface = first && H2_PREFACE.starts_with(&buf[..buf.len().min(H2_PREFACE.len())]);
            if preface && buf.len() >= H2_PREFACE.len() {
                return HeadRead::H2;
            }
            if !preface {
                match parse_request(buf) {
                    Ok(Some(head)) => return HeadRead::Complete(head),
                    Ok(None) => {}
                    Err(e) => return HeadRead::Refused(e),
                }
            }
        }
        if buf.capacity() - buf.len() < 1024 {
            buf.reserve(8 * 1024);
        }
        match tokio::time::timeout_at(deadline, stream.read_buf(buf)).await {
            Err(_) => {
                return HeadRead::TimedOut {
                    partial: !buf.is_empty(),
                }
            }
            Ok(Ok(0)) | Ok(Err(_)) => return HeadRead::Closed,
            Ok(Ok(_)) => {}
        }
    }
}

/// Answers `status` with the balancer's page and closes, draining what the client still
/// sends for a moment so that it reads the page rather than a reset.
async fn refuse(mut stream: Client, c: &Conn, status: u16) {
    c.shared()
        .http
        .count_status(StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST));
    if stream.write_all(&raw_page(status, "", true)).await.is_err() {
        return;
    }
    let _ = stream.shutdown().await;
    let drain = async {
        let mut scratch = vec![0u8; 16 * 1024];
        let mut total = 0;
        while total < LINGER_BYTES {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => break,
                Ok(n) => total += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future a function returns, from the function alone.
    fn returned_size<A, B, C, D, E, F>(_: fn(A, B, C, D, E) -> F) -> usize {
        std::mem::size_of::<F>()
    }

    /// What every idle keep-alive connection costs is this future in a tokio task cell,
    /// and cells grow in steps of 128 bytes: the task's header, trailer and the future's
    /// stage tag take 104, so up to 152 bytes the cell is 256, one byte more makes it 384.
    /// Print the layout with `cargo +nightly rustc --release -p slb-dataplane --lib --
    /// -Zprint-type-sizes`. (136 bytes optimised, 144 unoptimised, in December 2026.)
    #[test]
    fn idle_connection_state_fits_a_256_byte_task_cell() {
        let size = returned_size(serve);
        assert!(size <= 152, "serve's future is {size} bytes (at most 152)");
    }
}
