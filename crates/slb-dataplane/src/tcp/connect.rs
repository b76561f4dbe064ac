//! Choosing a backend and connecting to it, retrying another backend on failure.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;

use tokio::net::TcpStream;

use crate::backend::ActiveGuard;
use crate::listener::ListenerShared;
use crate::snapshot::{Backend, Snapshot};

/// Maximum backends tried for one client connection (each at most once). A refused or
/// timed-out connect counts as a connect failure and moves on to another backend.
pub const MAX_CONNECT_ATTEMPTS: usize = 3;

/// A connected backend stream and the guard that counts it as active.
pub(crate) struct Connected {
    pub stream: TcpStream,
    pub addr: SocketAddr,
    pub guard: ActiveGuard,
}

/// The backends to try for one client, in order: its persisted backend first (when
/// persistence is on and that backend is still eligible), then the scheduler's picks, each
/// at most once and at most [`MAX_CONNECT_ATTEMPTS`] in all. Shared by TCP connections
/// and UDP sessions.
pub(crate) struct Attempts<'a> {
    snap: &'a Snapshot,
    shared: &'a ListenerShared,
    client: SocketAddr,
    local: SocketAddr,
    persisted: Option<String>,
    tried: Vec<usize>,
}

impl<'a> Attempts<'a> {
    pub(crate) fn new(
        snap: &'a Snapshot,
        shared: &'a ListenerShared,
        client: SocketAddr,
        local: SocketAddr,
    ) -> Self {
        let persisted = if snap.persistence_timeout.is_zero() {
            None
        } else {
            shared.persistence.lookup(client.ip())
        };
        Self {
            snap,
            shared,
            client,
            local,
            persisted,
            tried: Vec::with_capacity(MAX_CONNECT_ATTEMPTS),
        }
    }

    /// The next backend to try, or `None` when the attempts or eligible backends ran out.
    pub(crate) fn next(&mut self) -> Option<&'a Backend> {
        if self.tried.len() >= MAX_CONNECT_ATTEMPTS {
            return None;
        }
        let hint = if self.tried.is_empty() {
            self.persisted.as_deref()
        } else {
            None
        };
        let i = self
            .snap
            .choose(self.client, self.local, &self.tried, hint)?;
        self.tried.push(i);
        Some(&self.snap.backends[i])
    }

    /// `backend` took the client: remembered for persistence when it is on.
    pub(crate) fn succeeded(&self, backend: &Backend) {
        if !self.snap.persistence_timeout.is_zero() {
            self.shared
                .persistence
                .record(self.client.ip(), &backend.key);
        }
    }

    /// `backend` could not be reached: counted.
    pub(crate) fn failed(&self) {
        self.shared
            .metrics
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Picks and connects a backend for a client, or `None` when none could be reached.
pub(crate) async fn connect_backend(
    snap: &Snapshot,
    shared: &ListenerShared,
    client: SocketAddr,
    local: SocketAddr,
) -> Option<Connected> {
    let mut attempts = Attempts::new(snap, shared, client, local);
    while let Some(backend) = attempts.next() {
        // Counted from the attempt on, so wlc sees connections being established.
        let guard = backend.state.track();
        match tokio::time::timeout(snap.connect_timeout, TcpStream::connect(backend.addr)).await {
            Ok(Ok(stream)) => {
                let _ = stream.set_nodelay(true);
                attempts.succeeded(backend);
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
        attempts.failed();
    }
    None
}
