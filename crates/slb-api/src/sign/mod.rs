//! Request signatures of Alibaba's two SDK generations, as pure functions over request parts.
//!
//! * [`v1`]: RPC-style `Signature` parameter, HMAC-SHA1 over the sorted parameters
//!   (`aliyunsdkcore`, `aliyun-python-sdk-*`, the `aliyun` CLI).
//! * [`v3`]: `Authorization: ACS3-HMAC-SHA256 ...` header over a canonical request
//!   (`alibabacloud_tea_openapi`, the `alibabacloud_*` SDKs).

pub mod v1;
pub mod v3;

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Everything but RFC 3986 unreserved characters (`A-Z a-z 0-9 - _ . ~`) is escaped, which
/// is what both SDKs produce (`quote(v, safe='~')`, and V1's `+`→`%20`, `*`→`%2A`, `%7E`→`~`).
const RFC3986: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// Percent-encodes `s` (UTF-8) the way Alibaba's signatures expect: upper-case hex, `%20` for space.
pub fn percent_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, RFC3986).to_string()
}

#[cfg(test)]
mod tests {
    use super::percent_encode;

    #[test]
    fn rfc3986() {
        assert_eq!(percent_encode("a b*~+/:é"), "a%20b%2A~%2B%2F%3A%C3%A9");
        assert_eq!(percent_encode("Az09-_.~"), "Az09-_.~");
    }
}
