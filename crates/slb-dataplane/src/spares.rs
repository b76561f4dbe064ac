//! A bounded per-thread stack of spare buffers, for hot paths that would otherwise free and
//! allocate the same buffers around every request or burst (`http/h1/spare.rs`,
//! `tcp/buffers.rs`).
//!
//! Bounded, so what it holds is capped whatever the number of idle connections; trimmed to
//! a low-water mark ([`SpareStack::trim`]), so a stack left full after a burst goes back
//! to the allocator once traffic no longer draws on it.

use std::time::{Duration, Instant};

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
    /// stack), unless that trim was less than about `period` ago (several callers may share
    /// one stack; only one trim per period should count). A stack that traffic keeps using
    /// stays; one left from a burst goes within two periods.
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
}
