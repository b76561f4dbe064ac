//! The datagram loops of one UDP listener: the receive loop (client → backend) and one
//! reply task per session (backend → client, from the listener's socket).

use std::cell::RefCell;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use slb_core::proxy_protocol::{self, Transport};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use super::sessions::{Session, Sessions};
use crate::backend::ActiveGuard;
use crate::listener::ListenerShared;
use crate::shaper::Direction;
use crate::snapshot::Snapshot;
use crate::spec::DEFAULT_UDP_SESSION_TIMEOUT;
use crate::tcp::connect::Attempts;

/// Largest UDP payload (IPv4: 65,535 − 8 − 20).
pub const MAX_DATAGRAM: usize = 65_507;

/// Room in front of a received datagram for a PROXY v2 header, so it is prepended in place.
const HEADROOM: usize = proxy_protocol::MAX_ENCODED_LEN;

/// Datagrams the receive loop takes before it lets the runtime's other tasks run.
const DATAGRAMS_PER_TURN: u32 = 8;

/// Longest the receive loop waits for a backend socket to take a datagram.
const SEND_WAIT: Duration = Duration::from_millis(10);

thread_local! {
    /// Reply buffer shared by the session tasks of a thread: filled and sent without an
    /// await in between, so 64 KiB per thread instead of per session.
    static REPLY_BUF: RefCell<Vec<u8>> = RefCell::new(vec![0u8; MAX_DATAGRAM]);
}

/// Ends every session when the listener's loop ends (stopped, rebound or aborted), so
/// their sockets and the listener's address are released together.
struct EndAll(Arc<Sessions>, Arc<ListenerShared>);

impl Drop for EndAll {
    fn drop(&mut self) {
        let n = self.0.end_all();
        self.1
            .metrics
            .active_connections
            .fetch_sub(n as u64, Ordering::Relaxed);
    }
}

/// The listener's session table, shared by its loops (one per worker).
pub(crate) fn new_sessions(shared: &ListenerShared) -> Arc<Sessions> {
    Arc::new(Sessions::new(shared.snapshot.load().max_sessions))
}

/// Receives datagrams on `socket` (registered here, with the reactor of the runtime this
/// runs on) until `stop` is cancelled, then ends its sessions' reply tasks and returns, the
/// socket closed (the reply tasks hold it too). The loops of one listener share
/// `sessions`: a client's datagrams reach one socket of the group, so its session is found
/// where it was made, and the table's bound holds for the listener as a whole.
pub(crate) async fn serve(
    socket: socket2::Socket,
    shared: Arc<ListenerShared>,
    sessions: Arc<Sessions>,
    stop: CancellationToken,
) {
    let socket = match UdpSocket::from_std(socket.into()) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            tracing::error!(listener = %shared.key, error = %e, "cannot register listener socket");
            return;
        }
    };
    let Ok(local) = socket.local_addr() else {
        return;
    };
    let _end = EndAll(sessions.clone(), shared.clone());
    // Reply tasks live in the set: aborting this loop aborts them all.
    let mut tasks = tokio::task::JoinSet::new();
    tokio::select! {
        _ = stop.cancelled() => {}
        _ = receive(&socket, local, &shared, &sessions, &mut tasks) => {}
    }
    tasks.shutdown().await;
}

/// The receive loop of [`serve`]: never ends by itself.
async fn receive(
    socket: &Arc<UdpSocket>,
    local: SocketAddr,
    shared: &Arc<ListenerShared>,
    sessions: &Arc<Sessions>,
    tasks: &mut tokio::task::JoinSet<()>,
) {
    let mut buf = vec![0u8; HEADROOM + MAX_DATAGRAM];
    let m = &shared.metrics;
    let mut turn = 0u32;
    loop {
        while tasks.try_join_next().is_some() {}
        // A few datagrams per turn of the runtime: the session reply tasks and the other
        // listeners on this worker run between small groups of datagrams instead of after a
        // whole burst, and a client's burst reaches the backend spread out rather than in
        // one rush into its receive buffer. One per turn (as nginx takes one per event-loop
        // pass) had raised delivery at 2 Gbit/s from 1.43 to 1.66 Gbit/s (loss 28 % -> 17 %);
        // but every turn is also an `epoll_wait`, and eight per turn cost 5-10 % less CPU per
        // MiB with the same delivery and loss (iperf3 -u -b 2G, four A/B pairs: 7,359-7,679
        // against 7,935-8,336 µs/MiB).
        turn = turn.wrapping_add(1);
        if turn.is_multiple_of(DATAGRAMS_PER_TURN) {
            tokio::task::yield_now().await;
        }
        let (n, client) = match socket.recv_from(&mut buf[HEADROOM..]).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(listener = %shared.key, error = %e, "UDP receive failed");
                continue;
            }
        };
        m.udp.datagrams_in.fetch_add(1, Ordering::Relaxed);
        m.bytes_in.fetch_add(n as u64, Ordering::Relaxed);
        if let Some(d) = shared.ddos.load().as_ref() {
            if !d.datagram(client.ip(), n) {
                continue;
            }
        }
        let snap = shared.snapshot.load();
        if snap
            .acl
            .as_ref()
            .is_some_and(|acl| !acl.allows(client.ip()))
        {
            m.acl_denied.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let session = match sessions.get(client) {
            Some(s) if !s.guard.state().is_closed() => s,
            stale => {
                if let Some(s) = stale {
                    s.end();
                }
                // A new session counts as a new connection against the instance's caps.
                let slot = match shared.limiter.load_full() {
                    Some(limiter) => match limiter.admit() {
                        Ok(slot) => Some(slot),
                        Err(_) => continue,
                    },
                    None => None,
                };
                let Some((sock, guard)) = open_session(&snap, shared, client, local) else {
                    m.udp.dropped_no_backend.fetch_add(1, Ordering::Relaxed);
                    continue;
                };
                sessions.set_max(snap.max_sessions);
                let (s, out) = sessions.insert(client, sock, guard, slot);
                if out.evicted {
                    m.udp.sessions_evicted.fetch_add(1, Ordering::Relaxed);
                }
                let left = u64::from(out.evicted) + u64::from(out.replaced);
                m.connections_total.fetch_add(1, Ordering::Relaxed);
                // One in, and those that left the table for it out, in one step.
                if left == 0 {
                    m.active_connections.fetch_add(1, Ordering::Relaxed);
                } else {
                    m.active_connections.fetch_sub(left - 1, Ordering::Relaxed);
                }
                let idle = if snap.established_timeout.is_zero() {
                    DEFAULT_UDP_SESSION_TIMEOUT
                } else {
                    snap.established_timeout
                };
                tasks.spawn(replies(
                    s.clone(),
                    socket.clone(),
                    client,
                    sessions.clone(),
                    shared.clone(),
                    idle,
                ));
                s
            }
        };
        let start = if snap.proxy_protocol {
            let mut header = [0u8; proxy_protocol::MAX_ENCODED_LEN];
            let len = proxy_protocol::encode(Transport::Datagram, client, local, &mut header);
            buf[HEADROOM - len..HEADROOM].copy_from_slice(&header[..len]);
            HEADROOM - len
        } else {
            HEADROOM
        };
        if let Some(shaper) = shared.shaper.load().as_ref() {
            // Held here, the next datagrams wait in the socket's receive buffer.
            shaper.pace(Direction::Up, n).await;
        }
        let datagram = &buf[start..HEADROOM + n];
        let sent = match session.socket.try_send(datagram) {
            // A new socket is writable only once the reactor has seen it: wait for that
            // (briefly; a full send buffer drops the datagram, as the kernel would).
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                tokio::time::timeout(SEND_WAIT, session.socket.send(datagram))
                    .await
                    .unwrap_or_else(|_| Err(io::ErrorKind::WouldBlock.into()))
            }
            r => r,
        };
        match sent {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                // The backend's port answered ICMP unreachable to an earlier datagram: the
                // next datagram of this client gets a newly chosen backend.
                m.udp
                    .dropped_backend_unreachable
                    .fetch_add(1, Ordering::Relaxed);
                session.end();
            }
            Err(_) => {
                m.udp.dropped_send_failed.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Chooses a backend for `client` (persistence first, as for TCP) and opens a socket
/// connected to it.
fn open_session(
    snap: &Snapshot,
    shared: &ListenerShared,
    client: SocketAddr,
    local: SocketAddr,
) -> Option<(UdpSocket, ActiveGuard)> {
    let mut attempts = Attempts::new(snap, shared, client, local);
    while let Some(backend) = attempts.next() {
        let guard = backend.state.track();
        match connected_socket(backend.addr) {
            Ok(sock) => {
                attempts.succeeded(backend);
                return Some((sock, guard));
            }
            Err(e) => {
                tracing::debug!(listener = %shared.key, backend = %backend.addr, error = %e, "UDP backend socket failed");
                attempts.failed();
            }
        }
    }
    None
}

/// A socket connected to `backend` (a local operation: nothing is sent).
fn connected_socket(backend: SocketAddr) -> io::Result<UdpSocket> {
    let any: SocketAddr = if backend.is_ipv4() {
        ([0, 0, 0, 0], 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let s = std::net::UdpSocket::bind(any)?;
    s.connect(backend)?;
    s.set_nonblocking(true)?;
    UdpSocket::from_std(s)
}

/// Removes the session when its task ends, however it ends, and lowers the gauge if it
/// was still in the table (an evicted or replaced one was counted out when it left).
struct SessionGuard {
    session: Arc<Session>,
    client: SocketAddr,
    sessions: Arc<Sessions>,
    shared: Arc<ListenerShared>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.session.end();
        if self.sessions.remove(self.client, &self.session) {
            self.shared
                .metrics
                .active_connections
                .fetch_sub(1, Ordering::Relaxed);
        }
    }
}

/// Relays the backend's replies to `client` from the listener socket until the session
/// is idle for `idle`, ended (evicted, backend unreachable) or its backend is closed
/// (removed, after any drain time).
async fn replies(
    session: Arc<Session>,
    listener: Arc<UdpSocket>,
    client: SocketAddr,
    sessions: Arc<Sessions>,
    shared: Arc<ListenerShared>,
    idle: Duration,
) {
    let guard = SessionGuard {
        session,
        client,
        sessions,
        shared,
    };
    let s = &guard.session;
    let closed = s.guard.state().closed();
    tokio::pin!(closed);
    let m = &guard.shared.metrics;
    loop {
        let wait = idle.saturating_sub(guard.sessions.idle(s));
        if wait.is_zero() {
            return;
        }
        tokio::select! {
            r = s.socket.readable() => {
                if r.is_err() {
                    return;
                }
            }
            _ = tokio::time::sleep(wait) => continue,
            _ = &mut closed => return,
            _ = s.ended() => return,
        }
        loop {
            // Received and sent without an await in between; a reply the listener socket
            // cannot take at once is copied out and awaited.
            let r = REPLY_BUF.with_borrow_mut(|buf| {
                let n = s.socket.try_recv(buf)?;
                Ok::<_, io::Error>(match listener.try_send_to(&buf[..n], client) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => (n, Err(buf[..n].to_vec())),
                    sent => (n, Ok(sent)),
                })
            });
            let r = match r {
                Ok((n, Err(pending))) => Ok((
                    n,
                    tokio::time::timeout(SEND_WAIT, listener.send_to(&pending, client))
                        .await
                        .unwrap_or_else(|_| Err(io::ErrorKind::WouldBlock.into())),
                )),
                Ok((n, Ok(sent))) => Ok((n, sent)),
                Err(e) => Err(e),
            };
            match r {
                Ok((n, sent)) => {
                    guard.sessions.touch(s);
                    if sent.is_ok() {
                        m.udp.datagrams_out.fetch_add(1, Ordering::Relaxed);
                        m.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                    } else {
                        m.udp.dropped_send_failed.fetch_add(1, Ordering::Relaxed);
                    }
                    if let Some(shaper) = guard.shared.shaper.load().as_ref() {
                        shaper.pace(Direction::Down, n).await;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::ConnectionRefused => {
                    m.udp
                        .dropped_backend_unreachable
                        .fetch_add(1, Ordering::Relaxed);
                    return;
                }
                Err(_) => return,
            }
        }
    }
}
