//! The body of an HTTP/2 request on its way to an HTTP/1.1 backend. What has already arrived
//! when the request is handled goes out with the head in one write, and the framing is
//! chosen from what is known then: a complete body gets its exact `Content-Length`, an
//! announced length is kept, anything else is sent chunked. The rest is streamed frame by
//! frame as the client sends it, written with the socket's non-blocking calls so that the
//! same task can read the response at the same time.

use std::future::poll_fn;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use super::super::h2::RequestBody;
use super::super::headers::allowed_in_trailers;
use bytes::Bytes;
use http::{HeaderMap, Method};
use http_body::Body;
use tokio::net::TcpStream;

use super::chunked::{write_chunk_header, CHUNK_END, LAST_CHUNK};
use super::write::push_field;

/// Most body bytes gathered into the first write; a larger body is streamed.
const PREFETCH: usize = 64 * 1024;

/// The client's request body failed: reset, broken, or not the length it announced.
#[derive(Debug)]
pub(crate) struct ClientBodyError;

impl std::fmt::Display for ClientBodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("client request body failed")
    }
}

impl std::error::Error for ClientBodyError {}

/// Why streaming a request body stopped.
#[derive(Debug)]
pub(crate) enum UploadError {
    /// The client's side: see [`ClientBodyError`].
    Client,
    /// The backend stopped accepting it.
    Upstream,
}

/// The rest of a request body, streamed to the backend as the client sends it.
pub(crate) struct Upload {
    body: RequestBody,
    /// `Some(n)`: `n` bytes remain of a `Content-Length` body; `None`: chunked.
    remaining: Option<u64>,
    /// Framed bytes not yet written, from `pos`: at most one frame's worth.
    buf: Vec<u8>,
    pos: usize,
    /// The client's body has ended (and its framing end is in `buf`).
    done: bool,
    /// The client's trailer fields ended the chunked body (its last chunk is written).
    trailers_sent: bool,
}

/// Whether a bodiless request of this method still gets `Content-Length: 0`, as clients
/// send it (some servers answer `411 Length Required` without it).
fn expects_body(method: &Method) -> bool {
    matches!(*method, Method::POST | Method::PUT | Method::PATCH)
}

/// Ends the head in `out` with the body's framing field and the blank line, followed by the
/// body bytes that have already arrived (at most [`PREFETCH`]); returns what remains to
/// stream, `None` when the whole body is in `out`. Never waits for the client.
pub(crate) async fn prepare(
    mut body: RequestBody,
    method: &Method,
    out: &mut Vec<u8>,
) -> Result<Option<Upload>, ClientBodyError> {
    if body.is_end_stream() {
        // (A body ended with the head has an exact size of 0, announced or not.)
        if expects_body(method) {
            out.extend_from_slice(b"content-length: 0\r\n");
        }
        out.extend_from_slice(b"\r\n");
        return Ok(None);
    }
    // The client's `Content-Length`, which the HTTP/2 layer holds the stream to.
    let declared = body.size_hint().exact();
    let mut here: Vec<Bytes> = Vec::new();
    let mut total = 0usize;
    let mut trailers: Option<HeaderMap> = None;
    let ended = poll_fn(|cx| {
        while total < PREFETCH {
            match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                    Ok(data) => {
                        if !data.is_empty() {
                            total += data.len();
                            here.push(data);
                        }
                    }
                    Err(frame) => trailers = frame.into_trailers().ok(),
                },
                Poll::Ready(Some(Err(_))) => return Poll::Ready(Err(ClientBodyError)),
                Poll::Ready(None) => return Poll::Ready(Ok(true)),
                Poll::Pending => break,
            }
        }
        Poll::Ready(Ok(body.is_end_stream()))
    })
    .await?;
    let total = total as u64;
    if ended && declared.is_some_and(|n| n != total) {
        return Err(ClientBodyError);
    }
    let trailers = trailers.filter(|t| t.keys().any(|n| allowed_in_trailers(n.as_ref())));
    // Chunked when the length is not known yet, or when trailer fields must follow a whole
    // body; else the length: the whole body's, or the one the client announced.
    let chunked = if ended {
        trailers.is_some()
    } else {
        declared.is_none()
    };
    let mut remaining = None;
    if chunked {
        out.extend_from_slice(b"transfer-encoding: chunked\r\n");
    } else if ended {
        push_field(out, b"content-length", total.to_string().as_bytes());
    } else if let Some(n) = declared {
        push_field(out, b"content-length", n.to_string().as_bytes());
        remaining = Some(n.checked_sub(total).ok_or(ClientBodyError)?);
    }
    out.extend_from_slice(b"\r\n");
    for data in &here {
        if chunked {
            write_chunk_header(out, data.len());
        }
        out.extend_from_slice(data);
        if chunked {
            out.extend_from_slice(CHUNK_END);
        }
    }
    if ended {
        if let Some(t) = &trailers {
            write_trailers(out, t);
        }
        return Ok(None);
    }
    Ok(Some(Upload {
        body,
        remaining,
        buf: Vec::new(),
        pos: 0,
        done: false,
        trailers_sent: false,
    }))
}

/// Ends a chunked body with `trailers` (the last chunk, the fields that may be trailers,
/// the blank line).
fn write_trailers(out: &mut Vec<u8>, trailers: &HeaderMap) {
    out.extend_from_slice(b"0\r\n");
    for (name, value) in trailers {
        if allowed_in_trailers(name.as_ref()) {
            push_field(out, name.as_str().as_bytes(), value.as_bytes());
        }
    }
    out.extend_from_slice(b"\r\n");
}

impl Upload {
    /// Writes what it can to `stream` without blocking: `Ready(Ok)` once the whole body has
    /// been written, `Pending` while waiting for the client or for the socket.
    pub(crate) fn poll(
        &mut self,
        cx: &mut Context<'_>,
        stream: &TcpStream,
    ) -> Poll<Result<(), UploadError>> {
        loop {
            while self.pos < self.buf.len() {
                ready!(stream.poll_write_ready(cx)).map_err(|_| UploadError::Upstream)?;
                match stream.try_write(&self.buf[self.pos..]) {
                    Ok(n) => self.pos += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Poll::Ready(Err(UploadError::Upstream)),
                }
            }
            self.buf.clear();
            self.pos = 0;
            if self.done {
                return Poll::Ready(Ok(()));
            }
            match ready!(Pin::new(&mut self.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    let data = match frame.into_data() {
                        Ok(data) => data,
                        Err(frame) => {
                            // An HTTP/2 client's trailer fields end a chunked body (a body
                            // sent with Content-Length has no place for them).
                            if let (Ok(trailers), None) = (frame.into_trailers(), self.remaining) {
                                write_trailers(&mut self.buf, &trailers);
                                self.trailers_sent = true;
                            }
                            continue;
                        }
                    };
                    if data.is_empty() {
                        continue; // an empty chunk would end a chunked body
                    }
                    match &mut self.remaining {
                        Some(rem) => {
                            *rem = rem
                                .checked_sub(data.len() as u64)
                                .ok_or(UploadError::Client)?;
                            self.buf.extend_from_slice(&data);
                        }
                        None => {
                            write_chunk_header(&mut self.buf, data.len());
                            self.buf.extend_from_slice(&data);
                            self.buf.extend_from_slice(CHUNK_END);
                        }
                    }
                }
                Some(Err(_)) => return Poll::Ready(Err(UploadError::Client)),
                None => {
                    match self.remaining {
                        Some(0) => {}
                        Some(_) => return Poll::Ready(Err(UploadError::Client)),
                        None if self.trailers_sent => {}
                        None => self.buf.extend_from_slice(LAST_CHUNK),
                    }
                    self.done = true;
                }
            }
        }
    }
}
