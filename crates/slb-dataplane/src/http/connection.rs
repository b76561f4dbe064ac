//! One accepted client connection, from admission to its path: plain HTTP/1.1 (h2c by
//! prior knowledge included), or TLS then HTTP/1.1 or HTTP/2 by ALPN.
//!
//! The checks that may refuse a connection (anti-DDoS, ACL, instance capacity) run before
//! its task exists, and each path is spawned as its own future, so that a task is only as
//! large as the path it takes. The plain HTTP/1.1 task is the one that matters: it is what
//! every idle keep-alive connection costs in memory.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::h1::{Client, ClientStream};
use super::HttpShared;
use crate::limits::Slot;
use crate::spec::DEFAULT_HTTP_IDLE_TIMEOUT;

/// What a client connection holds until it ends: its place in the listener's active
/// connections and, with an instance capacity, its slot there.
pub(crate) struct ConnHold {
    shared: Arc<HttpShared>,
    _slot: Option<Slot>,
}

impl ConnHold {
    /// Counts a new connection (total and active) until the hold is dropped.
    fn new(shared: &Arc<HttpShared>) -> Self {
        let m = &shared.metrics;
        m.connections_total.fetch_add(1, Ordering::Relaxed);
        m.active_connections.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: shared.clone(),
            _slot: None,
        }
    }

    /// The listener's shared state.
    pub(crate) fn shared(&self) -> &Arc<HttpShared> {
        &self.shared
    }
}

impl Drop for ConnHold {
    fn drop(&mut self) {
        self.shared
            .metrics
            .active_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Admits a connection just accepted and spawns the task that serves it (or refuses it).
pub(crate) fn start(
    stream: ClientStream,
    peer: SocketAddr,
    bound: Option<SocketAddr>,
    shared: &Arc<HttpShared>,
) {
    let mut hold = ConnHold::new(shared);
    let Some(local) = bound.or_else(|| stream.local_addr().ok()) else {
        return;
    };
    if let Some(d) = shared.ddos.load().as_ref() {
        if !d.connection(peer.ip()) {
            return;
        }
    }
    let Some(idle) = acl_and_idle(shared, peer) else {
        shared.metrics.acl_denied.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let tls = shared.tls.load_full();
    // Over the instance's capacity: plain HTTP gets a 503 page, HTTPS is closed before
    // any TLS work.
    if let Some(limiter) = shared.limiter.load_full() {
        match limiter.admit() {
            Ok(slot) => hold._slot = Some(slot),
            Err(_) => {
                if tls.is_none() {
                    tokio::spawn(busy(stream, hold));
                }
                return;
            }
        }
    }
    match tls {
        None => {
            let client = Client::Plain(stream);
            tokio::spawn(super::h1::serve(client, peer, local, idle, hold));
        }
        Some(term) => {
            tokio::spawn(serve_tls(term, stream, peer, local, idle, hold));
        }
    }
}

/// The listener's idle timeout, or `None` when its ACL refuses `peer` (before any TLS
/// work: a refused client costs an accept and a close).
fn acl_and_idle(shared: &HttpShared, peer: SocketAddr) -> Option<Duration> {
    let snap = shared.snapshot.load();
    if snap
        .spec
        .acl
        .as_ref()
        .is_some_and(|acl| !acl.allows(peer.ip()))
    {
        return None;
    }
    let t = snap.spec.idle_timeout;
    Some(if t.is_zero() {
        DEFAULT_HTTP_IDLE_TIMEOUT
    } else {
        t
    })
}

/// Answers a connection over the instance's capacity with the balancer's 503 page.
async fn busy(mut stream: ClientStream, _hold: ConnHold) {
    let page = super::error_page::raw_page(503, "", true);
    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, &page).await;
}

/// HTTPS: handshake, then HTTP/1.1 or HTTP/2 by ALPN.
async fn serve_tls(
    term: Arc<super::tls_accept::TlsTermination>,
    stream: ClientStream,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    hold: ConnHold,
) {
    let shared = hold.shared.clone();
    // A TLS connection writes several small records in a row (handshake flight, session
    // tickets, then the response): with Nagle on, each waits for the previous one's ACK.
    let _ = stream.set_nodelay(true);
    let handshake = super::tls_accept::handshake(&term, stream);
    let tls = match tokio::time::timeout(idle, handshake).await {
        Ok(Ok(tls)) => tls,
        failed => {
            shared
                .http
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            match failed {
                Ok(Err(e)) => {
                    tracing::debug!(listener = %shared.key, %peer, error = %e, "TLS handshake failed")
                }
                _ => tracing::debug!(listener = %shared.key, %peer, "TLS handshake timed out"),
            }
            return;
        }
    };
    shared.http.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    if tls.get_ref().1.handshake_kind() == Some(tokio_rustls::rustls::HandshakeKind::Resumed) {
        shared
            .http
            .tls_resumed_handshakes
            .fetch_add(1, Ordering::Relaxed);
    }
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let _ = tls.get_ref().0.set_nodelay(true);
        let ssl = super::h1::ssl_info(tls.get_ref().1);
        // `hold` lives until this function returns, after the connection.
        let h2 = super::h1::serve_h2(tls, bytes::Bytes::new(), shared, peer, local, idle, ssl);
        return Box::pin(h2).await;
    }
    let client = Client::Tls(Box::new(tls));
    Box::pin(super::h1::serve(client, peer, local, idle, hold)).await;
}
