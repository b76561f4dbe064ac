//! One request through an HTTP listener: redirect, route, sticky lookup, schedule, forward
//! with one retry, rewrite the response, and hand the upgraded streams over for WebSockets.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use http::header::{HeaderValue, HOST, SET_COOKIE, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, StatusCode, Uri, Version};
use http_body::Body as _;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::access_log::{rfc3339_now, AccessLogEntry};
use super::error_page::{error_response, redirect};
use super::headers::{self, X_FORWARDED_FOR};
use super::route::{host_without_port, HttpSnapshot};
use super::sticky::{self, INSERT_COOKIE_NAME};
use super::tail::TailBody;
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
}

/// Most backends tried for one request (the first choice and one retry).
pub const MAX_HTTP_ATTEMPTS: usize = 2;

fn idempotent(m: &Method) -> bool {
    matches!(
        *m,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::PUT | Method::DELETE | Method::TRACE
    )
}

/// The hyper service: never fails, every problem becomes one of the balancer's pages.
pub(crate) async fn handle(
    ctx: Arc<ConnCtx>,
    req: Request<Incoming>,
) -> Result<Response<ProxyBody>, Infallible> {
    let start = Instant::now();
    let shared = ctx.shared.clone();
    let snap = shared.snapshot.load_full();
    let host = request_host(&req);
    // Built only when the listener logs: formatting the time and copying the head's
    // fields costs more than the rest of a small request's bookkeeping.
    let mut entry = shared.access_log.is_some().then(|| AccessLogEntry {
        time: rfc3339_now(),
        client_ip: ctx.peer.ip().to_canonical().to_string(),
        client_port: ctx.peer.port(),
        host: host.clone(),
        request_method: req.method().to_string(),
        request_uri: req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into()),
        status: 0,
        request_time: 0.0,
        upstream_addr: String::new(),
        upstream_status: String::new(),
        upstream_response_time: 0.0,
        body_bytes_sent: 0,
        http_user_agent: header_str(req.headers(), USER_AGENT.as_str()),
        http_x_forwarded_for: header_str(req.headers(), X_FORWARDED_FOR),
        slb_vport: shared.key.port,
        ssl_protocol: ctx.ssl.0.clone(),
        ssl_cipher: ctx.ssl.1.clone(),
    });
    let (resp, guard) = proxy(&ctx, &snap, req, &host, &mut entry).await;
    shared.http.count_status(resp.status());
    if let Some(e) = entry.as_mut() {
        e.status = resp.status().as_u16();
    }
    let (parts, body) = resp.into_parts();
    let body = TailBody {
        inner: body,
        shared,
        guard,
        entry,
        start,
        sent: 0,
    };
    Ok(Response::from_parts(parts, body.boxed()))
}

fn header_str(h: &HeaderMap, name: &str) -> String {
    h.get(name)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned()
}

/// `Host` header, or the URI authority (HTTP/2 `:authority`).
fn request_host(req: &Request<Incoming>) -> String {
    req.headers()
        .get(HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
        .unwrap_or_default()
}

async fn proxy(
    ctx: &ConnCtx,
    snap: &HttpSnapshot,
    mut req: Request<Incoming>,
    host: &str,
    entry: &mut Option<AccessLogEntry>,
) -> (Response<ProxyBody>, Option<crate::backend::ActiveGuard>) {
    let spec = &snap.spec;
    let shared = &ctx.shared;
    let path_and_query = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into());
    if path_and_query.len() > MAX_URI_LEN {
        return (closing(error_response(StatusCode::URI_TOO_LONG)), None);
    }
    // The instance's query rate, as for HTTP/1.1 requests.
    if let Some(limiter) = shared.limiter.load().as_ref() {
        if limiter.admit_query().is_err() {
            return (error_response(StatusCode::SERVICE_UNAVAILABLE), None);
        }
    }
    if let Some(port) = spec.redirect_https_port {
        let h = host_without_port(host);
        let location = if port == 443 {
            format!("https://{h}{path_and_query}")
        } else {
            format!("https://{h}:{port}{path_and_query}")
        };
        return (redirect(&location), None);
    }
    let (group_idx, _rule) = snap.route(host, req.uri().path());
    let group = &snap.groups[group_idx];
    let sticky = snap.group_sticky[group_idx].as_ref();

    // Persistence: which backend the client's cookie names, if any.
    let persisted: Option<String> = match sticky {
        Some(StickySpec::Insert { .. }) => {
            headers::request_cookie(req.headers(), INSERT_COOKIE_NAME)
                .and_then(|v| sticky::verify(&spec.cookie_key, v))
        }
        Some(StickySpec::Server { cookie }) => headers::request_cookie(req.headers(), cookie)
            .and_then(|v| shared.server_cookies.lookup(v)),
        None => None,
    };

    let upgrade = req.version() == Version::HTTP_11 && headers::is_upgrade(req.headers());
    let client_upgrade = upgrade.then(|| hyper::upgrade::on(&mut req));
    let accept_gzip = spec.gzip && gzip::client_accepts(req.headers());

    // Upstream request head.
    let method = req.method().clone();
    let mut head = req.headers().clone();
    headers::remove_hop_by_hop(&mut head, upgrade);
    if !head.contains_key(HOST) {
        if let Ok(v) = HeaderValue::from_str(host) {
            head.insert(HOST, v);
        }
    }
    headers::add_forwarded(
        &mut head,
        &headers::Origin {
            https: !ctx.ssl.0.is_empty(),
            flags: spec.forwarded,
            client: ctx.peer,
            listener: ctx.local,
            load_balancer_id: &shared.key.load_balancer_id,
            listener_port: shared.key.port,
        },
    );
    let body_empty = req.body().is_end_stream();
    let retryable = idempotent(&method) && body_empty;
    let mut body = Some(
        req.into_body()
            .map_err(|e| Box::new(e) as super::BoxError)
            .boxed(),
    );

    let request_timeout = if spec.request_timeout.is_zero() {
        DEFAULT_HTTP_REQUEST_TIMEOUT
    } else {
        spec.request_timeout
    };
    let deadline = tokio::time::Instant::now() + request_timeout;
    let mut tried: Vec<usize> = Vec::new();
    let mut last_status = StatusCode::SERVICE_UNAVAILABLE;
    for attempt in 0..MAX_HTTP_ATTEMPTS {
        let persisted_key = if attempt == 0 {
            persisted.as_deref()
        } else {
            None
        };
        let Some(idx) = group.choose(ctx.peer, ctx.local, &tried, persisted_key) else {
            break;
        };
        tried.push(idx);
        let backend = &group.backends[idx];
        if let Some(e) = entry.as_mut() {
            if !e.upstream_addr.is_empty() {
                e.upstream_addr.push_str(", ");
            }
            e.upstream_addr.push_str(&backend.key);
        }
        let guard = backend.state.track();
        let uri: Uri = match format!("http://{}{}", backend.addr, path_and_query).parse() {
            Ok(u) => u,
            Err(_) => return (closing(error_response(StatusCode::BAD_REQUEST)), None),
        };
        let b = match body.take() {
            Some(b) => b,
            None => Empty::new().map_err(|never| match never {}).boxed(),
        };
        let mut up = Request::new(b);
        *up.method_mut() = method.clone();
        *up.uri_mut() = uri;
        *up.version_mut() = Version::HTTP_11;
        *up.headers_mut() = head.clone();
        let sent_at = Instant::now();
        let result = tokio::time::timeout_at(deadline, shared.client.request(up)).await;
        let mut resp = match result {
            Err(_elapsed) => {
                shared.count_upstream_timeout();
                tracing::debug!(listener = %shared.key, backend = %backend.addr, "no response head in time");
                return (error_response(StatusCode::GATEWAY_TIMEOUT), None);
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
            e.upstream_status = resp.status().as_u16().to_string();
            e.upstream_response_time = sent_at.elapsed().as_secs_f64();
        }

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            if let Some(client_up) = client_upgrade {
                let backend_up = hyper::upgrade::on(&mut resp);
                let key = shared.key.clone();
                tokio::spawn(async move {
                    match tokio::try_join!(client_up, backend_up) {
                        Ok((c, b)) => {
                            let mut c = TokioIo::new(c);
                            let mut b = TokioIo::new(b);
                            let _ = tokio::io::copy_bidirectional(&mut c, &mut b).await;
                        }
                        Err(e) => tracing::debug!(listener = %key, error = %e, "upgrade failed"),
                    }
                    drop(guard);
                });
                let (mut parts, body) = resp.into_parts();
                headers::remove_hop_by_hop(&mut parts.headers, true);
                return (
                    Response::from_parts(
                        parts,
                        body.map_err(|e| Box::new(e) as super::BoxError).boxed(),
                    ),
                    None,
                );
            }
        }

        let (mut parts, body) = resp.into_parts();
        headers::remove_hop_by_hop(&mut parts.headers, false);
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
        let mut body = body.map_err(|e| Box::new(e) as super::BoxError).boxed();
        if accept_gzip
            && method != Method::HEAD
            && gzip::should_compress(parts.status.as_u16(), &parts.headers)
        {
            gzip::set_headers(&mut parts.headers);
            body = gzip::GzipBody::new(body).boxed();
        }
        return (Response::from_parts(parts, body), Some(guard));
    }
    (error_response(last_status), None)
}

/// Asks hyper to close the client connection after this response (HTTP/1.1).
fn closing(mut resp: Response<ProxyBody>) -> Response<ProxyBody> {
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
}
