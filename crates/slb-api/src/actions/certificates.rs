//! Certificate actions: UploadServerCertificate, DeleteServerCertificate,
//! DescribeServerCertificates, SetServerCertificateName, UploadCACertificate,
//! DeleteCACertificate, DescribeCACertificates, SetCACertificateName.
//!
//! Uploads are validated by `slb_tls` (PEM, key match, validity) before they reach the
//! state; descriptions never include a private key.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use slb_model::params::{optional, required, text, ParamSource};
use slb_model::{CaCertificate, CertSummary, ModelError, ServerCertificate};
use slb_tls::{CertError, CertInfo};

use super::load_balancers::new_id;
use super::Actions;

/// Largest PEM text accepted for one certificate chain or key.
const MAX_PEM: usize = 64 * 1024;

fn pem_param<'a>(p: &'a dyn ParamSource, name: &str) -> Result<&'a str, ModelError> {
    let v = required(p, name)?;
    if v.len() > MAX_PEM {
        return Err(ModelError::invalid_parameter(
            name,
            format!("at most {MAX_PEM} bytes"),
        ));
    }
    Ok(v)
}

/// Alibaba-style codes for refused uploads.
fn cert_error(param: &str, e: CertError) -> ModelError {
    let code = match e {
        CertError::KeyMismatch => "InvalidParameter.KeyMismatch",
        CertError::Expired(_) | CertError::NotYetValid(_) => "InvalidParameter.CertificateExpired",
        CertError::MalformedKey(_) => "InvalidParameter.PrivateKey",
        CertError::MalformedCertificate(_) => "InvalidParameter.Certificate",
    };
    ModelError::new(400, code, format!("{param}: {e}"))
}

fn summary(i: CertInfo) -> CertSummary {
    CertSummary {
        fingerprint: i.fingerprint,
        common_name: i.common_name,
        alt_names: i.alt_names,
        not_before: i.not_before,
        not_after: i.not_after,
        key_algorithm: i.key_algorithm,
        key_bits: i.key_bits,
    }
}

fn time_fields(v: &mut Value, prefix: &str, unix_ms: i64) {
    let t: DateTime<Utc> = DateTime::from_timestamp_millis(unix_ms).unwrap_or_default();
    v[format!("{prefix}Time")] = json!(t.format("%Y-%m-%dT%H:%MZ").to_string());
    v[format!("{prefix}TimeStamp")] = json!(unix_ms);
}

fn render_server(c: &ServerCertificate) -> Value {
    let mut v = json!({
        "ServerCertificateId": c.id,
        "ServerCertificateName": c.name,
        "Fingerprint": c.summary.fingerprint,
        "CommonName": c.summary.common_name,
        "SubjectAlternativeNames": { "SubjectAlternativeName": c.summary.alt_names },
        "EncryptionAlgorithm": c.summary.key_algorithm,
        "EncryptionKeyLength": c.summary.key_bits,
        "RegionId": c.region_id,
        "RegionIdAlias": c.region_id,
        "IsAliCloudCertificate": 0,
        "AliCloudCertificateId": "",
        "AliCloudCertificateName": "",
        "ResourceGroupId": c.resource_group_id,
        "Tags": super::render::tags(&c.tags),
    });
    time_fields(&mut v, "Expire", c.summary.not_after * 1000);
    time_fields(&mut v, "Create", c.created_ms);
    v
}

fn render_ca(c: &CaCertificate) -> Value {
    let mut v = json!({
        "CACertificateId": c.id,
        "CACertificateName": c.name,
        "Fingerprint": c.summary.fingerprint,
        "CommonName": c.summary.common_name,
        "EncryptionAlgorithm": c.summary.key_algorithm,
        "EncryptionKeyLength": c.summary.key_bits,
        "RegionId": c.region_id,
        "ResourceGroupId": c.resource_group_id,
        "Tags": super::render::tags(&c.tags),
    });
    time_fields(&mut v, "Expire", c.summary.not_after * 1000);
    time_fields(&mut v, "Create", c.created_ms);
    v
}

pub async fn upload_server(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let chain = pem_param(p, "ServerCertificate")?.to_string();
    let key = pem_param(p, "PrivateKey")?.to_string();
    let now = Utc::now();
    let info = slb_tls::inspect_server(&chain, &key, now.timestamp())
        .map_err(|e| cert_error("ServerCertificate", e))?;
    let tags = slb_model::tag::new_tags(p)?;
    let id = new_id("cert");
    // With a key server, the key goes there (durably) first and the state keeps none.
    let key = match &a.key_vault {
        None => key,
        Some(vault) => {
            let (vault, key_id) = (vault.clone(), id.clone());
            tokio::task::spawn_blocking(move || vault.put(&key_id, &key))
                .await
                .map_err(|e| e.to_string())
                .and_then(|r| r)
                .map_err(|e| {
                    ModelError::new(
                        503,
                        "ServiceUnavailable",
                        format!("the key server did not store the private key: {e}"),
                    )
                })?;
            String::new()
        }
    };
    let cert = ServerCertificate {
        id,
        name: optional(p, "ServerCertificateName")
            .unwrap_or("")
            .to_string(),
        region_id: a.node.region.clone(),
        summary: summary(info),
        created_ms: now.timestamp_millis(),
        chain_pem: chain,
        private_key_pem: key,
        tags,
        resource_group_id: text(p, "ResourceGroupId", 64)?.unwrap_or_default(),
    };
    let rendered = render_server(&cert);
    a.write("UploadServerCertificate", move |s| {
        s.add_server_certificate(cert)
    })
    .await?;
    Ok(rendered)
}

pub fn describe_server(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let state = a.state();
    let tagged = slb_model::tag::filters_param(p)?;
    let list: Vec<Value> = match optional(p, "ServerCertificateId") {
        Some(id) => vec![render_server(state.server_certificate(id)?)],
        None => state
            .server_certificates
            .values()
            .filter(|c| slb_model::tag::matches(&c.tags, &tagged))
            .map(render_server)
            .collect(),
    };
    Ok(json!({ "ServerCertificates": { "ServerCertificate": list } }))
}

pub async fn set_server_name(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "ServerCertificateId")?.to_string();
    let name = required(p, "ServerCertificateName")?.to_string();
    a.write("SetServerCertificateName", move |s| {
        s.set_server_certificate_name(&id, &name)
    })
    .await?;
    Ok(json!({}))
}

pub async fn delete_server(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "ServerCertificateId")?.to_string();
    let key_id = id.clone();
    a.write("DeleteServerCertificate", move |s| {
        s.delete_server_certificate(&id)
    })
    .await?;
    // The certificate is gone from the state; its key on the key server is now unused.
    // If the key server cannot be told, the key stays there unused, which is logged.
    if let Some(vault) = a.key_vault.clone() {
        let id = key_id.clone();
        let r = tokio::task::spawn_blocking(move || vault.delete(&id)).await;
        if let Err(e) = r.map_err(|e| e.to_string()).and_then(|r| r) {
            tracing::warn!(certificate = %key_id, error = %e, "the key server kept the deleted certificate's key");
        }
    }
    Ok(json!({}))
}

pub async fn upload_ca(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let pem = pem_param(p, "CACertificate")?.to_string();
    let now = Utc::now();
    let info =
        slb_tls::inspect_ca(&pem, now.timestamp()).map_err(|e| cert_error("CACertificate", e))?;
    let cert = CaCertificate {
        id: new_id("cacert"),
        name: optional(p, "CACertificateName").unwrap_or("").to_string(),
        region_id: a.node.region.clone(),
        summary: summary(info),
        created_ms: now.timestamp_millis(),
        pem,
        tags: slb_model::tag::new_tags(p)?,
        resource_group_id: text(p, "ResourceGroupId", 64)?.unwrap_or_default(),
    };
    let rendered = render_ca(&cert);
    a.write("UploadCACertificate", move |s| s.add_ca_certificate(cert))
        .await?;
    Ok(rendered)
}

pub fn describe_ca(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let state = a.state();
    let tagged = slb_model::tag::filters_param(p)?;
    let list: Vec<Value> = match optional(p, "CACertificateId") {
        Some(id) => vec![render_ca(state.ca_certificate(id)?)],
        None => state
            .ca_certificates
            .values()
            .filter(|c| slb_model::tag::matches(&c.tags, &tagged))
            .map(render_ca)
            .collect(),
    };
    Ok(json!({ "CACertificates": { "CACertificate": list } }))
}

pub async fn set_ca_name(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "CACertificateId")?.to_string();
    let name = required(p, "CACertificateName")?.to_string();
    a.write("SetCACertificateName", move |s| {
        s.set_ca_certificate_name(&id, &name)
    })
    .await?;
    Ok(json!({}))
}

pub async fn delete_ca(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "CACertificateId")?.to_string();
    a.write("DeleteCACertificate", move |s| s.delete_ca_certificate(&id))
        .await?;
    Ok(json!({}))
}
