//! The mutual-TLS identities of the key server and its nodes: generated once into a
//! directory (`slb keyserver pki`), then loaded as rustls configurations.
//!
//! Files: `ca.crt` and `ca.key` (the private CA both sides trust), `keyserver.crt` and
//! `keyserver.key` (the key server's identity), `node.crt` and `node.key` (what a node
//! presents). A node needs `ca.crt`, `node.crt` and `node.key`; the key server needs
//! `ca.crt`, `keyserver.crt` and `keyserver.key`; `ca.key` belongs offline.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use rustls::crypto::ring::default_provider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};

pub const CA_CERT: &str = "ca.crt";
pub const CA_KEY: &str = "ca.key";
pub const SERVER_CERT: &str = "keyserver.crt";
pub const SERVER_KEY: &str = "keyserver.key";
pub const NODE_CERT: &str = "node.crt";
pub const NODE_KEY: &str = "node.key";

/// Why identities could not be made or loaded; names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    #[error("{0}: {1}")]
    Io(PathBuf, std::io::Error),
    #[error("{0}: {1}")]
    Pem(PathBuf, String),
    #[error("{0} already exists; refusing to replace an existing CA")]
    Exists(PathBuf),
    #[error("generating certificates: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("TLS: {0}")]
    Tls(String),
}

fn write(dir: &Path, name: &str, text: &str, secret: bool) -> Result<(), PkiError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = dir.join(name);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(if secret { 0o600 } else { 0o644 })
        .open(&path)
        .map_err(|e| PkiError::Io(path.clone(), e))?;
    f.write_all(text.as_bytes())
        .map_err(|e| PkiError::Io(path, e))
}

/// Creates a CA, a key-server certificate valid for `server_names` (DNS names or IP
/// addresses) and a node client certificate in `dir`.
pub fn generate(dir: &Path, server_names: &[String]) -> Result<(), PkiError> {
    std::fs::create_dir_all(dir).map_err(|e| PkiError::Io(dir.to_path_buf(), e))?;
    let ca_path = dir.join(CA_CERT);
    if ca_path.exists() {
        return Err(PkiError::Exists(ca_path));
    }
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca.distinguished_name
        .push(DnType::CommonName, "OpenSLB key server CA");
    let ca_cert = ca.self_signed(&ca_key)?;

    let leaf = |names: Vec<String>, cn: &str, usage: ExtendedKeyUsagePurpose| {
        let key = KeyPair::generate()?;
        let mut p = CertificateParams::new(names)?;
        p.distinguished_name.push(DnType::CommonName, cn);
        p.extended_key_usages = vec![usage];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = p.signed_by(&key, &ca_cert, &ca_key)?;
        Ok::<_, PkiError>((cert.pem(), key.serialize_pem()))
    };
    let (server_crt, server_key) = leaf(
        server_names.to_vec(),
        "OpenSLB key server",
        ExtendedKeyUsagePurpose::ServerAuth,
    )?;
    let (node_crt, node_key) = leaf(
        Vec::new(),
        "OpenSLB node",
        ExtendedKeyUsagePurpose::ClientAuth,
    )?;
    write(dir, CA_KEY, &ca_key.serialize_pem(), true)?;
    write(dir, SERVER_CERT, &server_crt, false)?;
    write(dir, SERVER_KEY, &server_key, true)?;
    write(dir, NODE_CERT, &node_crt, false)?;
    write(dir, NODE_KEY, &node_key, true)?;
    // Last, so that a half-written directory is not mistaken for a complete one.
    write(dir, CA_CERT, &ca_cert.pem(), false)
}

fn read(dir: &Path, name: &str) -> Result<(PathBuf, Vec<u8>), PkiError> {
    let path = dir.join(name);
    let bytes = std::fs::read(&path).map_err(|e| PkiError::Io(path.clone(), e))?;
    Ok((path, bytes))
}

fn certs(dir: &Path, name: &str) -> Result<Vec<CertificateDer<'static>>, PkiError> {
    let (path, pem) = read(dir, name)?;
    let certs: Vec<_> = CertificateDer::pem_slice_iter(&pem)
        .collect::<Result<_, _>>()
        .map_err(|e| PkiError::Pem(path.clone(), e.to_string()))?;
    if certs.is_empty() {
        return Err(PkiError::Pem(path, "no certificate".into()));
    }
    Ok(certs)
}

fn key(dir: &Path, name: &str) -> Result<PrivateKeyDer<'static>, PkiError> {
    let (path, pem) = read(dir, name)?;
    PrivateKeyDer::from_pem_slice(&pem).map_err(|e| PkiError::Pem(path, e.to_string()))
}

fn roots(dir: &Path) -> Result<Arc<RootCertStore>, PkiError> {
    let mut roots = RootCertStore::empty();
    for c in certs(dir, CA_CERT)? {
        roots
            .add(c)
            .map_err(|e| PkiError::Pem(dir.join(CA_CERT), e.to_string()))?;
    }
    Ok(Arc::new(roots))
}

/// The key server's TLS: its own certificate, and client certificates required and
/// verified against `ca.crt`. TLS 1.3 only: both ends are ours.
pub fn server_config(dir: &Path) -> Result<Arc<ServerConfig>, PkiError> {
    let provider = Arc::new(default_provider());
    let verifier = WebPkiClientVerifier::builder_with_provider(roots(dir)?, provider.clone())
        .build()
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs(dir, SERVER_CERT)?, key(dir, SERVER_KEY)?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    // Nodes keep connections open rather than resume; unsent tickets also keep an idle
    // pooled connection silent, which is how a node tells it is still alive.
    config.send_tls13_tickets = 0;
    Ok(Arc::new(config))
}

/// A node's TLS towards the key server: the key server verified against `ca.crt`, the
/// node's certificate presented.
pub fn client_config(dir: &Path) -> Result<Arc<ClientConfig>, PkiError> {
    let config = ClientConfig::builder_with_provider(Arc::new(default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .map_err(|e| PkiError::Tls(e.to_string()))?
        .with_root_certificates(roots(dir)?)
        .with_client_auth_cert(certs(dir, NODE_CERT)?, key(dir, NODE_KEY)?)
        .map_err(|e| PkiError::Tls(e.to_string()))?;
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_identities_load_and_are_not_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        generate(dir.path(), &["localhost".into(), "127.0.0.1".into()]).unwrap();
        server_config(dir.path()).unwrap();
        client_config(dir.path()).unwrap();
        assert!(matches!(
            generate(dir.path(), &["localhost".into()]),
            Err(PkiError::Exists(_))
        ));
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(dir.path().join(NODE_KEY))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(client_config(empty.path()), Err(PkiError::Io(..))));
    }
}
