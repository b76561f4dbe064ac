//! rustls server configurations for HTTPS listeners: certificate, Alibaba TLS policy,
//! ALPN, and client-certificate verification for mutual TLS.
//!
//! # TLS policies
//!
//! rustls implements TLS 1.2 and 1.3 only, with AEAD suites only, so Alibaba's older
//! policies map to the nearest safe set:
//!
//! | `TLSCipherPolicy` | Alibaba | here |
//! |---|---|---|
//! | `tls_cipher_policy_1_0`, `_1_1`, `_1_2` | TLS 1.0/1.1/1.2 + CBC/3DES suites | TLS 1.2, every rustls 1.2 suite |
//! | `tls_cipher_policy_1_2_strict` | TLS 1.2, ECDHE + AEAD | TLS 1.2, ECDHE + AEAD (all rustls 1.2 suites are) |
//! | `tls_cipher_policy_1_2_strict_with_1_3` | TLS 1.2 strict and 1.3 | TLS 1.2 and 1.3 |

use std::collections::HashMap;
use std::sync::Arc;

use rustls::crypto::ring::default_provider;
use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::{RootCertStore, ServerConfig};

use crate::key::{ReadyCheck, TlsKey};

/// Alibaba's TLS policy names, the default first.
pub const TLS_POLICIES: &[&str] = &[
    "tls_cipher_policy_1_0",
    "tls_cipher_policy_1_1",
    "tls_cipher_policy_1_2",
    "tls_cipher_policy_1_2_strict",
    "tls_cipher_policy_1_2_strict_with_1_3",
];

/// What an HTTPS listener terminates TLS with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSettings {
    /// PEM chain, leaf first.
    pub chain_pem: String,
    pub key: TlsKey,
    /// PEM CA certificates: when set, clients must present a certificate they issued.
    pub client_ca_pem: Option<String>,
    /// One of [`TLS_POLICIES`], unless `custom` is set.
    pub policy: String,
    /// A custom TLS policy (CreateTLSCipherPolicy), used instead of `policy`.
    pub custom: Option<crate::CustomPolicy>,
    /// Offer `h2` by ALPN (besides `http/1.1`).
    pub http2: bool,
    /// Let clients resume sessions; off makes every connection a full handshake.
    pub resumption: bool,
    /// Certificates chosen by the client's SNI name (domain extensions).
    pub sni: Vec<SniCertificate>,
}

/// A certificate served to clients that ask for `domain` (exact, or `*.` wildcard matching
/// one or more labels).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SniCertificate {
    pub domain: String,
    pub chain_pem: String,
    pub key: TlsKey,
}

impl TlsSettings {
    /// Whether any handshake may sign through a [`TlsKey::Remote`] key: such handshakes
    /// block on the network and belong on a blocking thread, not on a runtime worker.
    pub fn signs_remotely(&self) -> bool {
        self.key.is_remote() || self.sni.iter().any(|s| s.key.is_remote())
    }
}

/// Why a configuration could not be built.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("certificate or key: {0}")]
    Pem(String),
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
    #[error("client CA: {0}")]
    ClientCa(String),
    #[error("unknown TLS policy {0:?}")]
    Policy(String),
}

/// The TLS versions a policy allows.
pub fn policy_versions(
    policy: &str,
) -> Result<&'static [&'static rustls::SupportedProtocolVersion], ConfigError> {
    static TLS12: [&rustls::SupportedProtocolVersion; 1] = [&rustls::version::TLS12];
    static BOTH: [&rustls::SupportedProtocolVersion; 2] =
        [&rustls::version::TLS13, &rustls::version::TLS12];
    match policy {
        "tls_cipher_policy_1_0"
        | "tls_cipher_policy_1_1"
        | "tls_cipher_policy_1_2"
        | "tls_cipher_policy_1_2_strict" => Ok(&TLS12),
        "tls_cipher_policy_1_2_strict_with_1_3" => Ok(&BOTH),
        other => Err(ConfigError::Policy(other.into())),
    }
}

/// A certificate with its signing key, ready for handshakes, and for a remote key the
/// check that it can sign now.
#[derive(Clone)]
struct Entry {
    key: Arc<CertifiedKey>,
    ready: Option<ReadyCheck>,
}

impl std::fmt::Debug for Entry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Entry")
            .field("remote", &self.ready.is_some())
            .finish()
    }
}

impl Entry {
    /// The key for a handshake, or `None` (the client gets an alert) when its key server
    /// cannot sign now.
    fn usable(&self) -> Option<Arc<CertifiedKey>> {
        match &self.ready {
            Some(ready) if !ready() => None,
            _ => Some(self.key.clone()),
        }
    }
}

/// A certificate with its signing key, ready for handshakes.
fn certified(chain_pem: &str, key: &TlsKey) -> Result<Entry, ConfigError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(chain_pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| ConfigError::Pem(e.to_string()))?;
    let signing = match key {
        TlsKey::Pem(pem) => {
            let der = PrivateKeyDer::from_pem_slice(pem.as_bytes())
                .map_err(|e| ConfigError::Pem(e.to_string()))?;
            any_supported_type(&der)?
        }
        TlsKey::Remote(remote) => remote.signer.clone(),
    };
    Ok(Entry {
        key: Arc::new(CertifiedKey::new(chain, signing)),
        ready: match key {
            TlsKey::Remote(remote) => Some(remote.ready.clone()),
            TlsKey::Pem(_) => None,
        },
    })
}

/// Picks the certificate by SNI: an exact name, then the longest wildcard suffix, then the
/// listener's own.
#[derive(Debug)]
struct SniResolver {
    default: Entry,
    exact: HashMap<String, Entry>,
    /// `.example.com` suffixes, longest first.
    wildcard: Vec<(String, Entry)>,
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let Some(name) = hello.server_name().map(str::to_ascii_lowercase) else {
            return self.default.usable();
        };
        if let Some(c) = self.exact.get(&name) {
            return c.usable();
        }
        self.wildcard
            .iter()
            .find(|(suffix, _)| name.len() > suffix.len() && name.ends_with(suffix.as_str()))
            .map_or(&self.default, |(_, c)| c)
            .usable()
    }
}

/// Builds the server configuration for `s`.
pub fn server_config(s: &TlsSettings) -> Result<Arc<ServerConfig>, ConfigError> {
    let mut resolver = SniResolver {
        default: certified(&s.chain_pem, &s.key)?,
        exact: HashMap::new(),
        wildcard: Vec::new(),
    };
    for ext in &s.sni {
        let c = certified(&ext.chain_pem, &ext.key)?;
        let d = ext.domain.to_ascii_lowercase();
        match d.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => resolver.wildcard.push((suffix.into(), c)),
            _ => {
                resolver.exact.insert(d, c);
            }
        }
    }
    resolver
        .wildcard
        .sort_by_key(|(suffix, _)| std::cmp::Reverse(suffix.len()));
    let (provider, versions) = match &s.custom {
        Some(custom) => {
            let (provider, versions) = crate::custom_policy::build(custom)?;
            (Arc::new(provider), versions)
        }
        None => (
            Arc::new(default_provider()),
            policy_versions(&s.policy)?.to_vec(),
        ),
    };
    let builder =
        ServerConfig::builder_with_provider(provider.clone()).with_protocol_versions(&versions)?;
    let builder = match &s.client_ca_pem {
        None => builder.with_no_client_auth(),
        Some(pem) => {
            let mut roots = RootCertStore::empty();
            for der in CertificateDer::pem_slice_iter(pem.as_bytes()) {
                let der = der.map_err(|e| ConfigError::ClientCa(e.to_string()))?;
                roots
                    .add(der)
                    .map_err(|e| ConfigError::ClientCa(e.to_string()))?;
            }
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .build()
                .map_err(|e| ConfigError::ClientCa(e.to_string()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_cert_resolver(Arc::new(resolver));
    if !s.resumption {
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        config.send_tls13_tickets = 0;
    }
    config.alpn_protocols = if s.http2 {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(policy: &str) -> TlsSettings {
        TlsSettings {
            chain_pem: include_str!("../testdata/rsa.crt").into(),
            key: TlsKey::Pem(include_str!("../testdata/rsa.key").into()),
            client_ca_pem: None,
            policy: policy.into(),
            custom: None,
            http2: true,
            resumption: true,
            sni: Vec::new(),
        }
    }

    #[test]
    fn every_policy_builds_and_alpn_follows_http2() {
        for p in TLS_POLICIES {
            let c = server_config(&settings(p)).unwrap();
            assert_eq!(c.alpn_protocols[0], b"h2");
        }
        let mut s = settings("tls_cipher_policy_1_0");
        s.http2 = false;
        assert_eq!(
            server_config(&s).unwrap().alpn_protocols,
            [b"http/1.1".to_vec()]
        );
        assert!(matches!(
            server_config(&settings("tls_cipher_policy_9")),
            Err(ConfigError::Policy(_))
        ));
        s.client_ca_pem = Some(include_str!("../testdata/rsa.crt").into());
        assert!(server_config(&s).is_ok());
        s.client_ca_pem = Some("nope".into());
        assert!(server_config(&s).is_err());
    }
}
