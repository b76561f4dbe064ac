//! A signing client for the management API, used by `slb call`, `slb status`, the demo and
//! the integration tests. It speaks exactly what Alibaba's V1 SDK sends: RPC-style query
//! parameters signed with HMAC-SHA1.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::sign::percent_encode;

/// The key pair in a node's `DATA_DIR/credentials` text (`access_key_id = ...` and
/// `access_key_secret = ...` lines), so every client of a node reads the file the same way;
/// `None` when either is missing.
pub fn parse_credentials(text: &str) -> Option<(String, String)> {
    let mut id = None;
    let mut secret = None;
    for line in text.lines() {
        if let Some((k, v)) = line.split_once('=') {
            match k.trim() {
                "access_key_id" => id = Some(v.trim().to_string()),
                "access_key_secret" => secret = Some(v.trim().to_string()),
                _ => {}
            }
        }
    }
    Some((id?, secret?))
}

/// An API answer that was not a success: Alibaba's `Code` and `Message` with the HTTP status.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct CallError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// The whole error body, for printing.
    pub body: Value,
}

/// Talks to one node with one access key.
#[derive(Clone)]
pub struct Client {
    endpoint: String,
    access_key_id: String,
    access_key_secret: String,
    http: reqwest::Client,
}

impl Client {
    /// `endpoint` is a base URL such as `http://127.0.0.1:8780`.
    pub fn new(endpoint: &str, access_key_id: &str, access_key_secret: &str) -> Self {
        Self {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
            http: reqwest::Client::new(),
        }
    }

    /// Sends one action with `params` (signed, as a GET query) and returns the JSON body.
    pub async fn call(&self, action: &str, params: &[(&str, &str)]) -> Result<Value, CallError> {
        let query = self.signed_params(action, params, |_| {});
        self.send(&query).await
    }

    /// Every parameter of a V1 request including the common ones and `Signature`.
    /// `adjust` may change parameters before signing (tests use it to replay a nonce or
    /// send a stale timestamp).
    pub fn signed_params(
        &self,
        action: &str,
        params: &[(&str, &str)],
        adjust: impl FnOnce(&mut BTreeMap<String, String>),
    ) -> BTreeMap<String, String> {
        let mut all: BTreeMap<String, String> = params
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let common = [
            ("Action", action.to_string()),
            ("Format", "JSON".to_string()),
            ("Version", "2014-05-15".to_string()),
            ("AccessKeyId", self.access_key_id.clone()),
            ("SignatureMethod", "HMAC-SHA1".to_string()),
            ("SignatureVersion", "1.0".to_string()),
            ("SignatureNonce", uuid::Uuid::new_v4().to_string()),
            (
                "Timestamp",
                chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            ),
        ];
        for (k, v) in common {
            all.insert(k.to_string(), v);
        }
        adjust(&mut all);
        let signature = crate::sign::v1::signature("GET", &all, &self.access_key_secret);
        all.insert("Signature".into(), signature);
        all
    }

    /// Sends already-signed parameters as a GET query.
    pub async fn send(&self, query: &BTreeMap<String, String>) -> Result<Value, CallError> {
        let encoded: Vec<String> = query
            .iter()
            .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
            .collect();
        let url = format!("{}/?{}", self.endpoint, encoded.join("&"));
        let transport = |e: reqwest::Error| CallError {
            status: 0,
            code: "Transport".into(),
            message: e.to_string(),
            body: Value::Null,
        };
        let resp = self.http.get(url).send().await.map_err(transport)?;
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.map_err(transport)?;
        if status >= 400 {
            return Err(CallError {
                status,
                code: body["Code"].as_str().unwrap_or_default().to_string(),
                message: body["Message"].as_str().unwrap_or_default().to_string(),
                body,
            });
        }
        Ok(body)
    }
}
