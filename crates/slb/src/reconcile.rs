//! Compiles the stored state into the data plane's desired listener set.
//!
//! Pure: the same state always yields the same specs, so the data plane can diff them.
//! Only TCP listeners have a data plane yet; other protocols are skipped.

use std::net::SocketAddr;
use std::time::Duration;

use slb_dataplane::spec::{
    BackendSpec, HealthCheckKind, HealthCheckSpec, HttpMethod, ListenerKey, ListenerSpec,
    DEFAULT_CONNECT_TIMEOUT,
};
use slb_model::{Listener, ListenerStatus, LoadBalancerStatus, Protocol, State};

/// One spec per listener that should accept connections now: running, on an active instance.
pub fn desired_listeners(state: &State) -> Vec<ListenerSpec> {
    state
        .listeners
        .values()
        .filter(|l| l.key.protocol == Protocol::Tcp && l.status == ListenerStatus::Running)
        .filter_map(|l| {
            let lb = state.load_balancers.get(&l.key.load_balancer_id)?;
            (lb.status == LoadBalancerStatus::Active).then(|| compile(state, l, lb.address))
        })
        .collect()
}

fn compile(state: &State, l: &Listener, address: std::net::IpAddr) -> ListenerSpec {
    let backends = match &l.vserver_group_id {
        Some(id) => state
            .vserver_groups
            .get(id)
            .map(|g| {
                g.backend_servers
                    .iter()
                    .filter_map(|m| Some(backend(m, m.port?)))
                    .collect()
            })
            .unwrap_or_default(),
        None => {
            let port = l.backend_server_port.unwrap_or(l.key.port);
            state.load_balancers[&l.key.load_balancer_id]
                .backend_servers
                .iter()
                .map(|m| backend(m, port))
                .collect()
        }
    };
    let hc = &l.health_check;
    let health = hc.enabled.then(|| HealthCheckSpec {
        kind: if hc.kind == "http" {
            HealthCheckKind::Http {
                uri: if hc.uri.is_empty() {
                    "/".into()
                } else {
                    hc.uri.clone()
                },
                domain: (!hc.domain.is_empty()).then(|| hc.domain.clone()),
                method: if hc.method == "get" {
                    HttpMethod::Get
                } else {
                    HttpMethod::Head
                },
                // The model only stores code lists it has validated.
                codes: hc.http_code.parse().unwrap_or_default(),
            }
        } else {
            HealthCheckKind::Tcp
        },
        port: hc.connect_port,
        timeout: Duration::from_secs(hc.timeout.into()),
        interval: Duration::from_secs(hc.interval.into()),
        healthy_threshold: hc.healthy_threshold,
        unhealthy_threshold: hc.unhealthy_threshold,
    });
    ListenerSpec {
        key: ListenerKey {
            load_balancer_id: l.key.load_balancer_id.clone(),
            port: l.key.port,
            protocol: l.key.protocol.as_str().to_string(),
        },
        bind: SocketAddr::new(address, l.key.port),
        backends,
        scheduler: l.scheduler.parse().unwrap_or_default(),
        health,
        persistence_timeout: Duration::from_secs(l.persistence_timeout.into()),
        established_timeout: Duration::from_secs(l.established_timeout.into()),
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        drain_timeout: l
            .connection_drain
            .then(|| Duration::from_secs(l.connection_drain_timeout.into())),
    }
}

fn backend(m: &slb_model::BackendServer, port: u16) -> BackendSpec {
    BackendSpec {
        server_id: m.server_id.clone(),
        addr: SocketAddr::new(m.server_ip, port),
        weight: m.weight,
    }
}
