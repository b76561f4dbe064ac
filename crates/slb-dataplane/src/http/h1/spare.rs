//! Spare scratch buffers of idle HTTP/1.1 connections, kept per thread.
//!
//! An idle keep-alive connection holds no buffers (`Conn::release_idle`), so 10,000 idle
//! clients cost their sockets and tasks, not 26 KiB each. Freeing and allocating those
//! buffers around every keep-alive request cost measurable CPU, though; a small per-thread
//! stack of spare sets gives a connection that wakes up the buffers another one just gave
//! back, without touching the allocator. The stack is bounded, so what it holds is at most
//! [`MAX_SPARE`] sets per worker thread whatever the number of idle connections, and
//! [`trim`] frees the sets no connection needed since its previous call, so a node that
//! goes quiet gives the stack back too.

use std::time::Duration;

use bytes::BytesMut;

use crate::spares::{with_local, Registry, Shared, SpareStack};

/// Most sets a thread keeps: about as many as connections are busy at once on a worker
/// under load; beyond that a released set is freed.
pub(crate) const MAX_SPARE: usize = 64;

/// The scratch buffers of one exchange: the client read buffer, the backend read buffer
/// and the two head scratch vectors.
#[derive(Default)]
pub(crate) struct Scratch {
    pub buf: BytesMut,
    pub rbuf: BytesMut,
    pub up_head: Vec<u8>,
    pub resp_head: Vec<u8>,
}

/// Every thread's stack, for [`trim`].
static STACKS: Registry<Box<Scratch>> = Registry::new(MAX_SPARE);

thread_local! {
    // Boxed: a connection holds its set as a `Box` (so that an idle one holds one null
    // pointer), and the stack passes those boxes on without allocating.
    static SPARE: Shared<Box<Scratch>> = STACKS.join();
}

/// Capacity of a new set's client read buffer: a request head usually fits.
const FIRST_READ: usize = 8 * 1024;

/// A set given back earlier on this thread, if any (all four emptied, capacity kept).
pub(crate) fn take() -> Option<Box<Scratch>> {
    with_local(&SPARE, SpareStack::take).flatten()
}

/// A spare set, or a new one.
pub(crate) fn take_or_new() -> Box<Scratch> {
    take().unwrap_or_else(|| {
        Box::new(Scratch {
            buf: BytesMut::with_capacity(FIRST_READ),
            ..Scratch::default()
        })
    })
}

/// Keeps `s` for the next [`take`] on this thread, or frees it when the stack is full.
pub(crate) fn give(mut s: Box<Scratch>) {
    s.buf.clear();
    s.rbuf.clear();
    s.up_head.clear();
    s.resp_head.clear();
    with_local(&SPARE, |spare| spare.give(s));
}

/// Frees every thread's sets that no connection took since the previous trim, at most
/// once per `period` ([`SpareStack::trim`]; called by the data plane's housekeeping task).
pub(crate) fn trim(period: Duration) {
    STACKS.trim(period);
}

/// Sets this thread holds.
#[cfg(test)]
fn held() -> usize {
    with_local(&SPARE, |s| s.len()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_set_comes_back_empty_with_its_capacity() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        while take().is_some() {}
        let mut s = Box::<Scratch>::default();
        s.buf.extend_from_slice(b"GET / HTTP/1.1\r\n");
        s.rbuf.reserve(16 * 1024);
        s.up_head.extend_from_slice(b"head");
        give(s);
        let s = take().expect("the set given back");
        assert!(s.buf.is_empty() && s.up_head.is_empty());
        assert!(s.rbuf.capacity() >= 16 * 1024);
        assert!(take().is_none());
    }

    #[test]
    fn a_new_set_has_room_for_a_request_head() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        while take().is_some() {}
        let s = take_or_new();
        assert!(s.buf.capacity() >= FIRST_READ);
        give(s);
        assert!(
            take_or_new().buf.capacity() >= FIRST_READ,
            "the spare comes back"
        );
        assert!(take().is_none());
    }

    #[test]
    fn the_stack_is_bounded() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        while take().is_some() {}
        for _ in 0..MAX_SPARE + 10 {
            give(Box::default());
        }
        let mut n = 0;
        while take().is_some() {
            n += 1;
        }
        assert_eq!(n, MAX_SPARE);
    }

    #[test]
    fn trim_frees_the_sets_unused_since_the_last_trim() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        let trim = || trim(Duration::ZERO);
        while take().is_some() {}
        trim();
        for _ in 0..10 {
            give(Box::default());
        }
        trim();
        assert_eq!(held(), 10, "given since the last trim: kept");
        // Traffic takes three and gives them back: seven stayed at the bottom unused.
        let taken: Vec<_> = (0..3).map(|_| take().unwrap()).collect();
        taken.into_iter().for_each(give);
        trim();
        assert_eq!(held(), 3, "the seven unused sets are freed");
        trim();
        assert_eq!(held(), 0, "a quiet thread gives back the rest");
    }

    #[test]
    fn trims_closer_than_the_period_do_nothing() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        while take().is_some() {}
        super::trim(Duration::from_secs(3600));
        give(Box::default());
        super::trim(Duration::from_secs(3600));
        super::trim(Duration::from_secs(3600));
        assert_eq!(
            held(),
            1,
            "one trim per period: the set given after it stays"
        );
    }
}
