//! Access-control list actions: CreateAccessControlList, DeleteAccessControlList,
//! DescribeAccessControlLists, DescribeAccessControlListAttribute,
//! SetAccessControlListAttribute, AddAccessControlListEntry, RemoveAccessControlListEntry.

use chrono::Utc;
use serde_json::{json, Value};
use slb_model::params::{int_in, one_of, optional, required, text, ParamSource};
use slb_model::{Acl, ModelError, State};

use super::load_balancers::new_id;
use super::Actions;

fn summary(a: &Acl) -> Value {
    json!({
        "AclId": a.id,
        "AclName": a.name,
        "AddressIPVersion": a.ip_version,
        "CreateTime": a.create_time,
        "ResourceGroupId": a.resource_group_id,
        "Tags": super::render::tags(&a.tags),
    })
}

/// Listeners using `a`, as `RelatedListeners` lists them.
fn related(state: &State, a: &Acl) -> Vec<Value> {
    state
        .listeners
        .values()
        .filter(|l| l.acl_id.as_deref() == Some(a.id.as_str()))
        .map(|l| {
            json!({
                "LoadBalancerId": l.key.load_balancer_id,
                "ListenerPort": l.key.port,
                "Protocol": l.key.protocol.as_str(),
                "AclType": l.acl_type,
            })
        })
        .collect()
}

fn name_param(p: &dyn ParamSource) -> Result<String, ModelError> {
    let name = required(p, "AclName")?;
    let ok = name.len() <= 80
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/".contains(c));
    if !ok {
        return Err(ModelError::invalid_parameter(
            "AclName",
            "1-80 letters, digits, '.', '-', '/' or '_'",
        ));
    }
    Ok(name.to_string())
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let acl = Acl {
        id: new_id("acl"),
        name: name_param(p)?,
        ip_version: one_of(p, "AddressIPVersion", &["ipv4", "ipv6"])?
            .unwrap_or("ipv4")
            .into(),
        resource_group_id: text(p, "ResourceGroupId", 64)?.unwrap_or_default(),
        create_time: Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        entries: Vec::new(),
        tags: slb_model::tag::new_tags(p)?,
    };
    let id = acl.id.clone();
    a.write("CreateAccessControlList", move |s| s.create_acl(acl))
        .await?;
    Ok(json!({ "AclId": id }))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "AclId")?.to_string();
    a.write("DeleteAccessControlList", move |s| s.delete_acl(&id))
        .await?;
    Ok(json!({}))
}

pub async fn set_name(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "AclId")?.to_string();
    let name = name_param(p)?;
    a.write("SetAccessControlListAttribute", move |s| {
        s.set_acl_name(&id, name)
    })
    .await?;
    Ok(json!({}))
}

/// Add or remove entries: the list's IP version is read inside the write.
async fn change_entries(
    a: &Actions,
    p: &dyn ParamSource,
    action: &'static str,
    add: bool,
) -> Result<Value, ModelError> {
    let id = required(p, "AclId")?.to_string();
    let json = required(p, "AclEntrys")?.to_string();
    a.write(action, move |s| {
        let version = s.acl(&id)?.ip_version.clone();
        let entries = Acl::parse_entries(&json, &version)?;
        if add {
            s.add_acl_entries(&id, entries)
        } else {
            s.remove_acl_entries(&id, &entries)
        }
    })
    .await?;
    Ok(json!({}))
}

pub async fn add_entries(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    change_entries(a, p, "AddAccessControlListEntry", true).await
}

pub async fn remove_entries(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    change_entries(a, p, "RemoveAccessControlListEntry", false).await
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let state = a.state();
    let name = optional(p, "AclName");
    let version = one_of(p, "AddressIPVersion", &["ipv4", "ipv6"])?;
    let page = int_in(p, "PageNumber", 1..=u32::MAX)?.unwrap_or(1);
    let size = int_in(p, "PageSize", 1..=100u32)?.unwrap_or(50);
    let tagged = slb_model::tag::filters_param(p)?;
    let all: Vec<&Acl> = state
        .acls
        .values()
        .filter(|x| name.is_none_or(|n| x.name == n))
        .filter(|x| version.is_none_or(|v| x.ip_version == v))
        .filter(|x| slb_model::tag::matches(&x.tags, &tagged))
        .collect();
    let list: Vec<Value> = all
        .iter()
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|x| summary(x))
        .collect();
    Ok(json!({
        "Acls": { "Acl": list },
        "TotalCount": all.len(),
        "PageNumber": page,
        "PageSize": size,
        "Count": list.len(),
    }))
}

pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "AclId")?;
    let state = a.state();
    let acl = state.acl(id)?;
    let comment = optional(p, "AclEntryComment");
    let page = int_in(p, "Page", 1..=u32::MAX)?.unwrap_or(1);
    let size = int_in(p, "PageSize", 1..=300u32)?.unwrap_or(300);
    let entries: Vec<Value> = acl
        .entries
        .iter()
        .filter(|e| comment.is_none_or(|c| e.comment == c))
        .skip(((page - 1) * size) as usize)
        .take(size as usize)
        .map(|e| json!({ "AclEntryIP": e.cidr.to_string(), "AclEntryComment": e.comment }))
        .collect();
    let mut v = summary(acl);
    v["AclEntrys"] = json!({ "AclEntry": entries });
    v["TotalAclEntry"] = json!(acl.entries.len());
    v["RelatedListeners"] = json!({ "RelatedListener": related(&state, acl) });
    Ok(v)
}
