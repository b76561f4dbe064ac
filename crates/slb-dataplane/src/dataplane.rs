//! The data plane handle: applies the desired listener set as a diff and reports health
//! and metrics.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use slb_core::HealthStatus;

use crate::error::DataPlaneError;
use crate::listener::{ListenerRuntime, ListenerShared};
use crate::metrics::{self, Sample, FAMILIES};
use crate::spec::{ListenerKey, ListenerSpec, PROTOCOL_TCP};

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

/// The TCP data plane of one node. Cheap to clone: all clones drive the same listeners.
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
}

impl DataPlane {
    /// An empty data plane with no listeners.
    pub fn new() -> Self {
        Self::default()
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
        let mut runtimes = self.inner.runtimes.lock().await;
        let mut results: Vec<Option<(ListenerKey, Result<(), DataPlaneError>)>> =
            Vec::with_capacity(specs.len());
        let mut valid = Vec::with_capacity(specs.len());
        let mut seen = HashSet::new();
        for spec in specs {
            if !seen.insert(spec.key.clone()) {
                results.push(Some((spec.key, Err(DataPlaneError::DuplicateListener))));
            } else if spec.key.protocol != PROTOCOL_TCP {
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
            let result = match runtimes.get_mut(&key) {
                Some(rt) => rt.update(spec).await,
                None => ListenerRuntime::start(spec).map(|rt| {
                    runtimes.insert(key.clone(), rt);
                }),
            };
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
        view.iter()
            .find(|l| &l.key == key)
            .map(|l| *crate::backend::lock(&l.local_addr))
    }

    /// Health of every backend of every running listener, in listener key order.
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
        out
    }

    /// Appends all data-plane metrics in Prometheus text format (names in [`metrics`]).
    pub fn render_metrics(&self, out: &mut String) {
        let view = self.inner.view.load();
        for (family, (name, _, _)) in FAMILIES.iter().enumerate() {
            let mut samples = Vec::new();
            for l in view.iter() {
                if let Some(value) = l.metrics.value(name) {
                    samples.push(Sample {
                        key: &l.key,
                        backend: None,
                        value,
                    });
                    continue;
                }
                let snap = l.snapshot.load();
                let mut seen = HashSet::new();
                for b in snap.backends.iter().filter(|b| seen.insert(b.addr)) {
                    let value = if *name == metrics::BACKEND_HEALTHY {
                        u64::from(!snap.health_enabled || b.state.health_ok())
                    } else {
                        u64::from(b.state.active())
                    };
                    samples.push(Sample {
                        key: &l.key,
                        backend: Some(b.key.clone()),
                        value,
                    });
                }
            }
            metrics::render_family(out, family, &samples);
        }
    }

    /// Stops every listener, as `apply(vec![])` does.
    pub async fn shutdown(&self) {
        self.apply(Vec::new()).await;
    }
}
