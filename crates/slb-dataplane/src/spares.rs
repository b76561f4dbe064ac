//! Bounded per-thread stacks of spare buffers, for hot paths that would otherwise free and
//! allocate the same buffers around every request or burst (`http/h1/spare.rs`,
//! `tcp/buffers.rs`).
//!
//! Bounded, so what they hold is capped whatever the number of idle connections; trimmed to
//! a low-water mark ([`SpareStack::trim`]), so a stack left full after a burst goes back
//! to the allocator once traffic no longer draws on it. Every thread's stack of a kind is
//! known to one [`Registry`], so that the data plane's one housekeeping task trims them
//! all: on a multi-threaded runtime a worker that went quiet after a burst gives its spares
//! back too. Each stack sits behind its own mutex, which only its thread and the trim take.

use std::sync::{Arc, Mutex, Weak};
use std::thread::LocalKey;
use std::time::{Duration, Instant};

use crate::backend::lock;

/// One thread's stack, shared with the [`Registry`] that trims it.
pub(crate) type Shared<T> = Arc<Mutex<SpareStack<T>>>;

/// Every thread's stack of one kind.
pub(crate) struct Registry<T> {
    stacks: Mutex<Vec<Weak<Mutex<SpareStack<T>>>>>,
    /// Most items each stack keeps.
    max: usize,
}

impl<T> Registry<T> {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            stacks: Mutex::new(Vec::new()),
            max,
        }
    }

    /// A new stack for the calling thread (its `thread_local!` initialiser), trimmed with
    /// the others for as long as the thread keeps it.
    pub(crate) fn join(&self) -> Shared<T> {
        let stack = Arc::new(Mutex::new(SpareStack::new(self.max)));
        let mut stacks = lock(&self.stacks);
        stacks.retain(|s| s.strong_count() > 0);
        stacks.push(Arc::downgrade(&stack));
        stack
    }

    /// Trims every thread's stack ([`SpareStack::trim`]).
    pub(crate) fn trim(&self, period: Duration) {
        let live: Vec<_> = lock(&self.stacks)
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for stack in live {
            lock(&stack).trim(period);
        }
    }
}

/// Serializes the tests that use the process's stacks (`http/h1/spare.rs`,
/// `tcp/buffers.rs`): a trim reaches every thread's stack, so one test's trims would drop
/// the spares another one counts.
#[cfg(test)]
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `f` on the calling thread's stack in `local`; `None` while the thread shuts down
/// (its stack already gone).
pub(crate) fn with_local<T: 'static, R>(
    local: &'static LocalKey<Shared<T>>,
    f: impl FnOnce(&mut SpareStack<T>) -> R,
) -> Option<R> {
    local.try_with(|s| f(&mut lock(s))).ok()
}

/// Spares of one kind on one thread, most recently given last.
pub(crate) struct SpareStack<T> {
    items: Vec<T>,
    /// Most items kept: beyond it a given item is dropped.
    max: usize,
    /// The fewest items held since the last trim: the bottom `low` went unused.
    low: usize,
    /// When [`SpareStack::trim`] last ran.
    trimmed: Option<Instant>,
}

impl<T> SpareStack<T> {
    pub(crate) const fn new(max: usize) -> Self {
        Self {
            items: Vec::new(),
            max,
            low: 0,
            trimmed: None,
        }
    }

    /// The item given most recently, if any.
    pub(crate) fn take(&mut self) -> Option<T> {
        let item = self.items.pop();
        self.low = self.low.min(self.items.len());
        item
    }

    /// Keeps `item` for the next [`SpareStack::take`], or drops it when the stack is full.
    pub(crate) fn give(&mut self, item: T) {
        if self.items.len() < self.max {
            self.items.push(item);
        }
    }

    /// Drops the items no one took since the previous trim (those at the bottom of the
    /// stack), unless that trim was less than about `period` ago (several data planes, each
    /// with its housekeeping task, may share the stacks; only one trim per period should
    /// count). A stack that traffic keeps using stays; one left from a burst goes within two
    /// periods.
    pub(crate) fn trim(&mut self, period: Duration) {
        let now = Instant::now();
        if self
            .trimmed
            .is_some_and(|t| now.duration_since(t) < period - period / 8)
        {
            return;
        }
        self.trimmed = Some(now);
        let n = self.low.min(self.items.len());
        self.items.drain(..n);
        self.low = self.items.len();
    }

    /// Items held.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.items.len()
    }

    /// Drops every item.
    #[cfg(test)]
    pub(crate) fn clear(&mut self) {
        self.items.clear();
        self.low = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_last_in_first_out() {
        let mut s = SpareStack::new(2);
        s.give(1);
        s.give(2);
        s.give(3);
        assert_eq!(s.len(), 2);
        assert_eq!(s.take(), Some(2));
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), None);
    }

    #[test]
    fn trim_drops_what_went_unused_and_at_most_once_a_period() {
        let mut s = SpareStack::new(64);
        s.trim(Duration::ZERO);
        (0..10).for_each(|i| s.give(i));
        s.trim(Duration::ZERO);
        assert_eq!(s.len(), 10, "given since the last trim: kept");
        let taken: Vec<_> = (0..3).filter_map(|_| s.take()).collect();
        taken.into_iter().for_each(|i| s.give(i));
        s.trim(Duration::ZERO);
        assert_eq!(s.len(), 3, "the seven unused items are dropped");
        s.trim(Duration::ZERO);
        assert_eq!(s.len(), 0, "a quiet stack goes entirely");
        s.give(1);
        s.trim(Duration::from_secs(3600));
        assert_eq!(s.len(), 1, "too soon after the last trim: nothing dropped");
    }

    /// One trim reaches every thread's stack, including a thread that is not the
    /// trimmer's and no longer touches its stack; a thread that ended leaves the registry.
    #[test]
    fn a_registry_trims_every_threads_stack() {
        static REGISTRY: Registry<u32> = Registry::new(8);
        thread_local! {
            static STACK: Shared<u32> = REGISTRY.join();
        }
        let (filled, done) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                with_local(&STACK, |s| (0..5).for_each(|i| s.give(i)));
                filled.wait();
                done.wait();
                with_local(&STACK, |s| s.len())
            });
            filled.wait();
            REGISTRY.trim(Duration::ZERO);
            REGISTRY.trim(Duration::ZERO);
            done.wait();
            assert_eq!(
                worker.join().unwrap(),
                Some(0),
                "trimmed from another thread"
            );
        });
        REGISTRY.trim(Duration::ZERO);
        assert_eq!(
            lock(&REGISTRY.stacks)
                .iter()
                .filter(|s| s.strong_count() > 0)
                .count(),
            0,
            "the ended thread's stack is gone"
        );
        with_local(&STACK, |s| s.give(1));
        assert_eq!(
            lock(&REGISTRY.stacks).len(),
            1,
            "ended threads are forgotten on join"
        );
    }
}
