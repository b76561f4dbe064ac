//! The older per-listener whitelist: SetListenerAccessControlStatus,
//! AddListenerWhiteListItem, RemoveListenerWhiteListItem and
//! DescribeListenerAccessControlAttribute (`slb-model/src/white_list.rs`).

use serde_json::{json, Value};
use slb_model::params::{one_of, required, ParamSource};
use slb_model::white_list::source_items;
use slb_model::{ModelError, Protocol};

use super::listeners::{port, protocol};
use super::Actions;

/// The listener named by `LoadBalancerId`, `ListenerPort` and (where TCP and UDP share
/// the port) `ListenerProtocol`.
fn listener(p: &dyn ParamSource) -> Result<(String, u16, Option<Protocol>), ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    Ok((lb, port(p)?, protocol(p)?))
}

/// SetListenerAccessControlStatus: `open_white_list` or `close`.
pub async fn set_status(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let (lb, port, protocol) = listener(p)?;
    required(p, "AccessControlStatus")?;
    let on =
        one_of(p, "AccessControlStatus", &["open_white_list", "close"])? == Some("open_white_list");
    a.write("SetListenerAccessControlStatus", move |s| {
        s.set_white_list_status(&lb, port, protocol, on)
    })
    .await?;
    Ok(json!({}))
}

/// AddListenerWhiteListItem: more blocks, incrementally.
pub async fn add_items(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let (lb, port, protocol) = listener(p)?;
    let items = source_items(p)?;
    a.write("AddListenerWhiteListItem", move |s| {
        s.add_white_list_items(&lb, port, protocol, &items)
    })
    .await?;
    Ok(json!({}))
}

/// RemoveListenerWhiteListItem: fewer blocks.
pub async fn remove_items(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let (lb, port, protocol) = listener(p)?;
    let items = source_items(p)?;
    a.write("RemoveListenerWhiteListItem", move |s| {
        s.remove_white_list_items(&lb, port, protocol, &items)
    })
    .await?;
    Ok(json!({}))
}

/// DescribeListenerAccessControlAttribute: the status and the blocks, comma-separated.
pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let (lb, port, protocol) = listener(p)?;
    let state = a.state();
    let l = state.find_listener(&lb, port, protocol)?;
    let items: Vec<String> = l.white_list.iter().map(ToString::to_string).collect();
    Ok(json!({
        "AccessControlStatus": if l.white_list_on { "open_white_list" } else { "close" },
        "SourceItems": items.join(","),
    }))
}
