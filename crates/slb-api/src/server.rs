//! The HTTP front: one route, `/`, answering GET and POST the way Alibaba's RPC gateway
//! does. Each request is authenticated (V1 `Signature` parameter or V3 `Authorization`
//! header), checked for `Version=2014-05-15`, and handed to an [`ActionHandler`] by name.
//!
//! Order of checks (each failure answers at once, nothing is dispatched):
//! access key known → timestamp within ±15 min → signature → nonce unused → Version →
//! Action present → handler.

use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use chrono::{Duration, Utc};
use serde_json::Value;

use crate::auth::{check_timestamp, CredentialSource, NonceCache, DEFAULT_MAX_SKEW};
use crate::error::{json_response, new_request_id, ApiError};
use crate::params::{Params, V1_COMMON};
use crate::sign;

/// The only API version served.
pub const API_VERSION: &str = "2014-05-15";

/// A boxed, sendable future, so [`ActionHandler`] stays object-safe without extra crates.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Runs actions. The server has already authenticated the request and checked its version.
///
/// Return the response body *without* `RequestId` (the server adds it) as a JSON object,
/// or an [`ApiError`]; for an action you do not know return
/// [`ApiError::invalid_action`] (`InvalidAction.NotFound`, 404).
pub trait ActionHandler: Send + Sync {
    fn handle<'a>(
        &'a self,
        action: &'a str,
        params: &'a Params,
        req: &'a RequestContext,
    ) -> BoxFuture<'a, Result<Value, ApiError>>;
}

/// Which signature scheme authenticated the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `Signature` parameter, HMAC-SHA1 (aliyunsdkcore).
    V1,
    /// `Authorization: ACS3-HMAC-SHA256` header (alibabacloud_tea_openapi).
    V3,
}

/// Facts about an authenticated request, for handlers and logs.
#[derive(Debug, Clone)]
pub struct RequestContext {
    /// Upper-case UUID, also returned as `RequestId`.
    pub request_id: String,
    pub access_key_id: String,
    pub signature_version: SignatureVersion,
    /// The region this node serves.
    pub region: String,
}

/// Everything the API server shares across requests.
pub struct ApiContext {
    pub credentials: Arc<dyn CredentialSource>,
    pub nonces: NonceCache,
    pub handler: Arc<dyn ActionHandler>,
    /// The region this node serves (`--region`).
    pub region: String,
    /// `HostId` in error bodies; defaults to the request's `Host` header when empty.
    pub host_id: String,
    /// Allowed clock difference for `Timestamp` / `x-acs-date`; default 15 minutes.
    pub max_skew: Duration,
    /// Requests per second each access key may make.
    pub throttle: crate::auth::Throttle,
}

impl ApiContext {
    /// A context with the default 15-minute window and a nonce cache sized to it.
    pub fn new(
        credentials: Arc<dyn CredentialSource>,
        handler: Arc<dyn ActionHandler>,
        region: impl Into<String>,
    ) -> Self {
        Self {
            credentials,
            nonces: NonceCache::default(),
            handler,
            region: region.into(),
            host_id: String::new(),
            max_skew: DEFAULT_MAX_SKEW,
            throttle: crate::auth::Throttle::new(0),
        }
    }

    /// Limits every access key to `rate` requests per second (0 = unlimited).
    pub fn with_rate_limit(mut self, rate: u64) -> Self {
        self.throttle = crate::auth::Throttle::new(rate);
        self
    }
}

/// The API router: `/` with any method (GET and POST in practice). The binary merges its
/// own routes (e.g. `/metrics`) into it; no fallback is set so merging stays possible.
pub fn router(state: Arc<ApiContext>) -> Router {
    Router::new()
        .route("/", any(serve))
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// Largest request body (a POST form): room for a certificate chain and key, not more.
/// Larger bodies get 413.
pub const MAX_BODY: usize = 1024 * 1024;

async fn serve(
    State(ctx): State<Arc<ApiContext>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let started = Instant::now();
    let request_id = new_request_id();
    let host_id = if ctx.host_id.is_empty() {
        headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
            .to_string()
    } else {
        ctx.host_id.clone()
    };
    let mut action = String::new();
    let result = handle(
        &ctx,
        &request_id,
        &method,
        &uri,
        &headers,
        &body,
        &mut action,
    )
    .await;
    let response = match result {
        Ok(Value::Object(mut body)) => {
            body.insert("RequestId".into(), Value::String(request_id.clone()));
            json_response(StatusCode::OK, &Value::Object(body))
        }
        Ok(other) => {
            tracing::error!(%request_id, action, body = %other, "handler answered a non-object");
            ApiError::internal().to_response(&request_id, &host_id)
        }
        Err(e) => e.to_response(&request_id, &host_id),
    };
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    if status >= 500 {
        tracing::warn!(%request_id, action, status, latency_ms, "api request");
    } else {
        tracing::info!(%request_id, action, status, latency_ms, "api request");
    }
    response
}

async fn handle(
    ctx: &ApiContext,
    request_id: &str,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
    action_out: &mut String,
) -> Result<Value, ApiError> {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| {
            ct.to_ascii_lowercase()
                .starts_with("application/x-www-form-urlencoded")
        });
    let form: Vec<(String, String)> = if is_form {
        form_urlencoded::parse(body).into_owned().collect()
    } else {
        Vec::new()
    };
    let mut all: BTreeMap<String, String> = query.iter().cloned().collect();
    all.extend(form);

    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.trim_start().starts_with("ACS3-"));
    let now = Utc::now();
    let (access_key_id, signature_version, version, action) = match authorization {
        Some(auth) => {
            let auth = sign::v3::parse_authorization(auth)?;
            let secret = ctx
                .credentials
                .secret_for(&auth.access_key_id)
                .ok_or_else(ApiError::access_key_not_found)?;
            let header = |name: &str| {
                headers
                    .get(name)
                    .and_then(|v| v.to_str().ok())
                    .filter(|v| !v.is_empty())
                    .ok_or_else(|| ApiError::missing_parameter(name))
            };
            check_timestamp(header("x-acs-date")?, now, ctx.max_skew)?;
            let nonce = header("x-acs-signature-nonce")?;
            let header_pairs: Vec<(String, String)> = headers
                .iter()
                .map(|(n, v)| {
                    (
                        n.as_str().to_string(),
                        String::from_utf8_lossy(v.as_bytes()).into_owned(),
                    )
                })
                .collect();
            let req = sign::v3::SignedRequest {
                method: method.as_str(),
                path: uri.path(),
                query: &query,
                headers: &header_pairs,
                body,
            };
            sign::v3::verify(&req, &auth, &secret)?;
            ctx.nonces
                .check_and_insert(&auth.access_key_id, nonce, now)?;
            let version = header("x-acs-version")?.to_string();
            let action = header("x-acs-action")?.to_string();
            (auth.access_key_id, SignatureVersion::V3, version, action)
        }
        None => {
            let required = |name: &str| {
                all.get(name)
                    .filter(|v| !v.is_empty())
                    .cloned()
                    .ok_or_else(|| ApiError::missing_parameter(name))
            };
            let access_key_id = required("AccessKeyId")?;
            let secret = ctx
                .credentials
                .secret_for(&access_key_id)
                .ok_or_else(ApiError::access_key_not_found)?;
            check_timestamp(&required("Timestamp")?, now, ctx.max_skew)?;
            let nonce = required("SignatureNonce")?;
            sign::v1::verify(method.as_str(), &all, &secret)?;
            ctx.nonces.check_and_insert(&access_key_id, &nonce, now)?;
            let version = required("Version")?;
            let action = required("Action")?;
            (access_key_id, SignatureVersion::V1, version, action)
        }
    };
    if version != API_VERSION {
        return Err(ApiError::invalid_version(&version));
    }
    action_out.clone_from(&action);
    ctx.throttle.check(&access_key_id)?;
    let reads = crate::auth::is_read_action(&action);
    if !reads && ctx.credentials.read_only(&access_key_id) {
        return Err(ApiError::new(
            403,
            "Forbidden.RAM",
            "User not authorized to operate on the specified resource: this access key is read-only.",
        ));
    }

    let mut params = Params::new(all);
    if signature_version == SignatureVersion::V1 {
        for name in V1_COMMON {
            params.remove(name);
        }
    }
    let req = RequestContext {
        request_id: request_id.to_string(),
        access_key_id,
        signature_version,
        region: ctx.region.clone(),
    };
    let result = ctx.handler.handle(&action, &params, &req).await;
    if !reads {
        // An audit line for every attempted change, with the key that asked.
        tracing::info!(
            request_id,
            action,
            access_key_id = %req.access_key_id,
            ok = result.is_ok(),
            "state change"
        );
    }
    result
}
