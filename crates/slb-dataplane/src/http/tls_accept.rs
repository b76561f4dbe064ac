//! TLS handshakes of HTTPS listeners. With a local key the handshake runs on the worker
//! like any other I/O; when the certificate's key is on the key server, the step that
//! signs (processing the ClientHello, which also writes the server's first flight) runs
//! on the blocking pool, so a round trip to the key server never stalls a worker.

use std::sync::Arc;

use tokio_rustls::rustls::server::Acceptor;
use tokio_rustls::rustls::ServerConfig;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use super::h1::ClientStream;

/// What new handshakes of a listener use; swapped whole on rotation.
pub struct TlsTermination {
    pub config: Arc<ServerConfig>,
    /// Some certificate signs through the key server.
    pub remote_signing: bool,
}

impl TlsTermination {
    /// The termination for `settings`, or why it cannot be built.
    pub fn build(settings: &slb_tls::TlsSettings) -> Result<Arc<Self>, slb_tls::ConfigError> {
        Ok(Arc::new(TlsTermination {
            config: slb_tls::server_config(settings)?,
            remote_signing: settings.signs_remotely(),
        }))
    }
}

/// Completes the server side of a handshake on `stream`. A failed remote signature ends
/// it with an alert to the client and an error here.
pub(crate) async fn handshake(
    term: &TlsTermination,
    stream: ClientStream,
) -> std::io::Result<TlsStream<ClientStream>> {
    if !term.remote_signing {
        return TlsAcceptor::from(term.config.clone()).accept(stream).await;
    }
    let start = LazyConfigAcceptor::new(Acceptor::default(), stream).await?;
    let config = term.config.clone();
    let accept = tokio::task::spawn_blocking(move || start.into_stream(config))
        .await
        .map_err(std::io::Error::other)?;
    accept.await
}
