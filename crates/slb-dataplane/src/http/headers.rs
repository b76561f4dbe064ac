//! Header decisions shared by both front ends (the native HTTP/1.1 engine and the HTTP/2
//! server): hop-by-hop names, forwarded headers, cookies and upgrades. Each is written once
//! against [`HeaderSource`], so the raw-head engine and `HeaderMap` cannot drift apart.

use std::net::SocketAddr;

use http::header::{HeaderMap, HeaderName, HeaderValue};
use smallvec::SmallVec;

use super::addr_text::AddrText;
use crate::spec::ForwardedHeaders;

/// `X-Forwarded-For`.
pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Header values by (lowercase) name, in order.
pub(crate) trait HeaderSource {
    /// Every value of header `name`, which must be lowercase.
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a;

    /// The first value as text, or `""`.
    fn first_str<'a>(&'a self, name: &'a str) -> &'a str {
        self.values(name)
            .next()
            .and_then(|v| std::str::from_utf8(v).ok())
            .unwrap_or("")
    }
}

/// `X-Forwarded-For` as a built name: every HTTP/2 request looks it up, and a lookup by
/// text parses the name first.
static X_FORWARDED_FOR_NAME: HeaderName = HeaderName::from_static(X_FORWARDED_FOR);

impl HeaderSource for HeaderMap {
    fn values<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        let all = if name == X_FORWARDED_FOR {
            self.get_all(&X_FORWARDED_FOR_NAME)
        } else {
            self.get_all(name)
        };
        all.iter().map(HeaderValue::as_bytes)
    }
}

/// The comma-separated tokens of every value of `name`, trimmed, empty ones skipped.
pub(crate) fn tokens<'a>(
    src: &'a impl HeaderSource,
    name: &'a str,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    src.values(name).flat_map(value_tokens)
}

/// The comma-separated tokens of one value, trimmed, empty ones skipped.
pub(crate) fn value_tokens(value: &[u8]) -> impl Iterator<Item = &[u8]> {
    value
        .split(|&b| b == b',')
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Whether `name` lists `token` (case-insensitive), as in `Connection: keep-alive, Upgrade`.
pub(crate) fn has_token(src: &impl HeaderSource, name: &str, token: &str) -> bool {
    tokens(src, name).any(|t| t.eq_ignore_ascii_case(token.as_bytes()))
}

/// Whether the request asks for a protocol upgrade (`Connection: upgrade` and `Upgrade`):
/// the scan that the engine's one-pass head summary (`h1/summary.rs`) must agree with.
#[cfg(test)]
pub(crate) fn is_upgrade(src: &impl HeaderSource) -> bool {
    src.values("upgrade").next().is_some() && has_token(src, "connection", "upgrade")
}

/// Hop-by-hop headers that never cross the balancer (RFC 9110 §7.6.1), besides those that
/// `Connection` names. `Transfer-Encoding` is framing: each engine decides it itself.
pub(crate) const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "upgrade",
];

/// A set of name lengths (bit `n` for length `n`, names shorter than 64 bytes): a field
/// whose name has none of them is told apart from a list of names without comparing bytes.
/// Most fields are, and these checks run for every field of every proxied head.
const fn length_mask(names: &[&str]) -> u64 {
    let mut mask = 0u64;
    let mut i = 0;
    while i < names.len() {
        assert!(names[i].len() < 64);
        mask |= 1 << names[i].len();
        i += 1;
    }
    mask
}

/// Whether `name` has one of the lengths in `mask` (see [`length_mask`]).
fn may_be_one_of(mask: u64, name: &[u8]) -> bool {
    name.len() < 64 && mask & (1 << name.len()) != 0
}

const HOP_BY_HOP_LENGTHS: u64 = length_mask(&HOP_BY_HOP);

/// The headers the balancer may set itself, replacing the client's (see [`Origin::owns`]).
const OWNED: [&str; 6] = [
    X_FORWARDED_FOR,
    "x-forwarded-proto",
    "slb-ip",
    "slb-id",
    "x-forwarded-port",
    "x-forwarded-client-srcport",
];

const OWNED_LENGTHS: u64 = length_mask(&OWNED);

/// The field names a `Connection` header lists (hop-by-hop for this message), inline for
/// up to four: collected once per head without an allocation.
pub(crate) type Listed<'a> = SmallVec<[&'a [u8]; 4]>;

/// The names `src`'s `Connection` headers list, for [`is_hop_by_hop`].
pub(crate) fn listed_by_connection(src: &impl HeaderSource) -> Listed<'_> {
    tokens(src, "connection").collect()
}

/// Fields that may not travel as trailers (framing, routing, connection control, content
/// processing: RFC 9110 section 6.5.1).
const NOT_TRAILERS: &[&str] = &[
    "connection",
    "content-encoding",
    "content-length",
    "content-range",
    "content-type",
    "host",
    "keep-alive",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// Whether a field named `name` (any case) may be passed on as a trailer; the others are
/// dropped from trailer sections both ways.
pub(crate) fn allowed_in_trailers(name: &[u8]) -> bool {
    !NOT_TRAILERS
        .iter()
        .any(|n| name.eq_ignore_ascii_case(n.as_bytes()))
}

/// Whether a header named `name` (any case) is hop-by-hop for this message: a fixed one
/// (except `Upgrade` on an upgrade), or one of `listed`, the tokens of the message's
/// `Connection` header (collected once per message, not once per field).
pub(crate) fn is_hop_by_hop(listed: &[&[u8]], name: &[u8], keep_upgrade: bool) -> bool {
    if keep_upgrade && name.eq_ignore_ascii_case(b"upgrade") {
        return false;
    }
    let fixed = may_be_one_of(HOP_BY_HOP_LENGTHS, name)
        && HOP_BY_HOP
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()));
    fixed || listed.iter().any(|t| t.eq_ignore_ascii_case(name))
}

/// Where a request came in, for the forwarded headers.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    /// The client connection is TLS (`X-Forwarded-Proto: https`).
    pub https: bool,
    pub flags: ForwardedHeaders,
    pub client: SocketAddr,
    pub listener: SocketAddr,
    pub load_balancer_id: &'a str,
    pub listener_port: u16,
}

impl Origin<'_> {
    /// Whether the balancer sets header `name` (any case) itself, replacing the client's.
    pub(crate) fn owns(&self, name: &[u8]) -> bool {
        if !may_be_one_of(OWNED_LENGTHS, name) {
            return false;
        }
        let f = self.flags;
        // Whether each of `OWNED` is set, in its order.
        let on = [true, f.proto, f.slb_ip, f.slb_id, f.port, f.client_src_port];
        OWNED
            .iter()
            .zip(on)
            .any(|(n, on)| on && name.eq_ignore_ascii_case(n.as_bytes()))
    }

    /// Calls `emit` with every forwarded header to set: `X-Forwarded-For` with the client's
    /// address appended to all values the client sent (so the rightmost entry is the peer),
    /// then the optional ones. Values are bytes, built on the stack: this runs for every
    /// proxied request.
    pub(crate) fn fields(
        &self,
        src: &impl HeaderSource,
        mut emit: impl FnMut(&'static str, &[u8]),
    ) {
        let client = AddrText::ip(self.client.ip().to_canonical());
        let mut chain: SmallVec<[u8; 64]> = SmallVec::new();
        for v in src.values(X_FORWARDED_FOR) {
            let v = v.trim_ascii();
            if !v.is_empty() && std::str::from_utf8(v).is_ok() {
                chain.extend_from_slice(v);
                chain.extend_from_slice(b", ");
            }
        }
        if chain.is_empty() {
            emit(X_FORWARDED_FOR, client.as_bytes());
        } else {
            chain.extend_from_slice(client.as_bytes());
            emit(X_FORWARDED_FOR, &chain);
        }
        let f = self.flags;
        if f.proto {
            emit(
                "x-forwarded-proto",
                if self.https { b"https" } else { b"http" },
            );
        }
        if f.slb_ip {
            emit(
                "slb-ip",
                AddrText::ip(self.listener.ip().to_canonical()).as_bytes(),
            );
        }
        if f.slb_id {
            emit("slb-id", self.load_balancer_id.as_bytes());
        }
        if f.port {
            emit(
                "x-forwarded-port",
                AddrText::port(self.listener_port).as_bytes(),
            );
        }
        if f.client_src_port {
            emit(
                "x-forwarded-client-srcport",
                AddrText::port(self.client.port()).as_bytes(),
            );
        }
    }
}

/// The value of cookie `name` in the request's `Cookie` headers (first one wins).
pub(crate) fn request_cookie<'a>(src: &'a impl HeaderSource, name: &str) -> Option<&'a str> {
    src.values("cookie")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The value the response sets for cookie `name` (`Set-Cookie: name=value; ...`).
pub(crate) fn response_cookie<'a>(src: &'a impl HeaderSource, name: &str) -> Option<&'a str> {
    src.values("set-cookie")
        .filter_map(|v| std::str::from_utf8(v).ok())
        .filter_map(|v| v.split(';').next()?.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::header::{CONNECTION, TE, UPGRADE};

    fn every_forwarded_header() -> ForwardedHeaders {
        ForwardedHeaders {
            proto: true,
            slb_ip: true,
            slb_id: true,
            port: true,
            client_src_port: true,
        }
    }

    /// A plain-HTTP listener on 10.0.0.1:80 of `lb-1`, and a client at `client`.
    fn origin(flags: ForwardedHeaders, client: &str) -> Origin<'static> {
        Origin {
            https: false,
            flags,
            client: client.parse().unwrap(),
            listener: "10.0.0.1:80".parse().unwrap(),
            load_balancer_id: "lb-1",
            listener_port: 80,
        }
    }

    fn hop(h: &HeaderMap, name: &str, keep_upgrade: bool) -> bool {
        is_hop_by_hop(&listed_by_connection(h), name.as_bytes(), keep_upgrade)
    }

    #[test]
    fn hop_by_hop_fixed_and_listed_ones() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(!is_upgrade(&h));
        for n in [
            "connection",
            "X-Secret",
            "keep-alive",
            "te",
            "upgrade",
            "Trailer",
        ] {
            assert!(hop(&h, n, false), "{n} is hop-by-hop");
        }
        assert!(!hop(&h, "x-keep", false));
    }

    /// The length gate only skips names that cannot match: every listed name, in any case,
    /// still does, and names of the same lengths that are not listed still do not.
    #[test]
    fn the_length_gate_keeps_every_answer() {
        for n in HOP_BY_HOP {
            assert!(is_hop_by_hop(&[], n.to_ascii_uppercase().as_bytes(), false));
        }
        for n in [
            "tx",
            "trailex",
            "connectiox",
            "proxy-connectiox",
            "",
            "x-keep",
        ] {
            assert!(!is_hop_by_hop(&[], n.as_bytes(), false), "{n}");
        }
        let all = every_forwarded_header();
        let origin = |flags| origin(flags, "10.0.0.9:1000");
        for n in OWNED {
            assert!(origin(all).owns(n.to_ascii_uppercase().as_bytes()), "{n}");
        }
        assert!(origin(ForwardedHeaders::default()).owns(b"X-Forwarded-For"));
        assert!(!origin(ForwardedHeaders::default()).owns(b"slb-id"));
        assert!(!origin(all).owns(b"slb-ix") && !origin(all).owns(&[b'a'; 100]));
    }

    #[test]
    fn upgrade_kept_for_upgrades() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
        assert!(!hop(&h, "upgrade", true));
        assert!(hop(&h, "upgrade", false));
    }

    /// A chain longer than the value's inline room spills to the heap intact, and an IPv6
    /// client is appended in its text form.
    #[test]
    fn a_long_xff_chain_is_kept_whole() {
        let chain: Vec<String> = (1..=20).map(|i| format!("10.0.{i}.{i}")).collect();
        let mut h = HeaderMap::new();
        h.append(
            X_FORWARDED_FOR,
            HeaderValue::from_str(&chain.join(", ")).unwrap(),
        );
        let origin = origin(ForwardedHeaders::default(), "[2001:db8::1234:5678]:1000");
        let mut xff = Vec::new();
        origin.fields(&h, |n, v| {
            if n == X_FORWARDED_FOR {
                xff.push(String::from_utf8_lossy(v).into_owned())
            }
        });
        assert_eq!(xff, [format!("{}, 2001:db8::1234:5678", chain.join(", "))]);
        assert!(xff[0].len() > 64, "longer than the inline room");
    }

    #[test]
    fn xff_appended_rightmost() {
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("1.1.1.1"));
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("2.2.2.2"));
        let origin = origin(every_forwarded_header(), "9.9.9.9:1000");
        let mut set = Vec::new();
        origin.fields(&h, |n, v| {
            set.push(format!("{n}: {}", String::from_utf8_lossy(v)))
        });
        assert!(origin.owns(b"SLB-ID") && !origin.owns(b"x-other"));
        assert_eq!(
            set,
            [
                "x-forwarded-for: 1.1.1.1, 2.2.2.2, 9.9.9.9",
                "x-forwarded-proto: http",
                "slb-ip: 10.0.0.1",
                "slb-id: lb-1",
                "x-forwarded-port: 80",
                "x-forwarded-client-srcport: 1000",
            ]
        );
    }

    #[test]
    fn cookies_parsed() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            HeaderValue::from_static("a=1; SERVERID=xyz; b=2"),
        );
        assert_eq!(request_cookie(&h, "SERVERID"), Some("xyz"));
        let mut r = HeaderMap::new();
        r.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("other=1"),
        );
        r.append(
            http::header::SET_COOKIE,
            HeaderValue::from_static("sid=abc; Path=/"),
        );
        assert_eq!(response_cookie(&r, "sid"), Some("abc"));
    }
}
