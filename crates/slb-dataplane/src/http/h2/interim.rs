//! Interim (1xx) responses a backend sends before its final one, passed on to HTTP/2
//! clients: 103 Early Hints lets a browser fetch what a page will need while the backend
//! still builds it. (100 Continue is not passed on: the stream answers `Expect` itself.)
//!
//! The backend's reader (`h1/upstream.rs`) records them here while the stream
//! (`stream.rs`) polls it, and the stream sends them as informational HEADERS as soon as
//! that poll returns. A connection's streams run one at a time in its task, so what is
//! here after a stream polled its handler is that stream's. One list per connection, so a
//! stream costs nothing for it: a flag read per poll while no backend sends any.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use http::Response;

/// The interim responses of the stream being polled.
#[derive(Default)]
pub(crate) struct Interim {
    any: AtomicBool,
    heads: Mutex<Vec<Response<()>>>,
}

impl Interim {
    /// Records one for the stream being polled.
    pub(crate) fn push(&self, head: Response<()>) {
        crate::backend::lock(&self.heads).push(head);
        self.any.store(true, Ordering::Relaxed);
    }

    /// What the stream's last poll recorded, oldest first (nothing, without a lock, in the
    /// usual case).
    pub(crate) fn take(&self) -> Vec<Response<()>> {
        if !self.any.swap(false, Ordering::Relaxed) {
            return Vec::new();
        }
        std::mem::take(&mut *crate::backend::lock(&self.heads))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_what_was_pushed_once_in_order() {
        let i = Interim::default();
        assert!(i.take().is_empty());
        for s in [103, 102] {
            let mut r = Response::new(());
            *r.status_mut() = http::StatusCode::from_u16(s).unwrap();
            i.push(r);
        }
        let got: Vec<u16> = i.take().iter().map(|r| r.status().as_u16()).collect();
        assert_eq!(got, [103, 102]);
        assert!(i.take().is_empty());
    }
}
