//! One accepted client connection, from admission to its path: plain HTTP/1.1 (h2c by
//! prior knowledge included), or TLS then HTTP/1.1 or HTTP/2 by ALPN.
//!
//! The checks that may refuse a connection (anti-DDoS, ACL, instance capacity) run before
//! its task exists, and each path is spawned as its own future, so that a task is only as
//! large as the path it takes. The plain HTTP/1.1 task is the one that matters: it is what
//! every idle keep-alive connection costs in memory.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use super::h1::{Client, ClientStream};
use super::HttpShared;
use crate::limits::Slot;
use crate::spec::DEFAULT_HTTP_IDLE_TIMEOUT;

/// What a client connection holds until it ends: its place in the listener's active
/// connections and, with an instance capacity, its slot there.
pub(crate) struct ConnHold {
    shared: Arc<HttpShared>,
    _slot: Option<Slot>,
}

impl ConnHold {
    /// Counts a new connection (total and active) until the hold is dropped.
    fn new(shared: &Arc<HttpShared>) -> Self {
        let m = &shared.metrics;
        m.connections_total.fetch_add(1, Ordering::Relaxed);
        m.active_connections.fetch_add(1, Ordering::Relaxed);
        Self {
            shared: shared.clone(),
            _slot: None,
        }
    }

    /// The listener's shared state.
    pub(crate) fn shared(&self) -> &Arc<HttpShared> {
        &self.shared
    }
}

impl Drop for ConnHold {
    fn drop(&mut self) {
        self.shared
            .metrics
            .active_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

/// Admits a connection just accepted and spawns the task that serves it (or refuses it).
pub(crate) fn start(
    stream: ClientStream,
    peer: SocketAddr,
    bound: Option<SocketAddr>,
    shared: &Arc<HttpShared>,
) {
    let mut hold = ConnHold::new(shared);
    let Some(local) = bound.or_else(|| stream.local_addr().ok()) else {
        return;
    };
    if let Some(d) = shared.ddos.load().as_ref() {
        if !d.connection(peer.ip()) {
            return;
        }
    }
    let Some(idle) = acl_and_idle(shared, peer) else {
        shared.metrics.acl_denied.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let tls = shared.tls.load_full();
    // Over the instance's capacity: plain HTTP gets a 503 page, HTTPS is closed before
    // any TLS work.
    if let Some(limiter) = shared.limiter.load_full() {
        match limiter.admit() {
            Ok(slot) => hold._slot = Some(slot),
            Err(_) => {
                if tls.is_none() {
                    tokio::spawn(busy(stream, hold));
                }
                return;
            }
        }
    }
    match tls {
        None => {
            let client = Client::Plain(stream);
            tokio::spawn(super::h1::serve(client, peer, local, idle, hold));
        }
        Some(term) => {
            tokio::spawn(serve_tls(term, stream, peer, local, idle, hold));
        }
    }
}

/// The listener's idle timeout, or `None` when its ACL refuses `peer` (before any TLS
/// work: a refused client costs an accept and a close).
fn acl_and_idle(shared: &HttpShared, peer: SocketAddr) -> Option<Duration> {
    let snap = shared.snapshot.load();
    if snap
        .spec
        .acl
        .as_ref()
        .is_some_and(|acl| !acl.allows(peer.ip()))
    {
        return None;
    }
    let t = snap.spec.idle_timeout;
    Some(if t.is_zero() {
        DEFAULT_HTTP_IDLE_TIMEOUT
    } else {
        t
    })
}

/// Answers a connection over the instance's capacity with the balancer's 503 page.
async fn busy(mut stream: ClientStream, _hold: ConnHold) {
    let page = super::error_page::raw_page(503, "", true);
    let _ = tokio::io::AsyncWriteExt::write_all(&mut stream, &page).await;
}

/// HTTPS: handshake, then HTTP/1.1 or HTTP/2 by ALPN.
async fn serve_tls(
    term: Arc<super::tls_accept::TlsTermination>,
    stream: ClientStream,
    peer: SocketAddr,
    local: SocketAddr,
    idle: Duration,
    hold: ConnHold,
) {
    let shared = hold.shared.clone();
    // A TLS connection writes several small records in a row (handshake flight, session
    // tickets, then the response): with Nagle on, each waits for the previous one's ACK.
    let _ = stream.set_nodelay(true);
    let handshake = super::tls_accept::handshake(&term, stream);
    let tls = match tokio::time::timeout(idle, handshake).await {
        Ok(Ok(tls)) => tls,
        failed => {
            shared
                .http
                .tls_handshake_failures
                .fetch_add(1, Ordering::Relaxed);
            match failed {
                Ok(Err(e)) => {
                    tracing::debug!(listener = %shared.key, %peer, error = %e, "TLS handshake failed")
                }
                _ => tracing::debug!(listener = %shared.key, %peer, "TLS handshake timed out"),
            }
            return;
        }
    };
    shared.http.tls_handshakes.fetch_add(1, Ordering::Relaxed);
    if tls.get_ref().1.handshake_kind() == Some(tokio_rustls::rustls::HandshakeKind::Resumed) {
        shared
            .http
            .tls_resumed_handshakes
            .fetch_add(1, Ordering::Relaxed);
    }
    // The connection goes on in a task of its own and this one ends: the handshake's
    // state (this task is 1.9 KiB) is not kept for as long as the connection stays open.
    if tls.get_ref().1.alpn_protocol() == Some(b"h2") {
        let _ = tls.get_ref().0.set_nodelay(true);
        let ssl = super::h1::ssl_info(tls.get_ref().1);
        let h2 = super::h2::serve(tls, bytes::Bytes::new(), shared, peer, local, idle, ssl);
        tokio::spawn(async move {
            h2.await;
            drop(hold);
        });
        return;
    }
    let client = Client::Tls(Box::new(tls));
    tokio::spawn(super::h1::serve(client, peer, local, idle, hold));
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_rustls::rustls::{self, pki_types::ServerName, ClientConfig, RootCertStore};

    use super::*;
    use crate::http::runtime::HttpListenerRuntime;
    use crate::http::tls_accept::TlsTermination;
    use crate::spec::{ForwardedHeaders, HttpListenerSpec, ListenerKey};

    /// An HTTPS connection's handshake task ends once the handshake is done and the
    /// connection goes on in its own task: an idle keep-alive connection does not keep the
    /// handshake's state (1.9 KiB), and still serves its next request.
    #[tokio::test]
    async fn the_handshake_task_ends_when_the_connection_is_handed_on() {
        let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
        let settings = slb_tls::TlsSettings {
            chain_pem: ck.cert.pem(),
            key: slb_tls::TlsKey::Pem(ck.key_pair.serialize_pem()),
            client_ca_pem: None,
            policy: "tls_cipher_policy_1_2".into(),
            http2: false,
            resumption: true,
            sni: Vec::new(),
            custom: None,
        };
        let term = TlsTermination::build(&settings).unwrap();
        let spec = HttpListenerSpec {
            key: ListenerKey::http("lb", 443),
            bind: "127.0.0.1:0".parse().unwrap(),
            default_backends: Vec::new(),
            rules: Vec::new(),
            scheduler: slb_core::SchedulerKind::Rr,
            health: None,
            sticky: None,
            forwarded: ForwardedHeaders::default(),
            idle_timeout: Duration::from_secs(10),
            request_timeout: Default::default(),
            gzip: false,
            redirect_https_port: None,
            cookie_key: [0; 32],
            tls: Some(settings),
            bandwidth_mbps: None,
            acl: None,
            caps: None,
            ddos: None,
        };
        let listener = HttpListenerRuntime::start(spec, None, &Default::default()).unwrap();

        let sockets = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let local = sockets.local_addr().unwrap();
        let client = tokio::net::TcpStream::connect(local).await.unwrap();
        let (accepted, peer) = sockets.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let hold = ConnHold::new(&listener.shared);
        let handshake = tokio::spawn(serve_tls(
            term,
            ClientStream::new(accepted),
            peer,
            local,
            Duration::from_secs(10),
            hold,
        ));

        let mut roots = RootCertStore::empty();
        roots.add(ck.cert.der().clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        let name = ServerName::try_from("localhost").unwrap();
        let mut tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, client)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), handshake)
            .await
            .expect("the handshake task ends while the connection stays open")
            .unwrap();

        tls.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .unwrap();
        let mut head = [0u8; 12];
        tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut head))
            .await
            .expect("answered")
            .unwrap();
        assert_eq!(&head, b"HTTP/1.1 503", "no backends: the balancer's 503");
        listener.stop().await;
    }
}
