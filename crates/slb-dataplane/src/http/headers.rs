//! Request and response header rewriting: hop-by-hop removal and forwarded headers.

use std::net::{IpAddr, SocketAddr};

use http::header::{
    HeaderMap, HeaderName, HeaderValue, CONNECTION, TE, TRAILER, TRANSFER_ENCODING, UPGRADE,
};

use crate::spec::ForwardedHeaders;

/// `X-Forwarded-For`.
pub(crate) const X_FORWARDED_FOR: &str = "x-forwarded-for";

/// Whether the request asks for a protocol upgrade (`Connection: upgrade` and `Upgrade`).
pub(crate) fn is_upgrade(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
}

/// Removes hop-by-hop headers: `Connection` and every header it names, `Keep-Alive`,
/// `Proxy-Connection`, `TE`, `Trailer`, `Transfer-Encoding` and `Upgrade`. With
/// `keep_upgrade`, `Connection: upgrade` and `Upgrade` are kept for the upgrade handshake.
pub(crate) fn remove_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = headers
        .get_all(CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|t| HeaderName::from_bytes(t.trim().as_bytes()).ok())
        .filter(|n| !(keep_upgrade && n == UPGRADE))
        .collect();
    for n in listed {
        headers.remove(n);
    }
    headers.remove(CONNECTION);
    headers.remove("keep-alive");
    headers.remove("proxy-connection");
    headers.remove(TE);
    headers.remove(TRAILER);
    headers.remove(TRANSFER_ENCODING);
    if keep_upgrade {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

/// Appends the client IP to `X-Forwarded-For` (all incoming values joined, so the rightmost
/// entry is the peer) and adds the optional forwarded headers.
pub(crate) fn add_forwarded(
    headers: &mut HeaderMap,
    flags: ForwardedHeaders,
    client: SocketAddr,
    listener: SocketAddr,
    load_balancer_id: &str,
    listener_port: u16,
) {
    let ip = client.ip().to_canonical();
    let prior: Vec<String> = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .collect();
    let mut xff = prior.join(", ");
    if !xff.is_empty() {
        xff.push_str(", ");
    }
    xff.push_str(&ip.to_string());
    if let Ok(v) = HeaderValue::from_str(&xff) {
        headers.insert(X_FORWARDED_FOR, v);
    }
    if flags.proto {
        headers.insert("x-forwarded-proto", HeaderValue::from_static("http"));
    }
    if flags.slb_ip {
        let ip: IpAddr = listener.ip().to_canonical();
        if let Ok(v) = HeaderValue::from_str(&ip.to_string()) {
            headers.insert("slb-ip", v);
        }
    }
    if flags.slb_id {
        if let Ok(v) = HeaderValue::from_str(load_balancer_id) {
            headers.insert("slb-id", v);
        }
    }
    if flags.port {
        headers.insert("x-forwarded-port", HeaderValue::from(listener_port));
    }
    if flags.client_src_port {
        headers.insert(
            "x-forwarded-client-srcport",
            HeaderValue::from(client.port()),
        );
    }
}

/// Values of cookie `name` in the request's `Cookie` headers (first one wins).
pub(crate) fn request_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
}

/// The value the response sets for cookie `name` (`Set-Cookie: name=value; ...`).
pub(crate) fn response_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next()?.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim())
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hop_by_hop_removed_and_listed_ones_too() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("keep-alive, x-secret"));
        h.insert("x-secret", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(TE, HeaderValue::from_static("trailers"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        h.insert("x-keep", HeaderValue::from_static("1"));
        assert!(!is_upgrade(&h));
        remove_hop_by_hop(&mut h, false);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-keep"));
    }

    #[test]
    fn upgrade_kept_for_upgrades() {
        let mut h = HeaderMap::new();
        h.insert(CONNECTION, HeaderValue::from_static("Upgrade"));
        h.insert(UPGRADE, HeaderValue::from_static("websocket"));
        assert!(is_upgrade(&h));
        remove_hop_by_hop(&mut h, true);
        assert_eq!(h[UPGRADE], "websocket");
        assert_eq!(h[CONNECTION], "upgrade");
    }

    #[test]
    fn xff_appended_rightmost() {
        let mut h = HeaderMap::new();
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("1.1.1.1"));
        h.append(X_FORWARDED_FOR, HeaderValue::from_static("2.2.2.2"));
        let flags = ForwardedHeaders {
            proto: true,
            slb_ip: true,
            slb_id: true,
            port: true,
            client_src_port: true,
        };
        add_forwarded(
            &mut h,
            flags,
            "9.9.9.9:1000".parse().unwrap(),
            "10.0.0.1:80".parse().unwrap(),
            "lb-1",
            80,
        );
        assert_eq!(h[X_FORWARDED_FOR], "1.1.1.1, 2.2.2.2, 9.9.9.9");
        assert_eq!(h["slb-id"], "lb-1");
        assert_eq!(h["slb-ip"], "10.0.0.1");
        assert_eq!(h["x-forwarded-port"], "80");
        assert_eq!(h["x-forwarded-proto"], "http");
        assert_eq!(h["x-forwarded-client-srcport"], "1000");
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
