//! One HTTP/2 request through an HTTP listener: redirect, route, sticky lookup, schedule,
//! forward with one retry over the native engine's backend pool (`h1/upstream.rs`), and
//! rewrite the response. HTTP/1.1 requests never come here: the engine serves them itself
//! (`h1/exchange.rs`), so there are no upgrades to relay (HTTP/2 has no `Upgrade`).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use super::h2::RequestBody;
use http::header::{HeaderValue, HOST, SET_COOKIE, USER_AGENT};
use http::request::Parts;
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body::Body as _;
use http_body_util::BodyExt;

use super::access_log::{rfc3339_now, AccessLogEntry};
use super::error_page::{error_response, redirect};
use super::h1::{map_request_head, prepare_upload, send_upstream, Outgoing, SendError};
use super::headers::{self, Origin, X_FORWARDED_FOR};
use super::route::{host_without_port, HttpSnapshot};
use super::sticky::{self, INSERT_COOKIE_NAME};
use super::tail::{ResponseBody, TailBody};
use super::{gzip, HttpShared, ProxyBody, MAX_URI_LEN};
use crate::spec::{StickySpec, DEFAULT_HTTP_REQUEST_TIMEOUT};

/// Per client connection context.
pub(crate) struct ConnCtx {
    pub shared: Arc<HttpShared>,
    /// TLS version and cipher suite (access log; empty without TLS, which also decides
    /// `X-Forwarded-Proto`).
    pub ssl: (String, String),
    pub peer: SocketAddr,
    pub local: SocketAddr,
    /// The backend's 1xx responses for the stream being polled (`h2/interim.rs`).
    pub interim: super::h2::Interim,
}

/// Most backends tried for one request (the first choice and one retry).
pub const MAX_HTTP_ATTEMPTS: usize = 2;

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// Answers one HTTP/2 request: never fails, every problem becomes one of the balancer's
/// pages.
///
/// A function returning an async block, with the request split before it: an async fn
/// would keep the whole request as an argument beside its parts.
pub(crate) fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<RequestBody>,
) -> impl std::future::Future<Output = Response<TailBody>> + Send {
    let start = Instant::now();
    let (req, body) = req.into_parts();
    async move {
        let host = request_host(&req);
        // Built only when the listener logs: formatting the time and copying the head's
        // fields costs more than the rest of a small request's bookkeeping.
        // Boxed: the entry rides in the response body, which is moved on its way out.
        let mut entry = ctx.shared.access_log.is_some().then(|| {
            Box::new(AccessLogEntry {
                time: rfc3339_now(),
                client_ip: ctx.peer.ip().to_canonical().to_string(),
                client_port: ctx.peer.port(),
                host: host.to_owned(),
                request_method: req.method.to_string(),
                request_uri: path_and_query(&req).to_owned(),
                status: 0,
                request_time: 0.0,
                upstream_addr: String::new(),
                upstream_status: String::new(),
                upstream_response_time: 0.0,
                body_bytes_sent: 0,
                http_user_agent: header_str(&req.headers, USER_AGENT.as_str()),
                http_x_forwarded_for: header_str(&req.headers, X_FORWARDED_FOR),
                slb_vport: ctx.shared.key.port,
                ssl_protocol: ctx.ssl.0.clone(),
                ssl_cipher: ctx.ssl.1.clone(),
            })
        });
        let snap = ctx.shared.snapshot.load_full();
        // Boxed: the forwarding state is large, and the stream's future, which holds this one,
        // is moved into the connection's set of streams before it is first polled.
        let (resp, guard) = Box::pin(proxy(&ctx, &snap, &req, body, host, start, &mut entry)).await;
        ctx.shared.http.count_status(resp.status());
        if let Some(e) = entry.as_mut() {
            e.status = resp.status().as_u16();
        }
        let (parts, body) = resp.into_parts();
        let body = TailBody {
            inner: body,
            shared: ctx.shared.clone(),
            guard,
            entry,
            start,
            sent: 0,
        };
        Response::from_parts(parts, body)
    }
}

fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `Host` header, or the URI authority (HTTP/2 `:authority`).
fn request_host(req: &Parts) -> &str {
    req.headers
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .or_else(|| req.uri.authority().map(|a| a.as_str()))
        .unwrap_or_default()
}

fn path_and_query(req: &Parts) -> &str {
    req.uri.path_and_query().map_or("/", |p| p.as_str())
}

async fn proxy(
    ctx: &ConnCtx,
    snap: &HttpSnapshot,
    req: &Parts,
    body: RequestBody,
    host: &str,
    start: Instant,
    entry: &mut Option<Box<AccessLogEntry>>,
) -> (Response<ResponseBody>, Option<crate::backend::ActiveGuard>) {
    let spec = &snap.spec;
    let shared = &ctx.shared;
    let path_and_query = path_and_query(req);
    if path_and_query.len() > MAX_URI_LEN {
        return (page(error_response(StatusCode::URI_TOO_LONG)), None);
    }
    if req.method == Method::CONNECT {
        // Not proxied, as on HTTP/1.1 (h2 refuses extended CONNECT before this).
        return (page(error_response(StatusCode::METHOD_NOT_ALLOWED)), None);
    }
    // The instance's query rate, as for HTTP/1.1 requests.
    if let Some(limiter) = shared.limiter.load().as_ref() {
        if limiter.admit_query().is_err() {
            return (page(error_response(StatusCode::SERVICE_UNAVAILABLE)), None);
        }
    }
    if let Some(port) = spec.redirect_https_port {
        let h = host_without_port(host);
        let location = if port == 443 {
            format!("https://{h}{path_and_query}")
        } else {
            format!("https://{h}:{port}{path_and_query}")
        };
        return (page(redirect(&location)), None);
    }
    let (group_idx, _rule) = snap.route(host, req.uri.path());
    let group = &snap.groups[group_idx];
    let sticky = snap.group_sticky[group_idx].as_ref();

    // Persistence: which backend the client's cookie names, if any.
    let persisted: Option<String> = match sticky {
        Some(StickySpec::Insert { .. }) => {
            headers::request_cookie(&req.headers, INSERT_COOKIE_NAME)
                .and_then(|v| sticky::verify(&spec.cookie_key, v))
        }
        Some(StickySpec::Server { cookie }) => headers::request_cookie(&req.headers, cookie)
            .and_then(|v| shared.server_cookies.lookup(v)),
        None => None,
    };
    let accept_gzip = spec.gzip && req.method != Method::HEAD && gzip::client_accepts(&req.headers);

    // The upstream request head, written once for every attempt, with the body bytes
    // already here.
    let fallback_host;
    let backend_host = if host.is_empty() {
        fallback_host = ctx.local.to_string();
        fallback_host.as_str()
    } else {
        host
    };
    let mut head = Vec::new();
    map_request_head(
        &mut head,
        &req.method,
        path_and_query,
        &req.headers,
        &Origin {
            https: !ctx.ssl.0.is_empty(),
            flags: spec.forwarded,
            client: ctx.peer,
            listener: ctx.local,
            load_balancer_id: &shared.key.load_balancer_id,
            listener_port: shared.key.port,
        },
        backend_host,
    );
    let body_empty = body.is_end_stream();
    let mut upload = match prepare_upload(body, &req.method, &mut head).await {
        Ok(u) => u,
        Err(_) => return (page(error_response(StatusCode::BAD_REQUEST)), None),
    };
    let retryable = idempotent(&req.method) && body_empty;

    let request_timeout = if spec.request_timeout.is_zero() {
        DEFAULT_HTTP_REQUEST_TIMEOUT
    } else {
        spec.request_timeout
    };
    // From the stream's start: one clock read serves the deadline and the pool's ages.
    let deadline = tokio::time::Instant::from_std(start) + request_timeout;
    let mut tried = [usize::MAX; MAX_HTTP_ATTEMPTS];
    let mut last_status = StatusCode::SERVICE_UNAVAILABLE;
    for attempt in 0..MAX_HTTP_ATTEMPTS {
        let persisted_key = if attempt == 0 {
            persisted.as_deref()
        } else {
            None
        };
        let Some(idx) = group.choose(ctx.peer, ctx.local, &tried[..attempt], persisted_key) else {
            break;
        };
        tried[attempt] = idx;
        let backend = &group.backends[idx];
        if let Some(e) = entry.as_mut() {
            if !e.upstream_addr.is_empty() {
                e.upstream_addr.push_str(", ");
            }
            e.upstream_addr.push_str(&backend.key);
        }
        let guard = backend.state.track();
        // Only the access log reports the backend's time.
        let sent_at = entry.is_some().then(Instant::now);
        let send = send_upstream(
            &shared.pool,
            backend.addr,
            start,
            Outgoing {
                head: &head,
                method: &req.method,
                body: upload.take(),
                retry_stale: body_empty,
                interim: Some(&ctx.interim),
            },
        );
        tokio::pin!(send);
        let (mut parts, body) = match shared.idle.deadline(deadline, send).await {
            Err(_elapsed) => {
                shared.count_upstream_timeout();
                tracing::debug!(listener = %shared.key, backend = %backend.addr, "no response head in time");
                return (page(error_response(StatusCode::GATEWAY_TIMEOUT)), None);
            }
            Ok(Err(SendError::ClientBody)) => {
                tracing::debug!(listener = %shared.key, "client request body failed");
                return (page(error_response(StatusCode::BAD_REQUEST)), None);
            }
            Ok(Err(e)) => {
                shared.count_upstream_failure();
                tracing::debug!(listener = %shared.key, backend = %backend.addr, error = %e, "backend request failed");
                last_status = StatusCode::BAD_GATEWAY;
                if retryable {
                    continue;
                }
                break;
            }
            Ok(Ok(resp)) => resp,
        };
        if let Some(e) = entry.as_mut() {
            e.upstream_status = parts.status.as_u16().to_string();
            e.upstream_response_time = sent_at.map_or(0.0, |t| t.elapsed().as_secs_f64());
        }
        match sticky {
            Some(StickySpec::Insert { cookie_timeout })
                if persisted.as_deref() != Some(backend.key.as_str()) =>
            {
                let secs = cookie_timeout.as_secs();
                let value = sticky::sign(&spec.cookie_key, &backend.key, secs);
                if let Ok(v) = HeaderValue::from_str(&format!(
                    "{INSERT_COOKIE_NAME}={value}; Max-Age={secs}; Path=/"
                )) {
                    parts.headers.append(SET_COOKIE, v);
                }
            }
            Some(StickySpec::Server { cookie }) => {
                if let Some(v) = headers::response_cookie(&parts.headers, cookie) {
                    shared.server_cookies.remember(v, &backend.key);
                }
            }
            _ => {}
        }
        let body = if accept_gzip && gzip::should_compress(parts.status.as_u16(), &parts.headers) {
            gzip::set_headers(&mut parts.headers);
            ResponseBody::Boxed(gzip::GzipBody::new(body.boxed()).boxed())
        } else {
            ResponseBody::Upstream(body)
        };
        return (Response::from_parts(parts, body), Some(guard));
    }
    (page(error_response(last_status)), None)
}

/// One of the balancer's own responses.
fn page(resp: Response<ProxyBody>) -> Response<ResponseBody> {
    resp.map(ResponseBody::Boxed)
}
