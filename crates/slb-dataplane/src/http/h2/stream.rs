//! One HTTP/2 stream from request to the end of its response: the shared handler
//! (`proxy.rs`) finds the response, its head goes out as a HEADERS frame, and its body
//! follows as DATA frames, sent only while the client's flow-control window has room so a
//! slow reader holds back the backend rather than filling the balancer's memory.
//!
//! A client that resets the stream ends this future at once, whether it waits for the
//! backend's answer or sends the body, which closes the backend connection it held.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::EXPECT;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;
use pin_project_lite::pin_project;

use super::super::proxy::{handle, ConnCtx};
use super::super::tail::TailBody;
use super::request_body::RequestBody;

pin_project! {
    /// One stream's work, as a future of its own rather than an `async fn`: the
    /// connection moves it into its set of streams once per request, and this shape holds
    /// only what one phase needs (the handler's future, then the body and its send half),
    /// a quarter of the size the compiler gave the `async fn`.
    pub(crate) struct Stream<F> {
        respond: SendResponse<Bytes>,
        // Where the backend's interim responses wait while the handler is polled.
        ctx: Arc<ConnCtx>,
        head_only: bool,
        // The handler, until the response is known.
        #[pin]
        answer: Option<F>,
        // Then the body being sent.
        sending: Option<(TailBody, SendStream<Bytes>)>,
    }
}

/// Starts serving one stream; the future ends when the response is sent whole, or the
/// stream is reset.
pub(crate) fn serve(
    ctx: Arc<ConnCtx>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) -> Stream<impl Future<Output = Response<TailBody>> + Send> {
    let head_only = req.method() == Method::HEAD;
    let (parts, recv) = req.into_parts();
    let body = RequestBody::new(recv, &parts.headers);
    if !body.is_end_stream() && expects_continue(&parts.headers) {
        // The client waits for this before it sends the body the backend is to get.
        let mut interim = Response::new(());
        *interim.status_mut() = StatusCode::CONTINUE;
        let _ = respond.send_informational(interim);
    }
    Stream {
        respond,
        ctx: ctx.clone(),
        head_only,
        answer: Some(handle(ctx, Request::from_parts(parts, body))),
        sending: None,
    }
}

impl<F: Future<Output = Response<TailBody>>> Future for Stream<F> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut this = self.project();
        if let Some(answer) = this.answer.as_mut().as_pin_mut() {
            let answered = answer.poll(cx);
            // What the backend sent before its final answer (103 Early Hints) goes first.
            for interim in this.ctx.interim.take() {
                let _ = this.respond.send_informational(interim);
            }
            let Poll::Ready(resp) = answered else {
                // A client that resets the stream ends the work at once.
                return this.respond.poll_reset(cx).map(|_| ());
            };
            this.answer.set(None);
            // The head is sent as it is: a backend's `Content-Length` is kept
            // (`h1/upstream.rs`), the balancer's pages carry theirs, and END_STREAM frames
            // the rest.
            let (parts, mut body) = resp.into_parts();
            let end = *this.head_only || body.is_end_stream();
            let Ok(mut send) = this
                .respond
                .send_response(Response::from_parts(parts, ()), end)
            else {
                return Poll::Ready(());
            };
            if end {
                return Poll::Ready(());
            }
            if let Some(data) = body.take_whole() {
                // Already in memory: h2 holds what the window has no room for yet.
                let _ = send.send_data(data, true);
                return Poll::Ready(());
            }
            *this.sending = Some((body, send));
        }
        match this.sending {
            Some((body, send)) => pump(cx, body, send),
            None => Poll::Ready(()),
        }
    }
}

/// `Expect: 100-continue`, the only expectation there is.
fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Sends the body as DATA frames, each once the window has room; a body that fails midway
/// resets the stream, so the client cannot take it for a complete one.
fn pump(cx: &mut Context<'_>, body: &mut TailBody, send: &mut SendStream<Bytes>) -> Poll<()> {
    loop {
        // Room for at least one byte before the next piece is read: h2 queues the rest of
        // a piece until the window opens, so at most one piece per stream waits here.
        send.reserve_capacity(1);
        if send.capacity() == 0 {
            loop {
                match ready!(send.poll_capacity(cx)) {
                    Some(Ok(0)) => {}
                    Some(Ok(_)) => break,
                    Some(Err(_)) | None => return Poll::Ready(()),
                }
            }
        } else if send.poll_reset(cx).is_ready() {
            return Poll::Ready(());
        }
        match ready!(Pin::new(&mut *body).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let data = match frame.into_data() {
                    Ok(data) => data,
                    Err(frame) => {
                        // The backend's trailer fields end the stream in a HEADERS frame.
                        if let Ok(trailers) = frame.into_trailers() {
                            let _ = send.send_trailers(trailers);
                            return Poll::Ready(());
                        }
                        continue;
                    }
                };
                let end = body.is_end_stream();
                if send.send_data(data, end).is_err() || end {
                    return Poll::Ready(());
                }
            }
            Some(Err(e)) => {
                tracing::debug!(error = %e, "response body failed, resetting the stream");
                send.send_reset(Reason::INTERNAL_ERROR);
                return Poll::Ready(());
            }
            None => {
                let _ = send.send_data(Bytes::new(), true);
                return Poll::Ready(());
            }
        }
    }
}
