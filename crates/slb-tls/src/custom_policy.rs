//! Custom TLS policies (CreateTLSCipherPolicy): the TLS versions and cipher suites an
//! HTTPS listener offers, named as Alibaba names them (OpenSSL's names), built onto what
//! rustls implements. rustls has TLS 1.2 and 1.3 with AEAD suites only, so a policy is
//! served with the part of it rustls has: TLS 1.0 and 1.1, CBC, 3DES and CCM suites are
//! left out, and a policy with nothing left cannot be created (the model checks
//! [`SERVED_CIPHERS`] up front).

use rustls::crypto::ring::{cipher_suite as cs, default_provider};
use rustls::crypto::CryptoProvider;
use rustls::{SupportedCipherSuite, SupportedProtocolVersion};

use crate::config::ConfigError;

/// A policy as the API stores it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CustomPolicy {
    /// `TLSv1.0` … `TLSv1.3`.
    pub tls_versions: Vec<String>,
    /// Cipher suites by Alibaba's names, e.g. `ECDHE-ECDSA-AES128-GCM-SHA256`.
    pub ciphers: Vec<String>,
}

/// The TLS versions rustls serves, by Alibaba's names.
pub const SERVED_VERSIONS: &[&str] = &["TLSv1.2", "TLSv1.3"];

/// Alibaba's cipher names rustls serves, with the TLS version each belongs to.
pub const SERVED_CIPHERS: &[(&str, &str)] = &[
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2"),
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"),
];

fn suite(name: &str) -> Option<SupportedCipherSuite> {
    Some(match name {
        "ECDHE-ECDSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-ECDSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
        "ECDHE-RSA-AES128-GCM-SHA256" => cs::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
        "ECDHE-RSA-AES256-GCM-SHA384" => cs::TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
        "TLS_AES_128_GCM_SHA256" => cs::TLS13_AES_128_GCM_SHA256,
        "TLS_AES_256_GCM_SHA384" => cs::TLS13_AES_256_GCM_SHA384,
        "TLS_CHACHA20_POLY1305_SHA256" => cs::TLS13_CHACHA20_POLY1305_SHA256,
        _ => return None,
    })
}

/// The crypto provider (ring, with only the policy's served suites) and the TLS versions
/// that keep at least one of them.
pub(crate) fn build(
    policy: &CustomPolicy,
) -> Result<(CryptoProvider, Vec<&'static SupportedProtocolVersion>), ConfigError> {
    let wants = |v: &str| policy.tls_versions.iter().any(|x| x == v);
    let suites: Vec<SupportedCipherSuite> = policy
        .ciphers
        .iter()
        .filter_map(|c| suite(c))
        .filter(|s| match s {
            SupportedCipherSuite::Tls12(_) => wants("TLSv1.2"),
            SupportedCipherSuite::Tls13(_) => wants("TLSv1.3"),
        })
        .collect();
    let mut versions = Vec::new();
    if suites
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls13(_)))
    {
        versions.push(&rustls::version::TLS13);
    }
    if suites
        .iter()
        .any(|s| matches!(s, SupportedCipherSuite::Tls12(_)))
    {
        versions.push(&rustls::version::TLS12);
    }
    if versions.is_empty() {
        return Err(ConfigError::Policy(format!(
            "none of {:?} over {:?} is served (TLS 1.2/1.3 AEAD suites only)",
            policy.ciphers, policy.tls_versions
        )));
    }
    let provider = CryptoProvider {
        cipher_suites: suites,
        ..default_provider()
    };
    Ok((provider, versions))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(versions: &[&str], ciphers: &[&str]) -> CustomPolicy {
        CustomPolicy {
            tls_versions: versions.iter().map(|s| s.to_string()).collect(),
            ciphers: ciphers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn every_served_name_maps_to_its_version() {
        for (name, version) in SERVED_CIPHERS {
            let s = suite(name).unwrap_or_else(|| panic!("{name}"));
            let is13 = matches!(s, SupportedCipherSuite::Tls13(_));
            assert_eq!(is13, *version == "TLSv1.3", "{name}");
        }
    }

    #[test]
    fn versions_follow_the_suites_left() {
        let (p, v) = build(&policy(
            &["TLSv1.1", "TLSv1.2"],
            &[
                "AES128-SHA",
                "ECDHE-RSA-AES128-GCM-SHA256",
                "TLS_AES_128_GCM_SHA256",
            ],
        ))
        .unwrap();
        assert_eq!(
            p.cipher_suites.len(),
            1,
            "1.3 suite without TLSv1.3, CBC dropped"
        );
        assert_eq!(v, vec![&rustls::version::TLS12]);
        let (_, v) = build(&policy(
            &["TLSv1.2", "TLSv1.3"],
            &["TLS_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"],
        ))
        .unwrap();
        assert_eq!(v.len(), 2);
        assert!(build(&policy(&["TLSv1.0"], &["AES128-SHA"])).is_err());
    }
}
