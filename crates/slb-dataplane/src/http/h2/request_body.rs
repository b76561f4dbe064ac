//! An HTTP/2 request's body as an [`http_body::Body`], so the upload to an HTTP/1.1 backend
//! (`h1/upload.rs`) reads it frame by frame. Each data frame's bytes are given back to the
//! client's flow-control window as soon as they are taken, since the upload holds at most
//! one frame of them before writing it to the backend.

use std::pin::Pin;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::RecvStream;
use http::header::CONTENT_LENGTH;
use http::HeaderMap;
use http_body::{Body, Frame, SizeHint};

use super::super::BoxError;

/// The client's request body, with the length its `Content-Length` announced (which h2 holds
/// the stream to).
pub(crate) struct RequestBody {
    recv: RecvStream,
    declared: Option<u64>,
    /// The request ended with its head (asked once: each question to h2 takes its lock).
    ended_with_head: bool,
    /// Data has ended: the trailers (if any) are next.
    data_done: bool,
}

impl RequestBody {
    /// Wraps `recv`, taking the announced length from the request's `headers`.
    pub(crate) fn new(recv: RecvStream, headers: &HeaderMap) -> Self {
        // A request that ended with its head (most) has no length to look up.
        let ended_with_head = recv.is_end_stream();
        let declared = if ended_with_head {
            Some(0)
        } else {
            headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|s| s.parse().ok())
        };
        Self {
            recv,
            declared,
            ended_with_head,
            data_done: false,
        }
    }
}

impl Body for RequestBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = &mut *self;
        if !this.data_done {
            match ready!(this.recv.poll_data(cx)) {
                Some(Ok(data)) => {
                    // Only fails once the stream is gone, which the next poll reports.
                    let _ = this.recv.flow_control().release_capacity(data.len());
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Some(Err(e)) => return Poll::Ready(Some(Err(Box::new(e)))),
                None => this.data_done = true,
            }
        }
        match ready!(this.recv.poll_trailers(cx)) {
            Ok(Some(trailers)) => Poll::Ready(Some(Ok(Frame::trailers(trailers)))),
            Ok(None) => Poll::Ready(None),
            Err(e) => Poll::Ready(Some(Err(Box::new(e)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended_with_head || self.recv.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        match self.declared {
            Some(n) => SizeHint::with_exact(n),
            None => SizeHint::default(),
        }
    }
}
