//! The response body handed to an HTTP/2 client: counts bytes, holds the backend's
//! active-request guard until the body ends, and writes the access log entry when it is
//! dropped.

use std::pin::Pin;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};

use super::access_log::AccessLogEntry;
use super::h1::UpstreamBody;
use super::{BoxError, HttpShared, ProxyBody};
use crate::backend::ActiveGuard;

/// What a response carries: the backend's body as it is read, or anything else boxed (the
/// balancer's pages, gzip). The common case, a backend body passed through, is thus not
/// allocated again.
pub(crate) enum ResponseBody {
    Upstream(UpstreamBody),
    Boxed(ProxyBody),
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Self::Upstream(b) => Pin::new(b).poll_frame(cx),
            Self::Boxed(b) => Pin::new(b).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Self::Upstream(b) => b.is_end_stream(),
            Self::Boxed(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Self::Upstream(b) => b.size_hint(),
            Self::Boxed(b) => b.size_hint(),
        }
    }
}

/// The body of every HTTP/2 response, around the [`ResponseBody`].
pub(crate) struct TailBody {
    pub inner: ResponseBody,
    pub shared: Arc<HttpShared>,
    pub guard: Option<ActiveGuard>,
    pub entry: Option<Box<AccessLogEntry>>,
    pub start: Instant,
    pub sent: u64,
}

impl TailBody {
    /// The whole body when a backend's arrived with its head, counted as sent: it is in
    /// memory already, so it goes out without waiting for window room piece by piece.
    pub(crate) fn take_whole(&mut self) -> Option<Bytes> {
        let ResponseBody::Upstream(upstream) = &mut self.inner else {
            return None;
        };
        let data = upstream.take_whole()?;
        self.count(data.len());
        self.guard = None;
        Some(data)
    }

    fn count(&mut self, n: usize) {
        let n = n as u64;
        self.sent += n;
        self.shared
            .metrics
            .bytes_out
            .fetch_add(n, Ordering::Relaxed);
    }
}

impl Body for TailBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let p = Pin::new(&mut self.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(f))) = &p {
            if let Some(d) = f.data_ref() {
                self.count(d.len());
            }
        }
        if let Poll::Ready(None) = &p {
            self.guard = None;
        }
        p
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for TailBody {
    fn drop(&mut self) {
        self.shared.http.observe_duration(self.start.elapsed());
        if let (Some(mut e), Some(log)) = (self.entry.take(), self.shared.access_log.as_ref()) {
            e.body_bytes_sent = self.sent;
            e.request_time = self.start.elapsed().as_secs_f64();
            log.log(&e);
        }
    }
}
