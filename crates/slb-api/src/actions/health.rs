//! DescribeHealthStatus: probe results reported by the data plane.

use serde_json::{json, Value};
use slb_model::params::{int_in, optional, required, ParamSource};
use slb_model::{ModelError, Protocol};

use super::Actions;

/// The health of one backend of one listener, as the data plane last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BackendHealth {
    pub load_balancer_id: String,
    pub listener_port: u16,
    pub protocol: Protocol,
    pub server_id: String,
    pub server_ip: String,
    pub port: u16,
    /// `normal`, `abnormal` or `unavailable` (Alibaba's `ServerHealthStatus`).
    pub status: &'static str,
}

/// Where health results come from: the local data plane on a single node.
pub trait HealthSource: Send + Sync {
    /// Every backend of every listener of `load_balancer_id` that the data plane knows.
    fn backend_health(&self, load_balancer_id: &str) -> Vec<BackendHealth>;
}

/// Lists backends with their health; listeners that are stopped report `unavailable`.
pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let port = int_in(p, "ListenerPort", 1..=65535u16)?;
    let proto = match optional(p, "ListenerProtocol") {
        None => None,
        Some(v) => Some(Protocol::parse(v).ok_or_else(|| {
            ModelError::invalid_parameter("ListenerProtocol", "use tcp, udp, http or https")
        })?),
    };
    let state = a.state();
    state.load_balancer(lb)?;
    let live = a.health.backend_health(lb);
    let mut out = Vec::new();
    for l in state.listeners_of(lb) {
        if port.is_some_and(|p| p != l.key.port) || proto.is_some_and(|p| p != l.key.protocol) {
            continue;
        }
        let master_slave = l
            .master_slave_server_group_id
            .as_ref()
            .and_then(|id| state.master_slave_groups.get(id));
        let members = match (&l.vserver_group_id, master_slave) {
            (_, Some(g)) => vec![g.master.clone(), g.slave.clone()],
            (Some(g), None) => state
                .vserver_groups
                .get(g)
                .map(|g| g.backend_servers.clone())
                .unwrap_or_default(),
            (None, None) => state.load_balancers[lb].backend_servers.clone(),
        };
        for m in members {
            let backend_port = m.port.or(l.backend_server_port).unwrap_or_default();
            let status = live
                .iter()
                .find(|h| {
                    h.listener_port == l.key.port
                        && h.protocol == l.key.protocol
                        && h.server_id == m.server_id
                        && h.port == backend_port
                })
                .map(|h| h.status)
                .unwrap_or("unavailable");
            out.push(json!({
                "ListenerPort": l.key.port,
                "Protocol": l.key.protocol.as_str(),
                "ServerId": m.server_id,
                "ServerIp": m.server_ip.to_string(),
                "Port": backend_port,
                "ServerHealthStatus": status,
            }));
        }
    }
    Ok(json!({ "BackendServers": { "BackendServer": out } }))
}
