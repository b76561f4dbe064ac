//! Compiles the stored state into the data plane's desired listener set.
//!
//! Pure: the same state always yields the same specs, so the data plane can diff them.
//! TCP and UDP listeners become [`ListenerSpec`]s, HTTP and HTTPS listeners
//! [`HttpListenerSpec`]s. A certificate whose key is on the key server
//! signs through `keys` (the same signing key object each time, so specs still compare
//! equal).

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use slb_core::ddos::DdosConfig;
use slb_dataplane::spec::{
    AclSpec, BackendSpec, ForwardedHeaders, HealthCheckKind, HealthCheckSpec, HttpListenerSpec,
    HttpMethod, HttpRuleSpec, ListenerKey, ListenerSpec, RuleOwnSpec, StickySpec,
    DEFAULT_CONNECT_TIMEOUT,
};
use slb_dataplane::InstanceCaps;
use slb_model::{
    rule_order, Listener, ListenerStatus, LoadBalancerStatus, Protocol, State, StickySession,
};
use std::sync::Arc;

use slb_keyserver::KeyServerClient;
use slb_model::ServerCertificate;
use slb_tls::{RemoteKey, SniCertificate, TlsKey, TlsSettings};

/// Running listeners of `protocol` on active instances, with their instance address.
fn serving(state: &State, protocol: Protocol) -> impl Iterator<Item = (&Listener, IpAddr)> {
    state
        .listeners
        .values()
        .filter(move |l| l.key.protocol == protocol && l.status == ListenerStatus::Running)
        .filter_map(|l| {
            let lb = state.load_balancers.get(&l.key.load_balancer_id)?;
            (lb.status == LoadBalancerStatus::Active).then_some((l, lb.address))
        })
}

/// One spec per TCP and UDP listener that should accept connections now.
pub fn desired_listeners(state: &State, defaults: &NodeDefaults) -> Vec<ListenerSpec> {
    serving(state, Protocol::Tcp)
        .chain(serving(state, Protocol::Udp))
        .map(|(l, address)| compile(state, l, address, defaults))
        .collect()
}

/// One spec per HTTP and HTTPS listener that should accept connections now. `cookie_key`
/// signs insert-mode sticky cookies (a node secret); `keys` is the key server, if any.
pub fn desired_http_listeners(
    state: &State,
    cookie_key: [u8; 32],
    keys: Option<&Arc<KeyServerClient>>,
    defaults: &NodeDefaults,
) -> Vec<HttpListenerSpec> {
    serving(state, Protocol::Http)
        .chain(serving(state, Protocol::Https))
        .filter_map(|(l, address)| {
            let http = l.http.as_ref()?;
            let tls = tls_settings(state, l, keys)?;
            let rules: Vec<_> = state.rules_of(&l.key).collect();
            let rules = rule_order(&rules)
                .into_iter()
                .map(|r| HttpRuleSpec {
                    rule_id: r.id.clone(),
                    domain: r.domain.clone(),
                    url: r.url.clone(),
                    backends: group_backends(state, &r.vserver_group_id),
                    own: r.own_settings.as_ref().map(|own| RuleOwnSpec {
                        scheduler: own.scheduler.parse().unwrap_or_default(),
                        sticky: sticky(&own.sticky_session),
                        health: health_spec(&own.health_check),
                    }),
                })
                .collect();
            Some(HttpListenerSpec {
                key: key_of(l),
                bind: SocketAddr::new(address, l.key.port),
                default_backends: listener_backends(state, l),
                rules,
                scheduler: l.scheduler.parse().unwrap_or_default(),
                health: health(l),
                sticky: sticky(&http.sticky_session),
                forwarded: ForwardedHeaders {
                    proto: http.x_forwarded_for_proto,
                    slb_ip: http.x_forwarded_for_slb_ip,
                    slb_id: http.x_forwarded_for_slb_id,
                    port: http.x_forwarded_for_slb_port,
                    client_src_port: http.x_forwarded_for_client_src_port,
                },
                idle_timeout: Duration::from_secs(http.idle_timeout.into()),
                request_timeout: Duration::from_secs(http.request_timeout.into()),
                gzip: http.gzip,
                redirect_https_port: http.forward_port,
                cookie_key,
                tls,
                bandwidth_mbps: u32::try_from(l.bandwidth).ok().filter(|&b| b > 0),
                acl: acl_spec(state, l),
                caps: caps(state, l, defaults.caps),
                ddos: ddos(state, l, defaults.ddos.as_ref()),
            })
        })
        .collect()
}

fn key_of(l: &Listener) -> ListenerKey {
    ListenerKey {
        load_balancer_id: l.key.load_balancer_id.clone(),
        port: l.key.port,
        protocol: l.key.protocol.as_str().to_string(),
    }
}

/// The members of a VServer group with their own ports (empty if the group is gone).
fn group_backends(state: &State, id: &str) -> Vec<BackendSpec> {
    state
        .vserver_groups
        .get(id)
        .map(|g| {
            g.backend_servers
                .iter()
                .filter_map(|m| Some(backend(m, m.port?)))
                .collect()
        })
        .unwrap_or_default()
}

/// The listener's VServer group, or the instance's default group on `BackendServerPort`.
fn listener_backends(state: &State, l: &Listener) -> Vec<BackendSpec> {
    if let Some(id) = &l.master_slave_server_group_id {
        // Master first: the data plane prefers backends[0].
        return state
            .master_slave_groups
            .get(id)
            .map(|g| {
                [&g.master, &g.slave]
                    .into_iter()
                    .filter_map(|m| Some(backend(m, m.port?)))
                    .collect()
            })
            .unwrap_or_default();
    }
    match &l.vserver_group_id {
        Some(id) => group_backends(state, id),
        None => {
            let port = l.backend_server_port.unwrap_or(l.key.port);
            state.load_balancers[&l.key.load_balancer_id]
                .backend_servers
                .iter()
                .map(|m| backend(m, port))
                .collect()
        }
    }
}

fn compile(state: &State, l: &Listener, address: IpAddr, defaults: &NodeDefaults) -> ListenerSpec {
    ListenerSpec {
        key: key_of(l),
        bind: SocketAddr::new(address, l.key.port),
        backends: listener_backends(state, l),
        scheduler: l.scheduler.parse().unwrap_or_default(),
        health: health(l),
        persistence_timeout: Duration::from_secs(l.persistence_timeout.into()),
        established_timeout: if l.key.protocol == Protocol::Udp {
            slb_dataplane::spec::DEFAULT_UDP_SESSION_TIMEOUT
        } else {
            Duration::from_secs(l.established_timeout.into())
        },
        connect_timeout: DEFAULT_CONNECT_TIMEOUT,
        proxy_protocol: l.proxy_protocol_v2,
        max_sessions: slb_dataplane::spec::DEFAULT_UDP_MAX_SESSIONS,
        master_slave: l.master_slave_server_group_id.is_some(),
        bandwidth_mbps: u32::try_from(l.bandwidth).ok().filter(|&b| b > 0),
        acl: acl_spec(state, l),
        caps: caps(state, l, defaults.caps),
        ddos: ddos(state, l, defaults.ddos.as_ref()),
        drain_timeout: l
            .connection_drain
            .then(|| Duration::from_secs(l.connection_drain_timeout.into())),
    }
}

/// How handshakes sign with `cert`'s key: locally when the state holds it, else through
/// the key server. `None` (logged) when the key is on a key server this node lacks.
fn tls_key(cert: &ServerCertificate, keys: Option<&Arc<KeyServerClient>>) -> Option<TlsKey> {
    if !cert.private_key_pem.is_empty() {
        return Some(TlsKey::Pem(cert.private_key_pem.clone()));
    }
    let Some(keys) = keys else {
        tracing::error!(certificate = %cert.id, "the certificate's private key is on a key server: start this node with --keyserver");
        return None;
    };
    let kind = match slb_tls::key_kind(&cert.chain_pem) {
        Ok(k) => k,
        Err(e) => {
            tracing::error!(certificate = %cert.id, error = %e, "certificate not usable");
            return None;
        }
    };
    let ready = keys.clone();
    Some(TlsKey::Remote(RemoteKey {
        id: cert.id.clone(),
        signer: keys.remote_key(&cert.id, kind),
        ready: Arc::new(move || ready.ready()),
    }))
}

/// `Some(None)` for HTTP, `Some(Some(..))` for HTTPS with its certificates resolved;
/// `None` (not served) if an HTTPS listener's certificate is gone (which the model
/// prevents) or its key cannot be reached.
fn tls_settings(
    state: &State,
    l: &Listener,
    keys: Option<&Arc<KeyServerClient>>,
) -> Option<Option<TlsSettings>> {
    let Some(h) = &l.https else {
        return Some(None);
    };
    let cert = state.server_certificates.get(&h.server_certificate_id)?;
    let client_ca_pem = match &h.ca_certificate_id {
        Some(id) => Some(state.ca_certificates.get(id)?.pem.clone()),
        None => None,
    };
    Some(Some(TlsSettings {
        chain_pem: cert.chain_pem.clone(),
        key: tls_key(cert, keys)?,
        client_ca_pem,
        policy: h.tls_cipher_policy.clone(),
        http2: h.enable_http2,
        resumption: h.session_resumption,
        sni: state
            .domain_extensions_of(&l.key)
            .filter_map(|d| {
                let c = state.server_certificates.get(&d.server_certificate_id)?;
                Some(SniCertificate {
                    domain: d.domain.clone(),
                    chain_pem: c.chain_pem.clone(),
                    key: tls_key(c, keys)?,
                })
            })
            .collect(),
        custom: state
            .tls_cipher_policies
            .get(&h.tls_cipher_policy)
            .map(|p| slb_tls::CustomPolicy {
                tls_versions: p.tls_versions.clone(),
                ciphers: p.ciphers.clone(),
            }),
    }))
}

/// The data plane's persistence setting for the model's.
fn sticky(s: &StickySession) -> Option<StickySpec> {
    match s {
        StickySession::Off => None,
        StickySession::Insert { cookie_timeout } => Some(StickySpec::Insert {
            cookie_timeout: Duration::from_secs((*cookie_timeout).into()),
        }),
        StickySession::Server { cookie } => Some(StickySpec::Server {
            cookie: cookie.clone(),
        }),
    }
}

fn health(l: &Listener) -> Option<HealthCheckSpec> {
    health_spec(&l.health_check)
}

/// The data plane's health check for the model's; `None` when off.
fn health_spec(hc: &slb_model::HealthCheck) -> Option<HealthCheckSpec> {
    hc.enabled.then(|| HealthCheckSpec {
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
        } else if hc.kind == "udp" {
            HealthCheckKind::Udp {
                request: hc.udp_request.as_bytes().to_vec(),
                expect: (!hc.udp_expect.is_empty()).then(|| hc.udp_expect.as_bytes().to_vec()),
            }
        } else {
            HealthCheckKind::Tcp
        },
        port: hc.connect_port,
        timeout: Duration::from_secs(hc.timeout.into()),
        interval: Duration::from_secs(hc.interval.into()),
        healthy_threshold: hc.healthy_threshold,
        unhealthy_threshold: hc.unhealthy_threshold,
    })
}

/// What the node applies to instances beyond their own settings.
#[derive(Clone, Debug, Default)]
pub struct NodeDefaults {
    /// Capacity of instances without a `LoadBalancerSpec`.
    pub caps: InstanceCaps,
    /// Anti-DDoS, when the node protects its instances.
    pub ddos: Option<DdosSettings>,
}

/// The node's anti-DDoS settings (`slb serve --ddos-*`), from which each instance's
/// thresholds are derived.
#[derive(Clone, Copy, Debug)]
pub struct DdosSettings {
    /// Scrubbing starts at `max(scrub_mbps, 2 × the instance's Bandwidth)` Mbit/s inbound.
    pub scrub_mbps: u64,
    pub scrub_pps: u64,
    pub scrub_cps: u64,
    /// Blackholing starts at `max(blackhole_mbps, 4 × the scrubbing bit rate)`, or at
    /// `blackhole_pps` datagrams per second.
    pub blackhole_mbps: u64,
    pub blackhole_pps: u64,
    pub blackhole_for: Duration,
    /// Per-source limits while scrubbing.
    pub source_cps: u64,
    pub source_pps: u64,
    pub source_mbps: u64,
}

/// The anti-DDoS thresholds of the listener's instance (see [`DdosSettings`]).
fn ddos(state: &State, l: &Listener, node: Option<&DdosSettings>) -> Option<DdosConfig> {
    let n = node?;
    let lb = state.load_balancers.get(&l.key.load_balancer_id)?;
    let bandwidth = u64::try_from(lb.bandwidth).unwrap_or(0);
    let scrub_mbps = n.scrub_mbps.max(2 * bandwidth);
    Some(DdosConfig {
        scrub_bps: scrub_mbps * 1_000_000,
        scrub_pps: n.scrub_pps,
        scrub_cps: n.scrub_cps,
        blackhole_bps: n.blackhole_mbps.max(4 * scrub_mbps) * 1_000_000,
        blackhole_pps: n.blackhole_pps,
        blackhole_for: n.blackhole_for,
        source_cps: n.source_cps,
        source_pps: n.source_pps,
        source_bps: n.source_mbps * 1_000_000,
    })
}

/// The capacity of the listener's instance: its `LoadBalancerSpec`'s, else the node's
/// defaults; `None` when unlimited.
fn caps(state: &State, l: &Listener, defaults: InstanceCaps) -> Option<InstanceCaps> {
    let lb = state.load_balancers.get(&l.key.load_balancer_id)?;
    let caps = match slb_model::spec_caps(&lb.spec) {
        Some(c) => InstanceCaps {
            max_connections: c.max_connections,
            cps: c.cps,
            qps: c.qps,
        },
        None => defaults,
    };
    (caps != InstanceCaps::default()).then_some(caps)
}

/// The listener's access control when on: its access-control list, or its older
/// whitelist (never both; the model refuses that). A list that is gone (the model
/// prevents it) denies nobody and allows nobody: whitelist with no entries.
fn acl_spec(state: &State, l: &Listener) -> Option<AclSpec> {
    if l.white_list_on {
        return Some(AclSpec {
            whitelist: true,
            matcher: Arc::new(slb_core::AclMatcher::new(&l.white_list)),
        });
    }
    if !l.acl_status {
        return None;
    }
    let blocks: Vec<ipnet::IpNet> = l
        .acl_id
        .as_ref()
        .and_then(|id| state.acls.get(id))
        .map(|a| a.entries.iter().map(|e| e.cidr).collect())
        .unwrap_or_default();
    Some(AclSpec {
        whitelist: l.acl_type != "black",
        matcher: Arc::new(slb_core::AclMatcher::new(&blocks)),
    })
}

fn backend(m: &slb_model::BackendServer, port: u16) -> BackendSpec {
    BackendSpec {
        server_id: m.server_id.clone(),
        addr: SocketAddr::new(m.server_ip, port),
        weight: m.weight,
    }
}

#[cfg(test)]
mod tests {
    /// The model admits a custom policy only with a suite the data plane serves.
    #[test]
    fn custom_policy_ciphers_agree() {
        assert_eq!(
            slb_model::tls_policy::SERVED_CIPHERS,
            slb_tls::custom_policy::SERVED_CIPHERS
        );
    }

    /// The API accepts the model's policy names and the data plane builds configurations
    /// from slb-tls's: the two lists must be the same names.
    #[test]
    fn tls_policy_names_agree() {
        assert_eq!(slb_model::TLS_CIPHER_POLICIES, slb_tls::TLS_POLICIES);
    }
}
