//! Choosing a backend and connecting to it, retrying another backend on failure.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::net::TcpStream;

use crate::backend::ActiveGuard;
use crate::listener::ListenerShared;
use crate::snapshot::Snapshot;

/// Maximum backends tried for one client connection (each at most once). A refused or
/// timed-out connect counts as a connect failure and moves on to another backend.
pub const MAX_CONNECT_ATTEMPTS: usize = 3;

/// A connected backend stream and the guard that counts it as active.
pub(crate) struct Connected {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub guard: ActiveGuard,
}

/// Picks and connects a backend for a client, or `None` when none could be reached.
///
/// Persistence is consulted first (first attempt only) when enabled; the chosen backend is
/// remembered after a successful connect.
pub(crate) async fn connect_backend(
    snap: &Snapshot,
    shared: &ListenerShared,
    client: SocketAddr,
    local: SocketAddr,
) -> Option<Connected> {
    let persistent = !snap.persistence_timeout.is_zero();
    let persisted = if persistent {
        shared.persistence.lookup(client.ip())
    } else {
        None
    };
    let mut tried: Vec<usize> = Vec::with_capacity(MAX_CONNECT_ATTEMPTS);
    while tried.len() < MAX_CONNECT_ATTEMPTS {
        let hint = if tried.is_empty() {
            persisted.as_deref()
        } else {
            None
        };
        let i = snap.choose(client, local, &tried, hint)?;
        tried.push(i);
        let backend = &snap.backends[i];
        // Counted from the attempt on, so wlc sees connections being established.
        let guard = backend.state.track();
        match tokio::time::timeout(snap.connect_timeout, TcpStream::connect(backend.addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                if persistent {
                    shared.persistence.record(client.ip(), &backend.key);
                }
                return Some(Connected {
                    stream,
                    addr: backend.addr,
                    guard,
                });
            }
            Ok(Err(e)) => {
                tracing::debug!(listener = %shared.key, backend = %backend.addr, error = %e, "backend connect failed");
            }
            Err(_) => {
                tracing::debug!(listener = %shared.key, backend = %backend.addr, "backend connect timed out");
            }
        }
        shared
            .metrics
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
    }
    None
}
