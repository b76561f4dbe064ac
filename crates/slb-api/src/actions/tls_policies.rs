//! Custom TLS policy actions: CreateTLSCipherPolicy, SetTLSCipherPolicyAttribute,
//! DeleteTLSCipherPolicy, ListTLSCipherPolicies (`slb-model/src/tls_policy.rs`).

use serde_json::{json, Value};
use slb_model::params::{int_in, next_token, optional, required, ParamSource};
use slb_model::tls_policy::{check_name, versions_and_ciphers, TlsCipherPolicy};
use slb_model::ModelError;

use super::load_balancers::new_id;
use super::Actions;

/// CreateTLSCipherPolicy: a policy HTTPS listeners can use by its `tls-…` id.
pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let name = required(p, "Name")?.to_string();
    check_name(&name)?;
    let (tls_versions, ciphers) = versions_and_ciphers(p)?;
    let policy = TlsCipherPolicy {
        id: new_id("tls"),
        name,
        tls_versions,
        ciphers,
        created_ms: chrono::Utc::now().timestamp_millis(),
    };
    let id = policy.id.clone();
    a.write("CreateTLSCipherPolicy", move |s| {
        s.create_tls_cipher_policy(policy)
    })
    .await?;
    Ok(json!({ "TLSCipherPolicyId": id }))
}

/// The name, and the versions with the ciphers (both, or neither).
pub async fn set(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "TLSCipherPolicyId")?.to_string();
    let name = optional(p, "Name").map(str::to_string);
    if let Some(n) = &name {
        check_name(n)?;
    }
    let changes_suites =
        optional(p, "TLSVersions.1").is_some() || optional(p, "Ciphers.1").is_some();
    let suites = if changes_suites {
        Some(versions_and_ciphers(p)?)
    } else {
        None
    };
    a.write("SetTLSCipherPolicyAttribute", move |s| {
        s.set_tls_cipher_policy(&id, name, suites)
    })
    .await?;
    Ok(json!({}))
}

/// DeleteTLSCipherPolicy: only while no listener uses it.
pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "TLSCipherPolicyId")?.to_string();
    a.write("DeleteTLSCipherPolicy", move |s| {
        s.delete_tls_cipher_policy(&id)
    })
    .await?;
    Ok(json!({}))
}

/// Policies by id or name (or all), `MaxItems` (1-100, default 20) a page, with the
/// listeners using each when `IncludeListener` is true.
pub fn list(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = optional(p, "TLSCipherPolicyId");
    let name = optional(p, "Name");
    let include = slb_model::params::is_true(p, "IncludeListener");
    let max = int_in(p, "MaxItems", 1..=100usize)?.unwrap_or(20);
    let start = next_token(p)?;
    let state = a.state();
    let all: Vec<&TlsCipherPolicy> = state
        .tls_cipher_policies
        .values()
        .filter(|x| id.is_none_or(|i| x.id == i))
        .filter(|x| name.is_none_or(|n| x.name == n))
        .collect();
    let page: Vec<Value> = all
        .iter()
        .skip(start)
        .take(max)
        .map(|x| {
            let listeners: Vec<Value> = if include {
                state
                    .tls_policy_users(&x.id)
                    .iter()
                    .map(|l| {
                        json!({
                            "LoadBalancerId": l.key.load_balancer_id,
                            "Port": l.key.port,
                            "Protocol": l.key.protocol.as_str(),
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            json!({
                "InstanceId": x.id,
                "Name": x.name,
                "TLSVersions": x.tls_versions,
                "Ciphers": x.ciphers,
                "CreateTime": x.created_ms,
                "Status": "normal",
                "RelateListeners": listeners,
            })
        })
        .collect();
    let more = start + max < all.len();
    Ok(json!({
        "TLSCipherPolicies": page,
        "TotalCount": all.len(),
        "IsTruncated": more,
        "NextToken": if more { (start + max).to_string() } else { String::new() },
    }))
}
