//! Tag actions: TagResources, UntagResources and ListTagResources over instances,
//! certificates and access-control lists (`ResourceType` instance, certificate, acl).

use serde_json::{json, Value};
use slb_model::params::{next_token, optional, repeated, ParamSource};
use slb_model::tag::{
    filters_param, matches, tags_param, ResourceType, MAX_RESOURCES_PER_CALL, MAX_TAGS,
};
use slb_model::ModelError;

use super::Actions;

/// Entries one ListTagResources page holds; `NextToken` asks for the next.
const PAGE: usize = 50;

/// `ResourceId.N`, required by the writes.
fn resource_ids(p: &dyn ParamSource) -> Result<Vec<String>, ModelError> {
    let ids = repeated(p, "ResourceId", MAX_RESOURCES_PER_CALL)?;
    if ids.is_empty() {
        return Err(slb_model::params::missing("ResourceId.1"));
    }
    Ok(ids)
}

pub async fn tag(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let kind = ResourceType::from_params(p)?;
    let ids = resource_ids(p)?;
    let tags = tags_param(p, true)?;
    a.write("TagResources", move |s| s.tag_resources(kind, &ids, &tags))
        .await?;
    Ok(json!({}))
}

pub async fn untag(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let kind = ResourceType::from_params(p)?;
    let ids = resource_ids(p)?;
    let keys = repeated(p, "TagKey", MAX_TAGS)?;
    let all = match optional(p, "All") {
        None => false,
        Some(v) if v.eq_ignore_ascii_case("true") => true,
        Some(v) if v.eq_ignore_ascii_case("false") => false,
        Some(_) => {
            return Err(ModelError::invalid_parameter(
                "All",
                "must be true or false",
            ))
        }
    };
    a.write("UntagResources", move |s| {
        s.untag_resources(kind, &ids, &keys, all)
    })
    .await?;
    Ok(json!({}))
}

/// One entry per tag of every resource that is named (or, with no `ResourceId.N`, of its
/// type) and carries every `Tag.N` filter.
pub fn list(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let kind = ResourceType::from_params(p)?;
    let ids = repeated(p, "ResourceId", MAX_RESOURCES_PER_CALL)?;
    let filters = filters_param(p)?;
    let start = next_token(p)?;
    let state = a.state();
    let resources = if ids.is_empty() {
        state.tagged(kind)
    } else {
        ids.iter()
            .map(|id| Ok((id.as_str(), state.tags_of(kind, id)?)))
            .collect::<Result<Vec<_>, ModelError>>()?
    };
    let entries: Vec<Value> = resources
        .into_iter()
        .filter(|(_, tags)| matches(tags, &filters))
        .flat_map(|(id, tags)| {
            tags.iter().map(move |t| {
                json!({
                    "ResourceType": kind.as_str(),
                    "ResourceId": id,
                    "TagKey": t.key,
                    "TagValue": t.value,
                })
            })
        })
        .skip(start)
        .take(PAGE + 1)
        .collect();
    let more = entries.len() > PAGE;
    let page: Vec<Value> = entries.into_iter().take(PAGE).collect();
    Ok(json!({
        "TagResources": { "TagResource": page },
        "NextToken": if more { (start + PAGE).to_string() } else { String::new() },
    }))
}
