//! HTTP and HTTPS listener actions: create, set and describe (an HTTPS listener is an HTTP
//! listener plus certificates and TLS settings). Start, stop, delete and listing are the
//! protocol-generic actions of `listeners.rs`.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use slb_model::params::{on_off, optional, required, ParamSource};
use slb_model::{rule_order, Listener, ModelError, Protocol, Rule};

use super::listeners::port;
use super::{render, Actions};

/// The write actions' names per protocol.
fn action_names(proto: Protocol) -> (&'static str, &'static str) {
    if proto == Protocol::Https {
        (
            "CreateLoadBalancerHTTPSListener",
            "SetLoadBalancerHTTPSListenerAttribute",
        )
    } else {
        (
            "CreateLoadBalancerHTTPListener",
            "SetLoadBalancerHTTPListenerAttribute",
        )
    }
}

/// Applies the parameters of a layer-7 listener of its protocol.
fn apply(l: &mut Listener, p: &dyn ParamSource, create: bool) -> Result<(), ModelError> {
    l.apply_http_params(p, create)?;
    if l.key.protocol == Protocol::Https {
        l.apply_https_params(p, create)?;
    }
    Ok(())
}

/// CreateLoadBalancerHTTPListener / CreateLoadBalancerHTTPSListener.
pub async fn create(
    a: &Actions,
    p: &dyn ParamSource,
    proto: Protocol,
) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let mut listener = if proto == Protocol::Https {
        Listener::new_https(lb, port)
    } else {
        Listener::new_http(lb, port)
    };
    apply(&mut listener, p, true)?;
    listener.vserver_group_id = optional(p, "VServerGroupId").map(str::to_string);
    listener.tags = slb_model::tag::new_tags(p)?;
    a.write(action_names(proto).0, move |s| {
        s.check_https_refs(&listener)?;
        s.create_listener(listener)
    })
    .await?;
    Ok(json!({}))
}

/// SetLoadBalancerHTTPListenerAttribute / SetLoadBalancerHTTPSListenerAttribute.
pub async fn set(a: &Actions, p: &dyn ParamSource, proto: Protocol) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let patch = collect(p);
    a.write(action_names(proto).1, move |s| {
        let mut l = s.find_listener(&lb, port, Some(proto))?.clone();
        apply(&mut l, &patch, false)?;
        s.check_https_refs(&l)?;
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
        "AclType",
        "AclId",
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
        "ServerCertificateId",
        "CACertificateId",
        "TLSCipherPolicy",
        "EnableHttp2",
        "TLSSessionResumption",
    ];
    NAMES
        .iter()
        .filter_map(|n| p.get(n).map(|v| (n.to_string(), v.to_string())))
        .collect()
}

/// DescribeLoadBalancerHTTPListenerAttribute / DescribeLoadBalancerHTTPSListenerAttribute.
pub fn describe(a: &Actions, p: &dyn ParamSource, proto: Protocol) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let port = port(p)?;
    let state = a.state();
    let l = state.find_listener(lb, port, Some(proto))?;
    let mut v = render::http_listener(l);
    let rules: Vec<&Rule> = state.rules_of(&l.key).collect();
    let list: Vec<Value> = rule_order(&rules).into_iter().map(render::rule).collect();
    v["Rules"] = json!({ "Rule": list });
    Ok(v)
}
