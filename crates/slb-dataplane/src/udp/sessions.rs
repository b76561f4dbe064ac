//! The session table of a UDP listener: client address → session, bounded.
//!
//! When the table is full, a new client evicts the longest idle of a small sample of
//! sessions (approximate LRU, O(1) per eviction, as Redis does) rather than scanning the
//! whole table on every new client of a flood.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::net::UdpSocket;
use tokio::sync::Notify;

use crate::backend::{lock, ActiveGuard};

/// Sessions looked at to choose one to evict.
const EVICTION_SAMPLE: usize = 8;

/// One client's flow to one backend.
pub(crate) struct Session {
    /// Connected to the backend: sends go there, and only its replies arrive.
    pub socket: UdpSocket,
    /// Milliseconds since the table's epoch at the last datagram either way.
    last_active: AtomicU64,
    ended: AtomicBool,
    wake: Notify,
    /// Counts the session as active on its backend (for `wlc` and the metrics).
    pub guard: ActiveGuard,
    /// Counts the session against its instance's capacity.
    _slot: Option<crate::limits::Slot>,
}

impl Session {
    /// Ends the session: its reply task stops and drops the socket.
    pub fn end(&self) {
        self.ended.store(true, Ordering::Relaxed);
        self.wake.notify_one();
    }

    pub fn is_ended(&self) -> bool {
        self.ended.load(Ordering::Relaxed)
    }

    /// Resolves when [`Session::end`] is called.
    pub async fn ended(&self) {
        while !self.is_ended() {
            self.wake.notified().await;
        }
    }
}

/// What adding a session pushed out of the table. The listener's open-session gauge
/// follows the table through these (and [`Sessions::remove`], [`Sessions::end_all`]) at
/// the moment a session leaves it, not when its reply task gets to run on its worker.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Displaced {
    /// The longest idle of a sample left to make room.
    pub evicted: bool,
    /// The client's own earlier (ended) session was replaced.
    pub replaced: bool,
}

/// The table and its clock.
pub(crate) struct Sessions {
    map: Mutex<HashMap<SocketAddr, Arc<Session>>>,
    epoch: Instant,
    max: AtomicUsize,
}

impl Sessions {
    pub fn new(max: usize) -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
            epoch: Instant::now(),
            max: AtomicUsize::new(max.max(1)),
        }
    }

    /// Follows a changed `max_sessions` (applies to the next new session).
    pub fn set_max(&self, max: usize) {
        self.max.store(max.max(1), Ordering::Relaxed);
    }

    fn now_ms(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }

    /// The live session of `client`, marked active now.
    pub fn get(&self, client: SocketAddr) -> Option<Arc<Session>> {
        let s = lock(&self.map).get(&client).cloned()?;
        if s.is_ended() {
            return None;
        }
        self.touch(&s);
        Some(s)
    }

    /// Marks `s` active now.
    pub fn touch(&self, s: &Session) {
        s.last_active.store(self.now_ms(), Ordering::Relaxed);
    }

    /// How long `s` has been idle.
    pub fn idle(&self, s: &Session) -> Duration {
        Duration::from_millis(
            self.now_ms()
                .saturating_sub(s.last_active.load(Ordering::Relaxed)),
        )
    }

    /// Adds a session for `client`; returns it and what left the table for it.
    pub fn insert(
        &self,
        client: SocketAddr,
        socket: UdpSocket,
        guard: ActiveGuard,
        slot: Option<crate::limits::Slot>,
    ) -> (Arc<Session>, Displaced) {
        let session = Arc::new(Session {
            _slot: slot,
            socket,
            last_active: AtomicU64::new(self.now_ms()),
            ended: AtomicBool::new(false),
            wake: Notify::new(),
            guard,
        });
        let mut map = lock(&self.map);
        let mut out = Displaced::default();
        if map.len() >= self.max.load(Ordering::Relaxed) && !map.contains_key(&client) {
            let victim = map
                .iter()
                .take(EVICTION_SAMPLE)
                .min_by_key(|(_, s)| s.last_active.load(Ordering::Relaxed))
                .map(|(k, _)| *k);
            if let Some(k) = victim {
                if let Some(old) = map.remove(&k) {
                    old.end();
                    out.evicted = true;
                }
            }
        }
        if let Some(old) = map.insert(client, session.clone()) {
            old.end();
            out.replaced = true;
        }
        (session, out)
    }

    /// Removes `client`'s entry if it is still `session` (a newer one stays); says
    /// whether it did.
    pub fn remove(&self, client: SocketAddr, session: &Arc<Session>) -> bool {
        let mut map = lock(&self.map);
        if map.get(&client).is_some_and(|s| Arc::ptr_eq(s, session)) {
            map.remove(&client);
            return true;
        }
        false
    }

    /// Ends every session (the listener is going away); returns how many there were.
    pub fn end_all(&self) -> usize {
        let mut map = lock(&self.map);
        let n = map.len();
        for (_, s) in map.drain() {
            s.end();
        }
        n
    }
}
