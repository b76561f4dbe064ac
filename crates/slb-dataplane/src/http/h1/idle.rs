//! Idle keep-alive deadlines: one table per listener, swept by one task, instead of a tokio
//! timer inside every connection.
//!
//! Between requests a keep-alive connection waits for its client's next bytes or its idle
//! timeout. A tokio `Sleep` for that deadline is 128 bytes of the connection's task, and
//! made the task 384 bytes instead of 256, a sixth of what an idle connection costs. Here
//! the waiting connection holds a table key; its deadline and waker (24 bytes) sit in the
//! listener's table, and the listener's sweeper wakes the connections whose deadline
//! passed. The
//! sweeper looks at most every [`GRANULARITY`]: idle timeouts are whole seconds, so closing
//! a connection up to that much late keeps to what the setting means.
//!
//! The same table serves a request's deadline for its backend's connection and response
//! head ([`IdleTimers::deadline`]): request timeouts are whole seconds too, and a tokio
//! timeout per request (a runtime handle lookup to build the `Sleep`, the wheel's insert
//! and remove) cost more than an entry here: 18,551 → 18,179 user-space instructions per
//! keep-alive request (`bench/callgrind.sh`).
//!
//! The table has a shard per worker (`workers.rs`): a connection's entry goes to the shard
//! of the worker it runs on, so workers taking and leaving entries for every request never
//! wait for each other's lock; the sweep looks through every shard.

use crate::workers::PerWorker;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use slab::Slab;
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

/// Shortest time between two sweeps: connections whose deadlines fall close together
/// (a burst opened at once) are closed by one pass over the table, not one pass each.
const GRANULARITY: Duration = Duration::from_millis(100);

/// The deadlines of a listener's idle keep-alive connections.
pub(crate) struct IdleTimers {
    shards: PerWorker<Table>,
    /// Wakes the sweeper when a deadline comes before its next look.
    earlier: Notify,
    /// Deadlines count milliseconds from here (8 bytes rather than an `Instant`'s 16).
    epoch: Instant,
}

impl Default for IdleTimers {
    fn default() -> Self {
        Self::new(1)
    }
}

#[derive(Default)]
struct Table {
    waiting: Slab<Waiting>,
    /// When the sweeper looks next; `None` while it has nothing to wait for.
    next_look: Option<Instant>,
}

/// One connection waiting for its client: 24 bytes in the table, which the slab's entries
/// keep too (the waker's pointer is never null).
struct Waiting {
    waker: Waker,
    /// Milliseconds after the table's epoch, or [`EXPIRED`] once the sweep has woken it.
    deadline: u64,
}

/// The deadline of a wait the sweep has ended.
const EXPIRED: u64 = u64::MAX;

impl IdleTimers {
    /// A table with a shard for each of `workers` workers.
    pub(crate) fn new(workers: usize) -> Self {
        Self {
            shards: PerWorker::new(workers),
            earlier: Notify::new(),
            epoch: Instant::now(),
        }
    }

    /// Runs `inner` until the deadline `at`; `Err(Elapsed)` once it passed (found by the
    /// sweep, so up to [`GRANULARITY`] late).
    pub(crate) fn deadline<F: Future + Unpin>(&self, at: Instant, inner: F) -> Deadline<'_, F> {
        Deadline {
            timers: self,
            inner,
            at_ms: self.millis(at, true),
            key: NO_KEY,
        }
    }

    /// Enters (first call, `key` is [`NO_KEY`]) or refreshes a wait in the table, with the
    /// deadline `deadline_ms` gives on entry: `true` while it waits, `false` once the sweep
    /// has ended it (the entry is then gone and `key` is [`NO_KEY`] again).
    fn enter(&self, key: &mut usize, deadline_ms: impl FnOnce() -> u64, waker: &Waker) -> bool {
        if *key == NO_KEY {
            let shard = self.shards.mine();
            let mut t = self.shards.lock(shard);
            let deadline = deadline_ms();
            let slot = t.waiting.insert(Waiting {
                waker: waker.clone(),
                deadline,
            });
            *key = slot * self.shards.len() + shard;
            let at = self.instant(deadline);
            if t.next_look.is_none_or(|look| at < look) {
                t.next_look = Some(at);
                self.earlier.notify_one();
            }
            return true;
        }
        let (shard, slot) = self.split(*key);
        let mut t = self.shards.lock(shard);
        match t.waiting.get_mut(slot) {
            Some(w) if w.deadline != EXPIRED => {
                w.waker.clone_from(waker);
                true
            }
            _ => {
                t.waiting.try_remove(slot);
                *key = NO_KEY;
                false
            }
        }
    }

    /// Leaves the table, if `key` is in it.
    fn leave(&self, key: &mut usize) {
        if *key != NO_KEY {
            let (shard, slot) = self.split(*key);
            self.shards.lock(shard).waiting.try_remove(slot);
            *key = NO_KEY;
        }
    }

    /// A key's shard and its slot there (a key remembers the shard it entered, wherever it
    /// is polled or dropped later).
    fn split(&self, key: usize) -> (usize, usize) {
        (key % self.shards.len(), key / self.shards.len())
    }

    /// Waits until `socket` is readable (`true`), or its idle timeout `idle_ms` passes or it
    /// fails (`false`). The time counts from the first poll that finds nothing to read.
    pub(crate) fn wait<'a>(&'a self, socket: &'a TcpStream, idle_ms: u32) -> IdleWait<'a> {
        IdleWait {
            timers: self,
            socket,
            key: NO_KEY,
            idle_ms,
        }
    }

    /// Wakes the connections whose deadline is at or before `now`, and returns when to
    /// look next (`None`: nobody waits).
    pub(crate) fn expire(&self, now: Instant) -> Option<Instant> {
        let now_ms = self.millis(now, false);
        let mut due = Vec::new();
        let mut earliest: Option<Instant> = None;
        for shard in 0..self.shards.len() {
            let mut t = self.shards.lock(shard);
            let mut next: Option<u64> = None;
            for (_, w) in t.waiting.iter_mut().filter(|(_, w)| w.deadline != EXPIRED) {
                if w.deadline <= now_ms {
                    w.deadline = EXPIRED;
                    due.push(w.waker.clone());
                } else {
                    next = Some(next.map_or(w.deadline, |n| n.min(w.deadline)));
                }
            }
            // Each shard's own next look: a later entry earlier than that wakes the
            // sweeper, which looks at the earliest of all shards anyway.
            t.next_look = next.map(|n| self.instant(n).max(now + GRANULARITY));
            earliest = earliest.into_iter().chain(t.next_look).min();
        }
        // Outside the lock: a woken connection on another worker may poll at once.
        due.into_iter().for_each(Waker::wake);
        earliest
    }

    /// `at` in whole milliseconds after the epoch (rounded down, or up with `ceil`: a
    /// deadline is rounded up and the sweep's time down, so that none ends early).
    fn millis(&self, at: Instant, ceil: bool) -> u64 {
        let d = at.saturating_duration_since(self.epoch);
        let part = u128::from(ceil && !d.subsec_nanos().is_multiple_of(1_000_000));
        u64::try_from(d.as_millis() + part).unwrap_or(EXPIRED - 1)
    }

    /// The instant `ms` milliseconds after the epoch.
    fn instant(&self, ms: u64) -> Instant {
        self.epoch + Duration::from_millis(ms)
    }

    /// Returns once a connection starts waiting with a deadline before the sweeper's next
    /// look (or had, since the last call).
    pub(crate) async fn earlier(&self) {
        self.earlier.notified().await;
    }

    /// How many connections wait, in each shard.
    #[cfg(test)]
    fn waiting_by_shard(&self) -> Vec<usize> {
        (0..self.shards.len())
            .map(|s| self.shards.lock(s).waiting.len())
            .collect()
    }

    /// How many connections wait.
    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.waiting_by_shard().iter().sum()
    }
}

/// Marks an [`IdleWait`] that has no table entry.
const NO_KEY: usize = usize::MAX;

/// The wait of one idle connection: 32 bytes of its task's state.
pub(crate) struct IdleWait<'a> {
    timers: &'a IdleTimers,
    socket: &'a TcpStream,
    /// Its entry in the table, once it has waited.
    key: usize,
    idle_ms: u32,
}

impl Future for IdleWait<'_> {
    type Output = bool;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<bool> {
        let this = self.get_mut();
        if let Poll::Ready(r) = this.socket.poll_read_ready(cx) {
            this.timers.leave(&mut this.key);
            return Poll::Ready(r.is_ok());
        }
        let (timers, idle_ms) = (this.timers, this.idle_ms);
        let deadline = || timers.millis(Instant::now(), true) + u64::from(idle_ms);
        if timers.enter(&mut this.key, deadline, cx.waker()) {
            Poll::Pending
        } else {
            Poll::Ready(false)
        }
    }
}

impl Drop for IdleWait<'_> {
    fn drop(&mut self) {
        self.timers.leave(&mut self.key);
    }
}

/// `inner` with a deadline in the listener's table (see [`IdleTimers::deadline`]).
pub(crate) struct Deadline<'a, F> {
    timers: &'a IdleTimers,
    inner: F,
    /// Milliseconds after the table's epoch.
    at_ms: u64,
    /// Its entry in the table, once `inner` has had to wait.
    key: usize,
}

/// The deadline passed before the future completed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Elapsed;

impl<F: Future + Unpin> Future for Deadline<'_, F> {
    type Output = Result<F::Output, Elapsed>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        if let Poll::Ready(v) = Pin::new(&mut this.inner).poll(cx) {
            this.timers.leave(&mut this.key);
            return Poll::Ready(Ok(v));
        }
        let at_ms = this.at_ms;
        if this.timers.enter(&mut this.key, || at_ms, cx.waker()) {
            Poll::Pending
        } else {
            Poll::Ready(Err(Elapsed))
        }
    }
}

impl<F> Drop for Deadline<'_, F> {
    fn drop(&mut self) {
        self.timers.leave(&mut self.key);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncWriteExt;

    /// A connected pair; the server's end has been read from until it would block, as a
    /// connection waiting for its next request has.
    async fn pair() -> (TcpStream, TcpStream) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, _) = listener.accept().await.unwrap();
        let drained = server.try_read(&mut [0u8; 1]);
        assert!(matches!(drained, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock));
        (client, server)
    }

    /// Bytes from the client end the wait and leave the table empty.
    #[tokio::test]
    async fn a_waiting_connection_wakes_on_bytes() {
        let timers = IdleTimers::default();
        let (mut client, server) = pair().await;
        let mut wait = std::pin::pin!(timers.wait(&server, 60_000));
        assert!(futures_poll(wait.as_mut()).is_pending());
        assert_eq!(timers.waiting(), 1);
        client.write_all(b"GET").await.unwrap();
        assert!(wait.await, "bytes arrived: readable");
        assert_eq!(timers.waiting(), 0);
    }

    /// The sweep ends the waits whose deadline passed, and only those; the next look is the
    /// earliest remaining deadline, never sooner than the granularity.
    #[tokio::test]
    async fn the_sweep_ends_waits_past_their_deadline() {
        let timers = IdleTimers::default();
        let (_c1, short) = pair().await;
        let (_c2, long) = pair().await;
        let mut short_wait = std::pin::pin!(timers.wait(&short, 1_000));
        let mut long_wait = Box::pin(timers.wait(&long, 5_000));
        let before = Instant::now();
        assert!(futures_poll(short_wait.as_mut()).is_pending());
        assert!(futures_poll(long_wait.as_mut()).is_pending());
        let after = Instant::now();
        // Deadlines are kept in whole milliseconds, rounded up.
        let (secs, ms) = (Duration::from_secs, Duration::from_millis);
        let next = timers.expire(after).expect("two waiting");
        assert!(
            before + secs(1) <= next && next <= after + secs(1) + ms(1),
            "nothing due yet: look again at the first deadline"
        );
        let next = timers.expire(after + secs(1) + ms(1)).expect("one left");
        assert!(before + secs(5) <= next && next <= after + secs(5) + ms(1));
        assert!(!short_wait.await, "past its deadline: timed out");
        assert!(futures_poll(long_wait.as_mut()).is_pending());
        assert_eq!(timers.waiting(), 1);
        let close = before + secs(5) - Duration::from_millis(10);
        assert_eq!(
            timers.expire(close),
            Some(close + GRANULARITY),
            "a deadline within the granularity waits for it"
        );
        drop(long_wait);
        assert_eq!(timers.waiting(), 0, "a dropped wait leaves the table");
        assert_eq!(timers.expire(after + secs(9)), None);
    }

    /// The first connection to wait (or one with an earlier deadline) wakes the sweeper;
    /// later deadlines do not.
    #[tokio::test]
    async fn only_an_earlier_deadline_wakes_the_sweeper() {
        let timers = IdleTimers::default();
        let (_c1, a) = pair().await;
        let (_c2, b) = pair().await;
        let mut first = std::pin::pin!(timers.wait(&a, 10_000));
        assert!(futures_poll(first.as_mut()).is_pending());
        tokio::time::timeout(Duration::from_secs(5), timers.earlier())
            .await
            .expect("the first wait wakes the sweeper");
        let mut second = std::pin::pin!(timers.wait(&b, 20_000));
        assert!(futures_poll(second.as_mut()).is_pending());
        assert!(
            tokio::time::timeout(Duration::from_millis(50), timers.earlier())
                .await
                .is_err(),
            "a later deadline needs no earlier sweep"
        );
    }

    /// On workers, each wait enters its own worker's shard, and one sweep ends the waits of
    /// every shard.
    #[tokio::test]
    async fn waits_enter_their_workers_shard_and_one_sweep_ends_all() {
        let (workers, _threads) = crate::workers::Workers::start(2).unwrap();
        let timers = std::sync::Arc::new(IdleTimers::new(2));
        let at = Instant::now() + Duration::from_secs(5);
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let _waits = workers.spawn_each(|i| {
            let (timers, tx) = (timers.clone(), tx.clone());
            async move {
                let r = timers.deadline(at, std::future::pending::<()>()).await;
                tx.send((i, r)).unwrap();
            }
        });
        let started = Instant::now();
        while timers.waiting_by_shard() != [1, 1] {
            assert!(
                started.elapsed() < Duration::from_secs(5),
                "both waits entered"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert_eq!(timers.expire(at + Duration::from_millis(1)), None);
        let mut ended = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
        ended.sort_by_key(|(i, _)| *i);
        assert_eq!(ended, vec![(0, Err(Elapsed)), (1, Err(Elapsed))]);
        assert_eq!(timers.waiting_by_shard(), [0, 0]);
    }

    /// A future that finishes in time gives its output and leaves no entry behind; one
    /// that never finishes gives `Elapsed` once a sweep finds its deadline passed.
    #[tokio::test]
    async fn a_deadline_ends_what_has_not_finished() {
        let timers = IdleTimers::default();
        let at = Instant::now() + Duration::from_secs(5);
        let ready = timers.deadline(at, std::future::ready(7));
        assert_eq!(ready.await, Ok(7));
        assert_eq!(timers.waiting(), 0, "finished at once: never entered");

        let mut stuck = std::pin::pin!(timers.deadline(at, std::future::pending::<()>()));
        assert!(futures_poll(stuck.as_mut()).is_pending());
        assert_eq!(timers.waiting(), 1);
        let next = timers.expire(Instant::now()).expect("one waiting");
        assert!(at <= next && next <= at + Duration::from_millis(1));
        assert!(futures_poll(stuck.as_mut()).is_pending(), "not yet due");
        assert_eq!(timers.expire(at + Duration::from_millis(1)), None);
        assert_eq!(stuck.await, Err(Elapsed));
        assert_eq!(timers.waiting(), 0);
    }

    /// A deadline that has already passed when its future first waits wakes the sweeper at
    /// once, and a dropped wait leaves the table.
    #[tokio::test]
    async fn a_past_deadline_wakes_the_sweeper_and_a_drop_leaves() {
        let timers = IdleTimers::default();
        let mut late = Box::pin(timers.deadline(Instant::now(), std::future::pending::<()>()));
        assert!(futures_poll(late.as_mut()).is_pending());
        tokio::time::timeout(Duration::from_secs(5), timers.earlier())
            .await
            .expect("the sweeper is told");
        assert_eq!(
            timers.expire(Instant::now() + Duration::from_millis(1)),
            None
        );
        assert_eq!(late.await, Err(Elapsed));

        let mut dropped = Box::pin(timers.deadline(
            Instant::now() + Duration::from_secs(60),
            std::future::pending::<()>(),
        ));
        assert!(futures_poll(dropped.as_mut()).is_pending());
        assert_eq!(timers.waiting(), 1);
        drop(dropped);
        assert_eq!(timers.waiting(), 0);
    }

    /// Polls once with a waker that does nothing.
    fn futures_poll<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
        f.poll(&mut Context::from_waker(Waker::noop()))
    }

    /// A table entry stays 24 bytes (the slab's vacant-or-occupied tag fits in the waker's
    /// never-null pointer, as it does for `Option`): with 10,000 idle connections the table
    /// is part of what each costs.
    #[test]
    fn a_table_entry_is_24_bytes() {
        assert_eq!(std::mem::size_of::<Waiting>(), 24);
        assert_eq!(std::mem::size_of::<Option<Waiting>>(), 24);
    }
}
