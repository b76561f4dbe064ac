//! A rustls signing key whose signatures the key server computes: the node holds the
//! certificate, the key server the private key.

use std::sync::Arc;

use rustls::sign::{Signer, SigningKey};
use rustls::{SignatureAlgorithm, SignatureScheme};
use slb_tls::KeyKind;

use crate::client::KeyServerClient;

/// Certificate `id`'s key, as a handshake sees it.
#[derive(Debug)]
pub struct RemoteSigningKey {
    pub(crate) id: String,
    pub(crate) kind: KeyKind,
    pub(crate) client: Arc<KeyServerClient>,
}

impl SigningKey for RemoteSigningKey {
    fn choose_scheme(&self, offered: &[SignatureScheme]) -> Option<Box<dyn Signer>> {
        let scheme = *self.kind.schemes().iter().find(|s| offered.contains(s))?;
        Some(Box::new(RemoteSigner {
            id: self.id.clone(),
            scheme,
            client: self.client.clone(),
        }))
    }

    fn algorithm(&self) -> SignatureAlgorithm {
        self.kind.algorithm()
    }
}

#[derive(Debug)]
struct RemoteSigner {
    id: String,
    scheme: SignatureScheme,
    client: Arc<KeyServerClient>,
}

impl Signer for RemoteSigner {
    /// Blocks for one round trip to the key server; a failure aborts the handshake with
    /// an alert.
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, rustls::Error> {
        self.client
            .sign(&self.id, self.scheme, message)
            .map_err(|e| rustls::Error::General(e.to_string()))
    }

    fn scheme(&self) -> SignatureScheme {
        self.scheme
    }
}
