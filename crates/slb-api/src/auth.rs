//! Who may call the API and replay protection: access keys, the request-time window and
//! the nonce cache. Signature arithmetic lives in [`crate::sign`].

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use chrono::{DateTime, Duration, Utc};

use crate::error::ApiError;

/// Looks up the secret of an access key. Implementations must be cheap: it runs per request.
pub trait CredentialSource: Send + Sync {
    /// The secret for `access_key_id`, or `None` if the key is unknown (answered with
    /// `InvalidAccessKeyId.NotFound`).
    fn secret_for(&self, access_key_id: &str) -> Option<String>;

    /// Whether the key may only read (`Describe*` actions). Unknown keys never get here.
    fn read_only(&self, _access_key_id: &str) -> bool {
        false
    }
}

/// Whether `action` only reads state: what a read-only key may call.
pub fn is_read_action(action: &str) -> bool {
    action.starts_with("Describe")
}

/// Per-key request rate (Alibaba answers `Throttling` when it is exceeded): a token bucket
/// per access key, one second of burst.
pub struct Throttle {
    rate: u64,
    buckets: Mutex<HashMap<String, slb_core::TokenBucket>>,
}

impl Throttle {
    /// `rate` requests per second per key; 0 = unlimited.
    pub fn new(rate: u64) -> Self {
        Self {
            rate,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Counts one request of `access_key_id`; `Throttling` when over its rate.
    pub fn check(&self, access_key_id: &str) -> Result<(), ApiError> {
        if self.rate == 0 {
            return Ok(());
        }
        let now = std::time::Instant::now();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        let b = buckets
            .entry(access_key_id.to_string())
            .or_insert_with(|| slb_core::TokenBucket::new(self.rate, self.rate, now));
        if b.try_take(1, now) {
            Ok(())
        } else {
            Err(ApiError::new(
                400,
                "Throttling",
                "Request was denied due to request throttling.",
            ))
        }
    }
}

/// A fixed set of access keys (the node's own key, or test keys).
#[derive(Debug, Clone, Default)]
pub struct StaticCredentials {
    keys: HashMap<String, String>,
}

impl StaticCredentials {
    /// One key pair.
    pub fn new(access_key_id: impl Into<String>, access_key_secret: impl Into<String>) -> Self {
        Self::default().with(access_key_id, access_key_secret)
    }

    /// Adds another key pair.
    pub fn with(
        mut self,
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
    ) -> Self {
        self.keys
            .insert(access_key_id.into(), access_key_secret.into());
        self
    }
}

impl CredentialSource for StaticCredentials {
    fn secret_for(&self, access_key_id: &str) -> Option<String> {
        self.keys.get(access_key_id).cloned()
    }
}

/// How far a request's `Timestamp` / `x-acs-date` may be from the server clock: 15 minutes,
/// as Alibaba's gateway allows.
pub const DEFAULT_MAX_SKEW: Duration = Duration::minutes(15);

/// Parses an ISO 8601 UTC time (`2026-01-02T03:04:05Z`, fractions allowed, as the SDKs send)
/// and checks it lies within `max_skew` of `now`.
///
/// Errors: `InvalidTimeStamp.Format`, `InvalidTimeStamp.Expired`.
pub fn check_timestamp(
    value: &str,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> Result<DateTime<Utc>, ApiError> {
    let t = DateTime::parse_from_rfc3339(value.trim())
        .map_err(|_| ApiError::timestamp_format())?
        .with_timezone(&Utc);
    if (t - now).abs() > max_skew {
        return Err(ApiError::timestamp_expired());
    }
    Ok(t)
}

/// Remembers `(access key, nonce)` pairs for as long as their timestamps are acceptable, so
/// a captured request cannot be replayed inside the window. Memory is bounded by `capacity`;
/// when it is full of unexpired nonces new requests are refused with `Throttling` rather
/// than forgetting nonces early (which would reopen replays).
#[derive(Debug)]
pub struct NonceCache {
    ttl: Duration,
    capacity: usize,
    inner: Mutex<NonceInner>,
}

#[derive(Debug, Default)]
struct NonceInner {
    /// key → expiry.
    seen: HashMap<(String, String), DateTime<Utc>>,
    /// Insertion order with expiry, for eviction. Expiries are non-decreasing because every
    /// entry gets `now + ttl` with the server clock.
    order: VecDeque<(DateTime<Utc>, (String, String))>,
}

impl NonceCache {
    /// Default capacity: 1,000,000 nonces (roughly 150 MB at worst), i.e. about 550
    /// requests per second sustained over the 30-minute memory of the default TTL.
    pub const DEFAULT_CAPACITY: usize = 1_000_000;

    /// A cache remembering each nonce for `ttl` (use twice the timestamp skew, so a request
    /// dated at the far edge of the window is still remembered until it expires).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        Self {
            ttl,
            capacity: capacity.max(1),
            inner: Mutex::new(NonceInner::default()),
        }
    }

    /// Records the nonce, or fails with `SignatureNonceUsed` if it is still remembered.
    /// Call only after the signature verified, so unauthenticated requests cannot burn nonces.
    pub fn check_and_insert(
        &self,
        access_key_id: &str,
        nonce: &str,
        now: DateTime<Utc>,
    ) -> Result<(), ApiError> {
        let mut inner = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        // Evict everything expired, oldest first.
        while let Some((exp, _)) = inner.order.front() {
            if *exp > now {
                break;
            }
            let (exp, key) = inner.order.pop_front().expect("front exists");
            if inner.seen.get(&key) == Some(&exp) {
                inner.seen.remove(&key);
            }
        }
        let key = (access_key_id.to_string(), nonce.to_string());
        if inner.seen.contains_key(&key) {
            return Err(ApiError::nonce_used());
        }
        if inner.seen.len() >= self.capacity {
            return Err(ApiError::throttling());
        }
        let exp = now + self.ttl;
        inner.seen.insert(key.clone(), exp);
        inner.order.push_back((exp, key));
        Ok(())
    }

    /// Nonces currently remembered.
    pub fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .seen
            .len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Default for NonceCache {
    fn default() -> Self {
        Self::new(DEFAULT_MAX_SKEW * 2, Self::DEFAULT_CAPACITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    #[test]
    fn timestamp_window() {
        let now = t("2026-01-01T12:00:00Z");
        check_timestamp("2026-01-01T12:14:59Z", now, DEFAULT_MAX_SKEW).unwrap();
        check_timestamp("2026-01-01T11:45:00.312Z", now, DEFAULT_MAX_SKEW).unwrap();
        let e = check_timestamp("2026-01-01T11:44:59Z", now, DEFAULT_MAX_SKEW).unwrap_err();
        assert_eq!(e.code, "InvalidTimeStamp.Expired");
        let e = check_timestamp("2026-01-01 12:00", now, DEFAULT_MAX_SKEW).unwrap_err();
        assert_eq!(e.code, "InvalidTimeStamp.Format");
    }

    #[test]
    fn nonces_expire_and_are_bounded() {
        let c = NonceCache::new(Duration::seconds(10), 2);
        let now = t("2026-01-01T12:00:00Z");
        c.check_and_insert("ak", "n1", now).unwrap();
        assert_eq!(
            c.check_and_insert("ak", "n1", now).unwrap_err().code,
            "SignatureNonceUsed"
        );
        // Nonces are per access key.
        c.check_and_insert("other", "n1", now).unwrap();
        assert_eq!(
            c.check_and_insert("ak", "n2", now).unwrap_err().code,
            "Throttling"
        );
        let later = now + Duration::seconds(11);
        c.check_and_insert("ak", "n1", later).unwrap();
        assert_eq!(c.len(), 1);
    }

    #[test]
    fn static_credentials() {
        let c = StaticCredentials::new("a", "s").with("b", "t");
        assert_eq!(c.secret_for("a").as_deref(), Some("s"));
        assert_eq!(c.secret_for("b").as_deref(), Some("t"));
        assert_eq!(c.secret_for("c"), None);
    }
}
