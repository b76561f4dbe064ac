//! Validation and description of uploaded certificates.
//!
//! A server certificate is a PEM chain (leaf first) plus a PEM private key (PKCS#8, PKCS#1
//! RSA or SEC1 EC). It is refused when any block is malformed, when the key is of a type
//! TLS cannot sign with, when the key does not belong to the leaf certificate, or when the
//! leaf is expired or not yet valid. What is kept for descriptions is what Alibaba shows:
//! SHA-1 fingerprint, common name, subject alternative names, validity and key type.

use rustls::crypto::ring::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;
use sha1::{Digest, Sha1};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

/// What a certificate says about itself (the leaf, for a chain).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertInfo {
    /// SHA-1 of the leaf's DER, lower-case hex pairs joined by `:`.
    pub fingerprint: String,
    /// Subject common name, or `""`.
    pub common_name: String,
    /// DNS names and IP addresses of the subject alternative name extension.
    pub alt_names: Vec<String>,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA` or `ECC` (Alibaba's `EncryptionAlgorithm`).
    pub key_algorithm: String,
    /// Key size in bits (`EncryptionKeyLength`).
    pub key_bits: u32,
    /// Certificates in the uploaded chain.
    pub chain_len: usize,
}

/// Why an upload is refused; the message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CertError {
    #[error("the certificate is not valid PEM/X.509: {0}")]
    MalformedCertificate(String),
    #[error("the private key is not a valid PEM RSA or EC key: {0}")]
    MalformedKey(String),
    #[error("the private key does not match the certificate")]
    KeyMismatch,
    #[error("the certificate expired at {0} (Unix time)")]
    Expired(i64),
    #[error("the certificate is not valid before {0} (Unix time)")]
    NotYetValid(i64),
}

/// Validates a server certificate chain and its private key at time `now` (Unix seconds).
pub fn inspect_server(chain_pem: &str, key_pem: &str, now: i64) -> Result<CertInfo, CertError> {
    let chain = parse_chain(chain_pem)?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes())
        .map_err(|e| CertError::MalformedKey(e.to_string()))?;
    let signing = any_supported_type(&key).map_err(|e| CertError::MalformedKey(e.to_string()))?;
    let info = describe(&chain, now)?;
    CertifiedKey::new(chain, signing)
        .keys_match()
        .map_err(|_| CertError::KeyMismatch)?;
    Ok(info)
}

/// The key family of a chain's leaf, which a remote signer must match.
pub fn key_kind(chain_pem: &str) -> Result<crate::KeyKind, CertError> {
    let chain = parse_chain(chain_pem)?;
    let (_, leaf) = X509Certificate::from_der(&chain[0])
        .map_err(|e| CertError::MalformedCertificate(e.to_string()))?;
    match leaf.public_key().parsed() {
        Ok(PublicKey::RSA(_)) => Ok(crate::KeyKind::Rsa),
        Ok(PublicKey::EC(ec)) if ec.key_size() == 256 => Ok(crate::KeyKind::EcdsaP256),
        Ok(PublicKey::EC(ec)) if ec.key_size() == 384 => Ok(crate::KeyKind::EcdsaP384),
        _ => Err(CertError::MalformedCertificate(
            "the public key is neither RSA nor ECDSA P-256/P-384".into(),
        )),
    }
}

/// Validates a CA certificate (PEM, one or more) at time `now`; describes the first.
pub fn inspect_ca(pem: &str, now: i64) -> Result<CertInfo, CertError> {
    describe(&parse_chain(pem)?, now)
}

fn parse_chain(pem: &str) -> Result<Vec<CertificateDer<'static>>, CertError> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::MalformedCertificate(e.to_string()))?;
    if chain.is_empty() {
        return Err(CertError::MalformedCertificate(
            "no CERTIFICATE block found".into(),
        ));
    }
    for der in &chain {
        X509Certificate::from_der(der)
            .map_err(|e| CertError::MalformedCertificate(e.to_string()))?;
    }
    Ok(chain)
}

/// Describes the leaf and checks its validity period.
fn describe(chain: &[CertificateDer<'_>], now: i64) -> Result<CertInfo, CertError> {
    let leaf_der = &chain[0];
    let (_, leaf) = X509Certificate::from_der(leaf_der)
        .map_err(|e| CertError::MalformedCertificate(e.to_string()))?;
    let not_before = leaf.validity().not_before.timestamp();
    let not_after = leaf.validity().not_after.timestamp();
    if now > not_after {
        return Err(CertError::Expired(not_after));
    }
    if now < not_before {
        return Err(CertError::NotYetValid(not_before));
    }
    let common_name = leaf
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .unwrap_or("")
        .to_owned();
    let mut alt_names = Vec::new();
    if let Ok(Some(san)) = leaf.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(d) => alt_names.push((*d).to_owned()),
                GeneralName::IPAddress(ip) => alt_names.push(ip_text(ip)),
                _ => {}
            }
        }
    }
    let (key_algorithm, key_bits) = match leaf.public_key().parsed() {
        Ok(PublicKey::RSA(rsa)) => ("RSA", rsa.key_size() as u32),
        Ok(PublicKey::EC(ec)) => ("ECC", ec.key_size() as u32),
        _ => ("UNKNOWN", 0),
    };
    let digest = Sha1::digest(leaf_der.as_ref());
    let fingerprint = digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":");
    Ok(CertInfo {
        fingerprint,
        common_name,
        alt_names,
        not_before,
        not_after,
        key_algorithm: key_algorithm.into(),
        key_bits,
        chain_len: chain.len(),
    })
}

fn ip_text(raw: &[u8]) -> String {
    match raw.len() {
        4 => std::net::Ipv4Addr::from(<[u8; 4]>::try_from(raw).unwrap_or_default()).to_string(),
        16 => std::net::Ipv6Addr::from(<[u8; 16]>::try_from(raw).unwrap_or_default()).to_string(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, KeyPair, PKCS_ECDSA_P256_SHA256};

    const NOW: i64 = 1_800_000_000; // 2027-01-15

    fn cert(names: &[&str], alg: &'static rcgen::SignatureAlgorithm) -> (String, String) {
        let key = KeyPair::generate_for(alg).unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, names[0]);
        params.not_before = rcgen::date_time_ymd(2026, 1, 1);
        params.not_after = rcgen::date_time_ymd(2028, 1, 1);
        let c = params.self_signed(&key).unwrap();
        (c.pem(), key.serialize_pem())
    }

    #[test]
    fn ecdsa_certificate_and_key_described() {
        let (c, k) = cert(
            &["www.example.com", "*.example.com"],
            &PKCS_ECDSA_P256_SHA256,
        );
        let info = inspect_server(&c, &k, NOW).unwrap();
        assert_eq!(info.common_name, "www.example.com");
        assert_eq!(info.alt_names, ["www.example.com", "*.example.com"]);
        assert_eq!((info.key_algorithm.as_str(), info.key_bits), ("ECC", 256));
        assert_eq!(info.fingerprint.len(), 59);
        assert_eq!(info.chain_len, 1);
    }

    /// A fixed RSA-2048 certificate (ring cannot generate RSA keys), valid 2026-11-30 to
    /// 2036, as PKCS#8 and as PKCS#1.
    #[test]
    fn rsa_keys_in_both_encodings_accepted() {
        let c = include_str!("../testdata/rsa.crt");
        for k in [
            include_str!("../testdata/rsa.key"),
            include_str!("../testdata/rsa-pkcs1.key"),
        ] {
            let info = inspect_server(c, k, NOW).unwrap();
            assert_eq!((info.key_algorithm.as_str(), info.key_bits), ("RSA", 2048));
            assert_eq!(info.common_name, "rsa.test");
            assert_eq!(info.alt_names, ["rsa.test", "10.0.0.1"]);
        }
    }

    #[test]
    fn key_kind_follows_the_leaf() {
        let (c, _) = cert(&["a.test"], &PKCS_ECDSA_P256_SHA256);
        assert_eq!(key_kind(&c).unwrap(), crate::KeyKind::EcdsaP256);
        let (c, _) = cert(&["a.test"], &rcgen::PKCS_ECDSA_P384_SHA384);
        assert_eq!(key_kind(&c).unwrap(), crate::KeyKind::EcdsaP384);
        let rsa = include_str!("../testdata/rsa.crt");
        assert_eq!(key_kind(rsa).unwrap(), crate::KeyKind::Rsa);
        let (c, _) = cert(&["a.test"], &rcgen::PKCS_ED25519);
        assert!(key_kind(&c).is_err());
    }

    #[test]
    fn refusals() {
        let (c, k) = cert(&["a.test"], &PKCS_ECDSA_P256_SHA256);
        let (_, other_key) = cert(&["b.test"], &PKCS_ECDSA_P256_SHA256);
        assert_eq!(
            inspect_server(&c, &other_key, NOW).unwrap_err(),
            CertError::KeyMismatch
        );
        assert!(matches!(
            inspect_server("not pem", &k, NOW),
            Err(CertError::MalformedCertificate(_))
        ));
        let broken = c.replace("MII", "XXX");
        assert!(matches!(
            inspect_server(&broken, &k, NOW),
            Err(CertError::MalformedCertificate(_))
        ));
        assert!(matches!(
            inspect_server(
                &c,
                "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
                NOW
            ),
            Err(CertError::MalformedKey(_))
        ));
        assert!(matches!(
            inspect_server(&c, &k, 1_900_000_000),
            Err(CertError::Expired(_))
        ));
        assert!(matches!(
            inspect_server(&c, &k, 1_700_000_000),
            Err(CertError::NotYetValid(_))
        ));
        assert!(inspect_ca(&c, NOW).is_ok());
        assert!(inspect_ca("", NOW).is_err());
    }
}
