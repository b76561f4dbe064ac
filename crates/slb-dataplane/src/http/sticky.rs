//! Cookie session persistence: signed insert-mode cookies and the server-mode cookie table.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::backend::lock;

/// Name of the cookie the balancer inserts (Alibaba's `SERVERID`).
pub const INSERT_COOKIE_NAME: &str = "SERVERID";

/// Bytes of the HMAC-SHA256 tag kept in an insert cookie (128 bits).
const TAG_LEN: usize = 16;

/// Most server-mode cookie values remembered per listener; the table is cleared when full
/// (a forgotten value is simply scheduled again).
pub const MAX_SERVER_COOKIES: usize = 100_000;

fn mac(key: &[u8; 32], payload: &str) -> Vec<u8> {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC takes any key length");
    m.update(payload.as_bytes());
    m.finalize().into_bytes()[..TAG_LEN].to_vec()
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Cookie value naming `backend_key` until `now + timeout_secs`:
/// `base64url(key|expiry).base64url(tag)`.
pub(crate) fn sign(key: &[u8; 32], backend_key: &str, timeout_secs: u64) -> String {
    let payload = format!("{backend_key}|{}", now_secs().saturating_add(timeout_secs));
    format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(payload.as_bytes()),
        URL_SAFE_NO_PAD.encode(mac(key, &payload))
    )
}

/// The backend key of a valid, unexpired cookie; `None` for anything forged or stale.
pub(crate) fn verify(key: &[u8; 32], value: &str) -> Option<String> {
    let (p, t) = value.split_once('.')?;
    let payload = String::from_utf8(URL_SAFE_NO_PAD.decode(p).ok()?).ok()?;
    let tag = URL_SAFE_NO_PAD.decode(t).ok()?;
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).ok()?;
    m.update(payload.as_bytes());
    m.verify_truncated_left(&tag).ok()?;
    if tag.len() != TAG_LEN {
        return None;
    }
    let (backend, expiry) = payload.rsplit_once('|')?;
    (expiry.parse::<u64>().ok()? >= now_secs()).then(|| backend.to_owned())
}

/// Server mode: the backend's cookie value → the backend key that set it.
#[derive(Default)]
pub(crate) struct ServerCookies(Mutex<HashMap<String, String>>);

impl ServerCookies {
    pub(crate) fn remember(&self, value: &str, backend_key: &str) {
        let mut t = lock(&self.0);
        if t.len() >= MAX_SERVER_COOKIES && !t.contains_key(value) {
            t.clear();
        }
        t.insert(value.to_owned(), backend_key.to_owned());
    }

    pub(crate) fn lookup(&self, value: &str) -> Option<String> {
        lock(&self.0).get(value).cloned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_cookie_roundtrips_and_rejects_forgery() {
        let key = [7u8; 32];
        let v = sign(&key, "127.0.0.1:8080", 60);
        assert_eq!(verify(&key, &v).as_deref(), Some("127.0.0.1:8080"));
        assert_eq!(verify(&[8u8; 32], &v), None, "other node key");
        let forged = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(b"10.0.0.9:22|99999999999"),
            v.split_once('.').unwrap().1
        );
        assert_eq!(verify(&key, &forged), None);
        assert_eq!(verify(&key, "garbage"), None);
        assert_eq!(
            verify(&key, &format!("{}.", v.split_once('.').unwrap().0)),
            None
        );
    }
}
