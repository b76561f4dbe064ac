//! Request and response heads of the native HTTP/1.1 engine: parsed once with httparse into
//! offsets over the immutable head bytes, plus the framing decision that keeps the balancer
//! and the backend in agreement on where every message ends (RFC 9112 §6).

use std::ops::Range;

use bytes::{Bytes, BytesMut};
use http::Method;

use super::super::headers::{listed_by_connection, HeaderSource, Listed};
use super::super::{MAX_REQUEST_HEAD, MAX_REQUEST_HEADERS, MAX_URI_LEN};
use super::summary::Summary;

/// How a message body is delimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Framing {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(u64),
    /// Chunked transfer coding as the final coding.
    Chunked,
    /// Until the sender closes (responses only).
    Close,
}

/// Why a request head is refused, with the status the client gets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// Bad syntax or a smuggling shape: 400.
    Malformed(&'static str),
    /// Head larger than [`MAX_REQUEST_HEAD`] or more than [`MAX_REQUEST_HEADERS`]: 431.
    TooLarge,
    /// Request target longer than [`MAX_URI_LEN`]: 414.
    UriTooLong,
    /// A method the balancer does not proxy (CONNECT): 405.
    MethodNotAllowed,
}

impl HeadError {
    /// The status answered to the client.
    pub(crate) fn status(self) -> u16 {
        match self {
            Self::Malformed(_) => 400,
            Self::TooLarge => 431,
            Self::UriTooLong => 414,
            Self::MethodNotAllowed => 405,
        }
    }
}

/// One header field as offsets into the head bytes.
#[derive(Clone, Debug)]
pub(super) struct Field {
    pub name: Range<usize>,
    pub value: Range<usize>,
}

/// Parsed header fields over immutable head bytes.
#[derive(Clone, Debug)]
pub(crate) struct Fields {
    raw: Bytes,
    fields: Vec<Field>,
}

/// Offsets of `s` within the buffer starting at `base` (both from the same parse).
fn offsets(base: *const u8, s: &[u8]) -> Range<usize> {
    let start = s.as_ptr() as usize - base as usize;
    start..start + s.len()
}

impl Fields {
    /// Fields of `parsed`, whose slices point into a buffer starting at `base` that holds the
    /// same bytes as `raw` at the same positions.
    pub(super) fn new(raw: Bytes, base: *const u8, parsed: &[httparse::Header<'_>]) -> Self {
        let fields = parsed
            .iter()
            .map(|h| Field {
                name: offsets(base, h.name.as_bytes()),
                value: offsets(base, h.value),
            })
            .collect();
        Self { raw, fields }
    }

    /// Every field as `(name, value)`, in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.raw[f.name.clone()], &self.raw[f.value.clone()]))
    }

    /// How many fields there are.
    pub(crate) fn count(&self) -> usize {
        self.fields.len()
    }

    /// Every field as `(name, value)` with the value sharing the head's bytes, so that a
    /// `HeaderMap` can be built from it without copying (or allocating for) each value.
    pub(crate) fn iter_shared(&self) -> impl Iterator<Item = (&[u8], Bytes)> + '_ {
        self.fields
            .iter()
            .map(|f| (&self.raw[f.name.clone()], self.raw.slice(f.value.clone())))
    }

    pub(super) fn slice(&self, r: &Range<usize>) -> &[u8] {
        &self.raw[r.clone()]
    }

    /// Every field as offsets, for a pass that looks at name lengths before bytes.
    pub(super) fn offsets(&self) -> impl Iterator<Item = &Field> + '_ {
        self.fields.iter()
    }

    /// The value of field `i` as text, or `""`.
    fn value_str(&self, i: usize) -> &str {
        self.fields
            .get(i)
            .and_then(|f| std::str::from_utf8(self.slice(&f.value)).ok())
            .unwrap_or("")
    }
}

impl HeaderSource for Fields {
    /// Lengths first: most fields are told apart without slicing the head (a bounds check
    /// per field and name) or comparing bytes. This scan runs several times per request.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let name = name.as_bytes();
        self.fields
            .iter()
            .filter(move |f| {
                f.name.len() == name.len() && self.slice(&f.name).eq_ignore_ascii_case(name)
            })
            .map(|f| self.slice(&f.value))
    }
}

/// A parsed, validated request head.
#[derive(Debug)]
pub(crate) struct RequestHead {
    pub method: Method,
    target: Range<usize>,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor: u8,
    pub fields: Fields,
    pub framing: Framing,
    /// The client wants the connection kept open after this exchange.
    pub keep_alive: bool,
    /// `Connection: upgrade` with `Upgrade` on HTTP/1.1.
    pub upgrade: bool,
    /// The index of the (only) `Host` field.
    host: Option<usize>,
    /// `Connection` names fields to drop (see [`Summary::lists_fields`]).
    lists_fields: bool,
}

impl RequestHead {
    /// The tokens of `Connection`, when it lists more than the fixed hop-by-hop names:
    /// most heads list nothing else, and then are not scanned for it.
    pub(crate) fn listed(&self) -> Listed<'_> {
        listed_if(self.lists_fields, &self.fields)
    }

    /// The request target as sent (origin form `/path?query`, or absolute form).
    pub(crate) fn target(&self) -> &str {
        std::str::from_utf8(self.fields.slice(&self.target)).unwrap_or("/")
    }

    /// Path and query: the target with an absolute form's scheme and authority removed.
    pub(crate) fn path_and_query(&self) -> &str {
        let t = self.target();
        match absolute_authority(t) {
            Some((_, "")) => "/",
            Some((_, rest)) => rest,
            None => t,
        }
    }

    /// Path without the query.
    pub(crate) fn path(&self) -> &str {
        let pq = self.path_and_query();
        pq.split_once('?').map_or(pq, |(p, _)| p)
    }

    /// `Host`, or the authority of an absolute-form target, or `""`.
    pub(crate) fn host(&self) -> &str {
        if let Some((authority, _)) = absolute_authority(self.target()) {
            return authority;
        }
        self.host.map_or("", |i| self.fields.value_str(i))
    }
}

/// `http://a.com/x` → `("a.com", "/x")`.
fn absolute_authority(target: &str) -> Option<(&str, &str)> {
    let rest = target
        .strip_prefix("http://")
        .or_else(|| target.strip_prefix("https://"))?;
    Some(match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, ""),
    })
}

/// Parses and validates a request head at the start of `buf` in one pass: `Ok(None)` while
/// incomplete; once complete the head is split off `buf` (which keeps what follows: a body
/// or a pipelined request). Refused heads are errors, as soon as they can be told apart.
pub(crate) fn parse_request(buf: &mut BytesMut) -> Result<Option<RequestHead>, HeadError> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) if len > MAX_REQUEST_HEAD => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
            return Err(HeadError::TooLarge)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
        Err(httparse::Error::Version) => {
            return Err(HeadError::Malformed("unsupported HTTP version"))
        }
        Err(_) => return Err(HeadError::Malformed("malformed request head")),
    };
    let (Some(method), Some(path), Some(minor)) = (req.method, req.path, req.version) else {
        return Err(HeadError::Malformed("malformed request line"));
    };
    if path.len() > MAX_URI_LEN {
        return Err(HeadError::UriTooLong);
    }
    let method =
        Method::from_bytes(method.as_bytes()).map_err(|_| HeadError::Malformed("bad method"))?;
    if method == Method::CONNECT {
        return Err(HeadError::MethodNotAllowed);
    }
    if !path.starts_with('/') && absolute_authority(path).is_none() && path != "*" {
        return Err(HeadError::Malformed("bad request target"));
    }
    let base = buf.as_ptr();
    let target = offsets(base, path.as_bytes());
    // Offsets are taken before the split; `split_to` keeps the bytes at the same positions.
    let parsed = Fields::new(Bytes::new(), base, req.headers).fields;
    let fields = Fields {
        raw: buf.split_to(len).freeze(),
        fields: parsed,
    };
    let s = Summary::of(&fields);
    if s.hosts > 1 || (minor == 1 && s.hosts == 0) {
        return Err(HeadError::Malformed("missing or repeated Host"));
    }
    let framing = request_framing(&s, minor)?;
    let keep_alive = if minor == 1 {
        !s.close
    } else {
        !s.close && s.keep_alive
    };
    let upgrade = minor == 1 && s.upgrade_field && s.connection_upgrade;
    Ok(Some(RequestHead {
        method,
        target,
        minor,
        fields,
        framing,
        keep_alive,
        upgrade,
        host: s.host,
        lists_fields: s.lists_fields,
    }))
}

/// Request framing, refusing every shape two parsers could read differently:
/// `Transfer-Encoding` with `Content-Length`, on HTTP/1.0, or without `chunked` last;
/// repeated or listed `Content-Length`s that disagree or are not plain digits.
fn request_framing(s: &Summary, minor: u8) -> Result<Framing, HeadError> {
    let te = s.transfer_coding();
    let cl = s.content_length.map_err(HeadError::Malformed)?;
    match (te, cl) {
        (Some(_), Some(_)) => Err(HeadError::Malformed(
            "Content-Length with Transfer-Encoding",
        )),
        (Some(_), None) if minor == 0 => Err(HeadError::Malformed("Transfer-Encoding on HTTP/1.0")),
        (Some(true), None) => Ok(Framing::Chunked),
        (Some(false), None) => Err(HeadError::Malformed(
            "Transfer-Encoding without final chunked",
        )),
        (None, Some(0)) | (None, None) => Ok(Framing::Empty),
        (None, Some(n)) => Ok(Framing::Length(n)),
    }
}

/// A parsed backend response head.
#[derive(Debug)]
pub(crate) struct ResponseHead {
    pub status: u16,
    reason: Range<usize>,
    pub fields: Fields,
    pub framing: Framing,
    /// The backend connection can carry another request after this response's body.
    pub reusable: bool,
    /// `Connection` names fields to drop (see [`Summary::lists_fields`]).
    lists_fields: bool,
}

/// `Connection`'s tokens when `lists_fields`, else none.
fn listed_if(lists_fields: bool, fields: &Fields) -> Listed<'_> {
    if lists_fields {
        listed_by_connection(fields)
    } else {
        Listed::new()
    }
}

impl ResponseHead {
    /// As [`RequestHead::listed`].
    pub(crate) fn listed(&self) -> Listed<'_> {
        listed_if(self.lists_fields, &self.fields)
    }

    /// The reason phrase as the backend sent it.
    pub(crate) fn reason(&self) -> &[u8] {
        self.fields.slice(&self.reason)
    }
}

/// Parses a backend response head at the start of `buf` (`Ok(None)` while incomplete).
/// `request` is the method it answers, which decides whether a body follows.
pub(crate) fn parse_response(
    buf: &mut BytesMut,
    request: &Method,
) -> Result<Option<ResponseHead>, &'static str> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_REQUEST_HEADERS];
    let mut resp = httparse::Response::new(&mut headers);
    let len = match httparse::ParserConfig::default()
        .allow_spaces_after_header_name_in_responses(true)
        .parse_response(&mut resp, buf)
    {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => {
            return Err("response head too large")
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err("malformed response head"),
    };
    let (Some(status), Some(minor)) = (resp.code, resp.version) else {
        return Err("malformed status line");
    };
    let base = buf.as_ptr();
    let reason = resp.reason.map_or(0..0, |r| offsets(base, r.as_bytes()));
    // Offsets are taken before the split; `split_to` keeps the bytes at the same positions.
    let parsed = Fields::new(Bytes::new(), base, resp.headers).fields;
    let raw = buf.split_to(len).freeze();
    let fields = Fields {
        raw,
        fields: parsed,
    };
    let no_body = *request == Method::HEAD || matches!(status, 100..=199 | 204 | 304);
    let s = Summary::of(&fields);
    let te = s.transfer_coding();
    let cl = s
        .content_length
        .map_err(|_| "bad Content-Length from backend")?;
    let framing = match (no_body, te, cl) {
        (true, _, _) => Framing::Empty,
        (false, Some(true), _) => Framing::Chunked,
        (false, Some(false), _) => Framing::Close,
        (false, None, Some(n)) => Framing::Length(n),
        (false, None, None) => Framing::Close,
    };
    let reusable = framing != Framing::Close
        && !(te.is_some() && cl.is_some())
        && if minor == 1 { !s.close } else { s.keep_alive };
    Ok(Some(ResponseHead {
        status,
        reason,
        fields,
        framing,
        reusable,
        lists_fields: s.lists_fields,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(s: &str) -> Result<RequestHead, HeadError> {
        parse_request(&mut BytesMut::from(s)).map(|h| h.expect("complete"))
    }

    fn complete(s: &[u8]) -> Result<bool, HeadError> {
        parse_request(&mut BytesMut::from(s)).map(|h| h.is_some())
    }

    #[test]
    fn plain_get() {
        let r = req("GET /a/b?x=1 HTTP/1.1\r\nHost: Ex.com:80\r\nX-A: 1\r\n\r\n").unwrap();
        assert_eq!(r.method, Method::GET);
        assert_eq!(r.path(), "/a/b");
        assert_eq!(r.path_and_query(), "/a/b?x=1");
        assert_eq!(r.host(), "Ex.com:80");
        assert_eq!(r.framing, Framing::Empty);
        assert!(r.keep_alive && !r.upgrade);
        assert_eq!(r.fields.iter().count(), 2);
    }

    #[test]
    fn absolute_form_and_http10() {
        let r = req("GET http://h.com/p?q HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").unwrap();
        assert_eq!(r.host(), "h.com");
        assert_eq!(r.path_and_query(), "/p?q");
        assert!(r.keep_alive);
        let r = req("GET / HTTP/1.0\r\n\r\n").unwrap();
        assert!(!r.keep_alive);
    }

    #[test]
    fn partial_and_limits() {
        assert_eq!(complete(b"GET / HTTP/1.1\r\nHost: a\r\n"), Ok(false));
        let big = format!("GET / HTTP/1.1\r\nX: {}\r\n", "a".repeat(MAX_REQUEST_HEAD));
        assert_eq!(complete(big.as_bytes()), Err(HeadError::TooLarge));
        let many: String = (0..150).map(|i| format!("X-{i}: v\r\n")).collect();
        let many = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(complete(many.as_bytes()), Err(HeadError::TooLarge));
        let long = format!(
            "GET /{} HTTP/1.1\r\nHost: a\r\n\r\n",
            "u".repeat(MAX_URI_LEN)
        );
        assert_eq!(req(&long).unwrap_err(), HeadError::UriTooLong);
    }

    #[test]
    fn smuggling_shapes_refused() {
        for bad in [
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\nContent-Length: 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 4, 5\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x4\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: xchunked\r\n\r\n",
            "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
            "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
            "GET / HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(req(bad), Err(HeadError::Malformed(_))),
                "accepted: {bad:?}"
            );
        }
        assert!(complete(b"GET / HTTP/1.1\r\nHost : a\r\n\r\n").is_err());
        assert!(complete(b"GET / HTTP/1.1\r\nX: a\r\n b\r\n\r\n").is_err());
        assert_eq!(
            req("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n").unwrap_err(),
            HeadError::MethodNotAllowed
        );
    }

    #[test]
    fn request_framings() {
        let r = req("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5, 5\r\n\r\n").unwrap();
        assert_eq!(r.framing, Framing::Length(5));
        let r =
            req("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, Chunked\r\n\r\n").unwrap();
        assert_eq!(r.framing, Framing::Chunked);
        let r =
            req("GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
                .unwrap();
        assert!(r.upgrade);
    }

    fn resp(s: &str, m: Method) -> ResponseHead {
        let mut b = bytes::BytesMut::from(s);
        parse_response(&mut b, &m).unwrap().unwrap()
    }

    #[test]
    fn response_framings() {
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", Method::GET);
        assert_eq!(
            (r.status, r.framing, r.reusable),
            (200, Framing::Length(3), true)
        );
        assert_eq!(r.reason(), b"OK");
        let r = resp("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n", Method::HEAD);
        assert_eq!(r.framing, Framing::Empty);
        let r = resp(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n",
            Method::GET,
        );
        assert_eq!(r.framing, Framing::Chunked);
        let r = resp("HTTP/1.1 200 OK\r\n\r\n", Method::GET);
        assert_eq!((r.framing, r.reusable), (Framing::Close, false));
        let r = resp("HTTP/1.1 204 No Content\r\n\r\n", Method::GET);
        assert_eq!((r.framing, r.reusable), (Framing::Empty, true));
        let r = resp(
            "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
            Method::GET,
        );
        assert!(!r.reusable);
        let r = resp("HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\n", Method::GET);
        assert!(!r.reusable);
        let mut b = bytes::BytesMut::from("HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nXYZ");
        let r = parse_response(&mut b, &Method::GET).unwrap().unwrap();
        assert_eq!(&b[..], b"XYZ");
        assert_eq!(r.fields.first_str("content-length"), "1");
    }
}
