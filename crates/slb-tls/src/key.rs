//! Where a certificate's private-key operations happen: in this process from a PEM key,
//! or elsewhere (the key server) through a signing key that computes signatures remotely.

use std::fmt;
use std::sync::Arc;

use rustls::sign::SigningKey;

/// A certificate's private key as a TLS configuration uses it.
#[derive(Clone, Debug)]
pub enum TlsKey {
    /// The key itself (PEM): handshakes sign in this process.
    Pem(String),
    /// A key kept elsewhere; only its signatures reach this process.
    Remote(RemoteKey),
}

impl TlsKey {
    /// True for a key whose signatures cross the network.
    pub fn is_remote(&self) -> bool {
        matches!(self, TlsKey::Remote(_))
    }
}

/// Whether a remote key can sign right now (the key server is reachable). Asked when a
/// handshake picks the certificate, before the server's first flight: refusing there
/// sends the client a clean alert, while a signature failing later tears the handshake.
pub type ReadyCheck = Arc<dyn Fn() -> bool + Send + Sync>;

/// A signing key whose signatures are computed by another process. Equal when both name
/// the same key through the same signer, so that a reconcile pass that rebuilds the same
/// settings does not rebuild the listener's TLS configuration (and lose its session
/// tickets).
#[derive(Clone)]
pub struct RemoteKey {
    /// The key's name where it is kept (the certificate ID).
    pub id: String,
    pub signer: Arc<dyn SigningKey>,
    pub ready: ReadyCheck,
}

impl fmt::Debug for RemoteKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKey").field("id", &self.id).finish()
    }
}

impl PartialEq for RemoteKey {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id && Arc::ptr_eq(&self.signer, &other.signer)
    }
}

impl Eq for RemoteKey {}

impl PartialEq for TlsKey {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (TlsKey::Pem(a), TlsKey::Pem(b)) => a == b,
            (TlsKey::Remote(a), TlsKey::Remote(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for TlsKey {}

/// The public-key family of a certificate: what a remote signer may offer to sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyKind {
    Rsa,
    EcdsaP256,
    EcdsaP384,
}

impl KeyKind {
    /// Signature schemes for this key, most preferred first (as rustls orders them for a
    /// local key of the same kind).
    pub fn schemes(self) -> &'static [rustls::SignatureScheme] {
        use rustls::SignatureScheme as S;
        match self {
            KeyKind::Rsa => &[
                S::RSA_PSS_SHA512,
                S::RSA_PSS_SHA384,
                S::RSA_PSS_SHA256,
                S::RSA_PKCS1_SHA512,
                S::RSA_PKCS1_SHA384,
                S::RSA_PKCS1_SHA256,
            ],
            KeyKind::EcdsaP256 => &[S::ECDSA_NISTP256_SHA256],
            KeyKind::EcdsaP384 => &[S::ECDSA_NISTP384_SHA384],
        }
    }

    /// The TLS 1.2 signature algorithm family.
    pub fn algorithm(self) -> rustls::SignatureAlgorithm {
        match self {
            KeyKind::Rsa => rustls::SignatureAlgorithm::RSA,
            KeyKind::EcdsaP256 | KeyKind::EcdsaP384 => rustls::SignatureAlgorithm::ECDSA,
        }
    }
}
