//! HTTP listener actions: create, set and describe. Start, stop, delete and listing are the
//! protocol-generic actions of `listeners.rs`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use slb_model::params::{int_in, on_off, optional, required, ParamSource};
use slb_model::{rule_order, Listener, ModelError, Protocol, Rule};

use super::{render, Actions};

fn port(p: &dyn ParamSource) -> Result<u16, ModelError> {
    required(p, "ListenerPort")?;
    Ok(int_in(p, "ListenerPort", 1..=65535u16)?.unwrap_or_default())
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let mut listener = Listener::new_http(lb, port);
    listener.apply_http_params(p, true)?;
    listener.vserver_group_id = optional(p, "VServerGroupId").map(str::to_string);
    a.write("CreateLoadBalancerHTTPListener", move |s| {
        s.create_listener(listener)
    })
    .await?;
    Ok(json!({}))
}

pub async fn set(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let patch = collect(p);
    a.write("SetLoadBalancerHTTPListenerAttribute", move |s| {
        let mut l = s.find_listener(&lb, port, Some(Protocol::Http))?.clone();
        l.apply_http_params(&patch, false)?;
        match on_off(&patch, "VServerGroup")? {
            Some(false) => l.vserver_group_id = None,
            _ => {
                if let Some(g) = optional(&patch, "VServerGroupId") {
                    l.vserver_group_id = Some(g.to_string());
                }
            }
        }
        s.update_listener(l)
    })
    .await?;
    Ok(json!({}))
}

/// Copies the parameters a deferred write needs (the source is borrowed from the request).
fn collect(p: &dyn ParamSource) -> BTreeMap<String, String> {
    const NAMES: &[&str] = &[
        "BackendServerPort",
        "Scheduler",
        "Bandwidth",
        "Description",
        "AclStatus",
        "VServerGroup",
        "VServerGroupId",
        "StickySession",
        "StickySessionType",
        "CookieTimeout",
        "Cookie",
        "XForwardedFor",
        "XForwardedFor_SLBIP",
        "XForwardedFor_SLBID",
        "XForwardedFor_proto",
        "XForwardedFor_SLBPORT",
        "XForwardedFor_ClientSrcPort",
        "Gzip",
        "IdleTimeout",
        "RequestTimeout",
        "ListenerForward",
        "ForwardPort",
        "HealthCheck",
        "HealthCheckType",
        "HealthCheckConnectPort",
        "HealthCheckTimeout",
        "HealthCheckInterval",
        "healthCheckInterval",
        "HealthyThreshold",
        "UnhealthyThreshold",
        "HealthCheckURI",
        "HealthCheckDomain",
        "HealthCheckHttpCode",
        "HealthCheckMethod",
    ];
    NAMES
        .iter()
        .filter_map(|n| p.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let port = port(p)?;
    let state = a.state();
    let l = state.find_listener(lb, port, Some(Protocol::Http))?;
    let mut v = render::http_listener(l);
    let rules: Vec<&Rule> = state.rules_of(&l.key).collect();
    let list: Vec<Value> = rule_order(&rules).into_iter().map(render::rule).collect();
    v["Rules"] = json!({ "Rule": list });
    Ok(v)
}
