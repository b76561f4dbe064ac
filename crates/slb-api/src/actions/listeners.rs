//! Listener actions: TCP and UDP listener create/set/describe, listing, start, stop and
//! delete.

use serde_json::{json, Value};
use slb_model::listener::ListenerStatus;
use slb_model::params::{int_in, on_off, optional, required, ParamSource};
use slb_model::{Listener, ListenerKey, ModelError, Protocol};

use super::{render, Actions};

/// The required `ListenerPort`.
pub(super) fn port(p: &dyn ParamSource) -> Result<u16, ModelError> {
    required(p, "ListenerPort")?;
    Ok(int_in(p, "ListenerPort", 1..=65535u16)?.unwrap_or_default())
}

/// The optional `ListenerProtocol` (needed where TCP and UDP listeners share a port).
pub(super) fn protocol(p: &dyn ParamSource) -> Result<Option<Protocol>, ModelError> {
    match optional(p, "ListenerProtocol") {
        None => Ok(None),
        Some(v) => Protocol::parse(v).map(Some).ok_or_else(|| {
            ModelError::invalid_parameter("ListenerProtocol", "use tcp, udp, http or https")
        }),
    }
}

/// The layer-4 parameters of `protocol` (TCP or UDP) applied to `l`.
fn apply_l4(l: &mut Listener, p: &dyn ParamSource, protocol: Protocol) -> Result<(), ModelError> {
    match protocol {
        Protocol::Udp => l.apply_udp_params(p),
        _ => l.apply_tcp_params(p),
    }
}

/// The action name of `verb` (`Create`/`Set`) for a TCP or UDP listener.
fn l4_action(verb: &str, protocol: Protocol) -> &'static str {
    match (verb, protocol) {
        ("Create", Protocol::Udp) => "CreateLoadBalancerUDPListener",
        ("Create", _) => "CreateLoadBalancerTCPListener",
        (_, Protocol::Udp) => "SetLoadBalancerUDPListenerAttribute",
        _ => "SetLoadBalancerTCPListenerAttribute",
    }
}

/// CreateLoadBalancerTCPListener / CreateLoadBalancerUDPListener.
pub async fn create_l4(
    a: &Actions,
    p: &dyn ParamSource,
    protocol: Protocol,
) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let mut listener = Listener::new(ListenerKey {
        load_balancer_id: lb,
        port,
        protocol,
    });
    apply_l4(&mut listener, p, protocol)?;
    listener.vserver_group_id = optional(p, "VServerGroupId").map(str::to_string);
    listener.master_slave_server_group_id =
        optional(p, "MasterSlaveServerGroupId").map(str::to_string);
    listener.tags = slb_model::tag::new_tags(p)?;
    a.write(l4_action("Create", protocol), move |s| {
        s.create_listener(listener)
    })
    .await?;
    Ok(json!({}))
}

/// SetLoadBalancerTCPListenerAttribute / SetLoadBalancerUDPListenerAttribute.
pub async fn set_l4(
    a: &Actions,
    p: &dyn ParamSource,
    protocol: Protocol,
) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    // Validate the parameters against the current listener now, then again inside the write
    // so a concurrent change is not lost.
    let patch = collect(p);
    a.write(l4_action("Set", protocol), move |s| {
        let mut l = s.find_listener(&lb, port, Some(protocol))?.clone();
        apply_l4(&mut l, &patch, protocol)?;
        let vsg = optional(&patch, "VServerGroupId");
        let ms = optional(&patch, "MasterSlaveServerGroupId");
        // Naming one kind of group switches the listener to it (both at once is refused).
        match on_off(&patch, "VServerGroup")? {
            Some(false) => l.vserver_group_id = None,
            _ => {
                if let Some(g) = vsg {
                    l.vserver_group_id = Some(g.to_string());
                    if ms.is_none() {
                        l.master_slave_server_group_id = None;
                    }
                }
            }
        }
        match on_off(&patch, "MasterSlaveServerGroup")? {
            Some(false) => l.master_slave_server_group_id = None,
            _ => {
                if let Some(g) = ms {
                    l.master_slave_server_group_id = Some(g.to_string());
                    if vsg.is_none() {
                        l.vserver_group_id = None;
                    }
                }
            }
        }
        s.update_listener(l)
    })
    .await?;
    Ok(json!({}))
}

/// Copies the parameters a deferred write needs (the source is borrowed from the request).
fn collect(p: &dyn ParamSource) -> std::collections::BTreeMap<String, String> {
    const NAMES: &[&str] = &[
        "BackendServerPort",
        "Scheduler",
        "Bandwidth",
        "PersistenceTimeout",
        "EstablishedTimeout",
        "ConnectionDrain",
        "ConnectionDrainTimeout",
        "ProxyProtocolV2Enabled",
        "Description",
        "HealthCheckSwitch",
        "HealthCheck",
        "HealthCheckType",
        "HealthCheckConnectPort",
        "HealthCheckConnectTimeout",
        "HealthCheckTimeout",
        "HealthCheckInterval",
        "healthCheckInterval",
        "HealthyThreshold",
        "UnhealthyThreshold",
        "HealthCheckURI",
        "HealthCheckDomain",
        "HealthCheckHttpCode",
        "HealthCheckMethod",
        "VServerGroup",
        "MasterSlaveServerGroup",
        "MasterSlaveServerGroupId",
        "AclStatus",
        "AclType",
        "AclId",
        "VServerGroupId",
        "healthCheckReq",
        "HealthCheckReq",
        "healthCheckExp",
        "HealthCheckExp",
    ];
    NAMES
        .iter()
        .filter_map(|n| p.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

/// DescribeLoadBalancerTCPListenerAttribute / DescribeLoadBalancerUDPListenerAttribute.
pub fn describe_l4(
    a: &Actions,
    p: &dyn ParamSource,
    protocol: Protocol,
) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let port = port(p)?;
    let state = a.state();
    let l = state.find_listener(lb, port, Some(protocol))?;
    Ok(match protocol {
        Protocol::Udp => render::udp_listener(l),
        _ => render::tcp_listener(l),
    })
}

/// Lists listeners of the given instances (`LoadBalancerId.N`, or all), paged by
/// `MaxResults` (1-100, default 20) and an opaque `NextToken`.
pub fn describe_all(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let mut ids: Vec<String> = Vec::new();
    if let Some(v) = optional(p, "LoadBalancerId") {
        ids.extend(v.split(',').map(|s| s.trim().to_string()));
    }
    ids.extend(slb_model::params::repeated(p, "LoadBalancerId", 100)?);
    let proto = protocol(p)?;
    let port = int_in(p, "ListenerPort", 1..=65535u16)?;
    let max = int_in(p, "MaxResults", 1..=100usize)?.unwrap_or(20);
    let start = slb_model::params::next_token(p)?;
    let tagged = slb_model::tag::filters_param(p)?;
    let state = a.state();
    let all: Vec<&Listener> = state
        .listeners
        .values()
        .filter(|l| ids.is_empty() || ids.contains(&l.key.load_balancer_id))
        .filter(|l| proto.is_none_or(|p| p == l.key.protocol))
        .filter(|l| port.is_none_or(|p| p == l.key.port))
        .filter(|l| slb_model::tag::matches(&l.tags, &tagged))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|l| render::listener_entry(l))
        .collect();
    let next = if start + max < all.len() {
        (start + max).to_string()
    } else {
        String::new()
    };
    Ok(json!({
        "Listeners": page,
        "TotalCount": all.len(),
        "MaxResults": max,
        "NextToken": next,
    }))
}

async fn set_status(
    a: &Actions,
    p: &dyn ParamSource,
    action: &'static str,
    status: ListenerStatus,
) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let proto = protocol(p)?;
    a.write(action, move |s| {
        s.set_listener_status(&lb, port, proto, status)
    })
    .await?;
    Ok(json!({}))
}

pub async fn start(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    set_status(a, p, "StartLoadBalancerListener", ListenerStatus::Running).await
}

pub async fn stop(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    set_status(a, p, "StopLoadBalancerListener", ListenerStatus::Stopped).await
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let proto = protocol(p)?;
    a.write("DeleteLoadBalancerListener", move |s| {
        s.delete_listener(&lb, port, proto)
    })
    .await?;
    Ok(json!({}))
}
