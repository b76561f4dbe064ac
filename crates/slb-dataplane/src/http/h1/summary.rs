//! What the framing and connection decisions need from a head, gathered in one pass over its
//! fields: `Host`, `Content-Length`, `Transfer-Encoding`, `Connection` and `Upgrade`.
//!
//! Asking each question with its own scan (`values(name)` per name) went over every field
//! six to eight times per request; this pass tells most fields apart by their name's length
//! alone and compares bytes only for the five names that matter. The rules themselves are
//! those of RFC 9112 §6 as `head.rs` applies them.

use super::super::headers::value_tokens;
use super::head::Fields;

/// Why `Content-Length` is refused.
pub(super) const BAD_LENGTH: &str = "bad Content-Length";
/// Two `Content-Length` values (or list elements) that disagree.
pub(super) const CONFLICTING_LENGTH: &str = "conflicting Content-Length";

/// The fields of one head that decide its framing and its connection.
#[derive(Debug)]
pub(super) struct Summary {
    /// How many `Host` fields, and the index of the first.
    pub hosts: usize,
    pub host: Option<usize>,
    /// The `Content-Length`: every value and list element the same digits, or why not.
    pub content_length: Result<Option<u64>, &'static str>,
    /// A `Transfer-Encoding` field, even an empty one.
    te_field: bool,
    /// Its codings across all fields: how many, how many `chunked`, and whether the last is.
    te_codings: usize,
    te_chunked: usize,
    te_last_chunked: bool,
    /// The tokens `Connection` lists that matter here.
    pub close: bool,
    pub keep_alive: bool,
    pub connection_upgrade: bool,
    /// `Connection` lists a token other than `keep-alive` and `upgrade` (hop-by-hop names
    /// already): a field it names must be dropped, so the list is worth collecting.
    pub lists_fields: bool,
    /// An `Upgrade` field.
    pub upgrade_field: bool,
}

impl Summary {
    /// One pass over `fields`.
    pub(super) fn of(fields: &Fields) -> Self {
        let mut s = Self {
            hosts: 0,
            host: None,
            content_length: Ok(None),
            te_field: false,
            te_codings: 0,
            te_chunked: 0,
            te_last_chunked: false,
            close: false,
            keep_alive: false,
            connection_upgrade: false,
            lists_fields: false,
            upgrade_field: false,
        };
        for (i, f) in fields.offsets().enumerate() {
            let name = || fields.slice(&f.name);
            let value = || fields.slice(&f.value);
            match f.name.len() {
                4 if name().eq_ignore_ascii_case(b"host") => {
                    s.hosts += 1;
                    s.host.get_or_insert(i);
                }
                7 if name().eq_ignore_ascii_case(b"upgrade") => s.upgrade_field = true,
                10 if name().eq_ignore_ascii_case(b"connection") => s.connection(value()),
                14 if name().eq_ignore_ascii_case(b"content-length") => {
                    s.content_length(value());
                }
                17 if name().eq_ignore_ascii_case(b"transfer-encoding") => {
                    s.transfer_encoding(value());
                }
                _ => {}
            }
        }
        s
    }

    /// `None` without `Transfer-Encoding`; otherwise whether `chunked` is the final coding
    /// and appears once.
    pub(super) fn transfer_coding(&self) -> Option<bool> {
        if self.te_codings == 0 {
            return self.te_field.then_some(false);
        }
        Some(self.te_last_chunked && self.te_chunked == 1)
    }

    fn connection(&mut self, value: &[u8]) {
        for t in value_tokens(value) {
            let close = t.eq_ignore_ascii_case(b"close");
            let keep_alive = t.eq_ignore_ascii_case(b"keep-alive");
            let upgrade = t.eq_ignore_ascii_case(b"upgrade");
            self.close |= close;
            self.keep_alive |= keep_alive;
            self.connection_upgrade |= upgrade;
            self.lists_fields |= !(keep_alive || upgrade);
        }
    }

    fn transfer_encoding(&mut self, value: &[u8]) {
        self.te_field = true;
        for t in value_tokens(value) {
            self.te_codings += 1;
            self.te_last_chunked = t.eq_ignore_ascii_case(b"chunked");
            self.te_chunked += usize::from(self.te_last_chunked);
        }
    }

    fn content_length(&mut self, value: &[u8]) {
        let Ok(mut found) = self.content_length else {
            return;
        };
        for item in value.split(|&b| b == b',') {
            let item = item.trim_ascii();
            if item.is_empty() || item.len() > 18 || !item.iter().all(u8::is_ascii_digit) {
                self.content_length = Err(BAD_LENGTH);
                return;
            }
            let n = item
                .iter()
                .fold(0u64, |acc, d| acc * 10 + u64::from(d - b'0'));
            if found.is_some_and(|f| f != n) {
                self.content_length = Err(CONFLICTING_LENGTH);
                return;
            }
            found = Some(n);
        }
        self.content_length = Ok(found);
    }
}

#[cfg(test)]
mod tests {
    use super::super::super::headers::{
        has_token, is_hop_by_hop, is_upgrade, listed_by_connection, HeaderSource,
    };
    use super::super::head::parse_request;
    use super::*;

    /// The one-pass answers equal the scan-per-question ones they replace, on heads that
    /// repeat, list, empty and mix the case of the fields that matter.
    #[test]
    fn agrees_with_a_scan_per_question() {
        for fields in [
            "Host: a\r\nX-A: 1",
            "HOST: a\r\nhost: b\r\nConnection: Keep-Alive, Upgrade\r\nUpgrade: ws",
            "Connection: close\r\nConnection: upgrade\r\nupgrade:",
            "Transfer-Encoding: gzip, Chunked\r\nContent-Length: 5, 5",
            "Transfer-Encoding:\r\nContent-Length: 5\r\nContent-Length: 6",
            "Transfer-Encoding: chunked\r\ntransfer-encoding: chunked",
            "Content-Length: +4\r\nContent-Length: 4",
            "Content-Length: ,, 7 ,\r\nConnection: ,close,",
            "Transfer-Encoding: chunked, gzip\r\nConnectionX: close\r\nHostX: a",
        ] {
            let buf = format!("GET / HTTP/1.1\r\n{fields}\r\n\r\n").into_bytes();
            // Parse only the fields: the request's own checks would refuse some of these.
            let mut headers = [httparse::EMPTY_HEADER; 16];
            let mut req = httparse::Request::new(&mut headers);
            assert!(req.parse(&buf).unwrap().is_complete(), "{fields:?}");
            let f = Fields::new(
                bytes::Bytes::copy_from_slice(&buf),
                buf.as_ptr(),
                req.headers,
            );
            let s = Summary::of(&f);
            assert_eq!(s.hosts, f.values("host").count(), "{fields:?}");
            assert_eq!(s.close, has_token(&f, "connection", "close"), "{fields:?}");
            assert_eq!(
                s.keep_alive,
                has_token(&f, "connection", "keep-alive"),
                "{fields:?}"
            );
            assert_eq!(
                s.upgrade_field && s.connection_upgrade,
                is_upgrade(&f),
                "{fields:?}"
            );
            let beyond_hop_by_hop = listed_by_connection(&f)
                .iter()
                .any(|t| !is_hop_by_hop(&[], t, false));
            assert_eq!(s.lists_fields, beyond_hop_by_hop, "{fields:?}");
            let codings: Vec<_> =
                super::super::super::headers::tokens(&f, "transfer-encoding").collect();
            let scanned_te = match codings.last() {
                None => f.values("transfer-encoding").next().map(|_| false),
                Some(last) => Some(
                    last.eq_ignore_ascii_case(b"chunked")
                        && codings
                            .iter()
                            .filter(|c| c.eq_ignore_ascii_case(b"chunked"))
                            .count()
                            == 1,
                ),
            };
            assert_eq!(s.transfer_coding(), scanned_te, "{fields:?}");
        }
        // Content-Length outcomes through the request parser, which reports them.
        let cl = |v: &str| {
            parse_request(&mut bytes::BytesMut::from(
                format!("POST / HTTP/1.1\r\nHost: a\r\n{v}\r\n\r\n").as_str(),
            ))
            .map(|h| h.map(|h| h.framing))
        };
        use super::super::head::{Framing, HeadError};
        assert_eq!(cl("Content-Length: 5, 5"), Ok(Some(Framing::Length(5))));
        assert_eq!(
            cl("Content-Length: 5\r\nContent-Length: 6"),
            Err(HeadError::Malformed(CONFLICTING_LENGTH))
        );
        assert_eq!(
            cl("Content-Length: 5\r\nContent-Length: x"),
            Err(HeadError::Malformed(BAD_LENGTH))
        );
        assert_eq!(
            cl("Content-Length: x\r\nContent-Length: 5, 6"),
            Err(HeadError::Malformed(BAD_LENGTH))
        );
    }
}
