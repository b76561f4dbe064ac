//! The accept loop of one listener and the life of one client connection.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};

use crate::listener::ListenerShared;
use crate::workers::AcceptCounter;
use slb_core::proxy_protocol::{self, Transport};
use tokio::io::AsyncWriteExt;

use crate::tcp::{connect, relay};

/// Pause after an accept error (e.g. out of file descriptors) before accepting again, so
/// the loop does not spin.
pub const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(50);

/// Accepts until the task is aborted; aborting drops `listener`, which closes the socket so
/// new connects are refused. Connections run in their own tasks and outlive the loop.
pub(crate) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<ListenerShared>,
    accepted: AcceptCounter,
) {
    loop {
        match listener.accept().await {
            Ok((stream, _peer)) => {
                accepted.add();
                tokio::spawn(serve(stream, shared.clone()));
            }
            Err(e) => {
                tracing::warn!(listener = %shared.key, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
            }
        }
    }
}

/// Counts a client connection as active until dropped.
struct ClientGuard<'a>(&'a ListenerShared);

impl Drop for ClientGuard<'_> {
    fn drop(&mut self) {
        self.0
            .metrics
            .active_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Serves one client connection to its end.
async fn serve(client: TcpStream, shared: Arc<ListenerShared>) {
    let m = &shared.metrics;
    m.connections_total.fetch_add(1, Ordering::Relaxed);
    m.active_connections.fetch_add(1, Ordering::Relaxed);
    let _client_guard = ClientGuard(&shared);
    let (Ok(peer), Ok(local)) = (client.peer_addr(), client.local_addr()) else {
        return;
    };
    // The snapshot is read once; the connection then holds only what it needs.
    let (established_timeout, proxy_protocol, connected, _slot) = {
        if let Some(d) = shared.ddos.load().as_ref() {
            if !d.connection(peer.ip()) {
                return;
            }
        }
        let snap = shared.snapshot.load_full();
        if snap.acl.as_ref().is_some_and(|acl| !acl.allows(peer.ip())) {
            m.acl_denied.fetch_add(1, Ordering::Relaxed);
            return;
        }
        // Within the instance's capacity, or refused (closed) at once.
        let slot = match shared.limiter.load_full() {
            Some(limiter) => match limiter.admit() {
                Ok(slot) => Some(slot),
                Err(_) => return,
            },
            None => None,
        };
        let _ = client.set_nodelay(true);
        let connected = connect::connect_backend(&snap, &shared, peer, local).await;
        (
            snap.established_timeout,
            snap.proxy_protocol,
            connected,
            slot,
        )
    };
    let Some(mut connected) = connected else {
        tracing::debug!(listener = %shared.key, %peer, "no backend reachable; closing client");
        return;
    };
    if proxy_protocol {
        // Before any client byte: the backend learns who the client is.
        let mut header = [0u8; proxy_protocol::MAX_ENCODED_LEN];
        let n = proxy_protocol::encode(Transport::Stream, peer, local, &mut header);
        if let Err(e) = connected.stream.write_all(&header[..n]).await {
            tracing::debug!(listener = %shared.key, %peer, backend = %connected.addr, error = %e, "PROXY header not sent");
            return;
        }
    }
    let closed = connected.guard.state().closed();
    let shaper = shared.shaper.load_full();
    let ddos = shared.ddos.load_full();
    let end = relay::relay(
        relay::splice_on(),
        client,
        connected.stream,
        m,
        established_timeout,
        closed,
        shaper.as_deref(),
        ddos.as_deref(),
    )
    .await;
    match end {
        relay::RelayEnd::Error(e) => {
            tracing::debug!(listener = %shared.key, %peer, backend = %connected.addr, error = %e, "connection failed");
        }
        end => {
            tracing::trace!(listener = %shared.key, %peer, backend = %connected.addr, ?end, "connection ended");
        }
    }
}
