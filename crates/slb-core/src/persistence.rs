//! Source-IP session persistence (Alibaba `PersistenceTimeout`, seconds, 0 = off).
//!
//! Remembers which backend each client IP was last sent to, so later connections from the
//! same client within the timeout go to the same backend regardless of the scheduler.
//! The caller looks a client up before scheduling, uses the remembered backend if it is
//! still eligible, and calls [`PersistenceTable::record`] for every connection it routes,
//! which (re)starts the timeout: an entry expires `timeout` after the client's last
//! connection, as in LVS persistence.
//!
//! **Bound.** The table holds at most `max_entries` clients (default
//! [`DEFAULT_MAX_ENTRIES`], roughly 100 bytes each). When a new client arrives at a full
//! table, expired entries are purged first; if none had expired, the entry closest to
//! expiry (the least recently recorded client) is evicted. Both are O(log n), because an
//! expiry-ordered index is kept beside the map.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Default bound on remembered clients.
pub const DEFAULT_MAX_ENTRIES: usize = 1_000_000;

#[derive(Debug)]
struct Entry {
    backend: Arc<str>,
    expires: Instant,
    /// Tie-breaker so two entries with the same `expires` have distinct index keys.
    seq: u64,
}

/// Client IP → backend key table with expiry. See the module docs.
#[derive(Debug)]
pub struct PersistenceTable {
    timeout: Duration,
    max_entries: usize,
    entries: HashMap<IpAddr, Entry>,
    /// Expiry order: `(expires, seq)` → client. Same keys as `entries`.
    by_expiry: BTreeMap<(Instant, u64), IpAddr>,
    /// Backend keys shared by entries, so a million clients on ten backends hold ten
    /// strings. Unused keys are dropped by [`PersistenceTable::purge_expired`].
    interned: HashSet<Arc<str>>,
    next_seq: u64,
}

impl PersistenceTable {
    /// Creates a table with `timeout` (Alibaba allows 0..=3600 s; zero disables
    /// persistence: nothing is recorded) and [`DEFAULT_MAX_ENTRIES`].
    pub fn new(timeout: Duration) -> Self {
        Self::with_max_entries(timeout, DEFAULT_MAX_ENTRIES)
    }

    /// Like [`PersistenceTable::new`] with an explicit bound (a 0 bound is treated as 1).
    pub fn with_max_entries(timeout: Duration, max_entries: usize) -> Self {
        Self {
            timeout,
            max_entries: max_entries.max(1),
            entries: HashMap::new(),
            by_expiry: BTreeMap::new(),
            interned: HashSet::new(),
            next_seq: 0,
        }
    }

    /// Whether persistence is on (timeout > 0).
    pub fn is_enabled(&self) -> bool {
        !self.timeout.is_zero()
    }

    /// The configured timeout.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Number of stored entries, including expired ones not yet purged.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether no entries are stored.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The backend key remembered for `client`, unless the entry has expired at `now`.
    pub fn lookup(&self, client: IpAddr, now: Instant) -> Option<&str> {
        self.entries
            .get(&client.to_canonical())
            .filter(|e| now < e.expires)
            .map(|e| &*e.backend)
    }

    /// Remembers that `client` was sent to `backend_key` at `now`; the entry expires at
    /// `now + timeout`. No-op when persistence is off.
    pub fn record(&mut self, client: IpAddr, backend_key: &str, now: Instant) {
        if !self.is_enabled() {
            return;
        }
        let client = client.to_canonical();
        // An unrepresentable expiry (absurd timeout) stores an already-expired entry.
        let expires = now.checked_add(self.timeout).unwrap_or(now);
        let seq = self.next_seq;
        self.next_seq += 1;
        let backend = self.intern(backend_key);
        if let Some(old) = self.entries.get_mut(&client) {
            self.by_expiry.remove(&(old.expires, old.seq));
            *old = Entry {
                backend,
                expires,
                seq,
            };
        } else {
            if self.entries.len() >= self.max_entries {
                self.purge_expired(now);
            }
            if self.entries.len() >= self.max_entries {
                if let Some((_, oldest)) = self.by_expiry.pop_first() {
                    self.entries.remove(&oldest);
                }
            }
            self.entries.insert(
                client,
                Entry {
                    backend,
                    expires,
                    seq,
                },
            );
        }
        self.by_expiry.insert((expires, seq), client);
    }

    /// Forgets `client`; returns whether an entry existed.
    pub fn remove(&mut self, client: IpAddr) -> bool {
        match self.entries.remove(&client.to_canonical()) {
            Some(e) => {
                self.by_expiry.remove(&(e.expires, e.seq));
                true
            }
            None => false,
        }
    }

    /// Forgets every client pinned to `backend_key` (e.g. the backend was removed);
    /// returns how many. O(n).
    pub fn remove_backend(&mut self, backend_key: &str) -> usize {
        let before = self.entries.len();
        let by_expiry = &mut self.by_expiry;
        self.entries.retain(|_, e| {
            let keep = &*e.backend != backend_key;
            if !keep {
                by_expiry.remove(&(e.expires, e.seq));
            }
            keep
        });
        self.interned.remove(backend_key);
        before - self.entries.len()
    }

    /// Drops entries expired at `now` and returns how many. Call periodically (e.g. every
    /// few seconds) to bound memory; lookups ignore expired entries regardless.
    pub fn purge_expired(&mut self, now: Instant) -> usize {
        let mut purged = 0;
        while let Some(entry) = self.by_expiry.first_entry() {
            if entry.key().0 > now {
                break;
            }
            let client = entry.remove();
            self.entries.remove(&client);
            purged += 1;
        }
        if purged > 0 {
            self.interned.retain(|k| Arc::strong_count(k) > 1);
        }
        purged
    }

    fn intern(&mut self, key: &str) -> Arc<str> {
        if let Some(k) = self.interned.get(key) {
            return k.clone();
        }
        let k: Arc<str> = Arc::from(key);
        self.interned.insert(k.clone());
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T: Duration = Duration::from_secs(60);

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn remembers_until_timeout() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(T);
        p.record(ip("192.0.2.1"), "10.0.0.1:80", t0);
        assert_eq!(p.lookup(ip("192.0.2.1"), t0), Some("10.0.0.1:80"));
        assert_eq!(
            p.lookup(ip("192.0.2.1"), t0 + T - Duration::from_millis(1)),
            Some("10.0.0.1:80")
        );
        assert_eq!(p.lookup(ip("192.0.2.1"), t0 + T), None);
        assert_eq!(p.lookup(ip("192.0.2.2"), t0), None);
    }

    #[test]
    fn record_refreshes_and_rebinds() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(T);
        p.record(ip("192.0.2.1"), "a", t0);
        p.record(ip("192.0.2.1"), "b", t0 + Duration::from_secs(50));
        assert_eq!(p.len(), 1);
        assert_eq!(
            p.lookup(ip("192.0.2.1"), t0 + Duration::from_secs(100)),
            Some("b")
        );
        assert_eq!(p.purge_expired(t0 + Duration::from_secs(100)), 0);
        assert_eq!(p.purge_expired(t0 + Duration::from_secs(110)), 1);
        assert!(p.is_empty());
        assert!(p.interned.is_empty());
    }

    #[test]
    fn zero_timeout_disables() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(Duration::ZERO);
        assert!(!p.is_enabled());
        p.record(ip("192.0.2.1"), "a", t0);
        assert_eq!(p.lookup(ip("192.0.2.1"), t0), None);
        assert!(p.is_empty());
    }

    #[test]
    fn purge_removes_only_expired() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(T);
        for i in 0..10u8 {
            p.record(
                IpAddr::from([192, 0, 2, i]),
                "a",
                t0 + Duration::from_secs(u64::from(i)),
            );
        }
        assert_eq!(p.purge_expired(t0 + T + Duration::from_secs(4)), 5);
        assert_eq!(p.len(), 5);
        assert_eq!(
            p.lookup(
                IpAddr::from([192, 0, 2, 5]),
                t0 + T + Duration::from_secs(4)
            ),
            Some("a")
        );
    }

    #[test]
    fn full_table_evicts_expired_first_then_oldest() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::with_max_entries(T, 3);
        p.record(ip("192.0.2.1"), "a", t0);
        p.record(ip("192.0.2.2"), "a", t0 + Duration::from_secs(10));
        p.record(ip("192.0.2.3"), "a", t0 + Duration::from_secs(20));
        // .1 has expired at t0+65: it goes, the others stay.
        p.record(ip("192.0.2.4"), "b", t0 + Duration::from_secs(65));
        assert_eq!(p.len(), 3);
        assert_eq!(p.lookup(ip("192.0.2.1"), t0), None);
        // Nothing expired at t0+66: the oldest live entry (.2) is evicted.
        p.record(ip("192.0.2.5"), "b", t0 + Duration::from_secs(66));
        assert_eq!(p.len(), 3);
        let now = t0 + Duration::from_secs(66);
        assert_eq!(p.lookup(ip("192.0.2.2"), now), None);
        assert_eq!(p.lookup(ip("192.0.2.3"), now), Some("a"));
        assert_eq!(p.lookup(ip("192.0.2.5"), now), Some("b"));
        assert_eq!(p.by_expiry.len(), p.entries.len());
    }

    #[test]
    fn remove_and_remove_backend() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(T);
        p.record(ip("192.0.2.1"), "a", t0);
        p.record(ip("192.0.2.2"), "b", t0);
        p.record(ip("192.0.2.3"), "a", t0);
        assert_eq!(p.remove_backend("a"), 2);
        assert_eq!(p.lookup(ip("192.0.2.2"), t0), Some("b"));
        assert!(p.remove(ip("192.0.2.2")));
        assert!(!p.remove(ip("192.0.2.2")));
        assert!(p.is_empty() && p.by_expiry.is_empty());
    }

    #[test]
    fn ipv4_mapped_is_same_client() {
        let t0 = Instant::now();
        let mut p = PersistenceTable::new(T);
        p.record(ip("::ffff:192.0.2.1"), "a", t0);
        assert_eq!(p.lookup(ip("192.0.2.1"), t0), Some("a"));
    }
}
