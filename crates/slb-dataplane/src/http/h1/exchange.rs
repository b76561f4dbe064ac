//! One request/response exchange of the native HTTP/1.1 engine: redirect, route, sticky
//! lookup, schedule, relay with one retry, rewrite the response head, and hand upgraded
//! connections over to a byte copy.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use http::{Method, StatusCode};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::super::access_log::{rfc3339_now, AccessLogEntry};
use super::super::connection::ConnHold;
use super::super::error_page::raw_page;
use super::super::gzip::{self, GzipStream};
use super::super::headers::{self, HeaderSource as _, Origin, X_FORWARDED_FOR};
use super::super::proxy::MAX_HTTP_ATTEMPTS;
use super::super::route::host_without_port;
use super::super::sticky::{self, INSERT_COOKIE_NAME};
use super::super::HttpShared;
use super::addrs::ConnAddrs;
use super::body::{self, DownloadError, Encode, UploadError};
use super::client::Client;
use super::head::{parse_response, Framing, RequestHead, ResponseHead};
use super::pool::{Pool, Upstream};
use super::spare::{self, Scratch};
use super::write::{push_field, request_head, response_head_start};
use crate::spec::{StickySpec, DEFAULT_HTTP_REQUEST_TIMEOUT};

/// Per client connection state, reused across its requests.
pub(crate) struct Conn {
    /// The connection's place in the listener (and the listener's shared state).
    hold: ConnHold,
    /// The client's and the listener's address.
    addrs: ConnAddrs,
    /// The request buffers, `None` while the connection waits idle for its next request
    /// (given to this thread's spares): an idle keep-alive connection then costs its
    /// socket and task, not some 26 KiB of buffers, and this struct, part of every idle
    /// connection's state, stays small.
    scratch: Option<Box<Scratch>>,
    /// HTTPS with an access log: TLS version and cipher (boxed for the same reason).
    pub ssl: Option<Box<(String, String)>>,
    /// The listener's idle timeout, in milliseconds (4 bytes rather than a `Duration`'s
    /// 16: this struct is part of every idle connection's state).
    idle_ms: u32,
}

impl Conn {
    /// Starts with a spare buffer set when the thread has one: a connection per request
    /// then costs no allocation for its buffers.
    pub(crate) fn new(hold: ConnHold, peer: SocketAddr, local: SocketAddr, idle: Duration) -> Self {
        Self {
            hold,
            addrs: ConnAddrs::new(peer, local),
            scratch: Some(spare::take_or_new()),
            ssl: None,
            idle_ms: u32::try_from(idle.as_millis()).unwrap_or(u32::MAX),
        }
    }

    /// The listener's shared state.
    pub(crate) fn shared(&self) -> &Arc<HttpShared> {
        self.hold.shared()
    }

    /// The client's address.
    pub(crate) fn peer(&self) -> SocketAddr {
        self.addrs.peer()
    }

    /// The listener's address the client connected to.
    pub(crate) fn local(&self) -> SocketAddr {
        self.addrs.local()
    }

    /// The listener's idle timeout in milliseconds, as [`super::idle::IdleTimers`] takes it.
    pub(crate) fn idle_ms(&self) -> u32 {
        self.idle_ms
    }

    /// How long the connection may stay idle between requests, or take to send a head.
    pub(crate) fn idle(&self) -> Duration {
        Duration::from_millis(u64::from(self.idle_ms))
    }

    /// The buffers, taken from the spares (or new) if the connection had given them back.
    pub(crate) fn scratch(&mut self) -> &mut Scratch {
        scratch_in(&mut self.scratch)
    }

    /// Gives the buffers back (to this thread's spares) while the connection waits for its
    /// next request. A pipelined request already in `buf` keeps everything.
    pub(crate) fn release_idle(&mut self) {
        if self.scratch.as_ref().is_some_and(|s| !s.buf.is_empty()) {
            return;
        }
        self.give_back();
    }

    /// Moves the buffers (if held) to this thread's spares.
    fn give_back(&mut self) {
        if let Some(s) = self.scratch.take() {
            spare::give(s);
        }
    }

    /// Whether the buffers were given back ([`Conn::release_idle`]).
    pub(crate) fn is_released(&self) -> bool {
        self.scratch.is_none()
    }
}

/// The buffers in `slot` (taken if it is empty); a function of the field alone, so that
/// the rest of the connection stays borrowable beside them.
fn scratch_in(slot: &mut Option<Box<Scratch>>) -> &mut Scratch {
    slot.get_or_insert_with(spare::take_or_new)
}

impl Drop for Conn {
    /// A closing connection's buffers go to the spares too.
    fn drop(&mut self) {
        self.give_back();
    }
}

/// Whether the client connection carries another request.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    KeepAlive,
    Close,
}

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// How long a request body may go on after its response before the connection is closed.
const UPLOAD_GRACE: std::time::Duration = std::time::Duration::from_secs(1);

/// What the access log and metrics need to know about an exchange.
#[derive(Default)]
struct Record {
    status: u16,
    upstream_addr: String,
    upstream_status: Option<u16>,
    upstream_time: f64,
    sent: u64,
}

/// Serves one parsed request on `client` and says whether the connection goes on.
pub(crate) async fn exchange(c: &mut Conn, client: &mut Client, head: RequestHead) -> Next {
    let start = Instant::now();
    let time = c.shared().access_log.is_some().then(rfc3339_now);
    let mut rec = Record::default();
    let next = run(c, client, &head, start, &mut rec).await;
    finish(c, &head, start, time, rec);
    next
}

/// Metrics and the access log line.
fn finish(c: &Conn, head: &RequestHead, start: Instant, time: Option<String>, rec: Record) {
    let shared = &c.shared();
    let elapsed = start.elapsed();
    if rec.status != 0 {
        shared
            .http
            .count_status(StatusCode::from_u16(rec.status).unwrap_or(StatusCode::BAD_GATEWAY));
    }
    shared.http.observe_duration(elapsed);
    shared
        .metrics
        .bytes_out
        .fetch_add(rec.sent, Ordering::Relaxed);
    let (Some(log), Some(time)) = (shared.access_log.as_ref(), time) else {
        return;
    };
    let peer = c.peer();
    log.log(&AccessLogEntry {
        time,
        client_ip: peer.ip().to_canonical().to_string(),
        client_port: peer.port(),
        host: head.host().to_owned(),
        request_method: head.method.as_str().to_owned(),
        request_uri: head.path_and_query().to_owned(),
        status: rec.status,
        request_time: elapsed.as_secs_f64(),
        upstream_addr: rec.upstream_addr,
        upstream_status: rec
            .upstream_status
            .map(|s| s.to_string())
            .unwrap_or_default(),
        upstream_response_time: rec.upstream_time,
        body_bytes_sent: rec.sent,
        http_user_agent: head.fields.first_str("user-agent").to_owned(),
        http_x_forwarded_for: head.fields.first_str(X_FORWARDED_FOR).to_owned(),
        slb_vport: shared.key.port,
        ssl_protocol: c.ssl.as_ref().map(|s| s.0.clone()).unwrap_or_default(),
        ssl_cipher: c.ssl.as_ref().map(|s| s.1.clone()).unwrap_or_default(),
    });
}

/// Where the request body stands when the balancer answers by itself.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Body {
    /// None, or all of it relayed.
    Done,
    /// Not read at all: it can be read and discarded to keep the connection.
    Unread,
    /// Partly relayed: the connection cannot be resynchronised.
    Partial,
}

/// Largest unread `Content-Length` body discarded to keep a connection after an error page.
const MAX_DISCARD: u64 = 1024 * 1024;
/// How long discarding an unread body may take.
const DISCARD_TIME: std::time::Duration = std::time::Duration::from_secs(5);

/// Writes one of the balancer's pages. The connection goes on when the client wants it and
/// the request body is done, or unread and then discarded within bounds.
async fn page(
    client: &mut Client,
    buf: &mut BytesMut,
    head: &RequestHead,
    rec: &mut Record,
    status: u16,
    extra: &str,
    body: Body,
) -> Next {
    let discardable = match head.framing {
        Framing::Length(n) => n <= MAX_DISCARD,
        Framing::Chunked => true,
        Framing::Empty | Framing::Close => false,
    };
    let mut keep = head.keep_alive && (body == Body::Done || (body == Body::Unread && discardable));
    if keep && body == Body::Unread {
        let done = AtomicBool::new(false);
        let mut sink = tokio::io::sink();
        let discard = body::upload(client, buf, head.framing, &mut sink, &done);
        keep = matches!(tokio::time::timeout(DISCARD_TIME, discard).await, Ok(Ok(_)));
    }
    rec.status = status;
    let bytes = raw_page(status, extra, !keep);
    rec.sent = bytes.len() as u64;
    if client.write_all(&bytes).await.is_err() || !keep {
        return Next::Close;
    }
    Next::KeepAlive
}

/// `start` is when the request head was read: it also serves as the deadline's base and
/// the pool's clock, so the exchange does not read the clock again for them.
async fn run(
    c: &mut Conn,
    client: &mut Client,
    head: &RequestHead,
    start: Instant,
    rec: &mut Record,
) -> Next {
    let shared = c.shared().clone();
    let s = scratch_in(&mut c.scratch);
    let snap = shared.snapshot.load_full();
    let spec = &snap.spec;
    let has_body = head.framing != Framing::Empty;
    let host = head.host();
    if let Some(limiter) = shared.limiter.load().as_ref() {
        if limiter.admit_query().is_err() {
            let body = if has_body { Body::Unread } else { Body::Done };
            return page(client, &mut s.buf, head, rec, 503, "", body).await;
        }
    }

    if let Some(port) = spec.redirect_https_port {
        let h = host_without_port(host);
        let pq = head.path_and_query();
        let location = if port == 443 {
            format!("location: https://{h}{pq}\r\n")
        } else {
            format!("location: https://{h}:{port}{pq}\r\n")
        };
        return page(client, &mut s.buf, head, rec, 301, &location, Body::Unread).await;
    }

    let (group_idx, _rule) = snap.route(host, head.path());
    let group = &snap.groups[group_idx];
    let sticky = snap.group_sticky[group_idx].as_ref();
    let persisted: Option<String> = match sticky {
        Some(StickySpec::Insert { .. }) => {
            headers::request_cookie(&head.fields, INSERT_COOKIE_NAME)
                .and_then(|v| sticky::verify(&spec.cookie_key, v))
        }
        Some(StickySpec::Server { cookie }) => headers::request_cookie(&head.fields, cookie)
            .and_then(|v| shared.server_cookies.lookup(v)),
        None => None,
    };
    let accept_gzip = spec.gzip
        && head.minor == 1
        && head.method != Method::HEAD
        && gzip::client_accepts(&head.fields);

    let fallback_host;
    let host_for_backend = if host.is_empty() {
        fallback_host = c.addrs.local().to_string();
        fallback_host.as_str()
    } else {
        ""
    };
    request_head(
        &mut s.up_head,
        head,
        &Origin {
            https: client.is_tls(),
            flags: spec.forwarded,
            client: c.addrs.peer(),
            listener: c.addrs.local(),
            load_balancer_id: &shared.key.load_balancer_id,
            listener_port: shared.key.port,
        },
        host_for_backend,
    );

    let retryable = idempotent(&head.method) && !has_body;
    let request_timeout = if spec.request_timeout.is_zero() {
        DEFAULT_HTTP_REQUEST_TIMEOUT
    } else {
        spec.request_timeout
    };
    let deadline = tokio::time::Instant::from_std(start) + request_timeout;
    let mut tried = [usize::MAX; MAX_HTTP_ATTEMPTS];
    let mut attempts = 0;
    let mut last_status = 503;
    let mut fresh_retry = false;
    let mut idx = 0;
    // Whether a transfer has started relaying the body (it then cannot be discarded).
    let mut body = if has_body { Body::Unread } else { Body::Done };
    loop {
        if !fresh_retry {
            if attempts == MAX_HTTP_ATTEMPTS {
                break;
            }
            let persisted_key = if attempts == 0 {
                persisted.as_deref()
            } else {
                None
            };
            let Some(i) = group.choose(
                c.addrs.peer(),
                c.addrs.local(),
                &tried[..attempts],
                persisted_key,
            ) else {
                break;
            };
            idx = i;
            tried[attempts] = i;
            attempts += 1;
            if shared.access_log.is_some() {
                if !rec.upstream_addr.is_empty() {
                    rec.upstream_addr.push_str(", ");
                }
                rec.upstream_addr.push_str(&group.backends[i].key);
            }
        }
        let backend = &group.backends[idx];
        let guard = backend.state.track();
        let connect = async {
            if fresh_retry {
                Pool::connect(backend.addr).await
            } else {
                shared.pool.checkout(backend.addr, start).await
            }
        };
        let connected = {
            tokio::pin!(connect);
            shared.idle.deadline(deadline, connect).await
        };
        let mut up = match connected {
            Err(_) => return timed_out(&shared, client, &mut s.buf, head, rec, body).await,
            Ok(Err(e)) => {
                shared.count_upstream_failure();
                tracing::debug!(listener = %shared.key, backend = %backend.addr, error = %e, "backend connect failed");
                last_status = 502;
                fresh_retry = false;
                if retryable {
                    continue;
                }
                break;
            }
            Ok(Ok(up)) => up,
        };
        // Only the access log reports the backend's time.
        let sent_at = shared.access_log.is_some().then(Instant::now);
        let mut x = Transfer {
            head,
            up_head: &s.up_head,
            buf: &mut s.buf,
            rbuf: &mut s.rbuf,
            resp_head: &mut s.resp_head,
            deadline,
            accept_gzip,
            sticky,
            cookie_key: &spec.cookie_key,
            persisted: persisted.as_deref(),
            backend_key: &backend.key,
            shared: &shared,
        };
        let outcome = x.run(client, &mut up).await;
        if has_body {
            body = Body::Partial;
        }
        if let Some(t) = sent_at {
            rec.upstream_time = t.elapsed().as_secs_f64();
        }
        match outcome {
            Outcome::Done {
                status,
                client_keep,
                reusable,
                sent,
            } => {
                rec.status = status;
                rec.upstream_status = Some(status);
                rec.sent = sent;
                if reusable {
                    shared.pool.put(up, start);
                }
                drop(guard);
                return if client_keep {
                    Next::KeepAlive
                } else {
                    Next::Close
                };
            }
            Outcome::Upgraded => {
                rec.status = 101;
                rec.upstream_status = Some(101);
                if !s.buf.is_empty() && up.stream.write_all(&s.buf).await.is_err() {
                    return Next::Close;
                }
                s.buf.clear();
                let _ = client.set_nodelay(true);
                let _ = tokio::io::copy_bidirectional(client, &mut up.stream).await;
                drop(guard);
                return Next::Close;
            }
            Outcome::Failed { stale } if stale && up.reused && !fresh_retry && !has_body => {
                // A pooled connection the backend had closed: not the backend's fault.
                fresh_retry = true;
                continue;
            }
            Outcome::Failed { .. } => {
                shared.count_upstream_failure();
                tracing::debug!(listener = %shared.key, backend = %backend.addr, "backend failed before responding");
                last_status = 502;
                fresh_retry = false;
                if retryable {
                    continue;
                }
                break;
            }
            Outcome::TimedOut => {
                return timed_out(&shared, client, &mut s.buf, head, rec, body).await
            }
            Outcome::BadRequestBody => {
                return page(client, &mut s.buf, head, rec, 400, "", Body::Partial).await
            }
            Outcome::Broken { status, sent } => {
                rec.status = status;
                rec.upstream_status = Some(status);
                rec.sent = sent;
                return Next::Close;
            }
            Outcome::ClientGone => return Next::Close,
        }
    }
    page(client, &mut s.buf, head, rec, last_status, "", body).await
}

async fn timed_out(
    shared: &HttpShared,
    client: &mut Client,
    buf: &mut BytesMut,
    head: &RequestHead,
    rec: &mut Record,
    body: Body,
) -> Next {
    shared.count_upstream_timeout();
    page(client, buf, head, rec, 504, "", body).await
}

/// How one attempt against one backend ended.
enum Outcome {
    /// The response was relayed.
    Done {
        status: u16,
        client_keep: bool,
        reusable: bool,
        sent: u64,
    },
    /// 101 sent to the client; the caller copies bytes both ways.
    Upgraded,
    /// The backend failed before any final response byte reached the client. `stale`: it
    /// closed or reset without sending anything (what a pooled connection the backend
    /// already dropped looks like).
    Failed { stale: bool },
    /// No response head before `RequestTimeout`.
    TimedOut,
    /// The client's chunked body is malformed.
    BadRequestBody,
    /// The response broke after it had started; the client connection must close.
    Broken { status: u16, sent: u64 },
    /// The client went away.
    ClientGone,
}

/// Everything one attempt needs, borrowed from the connection and the exchange.
struct Transfer<'a> {
    head: &'a RequestHead,
    up_head: &'a [u8],
    buf: &'a mut BytesMut,
    rbuf: &'a mut BytesMut,
    resp_head: &'a mut Vec<u8>,
    deadline: tokio::time::Instant,
    accept_gzip: bool,
    sticky: Option<&'a StickySpec>,
    cookie_key: &'a [u8; 32],
    persisted: Option<&'a str>,
    backend_key: &'a str,
    shared: &'a HttpShared,
}

/// A response head could not be read.
enum HeadFailure {
    /// Closed or reset with nothing received.
    Silent,
    /// Anything else: a malformed head, an error after some bytes.
    Other,
}

impl Transfer<'_> {
    /// Sends the request (head, then the body concurrently with reading the response) and
    /// relays the response.
    async fn run(&mut self, client: &mut Client, up: &mut Upstream) -> Outcome {
        if self.head.framing == Framing::Empty {
            // Nothing to read from the client meanwhile: it stays unregistered if it can.
            return self.run_halves(&mut tokio::io::empty(), client, up).await;
        }
        match client {
            Client::Plain(plain) => {
                // Halves of the ClientStream itself (not of its socket), so that bandwidth
                // pacing and anti-DDoS metering see the body and the response.
                let (mut crd, mut cwr) = tokio::io::split(plain);
                self.run_halves(&mut crd, &mut cwr, up).await
            }
            Client::Tls(tls) => {
                let (mut crd, mut cwr) = tokio::io::split(tls.as_mut());
                self.run_halves(&mut crd, &mut cwr, up).await
            }
        }
    }

    async fn run_halves<CR, CW>(&mut self, crd: &mut CR, cwr: &mut CW, up: &mut Upstream) -> Outcome
    where
        CR: AsyncRead + Unpin,
        CW: AsyncWrite + Unpin,
    {
        self.rbuf.clear();
        let (mut urd, mut uwr) = up.stream.split();
        if uwr.write_all(self.up_head).await.is_err() {
            return Outcome::Failed { stale: true };
        }
        let upload_done = AtomicBool::new(self.head.framing == Framing::Empty);
        let responded = AtomicBool::new(false);
        let framing = self.head.framing;
        let upload = body::upload(crd, self.buf, framing, &mut uwr, &upload_done);
        let download = Self::respond(
            self.head,
            &mut *self.rbuf,
            &mut *self.resp_head,
            self.deadline,
            ResponseRewrite {
                accept_gzip: self.accept_gzip,
                sticky: self.sticky,
                cookie_key: self.cookie_key,
                persisted: self.persisted,
                backend_key: self.backend_key,
                shared: self.shared,
            },
            &mut urd,
            cwr,
            &responded,
        );
        tokio::pin!(upload);
        tokio::pin!(download);
        let mut uploading = framing != Framing::Empty;
        let outcome = loop {
            tokio::select! {
                // The body first: bytes already here go to the backend at once, and a
                // malformed body is refused before any response can be relayed.
                biased;
                u = &mut upload, if uploading => {
                    uploading = false;
                    if let Err(e) = &u {
                        tracing::debug!(listener = %self.shared.key, error = %e, "request body not relayed");
                    }
                    match u {
                        Ok(_) | Err(UploadError::Upstream(_)) => {}
                        Err(UploadError::Client(_)) => return Outcome::ClientGone,
                        Err(UploadError::BadChunked(_)) if !responded.load(Ordering::Relaxed) => {
                            return Outcome::BadRequestBody
                        }
                        Err(UploadError::BadChunked(_)) => return Outcome::ClientGone,
                    }
                }
                o = &mut download => break o,
            }
        };
        // A response may come before the client has sent all of its body (a backend that
        // answers without reading it, or simply a fast one): the body gets a moment to
        // finish, so the connection can stay open; otherwise neither connection can carry
        // another request.
        if uploading && matches!(outcome, Outcome::Done { .. }) {
            let finished = tokio::time::timeout(UPLOAD_GRACE, &mut upload).await;
            if !matches!(finished, Ok(Ok(_))) {
                tracing::debug!(listener = %self.shared.key, "request body unfinished after the response");
            }
        }
        match outcome {
            Outcome::Done { status, sent, .. } if !upload_done.load(Ordering::Relaxed) => {
                Outcome::Done {
                    status,
                    client_keep: false,
                    reusable: false,
                    sent,
                }
            }
            o => o,
        }
    }

    /// Reads the response head (relaying interim 1xx responses), writes the rewritten head
    /// and relays the body.
    #[allow(clippy::too_many_arguments)]
    async fn respond<R, W>(
        head: &RequestHead,
        rbuf: &mut BytesMut,
        out: &mut Vec<u8>,
        deadline: tokio::time::Instant,
        rw: ResponseRewrite<'_>,
        urd: &mut R,
        cwr: &mut W,
        responded: &AtomicBool,
    ) -> Outcome
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        let resp = loop {
            let read = read_response_head(urd, rbuf, &head.method);
            tokio::pin!(read);
            match rw.shared.idle.deadline(deadline, read).await {
                Err(_) => return Outcome::TimedOut,
                Ok(Err(HeadFailure::Silent)) => return Outcome::Failed { stale: true },
                Ok(Err(HeadFailure::Other)) => return Outcome::Failed { stale: false },
                Ok(Ok(r)) if (100..200).contains(&r.status) && r.status != 101 => {
                    if head.minor == 1 {
                        response_head_start(out, &r, false, false);
                        out.extend_from_slice(b"\r\n");
                        responded.store(true, Ordering::Relaxed);
                        if cwr.write_all(out).await.is_err() {
                            return Outcome::ClientGone;
                        }
                    }
                }
                Ok(Ok(r)) => break r,
            }
        };
        if resp.status == 101 {
            if !head.upgrade {
                return Outcome::Failed { stale: false };
            }
            response_head_start(out, &resp, true, false);
            out.extend_from_slice(b"connection: upgrade\r\n\r\n");
            out.extend_from_slice(rbuf);
            rbuf.clear();
            responded.store(true, Ordering::Relaxed);
            return match cwr.write_all(out).await {
                Ok(()) => Outcome::Upgraded,
                Err(_) => Outcome::ClientGone,
            };
        }
        let compress = rw.accept_gzip
            && resp.framing != Framing::Empty
            && gzip::should_compress(resp.status, &resp.fields);
        let dechunk = head.minor == 0 && resp.framing == Framing::Chunked;
        // A body still uploading is given `UPLOAD_GRACE` after the response (see
        // `run_halves`); the connection closes after all if it does not finish.
        let client_keep = head.keep_alive && resp.framing != Framing::Close && !dechunk;
        response_head_start(out, &resp, false, compress || dechunk);
        if compress {
            out.extend_from_slice(
                b"content-encoding: gzip\r\nvary: Accept-Encoding\r\ntransfer-encoding: chunked\r\n",
            );
        }
        rw.cookies(&resp, out);
        if !client_keep {
            out.extend_from_slice(b"connection: close\r\n");
        } else if head.minor == 0 {
            out.extend_from_slice(b"connection: keep-alive\r\n");
        }
        out.extend_from_slice(b"\r\n");
        responded.store(true, Ordering::Relaxed);
        let encode = if compress {
            Encode::Gzip(Box::new(GzipStream::new()))
        } else if dechunk {
            Encode::Dechunk
        } else {
            Encode::Raw
        };
        match body::download(urd, rbuf, resp.framing, encode, cwr, out).await {
            Ok(d) => Outcome::Done {
                status: resp.status,
                client_keep,
                reusable: resp.reusable && d.clean,
                sent: d.sent,
            },
            Err(e @ DownloadError::Client(_)) => {
                tracing::debug!(listener = %rw.shared.key, error = %e, "client left mid-response");
                Outcome::ClientGone
            }
            Err(DownloadError::Upstream(e)) => {
                tracing::debug!(listener = %rw.shared.key, error = %e, "backend response broke");
                Outcome::Broken {
                    status: resp.status,
                    sent: 0,
                }
            }
        }
    }
}

/// What rewriting a response head needs.
struct ResponseRewrite<'a> {
    accept_gzip: bool,
    sticky: Option<&'a StickySpec>,
    cookie_key: &'a [u8; 32],
    persisted: Option<&'a str>,
    backend_key: &'a str,
    shared: &'a HttpShared,
}

impl ResponseRewrite<'_> {
    /// Persistence: insert the signed cookie naming this backend, or remember the backend's
    /// own cookie.
    fn cookies(&self, resp: &ResponseHead, out: &mut Vec<u8>) {
        match self.sticky {
            Some(StickySpec::Insert { cookie_timeout })
                if self.persisted != Some(self.backend_key) =>
            {
                let secs = cookie_timeout.as_secs();
                let value = sticky::sign(self.cookie_key, self.backend_key, secs);
                let v = format!("{INSERT_COOKIE_NAME}={value}; Max-Age={secs}; Path=/");
                push_field(out, b"set-cookie", v.as_bytes());
            }
            Some(StickySpec::Server { cookie }) => {
                if let Some(v) = headers::response_cookie(&resp.fields, cookie) {
                    self.shared.server_cookies.remember(v, self.backend_key);
                }
            }
            _ => {}
        }
    }
}

/// Reads until a complete response head is in `rbuf` and parses it off the front.
async fn read_response_head<R: AsyncRead + Unpin>(
    urd: &mut R,
    rbuf: &mut BytesMut,
    method: &Method,
) -> Result<ResponseHead, HeadFailure> {
    let mut received = !rbuf.is_empty();
    loop {
        if !rbuf.is_empty() {
            match parse_response(rbuf, method) {
                Ok(Some(h)) => return Ok(h),
                Ok(None) => {}
                Err(_) => return Err(HeadFailure::Other),
            }
        }
        rbuf.reserve(16 * 1024);
        match urd.read_buf(rbuf).await {
            Ok(0) | Err(_) if !received => return Err(HeadFailure::Silent),
            Ok(0) | Err(_) => return Err(HeadFailure::Other),
            Ok(_) => received = true,
        }
    }
}
