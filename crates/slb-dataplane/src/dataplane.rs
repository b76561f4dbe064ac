//! The data plane handle: applies the desired listener set as a diff and reports health
//! and metrics.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use slb_core::HealthStatus;

use crate::ddos::InstanceDdos;
use crate::error::DataPlaneError;
use crate::http::access_log::AccessLog;
use crate::http::{HttpListenerRuntime, HttpShared};
use crate::limits::{InstanceCaps, InstanceLimiter};
use crate::listener::{ListenerRuntime, ListenerShared};
use crate::metrics::{self, ListenerMetrics, Sample, FAMILIES};
use crate::spec::{
    HttpListenerSpec, ListenerKey, ListenerSpec, PROTOCOL_HTTP, PROTOCOL_HTTPS, PROTOCOL_TCP,
    PROTOCOL_UDP,
};
use crate::workers::Workers;

/// Health of one backend of one listener, as `DescribeHealthStatus` reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackendHealthReport {
    /// The listener.
    pub key: ListenerKey,
    /// Alibaba `ServerId` from the spec.
    pub server_id: String,
    /// Backend address: `ServerIp` and backend port.
    pub addr: SocketAddr,
    /// Backend port (`Port`), the same as `addr.port()`; kept as its own field because
    /// `DescribeHealthStatus` reports it separately.
    pub port: u16,
    /// `Unknown` when health checking is off or no verdict was reached yet (Alibaba
    /// reports that as `unavailable`), otherwise the tracker's status.
    pub status: HealthStatus,
}

/// The data plane of one node: TCP listeners ([`apply`](Self::apply)) and HTTP listeners
/// ([`apply_http`](Self::apply_http)). Cheap to clone: all clones drive the same listeners.
///
/// Must be used from within a tokio runtime (multi-thread recommended): listeners, probes
/// and connections run as spawned tasks.
#[derive(Clone, Default)]
pub struct DataPlane {
    inner: Arc<Inner>,
}

#[derive(Default)]
struct Inner {
    /// Running listeners; the async mutex serialises `apply` calls.
    runtimes: tokio::sync::Mutex<BTreeMap<ListenerKey, ListenerRuntime>>,
    /// Lock-free view for `health` and `render_metrics`, republished after each `apply`.
    view: ArcSwap<Vec<Arc<ListenerShared>>>,
    /// Running HTTP listeners; the async mutex serialises `apply_http` calls.
    http_runtimes: tokio::sync::Mutex<BTreeMap<ListenerKey, HttpListenerRuntime>>,
    /// Lock-free view of the HTTP listeners, republished after each `apply_http`.
    http_view: ArcSwap<Vec<Arc<HttpShared>>>,
    /// Access log handed to HTTP listeners started from now on.
    access_log: std::sync::Mutex<Option<Arc<dyn AccessLog>>>,
    /// Capacity counters per instance (`LoadBalancerId`), shared by its listeners.
    limiters: std::sync::Mutex<BTreeMap<String, Arc<InstanceLimiter>>>,
    /// Anti-DDoS state per instance, shared by its listeners.
    ddos: std::sync::Mutex<BTreeMap<String, Arc<InstanceDdos>>>,
    /// Trims spare buffers; started by the first `apply` or `apply_http`.
    housekeeping: crate::housekeeping::Housekeeping,
    /// The threads that accept and serve connections (none: the caller's runtime).
    workers: Workers,
}

impl DataPlane {
    /// The shared limiter of `load_balancer_id` with `caps` (created or updated), or
    /// `None` when the instance is unlimited.
    fn limiter(
        &self,
        load_balancer_id: &str,
        caps: Option<InstanceCaps>,
    ) -> Option<Arc<InstanceLimiter>> {
        let caps = caps?;
        let mut all = crate::backend::lock(&self.inner.limiters);
        let l = all
            .entry(load_balancer_id.to_string())
            .or_insert_with(|| InstanceLimiter::new(caps));
        l.set_caps(caps);
        Some(l.clone())
    }

    /// The shared anti-DDoS state of `load_balancer_id` (created or reconfigured), or
    /// `None` when protection is off.
    fn ddos_for(
        &self,
        load_balancer_id: &str,
        cfg: Option<slb_core::ddos::DdosConfig>,
    ) -> Option<Arc<InstanceDdos>> {
        let cfg = cfg?;
        let mut all = crate::backend::lock(&self.inner.ddos);
        let d = all
            .entry(load_balancer_id.to_string())
            .or_insert_with(|| Arc::new(InstanceDdos::new(load_balancer_id, cfg)));
        d.set_config(cfg);
        Some(d.clone())
    }

    /// The anti-DDoS state of an instance, if protection has seen it.
    pub fn ddos_report(&self, load_balancer_id: &str) -> Option<crate::ddos::DdosReport> {
        crate::backend::lock(&self.inner.ddos)
            .get(load_balancer_id)
            .map(|d| d.report())
    }

    /// An empty data plane with no listeners, serving on the runtime that applies them.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty data plane whose listeners accept on every one of `workers`, each with a
    /// socket of its own (thread-per-core; see [`Workers`]).
    pub fn on_workers(workers: Workers) -> Self {
        Self {
            inner: Arc::new(Inner {
                workers,
                ..Inner::default()
            }),
        }
    }

    /// Sends one entry per HTTP request to `log` (for HTTP listeners started after this
    /// call; call it before the first [`apply_http`](Self::apply_http)).
    pub fn with_access_log(self, log: Arc<dyn AccessLog>) -> Self {
        *crate::backend::lock(&self.inner.access_log) = Some(log);
        self
    }

    /// Makes `specs` the set of running HTTP listeners, with the same diff semantics as
    /// [`apply`](Self::apply) (which manages TCP listeners only; the two sets are
    /// independent). A changed spec swaps the snapshot without rebinding and without
    /// closing keep-alive connections: their next request uses the new rules and backends.
    /// A removed listener's socket is closed before this returns; its open connections end
    /// at their idle timeout. Keys must have protocol [`PROTOCOL_HTTP`] or [`PROTOCOL_HTTPS`] (with `tls`).
    pub async fn apply_http(
        &self,
        specs: Vec<HttpListenerSpec>,
    ) -> Vec<(ListenerKey, Result<(), DataPlaneError>)> {
        self.inner.housekeeping.ensure_started();
        let mut runtimes = self.inner.http_runtimes.lock().await;
        let mut results: Vec<Option<(ListenerKey, Result<(), DataPlaneError>)>> =
            Vec::with_capacity(specs.len());
        let mut valid = Vec::with_capacity(specs.len());
        let mut seen = HashSet::new();
        for spec in specs {
            if !seen.insert(spec.key.clone()) {
                results.push(Some((spec.key, Err(DataPlaneError::DuplicateListener))));
            } else if spec.key.protocol != PROTOCOL_HTTP && spec.key.protocol != PROTOCOL_HTTPS {
                let p = spec.key.protocol.clone();
                results.push(Some((
                    spec.key,
                    Err(DataPlaneError::UnsupportedProtocol(p)),
                )));
            } else {
                valid.push((results.len(), spec));
                results.push(None);
            }
        }
        let removed: Vec<ListenerKey> = runtimes
            .keys()
            .filter(|k| !valid.iter().any(|(_, s)| &s.key == *k))
            .cloned()
            .collect();
        for key in removed {
            if let Some(rt) = runtimes.remove(&key) {
                rt.stop().await;
            }
        }
        let log = crate::backend::lock(&self.inner.access_log).clone();
        for (slot, spec) in valid {
            let key = spec.key.clone();
            let limiter = self.limiter(&key.load_balancer_id, spec.caps);
            let ddos = self.ddos_for(&key.load_balancer_id, spec.ddos);
            let result = match runtimes.get_mut(&key) {
                Some(rt) => rt.update(spec).await,
                None => {
                    HttpListenerRuntime::start(spec, log.clone(), &self.inner.workers).map(|rt| {
                        runtimes.insert(key.clone(), rt);
                    })
                }
            };
            if let Some(rt) = runtimes.get(&key) {
                rt.shared.limiter.store(limiter);
                rt.shared.ddos.store(ddos);
            }
            if let Err(e) = &result {
                tracing::warn!(listener = %key, error = %e, "http listener not applied");
            }
            results[slot] = Some((key, result));
        }
        let view: Vec<Arc<HttpShared>> = runtimes.values().map(|rt| rt.shared.clone()).collect();
        self.inner.http_view.store(Arc::new(view));
        results.into_iter().flatten().collect()
    }

    /// Makes `specs` the set of running listeners and returns one result per spec, in
    /// input order.
    ///
    /// - listeners not in `specs` are stopped: the socket is closed before this returns;
    ///   existing connections are closed after the listener's drain timeout if set, and
    ///   otherwise left to finish;
    /// - new listeners bind (`SO_REUSEADDR`); a failure is reported for that key only;
    /// - unchanged listeners are left alone;
    /// - changed listeners swap their snapshot atomically without rebinding, unless the bind
    ///   address changed; health state of backends still present is kept; a failed rebind
    ///   keeps the listener on its last good configuration.
    pub async fn apply(
        &self,
        specs: Vec<ListenerSpec>,
    ) -> Vec<(ListenerKey, Result<(), DataPlaneError>)> {
        self.inner.housekeeping.ensure_started();
        let mut runtimes = self.inner.runtimes.lock().await;
        let mut results: Vec<Option<(ListenerKey, Result<(), DataPlaneError>)>> =
            Vec::with_capacity(specs.len());
        let mut valid = Vec::with_capacity(specs.len());
        let mut seen = HashSet::new();
        for spec in specs {
            if !seen.insert(spec.key.clone()) {
                results.push(Some((spec.key, Err(DataPlaneError::DuplicateListener))));
            } else if spec.key.protocol != PROTOCOL_TCP && spec.key.protocol != PROTOCOL_UDP {
                let p = spec.key.protocol.clone();
                results.push(Some((
                    spec.key,
                    Err(DataPlaneError::UnsupportedProtocol(p)),
                )));
            } else {
                valid.push((results.len(), spec));
                results.push(None);
            }
        }
        // Stop removed listeners first so their addresses are free for new ones.
        let removed: Vec<ListenerKey> = runtimes
            .keys()
            .filter(|k| !valid.iter().any(|(_, s)| &s.key == *k))
            .cloned()
            .collect();
        for key in removed {
            if let Some(rt) = runtimes.remove(&key) {
                rt.stop().await;
            }
        }
        for (slot, spec) in valid {
            let key = spec.key.clone();
            let limiter = self.limiter(&key.load_balancer_id, spec.caps);
            let ddos = self.ddos_for(&key.load_balancer_id, spec.ddos);
            let result = match runtimes.get_mut(&key) {
                Some(rt) => rt.update(spec).await,
                None => ListenerRuntime::start(spec, &self.inner.workers).map(|rt| {
                    runtimes.insert(key.clone(), rt);
                }),
            };
            if let Some(rt) = runtimes.get(&key) {
                rt.shared.limiter.store(limiter);
                rt.shared.ddos.store(ddos);
            }
            if let Err(e) = &result {
                tracing::warn!(listener = %key, error = %e, "listener not applied");
            }
            results[slot] = Some((key, result));
        }
        let view: Vec<Arc<ListenerShared>> =
            runtimes.values().map(|rt| rt.shared.clone()).collect();
        self.inner.view.store(Arc::new(view));
        results.into_iter().flatten().collect()
    }

    /// The address a running listener is actually bound to: the spec's `bind`, with the
    /// port the kernel chose when the spec asked for port 0. `None` when not running.
    pub fn local_addr(&self, key: &ListenerKey) -> Option<SocketAddr> {
        let view = self.inner.view.load();
        if let Some(l) = view.iter().find(|l| &l.key == key) {
            return Some(*crate::backend::lock(&l.local_addr));
        }
        let http = self.inner.http_view.load();
        http.iter()
            .find(|l| &l.key == key)
            .map(|l| *crate::backend::lock(&l.local_addr))
    }

    /// Health of every backend of every running listener: TCP listeners in key order, then
    /// HTTP listeners in key order (each distinct backend of an HTTP listener once).
    pub fn health(&self) -> Vec<BackendHealthReport> {
        let view = self.inner.view.load();
        let mut out = Vec::new();
        for l in view.iter() {
            let snap = l.snapshot.load();
            for b in &snap.backends {
                out.push(BackendHealthReport {
                    key: l.key.clone(),
                    server_id: b.server_id.clone(),
                    addr: b.addr,
                    port: b.addr.port(),
                    status: if snap.health_enabled {
                        b.state.status()
                    } else {
                        HealthStatus::Unknown
                    },
                });
            }
        }
        for l in self.inner.http_view.load().iter() {
            let snap = l.snapshot.load();
            for (b, enabled) in snap.unique_backends() {
                out.push(BackendHealthReport {
                    key: l.key.clone(),
                    server_id: b.server_id.clone(),
                    addr: b.addr,
                    port: b.addr.port(),
                    status: if enabled {
                        b.state.status()
                    } else {
                        HealthStatus::Unknown
                    },
                });
            }
        }
        out
    }

    /// Appends all data-plane metrics in Prometheus text format (names in [`metrics`]).
    pub fn render_metrics(&self, out: &mut String) {
        /// One listener's counters and (backend key, healthy, active) per distinct backend.
        struct View<'a> {
            key: &'a ListenerKey,
            metrics: &'a ListenerMetrics,
            backends: Vec<(String, u64, u64)>,
        }
        let tcp = self.inner.view.load();
        let http = self.inner.http_view.load();
        let mut views = Vec::new();
        for l in tcp.iter() {
            let snap = l.snapshot.load();
            let mut seen = HashSet::new();
            let backends = snap
                .backends
                .iter()
                .filter(|b| seen.insert(b.addr))
                .map(|b| {
                    let healthy = u64::from(!snap.health_enabled || b.state.health_ok());
                    (b.key.clone(), healthy, u64::from(b.state.active()))
                })
                .collect();
            views.push(View {
                key: &l.key,
                metrics: &l.metrics,
                backends,
            });
        }
        for l in http.iter() {
            let snap = l.snapshot.load();
            let backends = snap
                .unique_backends()
                .into_iter()
                .map(|(b, enabled)| {
                    let healthy = u64::from(!enabled || b.state.health_ok());
                    (b.key.clone(), healthy, u64::from(b.state.active()))
                })
                .collect();
            views.push(View {
                key: &l.key,
                metrics: &l.metrics,
                backends,
            });
        }
        for (family, (name, _, _)) in FAMILIES.iter().enumerate() {
            let mut samples = Vec::new();
            for v in &views {
                if let Some(value) = v.metrics.value(name) {
                    samples.push(Sample {
                        key: v.key,
                        backend: None,
                        value,
                    });
                    continue;
                }
                for (backend, healthy, active) in &v.backends {
                    let value = if *name == metrics::BACKEND_HEALTHY {
                        *healthy
                    } else {
                        *active
                    };
                    samples.push(Sample {
                        key: v.key,
                        backend: Some(backend.clone()),
                        value,
                    });
                }
            }
            metrics::render_family(out, family, &samples);
        }
        let udp: Vec<_> = tcp
            .iter()
            .filter(|l| l.key.protocol == PROTOCOL_UDP)
            .map(|l| (&l.key, &l.metrics))
            .collect();
        metrics::render_udp(out, &udp);
        let limiters = crate::backend::lock(&self.inner.limiters).clone();
        metrics::render_instances(out, &limiters);
        let ddos = crate::backend::lock(&self.inner.ddos).clone();
        metrics::render_ddos(out, &ddos);
        let http_counters: Vec<_> = http.iter().map(|l| (&l.key, &l.http)).collect();
        metrics::render_http(out, &http_counters);
        metrics::render_workers(out, &self.inner.workers.accepted());
    }

    /// Stops every TCP and HTTP listener, as `apply(vec![])` and `apply_http(vec![])` do.
    pub async fn shutdown(&self) {
        self.apply(Vec::new()).await;
        self.apply_http(Vec::new()).await;
    }
}
