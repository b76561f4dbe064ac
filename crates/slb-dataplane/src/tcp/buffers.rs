//! Copy buffers of TCP relays, lent per burst from a small per-thread stack.
//!
//! A relayed direction needs its buffer only between a read and the write that empties it.
//! It takes one when its socket turns readable and gives it back when a read would block,
//! so an idle TCP connection holds no buffer (10,000 idle connections would otherwise hold
//! 32 KiB each, as nginx's stream module does), and a busy one reuses the buffer another
//! connection just gave back instead of calling the allocator.

use crate::spares::{with_local, Registry, Shared, SpareStack};

/// Size of one copy buffer: 32 KiB, half the syscalls of 16 KiB and, unlike 64 KiB, small
/// enough for the benchmark machine's 48 KiB L1 data cache (the likely reason 64 KiB loses
/// again: the bytes copied in are no longer there to be copied out). On loopback (iperf3
/// through `tcp`, interleaved A/B pairs, proxy CPU per MiB): 288-346 µs/MiB at 18.7-21.3
/// Gbit/s, against 561-695 at 11.8-14.0 with 16 KiB and 544-591 at 13.2-13.9 with 64 KiB
/// (24 KiB: 420-458); with the data flowing back (`-R`) 389-415 against 622-635; with
/// 16 KiB or 1 MiB writes 376-428 and 279-295 against 488-506 and 512-647. Only a
/// connection moving data holds one (see above).
pub const RELAY_BUFFER_SIZE: usize = 32 * 1024;

/// Most buffers a thread keeps: beyond it a returned buffer is freed.
const MAX_SPARE: usize = 64;

/// Every thread's stack, for [`trim`].
static STACKS: Registry<Box<[u8]>> = Registry::new(MAX_SPARE);

thread_local! {
    // Boxed slices: lent and returned whole, never resized.
    static SPARE: Shared<Box<[u8]>> = STACKS.join();
}

/// A buffer of [`RELAY_BUFFER_SIZE`] bytes borrowed from this thread's spares (or new),
/// given back when dropped.
pub(crate) struct Lent(Option<Box<[u8]>>);

impl Lent {
    pub(crate) fn take() -> Self {
        Self(Some(take()))
    }
}

impl std::ops::Deref for Lent {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        self.0.as_deref().unwrap_or_default()
    }
}

impl std::ops::DerefMut for Lent {
    fn deref_mut(&mut self) -> &mut [u8] {
        self.0.as_deref_mut().unwrap_or_default()
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            give(b);
        }
    }
}

#[cfg(test)]
thread_local! {
    static TAKES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Buffers this thread has lent so far.
#[cfg(test)]
pub(crate) fn takes() -> usize {
    TAKES.get()
}

/// A buffer of [`RELAY_BUFFER_SIZE`] bytes: a spare one, or a new one.
fn take() -> Box<[u8]> {
    #[cfg(test)]
    TAKES.set(TAKES.get() + 1);
    with_local(&SPARE, SpareStack::take)
        .flatten()
        .unwrap_or_else(|| vec![0u8; RELAY_BUFFER_SIZE].into_boxed_slice())
}

/// Keeps `buf` for the next [`take`] on this thread, or frees it when the stack is full.
fn give(buf: Box<[u8]>) {
    with_local(&SPARE, |spare| spare.give(buf));
}

/// Frees every thread's buffers that no relay took since the previous trim, at most once
/// per `period` ([`SpareStack::trim`]; called by the data plane's housekeeping task).
pub(crate) fn trim(period: std::time::Duration) {
    STACKS.trim(period);
}

/// Frees this thread's spares.
#[cfg(test)]
pub(crate) fn clear() {
    with_local(&SPARE, SpareStack::clear);
}

/// Buffers this thread holds in reserve.
#[cfg(test)]
pub(crate) fn spare_len() -> usize {
    with_local(&SPARE, |s| s.len()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_given_buffer_is_lent_again_and_the_stack_is_bounded() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        clear();
        let mut b = take();
        assert_eq!(b.len(), RELAY_BUFFER_SIZE);
        b[0] = 7;
        give(b);
        assert_eq!(take()[0], 7, "the same buffer comes back");
        for _ in 0..MAX_SPARE + 5 {
            give(vec![0u8; RELAY_BUFFER_SIZE].into_boxed_slice());
        }
        assert_eq!(spare_len(), MAX_SPARE);
    }

    /// The housekeeping task's trim frees the buffers a burst left on another thread (a
    /// worker of a multi-threaded runtime that went quiet), not only on its own.
    #[test]
    fn trim_frees_buffers_left_on_another_thread() {
        let _serial = crate::spares::SERIAL.blocking_lock();
        let (filled, trimmed) = (std::sync::Barrier::new(2), std::sync::Barrier::new(2));
        std::thread::scope(|scope| {
            let worker = scope.spawn(|| {
                clear();
                let burst: Vec<_> = (0..8).map(|_| Lent::take()).collect();
                drop(burst);
                let before = spare_len();
                filled.wait();
                trimmed.wait();
                (before, spare_len())
            });
            filled.wait();
            trim(std::time::Duration::ZERO);
            trim(std::time::Duration::ZERO);
            trimmed.wait();
            assert_eq!(worker.join().unwrap(), (8, 0));
        });
    }
}
