//! API errors in Alibaba's shape: an HTTP status, a `Code` and a `Message`, rendered as
//! `{"RequestId","HostId","Code","Message"}`.
//!
//! The SDKs key on these fields: the V1 SDK (`aliyunsdkcore`) raises `ServerException`
//! for any status outside 2xx with `Code`/`Message` from the body; the V3 SDK
//! (`alibabacloud_tea_openapi`) raises `ClientException` (a `TeaException`) for 4xx/5xx
//! with `code = Code` and `data` = the whole body. Statuses therefore must be right.

use std::fmt;

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{json, Value};
use slb_model::ModelError;

/// One refused request: Alibaba's HTTP status, error `Code` and human `Message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl ApiError {
    /// Any error with an explicit status and code.
    pub fn new(status: u16, code: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            status,
            code: code.into(),
            message: message.into(),
        }
    }

    /// `MissingParameter` (400), worded as Alibaba words it.
    pub fn missing_parameter(name: &str) -> Self {
        Self::new(
            400,
            "MissingParameter",
            format!("The input parameter \"{name}\" that is mandatory for processing this request is not supplied."),
        )
    }

    /// `InvalidParameter` (400): a value outside its range or shape; `detail` says why.
    pub fn invalid_parameter(name: &str, detail: impl fmt::Display) -> Self {
        Self::new(
            400,
            "InvalidParameter",
            format!("The specified parameter \"{name}\" is not valid: {detail}"),
        )
    }

    /// A resource that does not exist, e.g. `InvalidLoadBalancerId.NotFound` (404).
    pub fn not_found(code: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(404, code, message)
    }

    /// `InvalidAction.NotFound` (404): the action is not part of this API.
    pub fn invalid_action(_action: &str) -> Self {
        Self::new(
            404,
            "InvalidAction.NotFound",
            "Specified api is not found, please check your url and method.",
        )
    }

    /// `InvalidVersion` (400): only `2014-05-15` is served.
    pub fn invalid_version(version: &str) -> Self {
        Self::new(
            400,
            "InvalidVersion",
            format!("Specified parameter Version \"{version}\" is not valid; this endpoint serves 2014-05-15."),
        )
    }

    /// `InvalidAccessKeyId.NotFound` (404).
    pub fn access_key_not_found() -> Self {
        Self::new(
            404,
            "InvalidAccessKeyId.NotFound",
            "Specified access key is not found.",
        )
    }

    /// `SignatureDoesNotMatch` (400). The message ends with `:` and the server's string to
    /// sign, as Alibaba's does: the V1 SDK compares it with its own and, when they are
    /// equal, reports `InvalidAccessKeySecret` instead (the secret, not the encoding, is wrong).
    pub fn signature_does_not_match(string_to_sign: &str) -> Self {
        Self::new(
            400,
            "SignatureDoesNotMatch",
            format!("Specified signature is not matched with our calculation. server string to sign is:{string_to_sign}"),
        )
    }

    /// `IncompleteSignature` (400): the signature parts are malformed or incomplete.
    pub fn incomplete_signature(detail: impl fmt::Display) -> Self {
        Self::new(
            400,
            "IncompleteSignature",
            format!("The request signature does not conform to Aliyun standards. {detail}"),
        )
    }

    /// `InvalidSignatureMethod` (400): only HMAC-SHA1 (V1) and ACS3-HMAC-SHA256 (V3).
    pub fn invalid_signature_method(method: &str) -> Self {
        Self::new(
            400,
            "InvalidSignatureMethod",
            format!("Specified signature method \"{method}\" is not valid."),
        )
    }

    /// `InvalidTimeStamp.Format` (400).
    pub fn timestamp_format() -> Self {
        Self::new(
            400,
            "InvalidTimeStamp.Format",
            "Specified time stamp or date value is not well formatted.",
        )
    }

    /// `InvalidTimeStamp.Expired` (400): more than the allowed skew from the server's clock.
    pub fn timestamp_expired() -> Self {
        Self::new(
            400,
            "InvalidTimeStamp.Expired",
            "Specified time stamp or date value is expired.",
        )
    }

    /// `SignatureNonceUsed` (400): a replayed request.
    pub fn nonce_used() -> Self {
        Self::new(
            400,
            "SignatureNonceUsed",
            "Specified signature nonce was used already.",
        )
    }

    /// `Throttling` (400).
    pub fn throttling() -> Self {
        Self::new(
            400,
            "Throttling",
            "Request was denied due to request throttling.",
        )
    }

    /// `InternalError` (500): our fault; details belong in the log, not the answer.
    pub fn internal() -> Self {
        Self::new(
            500,
            "InternalError",
            "The request processing has failed due to some unknown error, exception or failure.",
        )
    }

    /// The JSON body Alibaba sends for this error.
    pub fn body(&self, request_id: &str, host_id: &str) -> Value {
        json!({
            "RequestId": request_id,
            "HostId": host_id,
            "Code": self.code,
            "Message": self.message,
        })
    }

    /// The full HTTP answer with the given request id.
    pub fn to_response(&self, request_id: &str, host_id: &str) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        json_response(status, &self.body(request_id, host_id))
    }
}

/// A fresh request id, upper-case like Alibaba's (`7B7AB375-1EA6-4A...`).
pub fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string().to_uppercase()
}

/// A JSON answer with the content type Alibaba uses.
pub(crate) fn json_response(status: StatusCode, body: &Value) -> Response {
    let mut resp = (status, body.to_string()).into_response();
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json;charset=utf-8"),
    );
    resp
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.to_response(&new_request_id(), "")
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}: {}", self.status, self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl From<ModelError> for ApiError {
    fn from(e: ModelError) -> Self {
        Self::new(e.status, e.code, e.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_match_alibaba() {
        let e = ApiError::missing_parameter("LoadBalancerId");
        assert_eq!(e.status, 400);
        assert_eq!(
            e.message,
            "The input parameter \"LoadBalancerId\" that is mandatory for processing this request is not supplied."
        );
        // The V1 SDK does `message.split(':')[1]` on this code: there must be a colon.
        let e = ApiError::signature_does_not_match("GET&%2F&A%3Db");
        assert_eq!(e.message.split(':').nth(1), Some("GET&%2F&A%3Db"));
        let id = new_request_id();
        assert_eq!(id, id.to_uppercase());
        assert_eq!(id.len(), 36);
    }

    #[test]
    fn body_shape() {
        let b = ApiError::invalid_action("Nope").body("RID", "host");
        assert_eq!(b["Code"], "InvalidAction.NotFound");
        assert_eq!(b["RequestId"], "RID");
        assert_eq!(b["HostId"], "host");
        assert!(b["Message"].is_string());
    }
}
