//! Tag actions: TagResources, UntagResources and ListTagResources over every taggable
//! resource type, and the older AddTags, RemoveTags and DescribeTags over instances.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use slb_model::params::{int_in, next_token, optional, repeated, required, ParamSource};
use slb_model::tag::{
    filters_param, json_filters, json_tags, matches, tags_param, ResourceType,
    MAX_RESOURCES_PER_CALL, MAX_TAGS,
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

/// TagResources: the tags on every named resource, or on none.
pub async fn tag(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let kind = ResourceType::from_params(p)?;
    let ids = resource_ids(p)?;
    let tags = tags_param(p, true)?;
    a.write("TagResources", move |s| s.tag_resources(kind, &ids, &tags))
        .await?;
    Ok(json!({}))
}

/// UntagResources: the named keys (or, with `All`, every tag) off every named resource.
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
            .map(|id| Ok((id.clone(), state.tags_of(kind, id)?)))
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

/// Tags one AddTags call may carry (Alibaba's limit for this older action).
const ADD_TAGS_PER_CALL: usize = 5;

/// AddTags, the older per-instance form: `LoadBalancerId` and a JSON-string `Tags`.
pub async fn add_tags(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = vec![required(p, "LoadBalancerId")?.to_string()];
    let tags = json_tags(p, "Tags", ADD_TAGS_PER_CALL)?;
    a.write("AddTags", move |s| {
        s.tag_resources(ResourceType::Instance, &id, &tags)
    })
    .await?;
    Ok(json!({}))
}

/// RemoveTags: the instance's tags named in the JSON-string `Tags` (by key, and by value
/// when one is given).
pub async fn remove_tags(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "Tags")?;
    let filters = json_filters(p, "Tags")?;
    a.write("RemoveTags", move |s| s.remove_tags(&id, &filters))
        .await?;
    Ok(json!({}))
}

/// DescribeTags: each tag (or, with `DistinctKey`, each key) with how many instances carry
/// it, over the instances named in `LoadBalancerId` (comma-separated; none: all) that
/// carry every tag of the JSON-string `Tags`; paged by `PageNumber`/`PageSize`.
pub fn describe_tags(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let ids: Option<Vec<&str>> =
        optional(p, "LoadBalancerId").map(|v| v.split(',').map(str::trim).collect());
    let filters = json_filters(p, "Tags")?;
    let distinct = slb_model::params::is_true(p, "DistinctKey");
    let number = int_in(p, "PageNumber", 1..=u32::MAX)?.unwrap_or(1) as usize;
    let size = int_in(p, "PageSize", 1..=100u32)?.unwrap_or(50) as usize;
    let state = a.state();
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for lb in state.load_balancers.values() {
        if ids
            .as_ref()
            .is_some_and(|ids| !ids.contains(&lb.id.as_str()))
            || !matches(&lb.tags, &filters)
        {
            continue;
        }
        for t in &lb.tags {
            let value = if distinct {
                String::new()
            } else {
                t.value.clone()
            };
            *counts.entry((t.key.clone(), value)).or_default() += 1;
        }
    }
    let page: Vec<Value> = counts
        .iter()
        .skip((number - 1).saturating_mul(size))
        .take(size)
        .map(|((key, value), n)| json!({ "TagKey": key, "TagValue": value, "InstanceCount": n }))
        .collect();
    Ok(json!({
        "TagSets": { "TagSet": page },
        "TotalCount": counts.len(),
        "PageNumber": number,
        "PageSize": size,
    }))
}
