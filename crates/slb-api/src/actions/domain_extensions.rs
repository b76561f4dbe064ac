//! Domain extension actions of HTTPS listeners: CreateDomainExtension,
//! DeleteDomainExtension, DescribeDomainExtensions, DescribeDomainExtensionAttribute,
//! SetDomainExtensionAttribute.

use serde_json::{json, Value};
use slb_model::params::{int_in, optional, required, ParamSource};
use slb_model::{DomainExtension, ListenerKey, ModelError, Protocol};

use super::load_balancers::new_id;
use super::Actions;

fn https_key(p: &dyn ParamSource) -> Result<ListenerKey, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    required(p, "ListenerPort")?;
    let port = int_in(p, "ListenerPort", 1..=65535u16)?.unwrap_or_default();
    Ok(ListenerKey {
        load_balancer_id: lb.to_string(),
        port,
        protocol: Protocol::Https,
    })
}

fn render(d: &DomainExtension) -> Value {
    json!({
        "DomainExtensionId": d.id,
        "Domain": d.domain,
        "ServerCertificateId": d.server_certificate_id,
        "Certificates": { "Certificate": [ { "CertificateId": d.server_certificate_id, "EncryptionAlgorithm": "" } ] },
    })
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let ext = DomainExtension {
        id: new_id("de"),
        listener: https_key(p)?,
        domain: required(p, "Domain")?.to_ascii_lowercase(),
        server_certificate_id: required(p, "ServerCertificateId")?.to_string(),
    };
    let id = ext.id.clone();
    a.write("CreateDomainExtension", move |s| {
        s.create_domain_extension(ext)
    })
    .await?;
    Ok(json!({ "DomainExtensionId": id, "ListenerPort": https_key(p)?.port }))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "DomainExtensionId")?.to_string();
    a.write("DeleteDomainExtension", move |s| {
        s.delete_domain_extension(&id)
    })
    .await?;
    Ok(json!({}))
}

pub async fn set(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "DomainExtensionId")?.to_string();
    let cert = required(p, "ServerCertificateId")?.to_string();
    a.write("SetDomainExtensionAttribute", move |s| {
        s.set_domain_extension_certificate(&id, &cert)
    })
    .await?;
    Ok(json!({}))
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let key = https_key(p)?;
    let state = a.state();
    state.find_listener(&key.load_balancer_id, key.port, Some(Protocol::Https))?;
    let only = optional(p, "DomainExtensionId");
    let list: Vec<Value> = state
        .domain_extensions_of(&key)
        .filter(|d| only.is_none_or(|id| d.id == id))
        .map(render)
        .collect();
    Ok(json!({ "DomainExtensions": { "DomainExtension": list } }))
}

/// One extension by id, with the listener it belongs to.
pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "DomainExtensionId")?;
    let state = a.state();
    let d = state.domain_extension(id)?;
    Ok(json!({
        "DomainExtensionId": d.id,
        "Domain": d.domain,
        "ServerCertificateId": d.server_certificate_id,
        "LoadBalancerId": d.listener.load_balancer_id,
        "ListenerPort": d.listener.port,
    }))
}
