//! One HTTP/2 stream from request to the end of its response: the shared handler
//! (`proxy.rs`) finds the response, its head goes out as a HEADERS frame, and its body
//! follows as DATA frames, sent only while the client's flow-control window has room so a
//! slow reader holds back the backend rather than filling the balancer's memory.
//!
//! A client that resets the stream ends this future at once, whether it waits for the
//! backend's answer or sends the body, which closes the backend connection it held.

use std::future::{poll_fn, Future};
use std::pin::pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::Bytes;
use h2::server::SendResponse;
use h2::{Reason, RecvStream, SendStream};
use http::header::EXPECT;
use http::{Method, Request, Response, StatusCode};
use http_body::Body;

use super::super::proxy::{handle, ConnCtx};
use super::super::tail::TailBody;
use super::request_body::RequestBody;

/// Serves one stream; ends when the response is sent whole, or the stream is reset.
pub(crate) async fn serve(
    ctx: Arc<ConnCtx>,
    req: Request<RecvStream>,
    mut respond: SendResponse<Bytes>,
) {
    let head_only = req.method() == Method::HEAD;
    let (parts, recv) = req.into_parts();
    let body = RequestBody::new(recv, &parts.headers);
    if !body.is_end_stream() && expects_continue(&parts.headers) {
        // The client waits for this before it sends the body the backend is to get.
        let mut interim = Response::new(());
        *interim.status_mut() = StatusCode::CONTINUE;
        let _ = respond.send_informational(interim);
    }
    let answer = handle(ctx, Request::from_parts(parts, body));
    let Some(resp) = until_reset(&mut respond, answer).await else {
        return;
    };
    // The head is sent as it is: a backend's `Content-Length` is kept (`h1/upstream.rs`),
    // the balancer's pages carry theirs, and END_STREAM frames the rest.
    let (parts, body) = resp.into_parts();
    let end = head_only || body.is_end_stream();
    let Ok(send) = respond.send_response(Response::from_parts(parts, ()), end) else {
        return;
    };
    if !end {
        send_body(body, send).await;
    }
}

/// `Expect: 100-continue`, the only expectation there is.
fn expects_continue(headers: &http::HeaderMap) -> bool {
    headers
        .get(EXPECT)
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"100-continue"))
}

/// Runs `work` unless the client resets the stream first (then `None`, dropping `work`).
async fn until_reset<F: Future>(respond: &mut SendResponse<Bytes>, work: F) -> Option<F::Output> {
    let mut work = pin!(work);
    poll_fn(|cx| {
        if let Poll::Ready(out) = work.as_mut().poll(cx) {
            return Poll::Ready(Some(out));
        }
        match respond.poll_reset(cx) {
            Poll::Ready(_) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    })
    .await
}

/// Sends `body` on `send` as DATA frames, each once the window has room; a body that fails
/// midway resets the stream, so the client cannot take it for a complete one.
async fn send_body(mut body: TailBody, mut send: SendStream<Bytes>) {
    let _ = poll_fn(|cx| pump(cx, &mut body, &mut send)).await;
}

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
        match ready!(std::pin::Pin::new(&mut *body).poll_frame(cx)) {
            Some(Ok(frame)) => {
                let Ok(data) = frame.into_data() else {
                    continue; // trailers are not forwarded
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
