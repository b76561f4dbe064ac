//! One running listener: its socket and accept task, its snapshot, probes and draining
//! backends, and the diff logic that moves it from one spec to the next.
//!
//! Lifecycle of a backend inside a listener:
//! - present in the spec: in the snapshot; probed when health checking is on;
//! - removed, drain on (`drain_timeout = Some(t)`): out of the snapshot (no new
//!   connections), probes stopped, existing connections closed after `t`; if it comes back
//!   before `t`, the timer is cancelled and its state (health, counts) is reused;
//! - removed, drain off: existing connections are closed at once.
//!
//! A removed listener stops accepting at once (socket closed, new connects refused). Its
//! connections are closed after `drain_timeout` when set, and otherwise left to finish.
//! A UDP listener's sessions end with its socket (their replies leave through it), so a
//! removed or rebound UDP listener frees its address at once; backend removal and drain
//! apply to UDP sessions as to TCP connections.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

use crate::backend::{lock, BackendState};
use crate::error::DataPlaneError;
use crate::health::{spawn_probe, ProbeHandle};
use crate::metrics::ListenerMetrics;
use crate::persistence::Persistence;
use crate::reuseport::local_addr;
use crate::shaper::Shaper;
use crate::snapshot::Snapshot;
use crate::spec::{ListenerKey, ListenerSpec, PROTOCOL_UDP};
use crate::tcp::{accept::accept_loop, bind::bind_group};
use crate::udp;
use crate::workers::{Tasks, Workers};

/// Binds `addr` for `spec`'s protocol and starts its loops (a TCP accept loop or a UDP
/// datagram loop per worker); returns the tasks and the bound address.
fn open(
    spec: &ListenerSpec,
    addr: SocketAddr,
    shared: &Arc<ListenerShared>,
    workers: &Workers,
) -> Result<(Tasks, SocketAddr), DataPlaneError> {
    let udp = spec.key.protocol == PROTOCOL_UDP;
    let sockets = if udp {
        udp::bind::bind_group(addr, workers.count())?
    } else {
        bind_group(addr, workers.count())?
    };
    let local = local_addr(&sockets[0]).unwrap_or(addr);
    if udp {
        let sessions = udp::serve::new_sessions(shared);
        let tasks = workers.spawn_stoppable_socket_loops(sockets, |socket, stop| {
            udp::serve::serve(socket, shared.clone(), sessions.clone(), stop)
        });
        return Ok((tasks, local));
    }
    let tasks = workers.spawn_socket_loops(sockets, |socket, accepted| {
        let shared = shared.clone();
        async move {
            match TcpListener::from_std(socket.into()) {
                Ok(l) => accept_loop(l, shared, accepted).await,
                Err(e) => {
                    tracing::error!(listener = %shared.key, error = %e, "cannot register listener socket");
                }
            }
        }
    });
    Ok((tasks, local))
}

/// What the accept loop, connections and reports share; lives as long as any of them.
pub(crate) struct ListenerShared {
    pub key: ListenerKey,
    pub snapshot: ArcSwap<Snapshot>,
    pub metrics: ListenerMetrics,
    pub persistence: Persistence,
    /// Address the socket is bound to (differs from the spec when it asked for port 0).
    pub local_addr: Mutex<SocketAddr>,
    /// The listener's bandwidth limit, read when a connection or session starts.
    pub shaper: arc_swap::ArcSwapOption<Shaper>,
    /// The instance's capacity counters, shared with its other listeners.
    pub limiter: arc_swap::ArcSwapOption<crate::limits::InstanceLimiter>,
    /// The instance's anti-DDoS state, shared with its other listeners.
    pub ddos: arc_swap::ArcSwapOption<crate::ddos::InstanceDdos>,
}

/// A removed backend whose connections are kept until its drain timer fires.
struct Draining {
    state: Arc<BackendState>,
    timer: JoinHandle<()>,
}

/// Control-side handle of a running listener, owned by the data plane.
pub(crate) struct ListenerRuntime {
    pub shared: Arc<ListenerShared>,
    spec: ListenerSpec,
    accept: Tasks,
    workers: Workers,
    probes: HashMap<SocketAddr, ProbeHandle>,
    draining: HashMap<SocketAddr, Draining>,
}

impl ListenerRuntime {
    /// Binds and starts a new listener, accepting on every one of `workers`.
    pub(crate) fn start(spec: ListenerSpec, workers: &Workers) -> Result<Self, DataPlaneError> {
        let snapshot = Snapshot::build(&spec, |_| BackendState::new());
        let shared = Arc::new(ListenerShared {
            key: spec.key.clone(),
            snapshot: ArcSwap::from_pointee(snapshot),
            metrics: ListenerMetrics::default(),
            persistence: Persistence::new(spec.persistence_timeout),
            local_addr: Mutex::new(spec.bind),
            shaper: arc_swap::ArcSwapOption::new(Shaper::follow(None, spec.bandwidth_mbps)),
            limiter: arc_swap::ArcSwapOption::empty(),
            ddos: arc_swap::ArcSwapOption::empty(),
        });
        let (accept, local_addr) = open(&spec, spec.bind, &shared, workers)?;
        *lock(&shared.local_addr) = local_addr;
        let mut rt = Self {
            shared,
            spec,
            accept,
            workers: workers.clone(),
            probes: HashMap::new(),
            draining: HashMap::new(),
        };
        rt.sync_probes();
        tracing::info!(listener = %rt.spec.key, bind = %rt.spec.bind, "listener started");
        Ok(rt)
    }

    /// Moves the listener to `spec` (same key). Unchanged: nothing happens. Changed bind
    /// address: the socket is rebound, and on failure the old address is kept. Any other
    /// change swaps the snapshot without touching the socket or connections.
    pub(crate) async fn update(&mut self, spec: ListenerSpec) -> Result<(), DataPlaneError> {
        if spec == self.spec {
            return Ok(());
        }
        if spec.bind != self.spec.bind {
            self.rebind(spec.bind).await?;
        }
        self.draining.retain(|_, d| !d.timer.is_finished());
        let old = self.shared.snapshot.load_full();
        let draining = &mut self.draining;
        let snapshot = Snapshot::build(&spec, |addr| {
            if let Some(state) = old.state_of(addr) {
                return state.clone();
            }
            match draining.remove(&addr) {
                Some(d) if !d.state.is_closed() => {
                    d.timer.abort();
                    d.state
                }
                _ => BackendState::new(),
            }
        });
        self.shared
            .persistence
            .set_timeout(spec.persistence_timeout);
        let shaper = Shaper::follow(self.shared.shaper.load().as_ref(), spec.bandwidth_mbps);
        self.shared.shaper.store(shaper);
        self.shared.snapshot.store(Arc::new(snapshot));
        for b in &old.backends {
            if !spec.backends.iter().any(|n| n.addr == b.addr)
                && !self.draining.contains_key(&b.addr)
            {
                let timer = close_after(b.state.clone(), spec.drain_timeout);
                if let Some(timer) = timer {
                    self.draining.insert(
                        b.addr,
                        Draining {
                            state: b.state.clone(),
                            timer,
                        },
                    );
                }
            }
        }
        self.spec = spec;
        self.sync_probes();
        tracing::info!(listener = %self.spec.key, "listener updated");
        Ok(())
    }

    /// Stops accepting (the socket is closed before this returns) and stops probes. See
    /// the module documentation for what happens to existing connections.
    pub(crate) async fn stop(mut self) {
        self.accept.stop().await;
        self.probes.clear();
        if let Some(t) = self.spec.drain_timeout {
            for b in &self.shared.snapshot.load().backends {
                close_after(b.state.clone(), Some(t));
            }
        }
        // Draining timers keep running as detached tasks.
        self.draining.clear();
        tracing::info!(listener = %self.spec.key, "listener stopped");
    }

    /// Closes the socket and binds `addr`; restores the old address if that fails.
    async fn rebind(&mut self, addr: SocketAddr) -> Result<(), DataPlaneError> {
        // Close first: the new address may overlap the old one (e.g. 0.0.0.0 → 127.0.0.1).
        self.accept.stop().await;
        match open(&self.spec, addr, &self.shared, &self.workers) {
            Ok((task, local)) => {
                *lock(&self.shared.local_addr) = local;
                self.accept = task;
                Ok(())
            }
            Err(e) => {
                // Rebind the port actually in use, so port-0 listeners keep their port.
                let old = *lock(&self.shared.local_addr);
                match open(&self.spec, old, &self.shared, &self.workers) {
                    Ok((task, _)) => {
                        self.accept = task;
                    }
                    Err(e2) => {
                        tracing::error!(listener = %self.spec.key, error = %e2, "cannot restore old listener address");
                    }
                }
                Err(e)
            }
        }
    }

    /// Starts, restarts or stops probe tasks to match the current spec and snapshot.
    fn sync_probes(&mut self) {
        let snapshot = self.shared.snapshot.load();
        let Some(health) = &self.spec.health else {
            self.probes.clear();
            for b in &snapshot.backends {
                b.state.reset_health();
            }
            return;
        };
        self.probes
            .retain(|addr, p| p.spec == *health && snapshot.state_of(*addr).is_some());
        for b in &snapshot.backends {
            if !self.probes.contains_key(&b.addr) {
                let handle = spawn_probe(
                    self.spec.key.to_string(),
                    health.clone(),
                    b.addr,
                    b.state.clone(),
                );
                self.probes.insert(b.addr, handle);
            }
        }
    }
}

/// Closes a backend's connections now (`None`) or after `drain`; returns the timer task.
fn close_after(state: Arc<BackendState>, drain: Option<Duration>) -> Option<JoinHandle<()>> {
    match drain {
        None => {
            state.close();
            None
        }
        Some(t) => Some(tokio::spawn(async move {
            tokio::time::sleep(t).await;
            state.close();
        })),
    }
}
