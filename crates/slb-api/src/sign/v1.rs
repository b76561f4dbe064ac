//! V1 (RPC) signatures: `Signature = base64(HMAC-SHA1(secret + "&", StringToSign))` with
//! `StringToSign = METHOD + "&%2F&" + percent(canonical query)` and the canonical query being
//! every parameter except `Signature` (query and form body alike, empty values included),
//! sorted by name, each `percent(name)=percent(value)`, joined by `&`.

use std::collections::BTreeMap;

use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::percent_encode;
use crate::error::ApiError;

/// The only `SignatureMethod` V1 clients send in practice.
pub const SIGNATURE_METHOD: &str = "HMAC-SHA1";
/// The `SignatureVersion` the SDKs send.
pub const SIGNATURE_VERSION: &str = "1.0";

/// `k=v&...` sorted by name with RFC 3986 escaping; `Signature` itself is left out.
/// Usable as a URL query string too (that is how [`crate::client`] sends requests).
pub fn canonical_query(params: &BTreeMap<String, String>) -> String {
    params
        .iter()
        .filter(|(k, _)| k.as_str() != "Signature")
        .map(|(k, v)| format!("{}={}", percent_encode(k), percent_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `METHOD&%2F&percent(canonical query)`; `method` is the HTTP method as sent (`GET`, `POST`).
pub fn string_to_sign(method: &str, params: &BTreeMap<String, String>) -> String {
    format!(
        "{}&{}&{}",
        method.to_ascii_uppercase(),
        percent_encode("/"),
        percent_encode(&canonical_query(params))
    )
}

fn mac(secret: &str, string_to_sign: &str) -> Hmac<Sha1> {
    let mut mac = Hmac::<Sha1>::new_from_slice(format!("{secret}&").as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(string_to_sign.as_bytes());
    mac
}

/// The base64 signature a client with `secret` sends for these parameters.
pub fn signature(method: &str, params: &BTreeMap<String, String>, secret: &str) -> String {
    let sts = string_to_sign(method, params);
    base64::engine::general_purpose::STANDARD.encode(mac(secret, &sts).finalize().into_bytes())
}

/// Checks `params["Signature"]` (all request parameters, decoded) in constant time.
///
/// Errors: `IncompleteSignature` when `Signature` is absent or not base64,
/// `InvalidSignatureMethod` for anything but HMAC-SHA1, `SignatureDoesNotMatch` otherwise.
pub fn verify(
    method: &str,
    params: &BTreeMap<String, String>,
    secret: &str,
) -> Result<(), ApiError> {
    let given = params
        .get("Signature")
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::missing_parameter("Signature"))?;
    match params.get("SignatureMethod").map(String::as_str) {
        Some(SIGNATURE_METHOD) => {}
        Some(other) => return Err(ApiError::invalid_signature_method(other)),
        None => return Err(ApiError::missing_parameter("SignatureMethod")),
    }
    if let Some(v) = params.get("SignatureVersion") {
        if v != SIGNATURE_VERSION {
            return Err(ApiError::invalid_parameter(
                "SignatureVersion",
                format!("\"{v}\" is not supported; use 1.0"),
            ));
        }
    }
    let sts = string_to_sign(method, params);
    let raw = base64::engine::general_purpose::STANDARD
        .decode(given)
        .map_err(|_| ApiError::signature_does_not_match(&sts))?;
    mac(secret, &sts)
        .verify_slice(&raw)
        .map_err(|_| ApiError::signature_does_not_match(&sts))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request recorded from aliyun-python-sdk-core 2.16.1 (AddBackendServersRequest, POST,
    /// all parameters in the query) signed with secret `testsecret`.
    const RECORDED: &str = "LoadBalancerId=lb-1&BackendServers=%5B%7B%22ServerId%22%3A%22i-1%22%2C%22Weight%22%3A%22100%22%7D%5D&Version=2014-05-15&Action=AddBackendServers&Format=JSON&RegionId=cn-hangzhou&Timestamp=2026-11-25T09%3A44%3A57Z&SignatureMethod=HMAC-SHA1&SignatureType=&SignatureVersion=1.0&SignatureNonce=939158dc5bd5b5679231f35f6e1ad2a6&AccessKeyId=testid&Signature=9qILr8IhzNftf4P84I6Ymw1xVco%3D";

    fn recorded() -> BTreeMap<String, String> {
        form_urlencoded::parse(RECORDED.as_bytes())
            .into_owned()
            .collect()
    }

    #[test]
    fn known_answer_from_python_sdk() {
        let p = recorded();
        assert_eq!(
            signature("POST", &p, "testsecret"),
            "9qILr8IhzNftf4P84I6Ymw1xVco="
        );
        verify("POST", &p, "testsecret").unwrap();
    }

    #[test]
    fn wrong_secret_method_or_param_fails() {
        let p = recorded();
        let e = verify("POST", &p, "other").unwrap_err();
        assert_eq!(e.code, "SignatureDoesNotMatch");
        assert!(e.message.ends_with(&string_to_sign("POST", &p)));
        assert_eq!(
            verify("GET", &p, "testsecret").unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let mut q = p.clone();
        q.insert("LoadBalancerId".into(), "lb-2".into());
        assert_eq!(
            verify("POST", &q, "testsecret").unwrap_err().code,
            "SignatureDoesNotMatch"
        );
        let mut q = p.clone();
        q.insert("SignatureMethod".into(), "HMAC-MD5".into());
        assert_eq!(
            verify("POST", &q, "testsecret").unwrap_err().code,
            "InvalidSignatureMethod"
        );
        let mut q = p;
        q.remove("Signature");
        assert_eq!(
            verify("POST", &q, "testsecret").unwrap_err().code,
            "MissingParameter"
        );
    }
}
