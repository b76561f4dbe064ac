//! Custom TLS policies (CreateTLSCipherPolicy, SetTLSCipherPolicyAttribute,
//! DeleteTLSCipherPolicy, ListTLSCipherPolicies): named sets of TLS versions and cipher
//! suites that an HTTPS listener uses by id (`TLSCipherPolicy=tls-…`) instead of one of
//! Alibaba's built-in policies. Names are checked against Alibaba's lists, and at least
//! one suite must be one OpenSLB serves (`slb_tls::custom_policy`: TLS 1.2/1.3 AEAD).

use serde::{Deserialize, Serialize};

use crate::params::{repeated, ParamSource};
use crate::{ModelError, State};

/// Cipher suites one policy may list.
pub const MAX_CIPHERS: usize = 32;

/// Alibaba's TLS versions.
pub const TLS_VERSIONS: &[&str] = &["TLSv1.0", "TLSv1.1", "TLSv1.2", "TLSv1.3"];

/// Alibaba's cipher suites for TLS 1.0 and 1.1 (TLS 1.2 takes them too).
const CIPHERS_1_0: &[&str] = &[
    "ECDHE-ECDSA-AES128-SHA",
    "ECDHE-ECDSA-AES256-SHA",
    "ECDHE-RSA-AES128-SHA",
    "ECDHE-RSA-AES256-SHA",
    "AES128-SHA",
    "AES256-SHA",
    "DES-CBC3-SHA",
];

/// Alibaba's suites only TLS 1.2 takes.
const CIPHERS_1_2: &[&str] = &[
    "ECDHE-ECDSA-AES128-GCM-SHA256",
    "ECDHE-ECDSA-AES256-GCM-SHA384",
    "ECDHE-ECDSA-AES128-SHA256",
    "ECDHE-ECDSA-AES256-SHA384",
    "ECDHE-RSA-AES128-GCM-SHA256",
    "ECDHE-RSA-AES256-GCM-SHA384",
    "ECDHE-RSA-AES128-SHA256",
    "ECDHE-RSA-AES256-SHA384",
    "AES128-GCM-SHA256",
    "AES256-GCM-SHA384",
    "AES128-SHA256",
    "AES256-SHA256",
];

/// Alibaba's TLS 1.3 suites.
const CIPHERS_1_3: &[&str] = &[
    "TLS_AES_128_GCM_SHA256",
    "TLS_AES_256_GCM_SHA384",
    "TLS_CHACHA20_POLY1305_SHA256",
    "TLS_AES_128_CCM_SHA256",
    "TLS_AES_128_CCM_8_SHA256",
];

/// The suites OpenSLB serves, with their version; agrees with
/// `slb_tls::custom_policy::SERVED_CIPHERS` (a test in the `slb` crate checks).
pub const SERVED_CIPHERS: &[(&str, &str)] = &[
    ("ECDHE-ECDSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("ECDHE-ECDSA-AES256-GCM-SHA384", "TLSv1.2"),
    ("ECDHE-RSA-AES128-GCM-SHA256", "TLSv1.2"),
    ("ECDHE-RSA-AES256-GCM-SHA384", "TLSv1.2"),
    ("TLS_AES_128_GCM_SHA256", "TLSv1.3"),
    ("TLS_AES_256_GCM_SHA384", "TLSv1.3"),
    ("TLS_CHACHA20_POLY1305_SHA256", "TLSv1.3"),
];

/// One custom policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TlsCipherPolicy {
    /// `tls-…`.
    pub id: String,
    pub name: String,
    pub tls_versions: Vec<String>,
    pub ciphers: Vec<String>,
    /// Creation time, Unix milliseconds.
    pub created_ms: i64,
}

/// Whether Alibaba lets `version` carry `cipher`.
fn allowed(version: &str, cipher: &str) -> bool {
    match version {
        "TLSv1.0" | "TLSv1.1" => CIPHERS_1_0.contains(&cipher),
        "TLSv1.2" => CIPHERS_1_0.contains(&cipher) || CIPHERS_1_2.contains(&cipher),
        "TLSv1.3" => CIPHERS_1_3.contains(&cipher),
        _ => false,
    }
}

/// A policy name: 2 to 128 letters, digits, `.`, `_` and `-`, starting with a letter.
pub fn check_name(name: &str) -> Result<(), ModelError> {
    let ok = (2..=128).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid_parameter(
            "Name",
            "2 to 128 letters, digits, '.', '_' and '-', starting with a letter",
        ))
    }
}

/// `TLSVersions.N` and `Ciphers.N`: each version one of Alibaba's, each cipher taken by
/// at least one of them, and at least one cipher OpenSLB serves over a listed version.
pub fn versions_and_ciphers(p: &dyn ParamSource) -> Result<(Vec<String>, Vec<String>), ModelError> {
    let versions = repeated(p, "TLSVersions", TLS_VERSIONS.len())?;
    let ciphers = repeated(p, "Ciphers", MAX_CIPHERS)?;
    if versions.is_empty() {
        return Err(crate::params::missing("TLSVersions.1"));
    }
    if ciphers.is_empty() {
        return Err(crate::params::missing("Ciphers.1"));
    }
    for v in &versions {
        if !TLS_VERSIONS.contains(&v.as_str()) {
            return Err(ModelError::invalid_parameter(
                "TLSVersions",
                format!("\"{v}\" is not one of {}", TLS_VERSIONS.join(", ")),
            ));
        }
    }
    for c in &ciphers {
        if !versions.iter().any(|v| allowed(v, c)) {
            return Err(ModelError::invalid_parameter(
                "Ciphers",
                format!("\"{c}\" is not a cipher suite of {}", versions.join(", ")),
            ));
        }
    }
    let served = ciphers.iter().any(|c| {
        SERVED_CIPHERS
            .iter()
            .any(|(s, v)| s == c && versions.iter().any(|x| x == v))
    });
    if !served {
        return Err(ModelError::new(
            400,
            "InvalidParameter.Ciphers",
            "None of these cipher suites can be served: OpenSLB serves TLS 1.2 and 1.3 with AEAD suites only (ECDHE-*-GCM-*, TLS_AES_*_GCM_*, TLS_CHACHA20_POLY1305_SHA256).",
        ));
    }
    Ok((versions, ciphers))
}

fn not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "TLSCipherPolicy.NotFound",
        format!("The specified TLSCipherPolicyId \"{id}\" does not exist."),
    )
}

impl State {
    /// One custom policy.
    pub fn tls_cipher_policy(&self, id: &str) -> Result<&TlsCipherPolicy, ModelError> {
        self.tls_cipher_policies
            .get(id)
            .ok_or_else(|| not_found(id))
    }

    /// Adds a policy (already checked by [`versions_and_ciphers`] and [`check_name`]).
    pub fn create_tls_cipher_policy(&mut self, p: TlsCipherPolicy) -> Result<(), ModelError> {
        self.tls_cipher_policies.insert(p.id.clone(), p);
        Ok(())
    }

    /// SetTLSCipherPolicyAttribute: the name, and the versions with the ciphers when given.
    /// Listeners using it take the new suites on their next handshakes.
    pub fn set_tls_cipher_policy(
        &mut self,
        id: &str,
        name: Option<String>,
        suites: Option<(Vec<String>, Vec<String>)>,
    ) -> Result<(), ModelError> {
        let p = self
            .tls_cipher_policies
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        if let Some(name) = name {
            p.name = name;
        }
        if let Some((versions, ciphers)) = suites {
            p.tls_versions = versions;
            p.ciphers = ciphers;
        }
        Ok(())
    }

    /// Deletes a policy no HTTPS listener uses.
    pub fn delete_tls_cipher_policy(&mut self, id: &str) -> Result<(), ModelError> {
        self.tls_cipher_policy(id)?;
        if !self.tls_policy_users(id).is_empty() {
            return Err(ModelError::new(
                400,
                "ResourceInUse.TLSCipherPolicy",
                format!("The TLS policy \"{id}\" is used by an HTTPS listener."),
            ));
        }
        self.tls_cipher_policies.remove(id);
        Ok(())
    }

    /// The HTTPS listeners using policy `id`.
    pub fn tls_policy_users(&self, id: &str) -> Vec<&crate::Listener> {
        self.listeners
            .values()
            .filter(|l| l.https.as_ref().is_some_and(|h| h.tls_cipher_policy == id))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use crate::params::test_params as params;

    use super::*;

    #[test]
    fn versions_and_ciphers_follow_alibaba_and_what_is_served() {
        let ok = params(&[
            ("TLSVersions.1", "TLSv1.1"),
            ("TLSVersions.2", "TLSv1.2"),
            ("Ciphers.1", "AES128-SHA"),
            ("Ciphers.2", "ECDHE-RSA-AES128-GCM-SHA256"),
        ]);
        assert_eq!(versions_and_ciphers(&ok).unwrap().1.len(), 2);
        let cases = [
            (vec![("Ciphers.1", "AES128-SHA")], "MissingParameter"),
            (
                vec![("TLSVersions.1", "SSLv3"), ("Ciphers.1", "AES128-SHA")],
                "InvalidParameter",
            ),
            (
                vec![("TLSVersions.1", "TLSv1.3"), ("Ciphers.1", "AES128-SHA")],
                "InvalidParameter",
            ),
            (
                vec![("TLSVersions.1", "TLSv1.0"), ("Ciphers.1", "AES128-SHA")],
                "InvalidParameter.Ciphers",
            ),
            (
                vec![
                    ("TLSVersions.1", "TLSv1.3"),
                    ("Ciphers.1", "TLS_AES_128_CCM_SHA256"),
                ],
                "InvalidParameter.Ciphers",
            ),
        ];
        for (p, code) in cases {
            let e = versions_and_ciphers(&params(&p)).unwrap_err();
            assert_eq!(e.code, code, "{p:?}");
        }
        assert!(check_name("a1").is_ok());
        for bad in ["a", "1abc", "a b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn served_ciphers_are_alibaba_ciphers_of_their_version() {
        for (c, v) in SERVED_CIPHERS {
            assert!(allowed(v, c), "{c} {v}");
        }
    }
}
