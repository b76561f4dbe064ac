//! The `HeaderName` of a backend response field, for an HTTP/2 client's response head. The
//! names backends send on nearly every response are matched here by length and bytes; the
//! http crate's general parser (lower-casing into a scratch buffer, then its table of every
//! standard name) cost some 200 instructions a field, a sixth of an HTTP/2 request's own
//! work.

use http::header::{self, HeaderName};

/// Response field names seen on most responses, most frequent first: lower case, the
/// capitalised spelling most servers write, and the name.
static COMMON: [(&str, &str, HeaderName); 15] = [
    ("date", "Date", header::DATE),
    ("server", "Server", header::SERVER),
    ("content-type", "Content-Type", header::CONTENT_TYPE),
    ("content-length", "Content-Length", header::CONTENT_LENGTH),
    ("last-modified", "Last-Modified", header::LAST_MODIFIED),
    ("etag", "ETag", header::ETAG),
    ("accept-ranges", "Accept-Ranges", header::ACCEPT_RANGES),
    ("cache-control", "Cache-Control", header::CACHE_CONTROL),
    ("vary", "Vary", header::VARY),
    ("expires", "Expires", header::EXPIRES),
    ("set-cookie", "Set-Cookie", header::SET_COOKIE),
    ("location", "Location", header::LOCATION),
    (
        "content-encoding",
        "Content-Encoding",
        header::CONTENT_ENCODING,
    ),
    (
        "x-content-type-options",
        "X-Content-Type-Options",
        header::X_CONTENT_TYPE_OPTIONS,
    ),
    (
        "strict-transport-security",
        "Strict-Transport-Security",
        header::STRICT_TRANSPORT_SECURITY,
    ),
];

/// The name for field name `raw` (any case), `None` when it is not a valid name. Lengths
/// first, then the two usual spellings byte for byte, then any case.
pub(crate) fn header_name(raw: &[u8]) -> Option<HeaderName> {
    for (lower, usual, name) in &COMMON {
        if lower.len() == raw.len()
            && (raw == lower.as_bytes()
                || raw == usual.as_bytes()
                || raw.eq_ignore_ascii_case(lower.as_bytes()))
        {
            return Some(name.clone());
        }
    }
    HeaderName::from_bytes(raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every common name, in any case, is the name the http crate's parser gives.
    #[test]
    fn common_names_match_the_general_parser() {
        for (spelling, usual, name) in &COMMON {
            assert_eq!(name.as_str(), *spelling);
            assert!(usual.eq_ignore_ascii_case(spelling), "{usual}");
            for raw in [
                spelling.to_string(),
                usual.to_string(),
                spelling.to_ascii_uppercase(),
                spelling
                    .split('-')
                    .map(|w| w[..1].to_ascii_uppercase() + &w[1..])
                    .collect::<Vec<_>>()
                    .join("-"),
            ] {
                let parsed = HeaderName::from_bytes(raw.as_bytes()).unwrap();
                assert_eq!(header_name(raw.as_bytes()), Some(parsed), "{raw}");
            }
        }
    }

    /// Other names go to the general parser: custom ones are kept (lower-cased), invalid
    /// ones refused.
    #[test]
    fn other_names_are_parsed() {
        assert_eq!(
            header_name(b"X-Backend-Id").unwrap().as_str(),
            "x-backend-id"
        );
        assert_eq!(
            header_name(b"Dates"),
            Some(HeaderName::from_static("dates"))
        );
        assert_eq!(header_name(b"bad name"), None);
        assert_eq!(header_name(b""), None);
    }
}
