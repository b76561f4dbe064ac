//! One running HTTP listener: socket, accept loop, client connections, snapshot, probes,
//! backend connection pool, and the diff from one spec to the next.
//!
//! Unlike TCP, an HTTP connection picks a backend per request: every request loads the
//! current snapshot, so a changed rule or backend list applies to the next request of a
//! keep-alive connection without closing it. A removed listener closes its socket; its
//! connections end at their idle timeout or when the client closes.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;
use socket2::Socket;
use tokio::io::unix::AsyncFd;
use tokio::time::Instant;

use super::access_log::AccessLog;
use super::h1::IdleTimers;
use super::route::HttpSnapshot;
use super::sticky::ServerCookies;
use super::BACKEND_POOL_IDLE_TIMEOUT;
use crate::backend::{lock, BackendState};
use crate::error::DataPlaneError;
use crate::health::{spawn_probe, ProbeHandle};
use crate::metrics::{HttpMetrics, ListenerMetrics};
use crate::reuseport::local_addr;
use crate::spec::{HttpListenerSpec, ListenerKey};
use crate::tcp::accept::ACCEPT_ERROR_BACKOFF;
use crate::tcp::bind::{bind_group, defer_accept};
use crate::workers::{AcceptCounter, Tasks, Workers};

/// What the accept loop, connections and reports share.
pub(crate) struct HttpShared {
    pub key: ListenerKey,
    pub snapshot: ArcSwap<HttpSnapshot>,
    pub metrics: ListenerMetrics,
    pub http: HttpMetrics,
    /// Idle backend connections, for HTTP/1.1 and HTTP/2 requests alike (shared with the
    /// HTTP/2 response bodies that give their connection back when they end).
    pub pool: Arc<super::h1::Pool>,
    /// The idle keep-alive deadlines of the listener's connections (shared with the
    /// sweeper, which must not keep the rest of this alive).
    pub idle: Arc<IdleTimers>,
    pub server_cookies: ServerCookies,
    pub access_log: Option<Arc<dyn AccessLog>>,
    pub local_addr: Mutex<SocketAddr>,
    /// HTTPS: the TLS configuration new handshakes use (swapped on rotation).
    pub tls: arc_swap::ArcSwapOption<super::tls_accept::TlsTermination>,
    /// The listener's bandwidth limit, applied to each client connection from its accept.
    pub shaper: arc_swap::ArcSwapOption<crate::shaper::Shaper>,
    /// The instance's capacity counters, shared with its other listeners.
    pub limiter: arc_swap::ArcSwapOption<crate::limits::InstanceLimiter>,
    /// The instance's anti-DDoS state, shared with its other listeners.
    pub ddos: arc_swap::ArcSwapOption<crate::ddos::InstanceDdos>,
}

impl HttpShared {
    /// A backend sent no response head within `RequestTimeout`: an upstream failure and a
    /// timeout, whichever front end (HTTP/1.1 engine or HTTP/2) saw it.
    pub(crate) fn count_upstream_timeout(&self) {
        self.count_upstream_failure();
        self.http.upstream_timeouts.fetch_add(1, Ordering::Relaxed);
    }

    /// A backend refused, reset or broke a request before responding.
    pub(crate) fn count_upstream_failure(&self) {
        self.metrics
            .connect_failures
            .fetch_add(1, Ordering::Relaxed);
    }
}

/// Control-side handle of a running HTTP listener.
pub(crate) struct HttpListenerRuntime {
    pub shared: Arc<HttpShared>,
    spec: HttpListenerSpec,
    accept: Tasks,
    workers: Workers,
    probes: Vec<(SocketAddr, ProbeHandle)>,
}

impl HttpListenerRuntime {
    pub(crate) fn start(
        spec: HttpListenerSpec,
        access_log: Option<Arc<dyn AccessLog>>,
        workers: &Workers,
    ) -> Result<Self, DataPlaneError> {
        let tls = match &spec.tls {
            Some(t) => Some(super::tls_accept::TlsTermination::build(t)?),
            None => None,
        };
        let sockets = bind_listeners(spec.bind, workers.count())?;
        let local = local_addr(&sockets[0]).unwrap_or(spec.bind);
        let snapshot = HttpSnapshot::build(&spec, |_, _| BackendState::new());
        let shared = Arc::new(HttpShared {
            key: spec.key.clone(),
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics: ListenerMetrics::default(),
            http: HttpMetrics::default(),
            pool: Arc::new(super::h1::Pool::new(workers.count())),
            idle: Arc::new(IdleTimers::new(workers.count())),
            server_cookies: ServerCookies::default(),
            access_log,
            local_addr: Mutex::new(local),
            tls: arc_swap::ArcSwapOption::new(tls),
            shaper: arc_swap::ArcSwapOption::new(crate::shaper::Shaper::follow(
                None,
                spec.bandwidth_mbps,
            )),
            limiter: arc_swap::ArcSwapOption::empty(),
            ddos: arc_swap::ArcSwapOption::empty(),
        });
        let accept = spawn_accept_loops(sockets, &shared, workers);
        tokio::spawn(sweep(Arc::downgrade(&shared), shared.idle.clone()));
        let mut rt = Self {
            shared,
            spec,
            accept,
            workers: workers.clone(),
            probes: Vec::new(),
        };
        rt.sync_probes();
        tracing::info!(listener = %rt.spec.key, bind = %rt.spec.bind, "http listener started");
        Ok(rt)
    }

    /// Same contract as the TCP listener: unchanged → nothing; changed bind → rebind
    /// (old address kept on failure); anything else → snapshot swap only.
    pub(crate) async fn update(&mut self, spec: HttpListenerSpec) -> Result<(), DataPlaneError> {
        if spec == self.spec {
            return Ok(());
        }
        // Build the new TLS configuration first: a bad certificate leaves the old one.
        let tls = if spec.tls != self.spec.tls {
            Some(match &spec.tls {
                Some(t) => Some(super::tls_accept::TlsTermination::build(t)?),
                None => None,
            })
        } else {
            None
        };
        if spec.bind != self.spec.bind {
            self.rebind(spec.bind).await?;
        }
        if let Some(tls) = tls {
            // New handshakes use it; established connections keep their session.
            self.shared.tls.store(tls);
        }
        let shaper =
            crate::shaper::Shaper::follow(self.shared.shaper.load().as_ref(), spec.bandwidth_mbps);
        self.shared.shaper.store(shaper);
        let old = self.shared.snapshot.load_full();
        let snapshot = HttpSnapshot::build(&spec, |addr, health| {
            old.state_of(addr, health)
                .cloned()
                .unwrap_or_else(BackendState::new)
        });
        self.shared.snapshot.store(Arc::new(snapshot));
        self.spec = spec;
        self.sync_probes();
        tracing::info!(listener = %self.spec.key, "http listener updated");
        Ok(())
    }

    /// Closes the socket before returning and stops probes.
    pub(crate) async fn stop(mut self) {
        self.accept.stop().await;
        self.probes.clear();
        tracing::info!(listener = %self.spec.key, "http listener stopped");
    }

    async fn rebind(&mut self, addr: SocketAddr) -> Result<(), DataPlaneError> {
        self.accept.stop().await;
        let n = self.workers.count();
        match bind_listeners(addr, n) {
            Ok(sockets) => {
                *lock(&self.shared.local_addr) = local_addr(&sockets[0]).unwrap_or(addr);
                self.accept = spawn_accept_loops(sockets, &self.shared, &self.workers);
                Ok(())
            }
            Err(e) => {
                let old = *lock(&self.shared.local_addr);
                match bind_listeners(old, n) {
                    Ok(sockets) => {
                        self.accept = spawn_accept_loops(sockets, &self.shared, &self.workers);
                    }
                    Err(e2) => {
                        tracing::error!(listener = %self.spec.key, error = %e2, "cannot restore old listener address");
                    }
                }
                Err(e)
            }
        }
    }

    /// One probe per distinct (backend address, health check) of the listener: a rule
    /// with its own check (`ListenerSync=off`) probes its backends its own way.
    fn sync_probes(&mut self) {
        let snapshot = self.shared.snapshot.load();
        for state in snapshot.unchecked_states() {
            state.reset_health();
        }
        let targets = snapshot.probe_targets();
        self.probes
            .retain(|(addr, p)| targets.iter().any(|(a, h, _)| a == addr && **h == p.spec));
        for (addr, health, state) in targets {
            if !self
                .probes
                .iter()
                .any(|(a, p)| *a == addr && p.spec == *health)
            {
                let handle = spawn_probe(
                    self.spec.key.to_string(),
                    health.clone(),
                    addr,
                    state.clone(),
                );
                self.probes.push((addr, handle));
            }
        }
    }
}

/// Until the listener and its last connection are gone: ends the idle keep-alive waits
/// past their deadline (`h1/idle.rs`), and closes backend connections idle for longer than
/// [`BACKEND_POOL_IDLE_TIMEOUT`], every quarter of it. It outlives a stopped listener,
/// whose open connections still end at their idle timeout. (Spare buffers are trimmed by
/// the data plane's one housekeeping task, `housekeeping.rs`.)
async fn sweep(shared: std::sync::Weak<HttpShared>, idle: Arc<IdleTimers>) {
    let pool_every = BACKEND_POOL_IDLE_TIMEOUT / 4;
    let mut pool_due = Instant::now() + pool_every;
    loop {
        let now = Instant::now();
        if now >= pool_due {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            shared.pool.sweep(BACKEND_POOL_IDLE_TIMEOUT);
            pool_due = now + pool_every;
        }
        let next = idle.expire(now).map_or(pool_due, |at| at.min(pool_due));
        tokio::select! {
            () = tokio::time::sleep_until(next) => {}
            () = idle.earlier() => {}
        }
    }
}

/// How long the kernel holds back a connection that has sent nothing (`TCP_DEFER_ACCEPT`,
/// rounded up to its SYN-ACK retransmission times). Short, so that a silent client still
/// reaches `accept` soon and meets the listener's own header timeout, anti-DDoS and
/// connection accounting instead of waiting unseen in the kernel.
const DEFER_ACCEPT_SECS: u32 = 1;

/// The listener's sockets on `addr`, one per worker (`tcp/bind.rs`), each holding back
/// connections until their client has spoken.
fn bind_listeners(addr: SocketAddr, n: usize) -> Result<Vec<Socket>, DataPlaneError> {
    let sockets = bind_group(addr, n)?;
    for socket in &sockets {
        // HTTP and TLS clients speak first. Without it the listener wakes for the
        // handshake, finds no request yet and registers the connection to wait for it;
        // with it, one wake-up per connection and the request is already there. Not fatal
        // if refused.
        if let Err(e) = defer_accept(socket, DEFER_ACCEPT_SECS) {
            tracing::debug!(%addr, error = %e, "TCP_DEFER_ACCEPT not set");
        }
    }
    Ok(sockets)
}

/// A listening socket in the reactor of the runtime this runs on, accepted from by
/// [`accept_loop`].
// `AsyncFd::new` is deprecated because a caller could close the descriptor while it is
// registered; here the `Socket` is owned by the `AsyncFd` and only dropped with it (which
// deregisters first), the case the deprecation note calls sound. Its replacement is an
// `unsafe fn`, which this workspace forbids.
#[allow(deprecated)]
fn register(socket: Socket) -> std::io::Result<AsyncFd<Socket>> {
    AsyncFd::new(socket)
}

/// One accept loop per worker, each on its own socket of `sockets`.
fn spawn_accept_loops(sockets: Vec<Socket>, shared: &Arc<HttpShared>, workers: &Workers) -> Tasks {
    workers.spawn_socket_loops(sockets, |socket, accepted| {
        let shared = shared.clone();
        async move {
            match register(socket) {
                Ok(listener) => accept_loop(listener, shared, accepted).await,
                Err(e) => {
                    tracing::error!(listener = %shared.key, error = %e, "cannot register listener socket");
                }
            }
        }
    })
}

/// Accepts with `accept4(SOCK_NONBLOCK)` so a connection starts outside the reactor (see
/// `h1/client.rs`); every pending connection is taken per wake-up, within tokio's
/// cooperative budget.
async fn accept_loop(listener: AsyncFd<Socket>, shared: Arc<HttpShared>, accepted: AcceptCounter) {
    // A listener bound to one address knows every connection's local address without a
    // `getsockname` per connection; a wildcard bind has to ask.
    let bound = local_addr(listener.get_ref()).filter(|a| !a.ip().is_unspecified());
    let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
    loop {
        let mut guard = match listener.readable().await {
            Ok(g) => g,
            Err(e) => {
                tracing::warn!(listener = %shared.key, error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
                continue;
            }
        };
        let failed = loop {
            match guard.try_io(|fd| fd.get_ref().accept4(flags)) {
                Ok(Ok((socket, addr))) => {
                    let Some(peer) = addr.as_socket() else {
                        continue;
                    };
                    accepted.add();
                    let stream = super::h1::ClientStream::new(socket.into())
                        .paced(shared.shaper.load_full())
                        .metered(shared.ddos.load_full());
                    super::connection::start(stream, peer, bound, &shared);
                }
                Ok(Err(e)) => break Some(e),
                Err(_would_block) => break None,
            }
        };
        drop(guard);
        if let Some(e) = failed {
            tracing::warn!(listener = %shared.key, error = %e, "accept failed");
            tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
        }
        tokio::task::consume_budget().await;
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::time::Duration;

    use super::*;

    /// A connection that has sent nothing is not handed to `accept` (no wake-up, no task,
    /// no registration); its first bytes make it acceptable.
    #[tokio::test]
    async fn listener_accepts_only_once_the_client_has_spoken() {
        let socket = bind_listeners("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let listener = register(socket.into_iter().next().unwrap()).unwrap();
        let addr = local_addr(listener.get_ref()).unwrap();
        let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
        let mut client = std::net::TcpStream::connect(addr).unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        let early = listener.get_ref().accept4(flags);
        assert!(
            matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
            "accepted before any byte: {early:?}"
        );
        client.write_all(b"GET / HTTP/1.1\r\n\r\n").unwrap();
        let accepted = tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                let mut guard = listener.readable().await.unwrap();
                if let Ok(r) = guard.try_io(|fd| fd.get_ref().accept4(flags)) {
                    return r;
                }
            }
        })
        .await
        .expect("not accepted after the request was sent");
        assert!(accepted.is_ok(), "{accepted:?}");
    }
}
