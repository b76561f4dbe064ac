//! Default server group actions: add, remove and re-weight an instance's backend servers.

use serde_json::{json, Value};
use slb_model::params::{required, ParamSource};
use slb_model::{BackendServer, ModelError, State};

use super::{render, Actions};

type Change = fn(&mut State, &str, Vec<BackendServer>) -> Result<(), ModelError>;

async fn change(
    a: &Actions,
    p: &dyn ParamSource,
    action: &'static str,
    op: Change,
) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    let servers = BackendServer::parse_list(required(p, "BackendServers")?, false)?;
    let members = a
        .write(action, move |s| {
            op(s, &id, servers)?;
            Ok(s.load_balancer(&id)?.clone())
        })
        .await?;
    Ok(json!({
        "LoadBalancerId": members.id,
        "BackendServers": render::backends(&members.backend_servers),
    }))
}

pub async fn add(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    change(a, p, "AddBackendServers", |s, id, v| {
        s.add_backend_servers(id, v)
    })
    .await
}

pub async fn remove(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    change(a, p, "RemoveBackendServers", |s, id, v| {
        s.remove_backend_servers(id, &v)
    })
    .await
}

pub async fn set(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    change(a, p, "SetBackendServers", |s, id, v| {
        s.set_backend_servers(id, v)
    })
    .await
}
