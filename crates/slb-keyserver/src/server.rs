//! The key server role: answers signing requests from nodes that present a certificate of
//! the shared CA, with keys from its [`KeyStore`].

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::keystore::{KeyStore, KeyStoreError};
use crate::proto::{self, Request, Response, Status};

/// A connection that completes no handshake in this time is dropped.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A node's pooled connection that sends nothing for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// Accepts nodes on `listener` until `shutdown` turns true.
pub async fn serve(
    listener: TcpListener,
    tls: Arc<ServerConfig>,
    store: Arc<KeyStore>,
    mut shutdown: tokio::sync::watch::Receiver<bool>,
) -> std::io::Result<()> {
    let acceptor = TlsAcceptor::from(tls);
    // Signatures made, logged at shutdown (the benchmark divides CPU time by it).
    let signed = Arc::new(AtomicU64::new(0));
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(error = %e, "key server accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = async { let _ = shutdown.wait_for(|stop| *stop).await; } => {
                tracing::info!(signatures = signed.load(Ordering::Relaxed), "key server stopped");
                return Ok(());
            }
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let store = store.clone();
        let signed = signed.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => {
                    tracing::warn!(%peer, error = %e, "key server: node refused (TLS)");
                    return;
                }
                Err(_) => return,
            };
            if let Err(e) = connection(tls, peer, &store, &signed).await {
                tracing::debug!(%peer, error = %e, "key server connection ended");
            }
        });
    }
}

async fn connection<S>(
    mut s: S,
    peer: SocketAddr,
    store: &Arc<KeyStore>,
    signed: &AtomicU64,
) -> std::io::Result<()>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    loop {
        let mut header = [0u8; 4];
        match tokio::time::timeout(IDLE_TIMEOUT, s.read_exact(&mut header)).await {
            Ok(Ok(_)) => {}
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(()),
            Ok(Err(e)) => return Err(e),
            Err(_) => return Ok(()),
        }
        let len = proto::frame_len(header)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidData, e))?;
        let mut body = vec![0u8; len];
        s.read_exact(&mut body).await?;
        let response = match proto::decode_request(&body) {
            Ok(request) => handle(request, peer, store, signed).await,
            Err(e) => Response::error(Status::BadRequest, e.to_string()),
        };
        s.write_all(&proto::encode_response(&response)).await?;
        s.flush().await?;
    }
}

/// One request's answer; `signed` counts signatures made.
pub async fn handle(
    request: Request,
    peer: SocketAddr,
    store: &Arc<KeyStore>,
    signed: &AtomicU64,
) -> Response {
    match request {
        Request::Sign {
            id,
            scheme,
            message,
        } => {
            let Some(key) = store.get(&id) else {
                return Response::error(Status::NotFound, format!("no key {id}"));
            };
            let Some(signer) = key.choose_scheme(&[scheme]) else {
                return Response::error(
                    Status::BadRequest,
                    format!("key {id} cannot sign with {scheme:?}"),
                );
            };
            match signer.sign(&message) {
                Ok(signature) => {
                    signed.fetch_add(1, Ordering::Relaxed);
                    Response {
                        status: Status::Ok,
                        payload: signature,
                    }
                }
                Err(e) => Response::error(Status::Failed, e.to_string()),
            }
        }
        Request::Put { id, pem } => {
            let s = store.clone();
            let key_id = id.clone();
            match tokio::task::spawn_blocking(move || s.put(&key_id, &pem)).await {
                Ok(Ok(())) => {
                    tracing::info!(%peer, key = %id, "key stored");
                    Response {
                        status: Status::Ok,
                        payload: Vec::new(),
                    }
                }
                Ok(Err(e @ KeyStoreError::BadKey { .. })) => {
                    Response::error(Status::BadRequest, e.to_string())
                }
                Ok(Err(e)) => Response::error(Status::Failed, e.to_string()),
                Err(e) => Response::error(Status::Failed, e.to_string()),
            }
        }
        Request::Delete { id } => {
            let s = store.clone();
            let key_id = id.clone();
            match tokio::task::spawn_blocking(move || s.delete(&key_id)).await {
                Ok(Ok(existed)) => {
                    tracing::info!(%peer, key = %id, existed, "key deleted");
                    Response {
                        status: Status::Ok,
                        payload: Vec::new(),
                    }
                }
                Ok(Err(e)) => Response::error(Status::Failed, e.to_string()),
                Err(e) => Response::error(Status::Failed, e.to_string()),
            }
        }
    }
}
