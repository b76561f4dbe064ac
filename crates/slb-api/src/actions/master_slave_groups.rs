//! Master/slave server group actions: CreateMasterSlaveServerGroup,
//! DeleteMasterSlaveServerGroup, DescribeMasterSlaveServerGroups,
//! DescribeMasterSlaveServerGroupAttribute.

use chrono::Utc;
use serde_json::{json, Value};
use slb_model::params::{is_true, required, text, ParamSource};
use slb_model::{MasterSlaveServerGroup, ModelError, State};

use super::load_balancers::new_id;
use super::{render, Actions};

/// The two members, master first, each with its `ServerType`.
fn members(g: &MasterSlaveServerGroup) -> Value {
    let with_role = |s, role: &str| {
        let mut v = render::backend(s);
        v["ServerType"] = json!(role);
        v
    };
    json!({ "MasterSlaveBackendServer": [with_role(&g.master, "Master"), with_role(&g.slave, "Slave")] })
}

/// The listeners using `g`, as `AssociatedObjects` lists them.
fn associated(state: &State, g: &MasterSlaveServerGroup) -> Value {
    let listeners: Vec<Value> = state
        .listeners
        .values()
        .filter(|l| l.master_slave_server_group_id.as_deref() == Some(g.id.as_str()))
        .map(|l| json!({ "Port": l.key.port, "Protocol": l.key.protocol.as_str() }))
        .collect();
    json!({ "Listeners": { "Listener": listeners } })
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let name = text(p, "MasterSlaveServerGroupName", 80)?.unwrap_or_default();
    let (master, slave) =
        MasterSlaveServerGroup::parse_servers(required(p, "MasterSlaveBackendServers")?)?;
    let group = MasterSlaveServerGroup {
        id: new_id("rsp"),
        name,
        load_balancer_id: lb,
        master,
        slave,
        create_time: Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        tags: slb_model::tag::new_tags(p)?,
    };
    let g = group.clone();
    a.write("CreateMasterSlaveServerGroup", move |s| {
        s.create_master_slave_group(g)
    })
    .await?;
    Ok(json!({
        "MasterSlaveServerGroupId": group.id,
        "MasterSlaveBackendServers": members(&group),
    }))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "MasterSlaveServerGroupId")?.to_string();
    a.write("DeleteMasterSlaveServerGroup", move |s| {
        s.delete_master_slave_group(&id)
    })
    .await?;
    Ok(json!({}))
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let state = a.state();
    state.load_balancer(lb)?;
    let include = is_true(p, "IncludeListener");
    let tagged = slb_model::tag::filters_param(p)?;
    let groups: Vec<Value> = state
        .master_slave_groups
        .values()
        .filter(|g| g.load_balancer_id == lb)
        .filter(|g| slb_model::tag::matches(&g.tags, &tagged))
        .map(|g| {
            let mut v = json!({
                "MasterSlaveServerGroupId": g.id,
                "MasterSlaveServerGroupName": g.name,
                "CreateTime": g.create_time,
                "Tags": render::tags(&g.tags),
            });
            if include {
                v["AssociatedObjects"] = associated(&state, g);
            }
            v
        })
        .collect();
    Ok(json!({ "MasterSlaveServerGroups": { "MasterSlaveServerGroup": groups } }))
}

pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "MasterSlaveServerGroupId")?;
    let state = a.state();
    let g = state.master_slave_group(id)?;
    Ok(json!({
        "MasterSlaveServerGroupId": g.id,
        "MasterSlaveServerGroupName": g.name,
        "LoadBalancerId": g.load_balancer_id,
        "CreateTime": g.create_time,
        "MasterSlaveBackendServers": members(g),
        "Tags": render::tags(&g.tags),
    }))
}
