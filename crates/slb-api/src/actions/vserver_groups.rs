//! VServer group actions.

use serde_json::{json, Value};
use slb_model::params::{optional, required, text, ParamSource};
use slb_model::{BackendServer, ModelError, VServerGroup};

use super::load_balancers::new_id;
use super::{render, Actions};

fn group_reply(g: &VServerGroup) -> Value {
    json!({
        "VServerGroupId": g.id,
        "VServerGroupName": g.name,
        "LoadBalancerId": g.load_balancer_id,
        "BackendServers": render::backends(&g.backend_servers),
        "Tags": render::tags(&g.tags),
    })
}

fn servers(p: &dyn ParamSource, name: &str) -> Result<Option<Vec<BackendServer>>, ModelError> {
    optional(p, name)
        .map(|json| {
            BackendServer::parse_list(json, true).map_err(|mut e| {
                e.message = e
                    .message
                    .replace("\"BackendServers\"", &format!("\"{name}\""));
                e
            })
        })
        .transpose()
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let name = text(p, "VServerGroupName", 80)?.unwrap_or_default();
    let group = VServerGroup {
        id: new_id("rsp"),
        name,
        load_balancer_id: lb,
        backend_servers: servers(p, "BackendServers")?.unwrap_or_default(),
        tags: slb_model::tag::new_tags(p)?,
    };
    let g = group.clone();
    a.write("CreateVServerGroup", move |s| s.create_vserver_group(g))
        .await?;
    Ok(group_reply(&group))
}

pub async fn set_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?.to_string();
    let name = text(p, "VServerGroupName", 80)?;
    let list = servers(p, "BackendServers")?;
    let g = a
        .write("SetVServerGroupAttribute", move |s| {
            s.set_vserver_group_attribute(&id, name, list)?;
            Ok(s.vserver_groups[&id].clone())
        })
        .await?;
    Ok(group_reply(&g))
}

pub async fn add(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?.to_string();
    required(p, "BackendServers")?;
    let list = servers(p, "BackendServers")?.unwrap_or_default();
    let g = a
        .write("AddVServerGroupBackendServers", move |s| {
            s.add_vserver_group_servers(&id, list)?;
            Ok(s.vserver_groups[&id].clone())
        })
        .await?;
    Ok(group_reply(&g))
}

pub async fn remove(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?.to_string();
    required(p, "BackendServers")?;
    let list = servers(p, "BackendServers")?.unwrap_or_default();
    let g = a
        .write("RemoveVServerGroupBackendServers", move |s| {
            s.remove_vserver_group_servers(&id, &list)?;
            Ok(s.vserver_groups[&id].clone())
        })
        .await?;
    Ok(group_reply(&g))
}

pub async fn modify(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?.to_string();
    required(p, "OldBackendServers")?;
    required(p, "NewBackendServers")?;
    let old = servers(p, "OldBackendServers")?.unwrap_or_default();
    let new = servers(p, "NewBackendServers")?.unwrap_or_default();
    let g = a
        .write("ModifyVServerGroupBackendServers", move |s| {
            s.modify_vserver_group_servers(&id, &old, new)?;
            Ok(s.vserver_groups[&id].clone())
        })
        .await?;
    Ok(group_reply(&g))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?.to_string();
    a.write("DeleteVServerGroup", move |s| s.delete_vserver_group(&id))
        .await?;
    Ok(json!({}))
}

/// Groups of one instance, with the listeners and forwarding rules that use each
/// (`AssociatedObjects`).
pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let state = a.state();
    state.load_balancer(lb)?;
    let tagged = slb_model::tag::filters_param(p)?;
    let groups: Vec<Value> = state
        .vserver_groups
        .values()
        .filter(|g| g.load_balancer_id == lb)
        .filter(|g| slb_model::tag::matches(&g.tags, &tagged))
        .map(|g| {
            let listeners: Vec<Value> = state
                .listeners_of(lb)
                .filter(|l| l.vserver_group_id.as_deref() == Some(g.id.as_str()))
                .map(|l| json!({ "Protocol": l.key.protocol.as_str(), "Port": l.key.port }))
                .collect();
            let rules: Vec<Value> = state
                .rules
                .values()
                .filter(|r| r.vserver_group_id == g.id)
                .map(|r| {
                    json!({
                        "RuleId": r.id,
                        "RuleName": r.name,
                        "Domain": r.domain.as_deref().unwrap_or(""),
                        "Url": r.url.as_deref().unwrap_or(""),
                    })
                })
                .collect();
            json!({
                "VServerGroupId": g.id,
                "VServerGroupName": g.name,
                "ServerCount": g.backend_servers.len(),
                "Tags": render::tags(&g.tags),
                "AssociatedObjects": {
                    "Listeners": { "Listener": listeners },
                    "Rules": { "Rule": rules },
                },
            })
        })
        .collect();
    Ok(json!({ "VServerGroups": { "VServerGroup": groups } }))
}

pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "VServerGroupId")?;
    let state = a.state();
    let g = state
        .vserver_groups
        .get(id)
        .ok_or_else(|| ModelError::vserver_group_not_found(id))?;
    Ok(group_reply(g))
}
