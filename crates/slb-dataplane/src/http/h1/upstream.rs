//! HTTP/2 requests sent to HTTP/1.1 backends over the engine's own connection pool.
//!
//! hyper's generic client cost a pool checkout with a channel, a dispatcher task and a
//! oneshot per request, and its own head encoding and parsing; here a request is one
//! head written straight from hyper's `HeaderMap` (with the body bytes already received) on a
//! pooled connection, and the response head is parsed with the engine's strict parser. The
//! response body is read by the task that sends it to the client, through [`UpstreamBody`],
//! which also streams the rest of a request body still arriving, and gives the connection
//! back to the pool the moment the body has ended cleanly.

use std::future::poll_fn;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

use bytes::{Buf, Bytes, BytesMut};
use http::header::HeaderValue;
use http::{HeaderMap, Method, Response, StatusCode};
use http_body::{Body, Frame, SizeHint};

use super::super::h2::Interim;
use super::super::headers::{allowed_in_trailers, is_hop_by_hop};
use super::super::BoxError;
use super::chunked::ChunkedScanner;
use super::head::{parse_response, Framing, ResponseHead};
use super::names::header_name;
use super::pool::{Pool, Upstream};
use super::upload::{ClientBodyError, Upload, UploadError};

/// Read size for response bodies that did not arrive with their head.
const READ_CHUNK: usize = 16 * 1024;

/// Room for the first read of a response: its head, and the whole of a small body. It is
/// read on the stack and kept in a buffer of the size that arrived (see [`first_fill`]).
const HEAD_READ: usize = 4 * 1024;

/// Reads what the backend has sent onto `rbuf`.
///
/// Through tokio's `poll_read`, not `try_read_buf`: a read shorter than the room offered
/// means the socket is drained, and `poll_read` then forgets its readiness. After a
/// response read whole the connection goes back to the pool not readable, so the liveness
/// probe at its next checkout is answered without a syscall; with `try_read_buf` the stale
/// readiness cost one `EAGAIN` `recv` per request. (The TCP relay wants the opposite, see
/// `tcp/relay.rs`: a bulk stream's short read is not the end of it.)
fn fill(
    stream: &mut tokio::net::TcpStream,
    cx: &mut Context<'_>,
    rbuf: &mut BytesMut,
    room: usize,
) -> Poll<io::Result<usize>> {
    rbuf.reserve(room);
    tokio_util::io::poll_read_buf(Pin::new(stream), cx, rbuf)
}

/// The first read of a response, into [`HEAD_READ`] bytes on the stack, kept in an `rbuf`
/// of just the size read. The buffer lives as long as the response (its head's values and
/// a small body share it), one per stream in flight: a few hundred bytes come from the
/// allocator's per-thread cache, where 4 KiB ones, with dozens of streams in flight, went
/// back and forth to its arena on most requests.
fn first_fill(
    stream: &mut tokio::net::TcpStream,
    cx: &mut Context<'_>,
    rbuf: &mut BytesMut,
) -> Poll<io::Result<usize>> {
    let mut room = [std::mem::MaybeUninit::<u8>::uninit(); HEAD_READ];
    let mut buf = tokio::io::ReadBuf::uninit(&mut room);
    ready!(tokio::io::AsyncRead::poll_read(
        Pin::new(stream),
        cx,
        &mut buf
    ))?;
    let got = buf.filled();
    rbuf.reserve(got.len());
    rbuf.extend_from_slice(got);
    Poll::Ready(Ok(got.len()))
}

/// Why a request got no response head from its backend.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made.
    Connect(io::Error),
    /// The backend closed, reset, or answered something that is not a usable response head.
    Backend(&'static str),
    /// The client's request body failed (not the backend's fault).
    ClientBody,
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Connect(e) => write!(f, "connect: {e}"),
            Self::Backend(e) => f.write_str(e),
            Self::ClientBody => f.write_str("client request body failed"),
        }
    }
}

/// How reading a response head failed.
enum HeadFailure {
    /// Closed or reset before any response byte: what a pooled connection the backend had
    /// already dropped looks like.
    Silent,
    Other(&'static str),
    ClientBody,
}

/// One request on one backend connection: the head written so far, the body still
/// streaming, and the bytes read back.
struct Wire {
    up: Upstream,
    rbuf: BytesMut,
    /// Bytes of the head (and of the body sent with it) written.
    written: usize,
    upload: Option<Upload>,
    /// The request could not be written whole: the connection cannot carry another.
    broken: bool,
    /// Some response byte arrived.
    received: bool,
}

impl Wire {
    /// Writes what it can of the head, then of the body, without waiting. A backend that
    /// stops reading may still answer, so a write error only marks the connection broken;
    /// only the client's body failing is an error.
    fn poll_write(&mut self, cx: &mut Context<'_>, head: &[u8]) -> Result<(), ClientBodyError> {
        while self.written < head.len() && !self.broken {
            match self.up.stream.poll_write_ready(cx) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(_)) => self.broken = true,
                Poll::Ready(Ok(())) => match self.up.stream.try_write(&head[self.written..]) {
                    Ok(n) => self.written += n,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => self.broken = true,
                },
            }
        }
        if self.broken {
            self.upload = None;
            return Ok(());
        }
        self.poll_upload(cx)
    }

    fn poll_upload(&mut self, cx: &mut Context<'_>) -> Result<(), ClientBodyError> {
        let Some(upload) = self.upload.as_mut() else {
            return Ok(());
        };
        match upload.poll(cx, &self.up.stream) {
            Poll::Pending => Ok(()),
            Poll::Ready(Ok(())) => {
                self.upload = None;
                Ok(())
            }
            Poll::Ready(Err(e)) => {
                self.upload = None;
                self.broken = true;
                match e {
                    UploadError::Upstream => Ok(()),
                    UploadError::Client => Err(ClientBodyError),
                }
            }
        }
    }

    /// Sends the request while reading the response head. Interim 1xx heads go to
    /// `interim` (100 Continue excepted: `h2/stream.rs` answers `Expect` itself).
    fn poll_head(
        &mut self,
        cx: &mut Context<'_>,
        head: &[u8],
        method: &Method,
        interim: Option<&Interim>,
    ) -> Poll<Result<ResponseHead, HeadFailure>> {
        if self.poll_write(cx, head).is_err() {
            return Poll::Ready(Err(HeadFailure::ClientBody));
        }
        loop {
            if !self.rbuf.is_empty() {
                match parse_response(&mut self.rbuf, method) {
                    Ok(Some(h)) if (100..200).contains(&h.status) && h.status != 101 => {
                        if let (Some(sink), true) = (interim, h.status != 100) {
                            sink.push(interim_response(&h));
                        }
                        continue;
                    }
                    Ok(Some(h)) => return Poll::Ready(Ok(h)),
                    Ok(None) => {}
                    Err(e) => return Poll::Ready(Err(HeadFailure::Other(e))),
                }
            }
            let read = if self.rbuf.capacity() == 0 {
                first_fill(&mut self.up.stream, cx, &mut self.rbuf)
            } else {
                fill(&mut self.up.stream, cx, &mut self.rbuf, HEAD_READ)
            };
            match ready!(read) {
                Ok(0) => return Poll::Ready(Err(self.lost("backend closed before responding"))),
                Ok(_) => self.received = true,
                Err(_) => return Poll::Ready(Err(self.lost("backend reset the connection"))),
            }
        }
    }

    fn lost(&self, what: &'static str) -> HeadFailure {
        if self.received {
            HeadFailure::Other(what)
        } else {
            HeadFailure::Silent
        }
    }

    /// Whether the connection can carry another request once this response has ended.
    fn clean(&self, head_len: usize) -> bool {
        !self.broken && self.upload.is_none() && self.written == head_len && self.rbuf.is_empty()
    }
}

/// One request for [`send`].
pub(crate) struct Outgoing<'a> {
    /// The HTTP/1.1 request head, ending with the body bytes sent along with it (see
    /// `upload::prepare`).
    pub head: &'a [u8],
    pub method: &'a Method,
    /// The rest of the body, sent after the head.
    pub body: Option<Upload>,
    /// Retry once on a new connection when a pooled one turns out closed by the backend
    /// while idle (the request has no body): that is not the backend's fault.
    pub retry_stale: bool,
    /// Where the backend's interim responses go (HTTP/2 clients; see `h2/interim.rs`).
    pub interim: Option<&'a Interim>,
}

/// Sends `req` to the backend at `addr` on a pooled connection, and returns the response
/// head and its body. Timeouts are the caller's. `now` is the caller's recent clock
/// reading (the request's start), which ages pooled connections.
pub(crate) async fn send(
    pool: &Arc<Pool>,
    addr: SocketAddr,
    now: std::time::Instant,
    req: Outgoing<'_>,
) -> Result<(http::response::Parts, UpstreamBody), SendError> {
    let Outgoing {
        head,
        method,
        mut body,
        retry_stale,
        interim,
    } = req;
    let mut fresh = false;
    loop {
        let up = if fresh {
            Pool::connect(addr).await
        } else {
            pool.checkout(addr, now).await
        };
        let up = up.map_err(SendError::Connect)?;
        let reused = up.reused;
        let mut wire = Wire {
            up,
            rbuf: BytesMut::new(),
            written: 0,
            upload: body.take(),
            broken: false,
            received: false,
        };
        match poll_fn(|cx| wire.poll_head(cx, head, method, interim)).await {
            Ok(resp) => return respond(resp, wire, head.len(), pool),
            Err(HeadFailure::Silent) if reused && !fresh && retry_stale => fresh = true,
            Err(HeadFailure::Silent) => {
                return Err(SendError::Backend("backend closed before responding"))
            }
            Err(HeadFailure::Other(e)) => return Err(SendError::Backend(e)),
            Err(HeadFailure::ClientBody) => return Err(SendError::ClientBody),
        }
    }
}

/// The response parts for the HTTP/2 stream and the body reader; a body already read whole
/// gives the connection back at once.
fn respond(
    resp: ResponseHead,
    mut wire: Wire,
    head_len: usize,
    pool: &Arc<Pool>,
) -> Result<(http::response::Parts, UpstreamBody), SendError> {
    if resp.status == 101 {
        // HTTP/2 has no Upgrade: the backend switched protocols unasked.
        return Err(SendError::Backend("backend switched protocols"));
    }
    let status =
        StatusCode::from_u16(resp.status).map_err(|_| SendError::Backend("bad status code"))?;
    let (mut parts, ()) = Response::new(()).into_parts();
    parts.status = status;
    parts.headers = response_headers(&resp);
    let reusable = resp.reusable;
    let whole = match resp.framing {
        Framing::Empty | Framing::Length(0) => Some(Bytes::new()),
        Framing::Length(n) if wire.rbuf.len() as u64 >= n => {
            Some(wire.rbuf.split_to(n as usize).freeze())
        }
        _ => None,
    };
    let decode = match (whole, resp.framing) {
        (Some(data), _) => {
            if reusable && wire.clean(head_len) {
                pool.put(wire.up, std::time::Instant::now());
            }
            let inner = if data.is_empty() {
                Inner::Done
            } else {
                Inner::Whole(data)
            };
            return Ok((parts, UpstreamBody(inner)));
        }
        (None, Framing::Length(n)) => Decode::Length(n),
        (None, Framing::Chunked) => Decode::Chunked(ChunkedScanner::keeping_trailers()),
        (None, _) => Decode::Close,
    };
    let streaming = Streaming {
        wire,
        decode,
        pool: pool.clone(),
        reusable,
        head_len,
    };
    Ok((parts, UpstreamBody(Inner::Stream(Box::new(streaming)))))
}

/// A backend's interim response as the HTTP/2 client gets it.
fn interim_response(head: &ResponseHead) -> Response<()> {
    let mut r = Response::new(());
    *r.status_mut() = StatusCode::from_u16(head.status).unwrap_or(StatusCode::CONTINUE);
    *r.headers_mut() = response_headers(head);
    r
}

/// The backend's fields for the HTTP/2 client: hop-by-hop ones and `Transfer-Encoding`
/// dropped (HTTP/2 frames the body itself), `Content-Length` kept only when it is the
/// body's framing or describes a body not sent (HEAD, 304). Values share the head's bytes.
fn response_headers(resp: &ResponseHead) -> HeaderMap {
    let listed = resp.listed();
    let drop_length = matches!(resp.framing, Framing::Chunked | Framing::Close);
    let mut map = HeaderMap::with_capacity(resp.fields.count());
    for (name, value) in resp.fields.iter_shared() {
        if is_hop_by_hop(&listed, name, false)
            || name.eq_ignore_ascii_case(b"transfer-encoding")
            || (drop_length && name.eq_ignore_ascii_case(b"content-length"))
        {
            continue;
        }
        if let (Some(n), Ok(v)) = (header_name(name), HeaderValue::from_maybe_shared(value)) {
            map.append(n, v);
        }
    }
    map
}

/// The backend's chunked trailer section (`name: value` lines) as fields for an HTTP/2
/// client; malformed lines and fields that may not be trailers are left out.
fn trailer_fields(raw: &[u8]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for line in raw.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (&line[..colon], line[colon + 1..].trim_ascii());
        if !allowed_in_trailers(name) {
            continue;
        }
        if let (Some(n), Ok(v)) = (header_name(name), HeaderValue::from_bytes(value)) {
            map.append(n, v);
        }
    }
    map
}

/// How the rest of a response body is delimited.
enum Decode {
    /// This many bytes remain.
    Length(u64),
    Chunked(ChunkedScanner),
    /// Until the backend closes.
    Close,
}

/// A response body still arriving from the backend.
struct Streaming {
    wire: Wire,
    decode: Decode,
    pool: Arc<Pool>,
    /// The response allows another request on the connection.
    reusable: bool,
    head_len: usize,
}

impl Streaming {
    /// The next piece of the body and whether it is the last one.
    fn poll_piece(&mut self, cx: &mut Context<'_>) -> Poll<Result<(Bytes, bool), BoxError>> {
        let w = &mut self.wire;
        loop {
            if w.poll_upload(cx).is_err() {
                return Poll::Ready(Err(Box::new(ClientBodyError)));
            }
            if !w.rbuf.is_empty() {
                match &mut self.decode {
                    Decode::Length(rem) => {
                        let n = (*rem).min(w.rbuf.len() as u64);
                        *rem -= n;
                        return Poll::Ready(Ok((w.rbuf.split_to(n as usize).freeze(), *rem == 0)));
                    }
                    Decode::Chunked(scanner) => {
                        let mut out = BytesMut::with_capacity(w.rbuf.len());
                        let p = scanner
                            .feed(&w.rbuf, &mut |d| out.extend_from_slice(d))
                            .map_err(|e| Box::new(e) as BoxError)?;
                        w.rbuf.advance(p.consumed);
                        if !out.is_empty() || p.done {
                            return Poll::Ready(Ok((out.freeze(), p.done)));
                        }
                    }
                    Decode::Close => return Poll::Ready(Ok((w.rbuf.split().freeze(), false))),
                }
            }
            match ready!(fill(&mut w.up.stream, cx, &mut w.rbuf, READ_CHUNK)) {
                Ok(0) if matches!(self.decode, Decode::Close) => {
                    return Poll::Ready(Ok((Bytes::new(), true)))
                }
                Ok(0) => {
                    let e = io::Error::new(io::ErrorKind::UnexpectedEof, "backend closed mid-body");
                    return Poll::Ready(Err(Box::new(e)));
                }
                Ok(_) => {}
                Err(e) => return Poll::Ready(Err(Box::new(e))),
            }
        }
    }
}

/// A response body read from a backend connection, which goes back to the pool when the
/// body has ended at its framing with nothing after it and the request was sent whole;
/// dropped early or ended otherwise, the connection is closed.
pub(crate) struct UpstreamBody(Inner);

enum Inner {
    Done,
    /// The whole body, read with the head.
    Whole(Bytes),
    Stream(Box<Streaming>),
    /// The backend's trailer fields, after the last data.
    Trailers(HeaderMap),
}

impl UpstreamBody {
    /// The body's last frame: its trailer fields if they are pending, else the end.
    fn end(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match std::mem::replace(&mut self.0, Inner::Done) {
            Inner::Trailers(t) => Poll::Ready(Some(Ok(Frame::trailers(t)))),
            _ => Poll::Ready(None),
        }
    }

    /// The whole body when it arrived with the head (taken, leaving the body ended).
    pub(crate) fn take_whole(&mut self) -> Option<Bytes> {
        match std::mem::replace(&mut self.0, Inner::Done) {
            Inner::Whole(data) => Some(data),
            other => {
                self.0 = other;
                None
            }
        }
    }
}

impl Body for UpstreamBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let piece = match &mut this.0 {
            Inner::Done => return Poll::Ready(None),
            Inner::Whole(_) => {
                let Inner::Whole(data) = std::mem::replace(&mut this.0, Inner::Done) else {
                    unreachable!("matched above")
                };
                return Poll::Ready(Some(Ok(Frame::data(data))));
            }
            Inner::Trailers(_) => return this.end(),
            Inner::Stream(s) => ready!(s.poll_piece(cx)),
        };
        match piece {
            Err(e) => {
                this.0 = Inner::Done;
                Poll::Ready(Some(Err(e)))
            }
            Ok((data, last)) => {
                if last {
                    if let Inner::Stream(mut s) = std::mem::replace(&mut this.0, Inner::Done) {
                        let trailers = match &mut s.decode {
                            Decode::Chunked(scanner) => trailer_fields(&scanner.take_trailers()),
                            _ => HeaderMap::new(),
                        };
                        if s.reusable && s.wire.clean(s.head_len) {
                            s.pool.put(s.wire.up, std::time::Instant::now());
                        }
                        if !trailers.is_empty() {
                            this.0 = Inner::Trailers(trailers);
                        }
                    }
                }
                if data.is_empty() {
                    // Only the end (chunked or close-delimited) was left, or its trailers.
                    return this.end();
                }
                Poll::Ready(Some(Ok(Frame::data(data))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.0, Inner::Done)
    }

    fn size_hint(&self) -> SizeHint {
        match &self.0 {
            Inner::Done | Inner::Trailers(_) => SizeHint::with_exact(0),
            Inner::Whole(data) => SizeHint::with_exact(data.len() as u64),
            Inner::Stream(s) => match s.decode {
                Decode::Length(rem) => SizeHint::with_exact(rem),
                _ => SizeHint::default(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use http_body_util::BodyExt;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A GET without a body to `addr`, as a request from the stream would send it.
    async fn send_get(
        pool: &Arc<Pool>,
        addr: SocketAddr,
        head: &[u8],
    ) -> (http::response::Parts, UpstreamBody) {
        let get = Outgoing {
            head,
            method: &Method::GET,
            body: None,
            retry_stale: true,
            interim: None,
        };
        send(pool, addr, std::time::Instant::now(), get)
            .await
            .unwrap()
    }

    /// Reads one request head (the tests send no bodies).
    async fn read_request(s: &mut tokio::net::TcpStream) {
        let mut got = Vec::new();
        let mut b = [0u8; 1024];
        while !got.ends_with(b"\r\n\r\n") {
            let n = s.read(&mut b).await.unwrap();
            assert!(n > 0, "client closed");
            got.extend_from_slice(&b[..n]);
        }
    }

    /// A response head larger than the first read's room (`HEAD_READ`) arrives whole:
    /// the buffer grows until the head parses, and the body after it is intact.
    #[tokio::test]
    async fn a_head_larger_than_the_first_read_is_read_whole() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let big = "v".repeat(3 * HEAD_READ);
        let response = format!(
            "HTTP/1.1 200 OK\r\nx-big: {big}\r\ncontent-length: {}\r\n\r\n{big}",
            big.len()
        );
        let backend = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_request(&mut s).await;
            s.write_all(response.as_bytes()).await.unwrap();
            s
        });
        let pool = Arc::new(Pool::default());
        let head = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        let (parts, body) = send_get(&pool, addr, head).await;
        assert_eq!(parts.headers["x-big"].len(), 3 * HEAD_READ);
        let got = body.collect().await.unwrap().to_bytes();
        assert_eq!(got.len(), 3 * HEAD_READ);
        assert!(got.iter().all(|&b| b == b'v'));
        let _s = backend.await.unwrap();
    }

    /// A connection goes back to the pool with tokio's readiness cleared by the last short
    /// read, whether the body came with the head or after it, so the liveness probe at the
    /// next checkout costs no `recv`. With `try_read_buf` it stayed readable.
    #[tokio::test]
    async fn a_response_read_whole_leaves_the_pooled_connection_unreadable() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        let backend = tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            read_request(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello")
                .await
                .unwrap();
            read_request(&mut s).await;
            s.write_all(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n")
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
            s.write_all(b"6\r\n world\r\n0\r\n\r\n").await.unwrap();
            s
        });
        let pool = Arc::new(Pool::default());
        let head = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
        for expected in ["hello", "hello world"] {
            let (parts, body) = send_get(&pool, addr, head).await;
            assert_eq!(parts.status, 200);
            let got = body.collect().await.unwrap().to_bytes();
            assert_eq!(got, expected.as_bytes());
            assert_eq!(pool.idle_readable(addr), vec![false], "after {expected:?}");
        }
        let _s = backend.await.unwrap();
    }
}
