//! HTTPS listeners: an HTTP listener plus the TLS settings Alibaba's HTTPS listener takes
//! (`ServerCertificateId`, `CACertificateId`, `TLSCipherPolicy`, `EnableHttp2`), and
//! OpenSLB's `TLSSessionResumption` (not in Alibaba's API; SDK clients never send it).

use serde::{Deserialize, Serialize};

use crate::params::{on_off, one_of, optional, required, ParamSource};
use crate::{Listener, ModelError, Protocol, State};

/// Alibaba's `TLSCipherPolicy` names; the first is the default. How each maps onto what
/// rustls offers is documented in `slb_tls::config`.
pub const TLS_CIPHER_POLICIES: &[&str] = &[
    "tls_cipher_policy_1_0",
    "tls_cipher_policy_1_1",
    "tls_cipher_policy_1_2",
    "tls_cipher_policy_1_2_strict",
    "tls_cipher_policy_1_2_strict_with_1_3",
];

/// What an HTTPS listener has beyond an HTTP one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpsSettings {
    pub server_certificate_id: String,
    /// Mutual TLS: clients must present a certificate this CA issued.
    pub ca_certificate_id: Option<String>,
    pub tls_cipher_policy: String,
    /// ALPN `h2` offered (Alibaba default on).
    pub enable_http2: bool,
    /// Clients may resume sessions (TLS 1.3 tickets, TLS 1.2 session IDs). Off forces a
    /// full handshake per connection: forward secrecy per connection, at its CPU cost.
    #[serde(default = "resumption_default")]
    pub session_resumption: bool,
}

fn resumption_default() -> bool {
    true
}

impl Listener {
    /// A new stopped HTTPS listener: [`Listener::new_http`]'s defaults plus
    /// `tls_cipher_policy_1_0` and HTTP/2 on; the certificate comes from the parameters.
    pub fn new_https(load_balancer_id: impl Into<String>, port: u16) -> Self {
        let mut l = Listener::new_http(load_balancer_id, port);
        l.key.protocol = Protocol::Https;
        l.https = Some(HttpsSettings {
            server_certificate_id: String::new(),
            ca_certificate_id: None,
            tls_cipher_policy: TLS_CIPHER_POLICIES[0].into(),
            enable_http2: true,
            session_resumption: true,
        });
        l
    }

    /// Applies the HTTPS-only parameters (after [`Listener::apply_http_params`]). `create`
    /// makes `ServerCertificateId` mandatory. An empty `CACertificateId` turns mutual TLS
    /// off. References are checked against the state by [`State::check_https_refs`].
    pub fn apply_https_params(
        &mut self,
        p: &dyn ParamSource,
        create: bool,
    ) -> Result<(), ModelError> {
        if create {
            required(p, "ServerCertificateId")?;
        }
        let https = self.https.get_or_insert_with(|| HttpsSettings {
            server_certificate_id: String::new(),
            ca_certificate_id: None,
            tls_cipher_policy: TLS_CIPHER_POLICIES[0].into(),
            enable_http2: true,
            session_resumption: true,
        });
        if let Some(id) = optional(p, "ServerCertificateId") {
            https.server_certificate_id = id.to_string();
        }
        if let Some(id) = p.get("CACertificateId") {
            https.ca_certificate_id = (!id.is_empty()).then(|| id.to_string());
        }
        // A built-in policy, or the id of a custom one (checked by `check_https_refs`).
        match optional(p, "TLSCipherPolicy") {
            Some(v) if v.starts_with("tls-") => https.tls_cipher_policy = v.into(),
            _ => {
                if let Some(v) = one_of(p, "TLSCipherPolicy", TLS_CIPHER_POLICIES)? {
                    https.tls_cipher_policy = v.into();
                }
            }
        }
        if let Some(v) = on_off(p, "EnableHttp2")? {
            https.enable_http2 = v;
        }
        if let Some(v) = on_off(p, "TLSSessionResumption")? {
            https.session_resumption = v;
        }
        Ok(())
    }
}

impl State {
    /// An HTTPS listener's certificates and custom TLS policy must exist.
    pub fn check_https_refs(&self, l: &Listener) -> Result<(), ModelError> {
        let Some(h) = &l.https else {
            return Ok(());
        };
        if !TLS_CIPHER_POLICIES.contains(&h.tls_cipher_policy.as_str()) {
            self.tls_cipher_policy(&h.tls_cipher_policy)?;
        }
        self.server_certificate(&h.server_certificate_id)?;
        if let Some(ca) = &h.ca_certificate_id {
            self.ca_certificate(ca)?;
        }
        Ok(())
    }

    /// Whether any HTTPS listener or domain extension uses certificate `id` (server or CA).
    pub fn certificate_in_use(&self, id: &str) -> bool {
        self.domain_extensions
            .values()
            .any(|d| d.server_certificate_id == id)
            || self.listeners.values().any(|l| {
                l.https.as_ref().is_some_and(|h| {
                    h.server_certificate_id == id || h.ca_certificate_id.as_deref() == Some(id)
                })
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::test_params as p;

    #[test]
    fn https_parameters() {
        let mut l = Listener::new_https("lb-1", 443);
        assert_eq!(l.key.protocol, Protocol::Https);
        assert_eq!(
            l.apply_https_params(&p(&[]), true).unwrap_err().code,
            "MissingParameter"
        );
        l.apply_https_params(
            &p(&[
                ("ServerCertificateId", "cert-1"),
                ("CACertificateId", "cacert-1"),
                ("TLSCipherPolicy", "tls_cipher_policy_1_2_strict"),
                ("EnableHttp2", "off"),
                ("TLSSessionResumption", "off"),
            ]),
            true,
        )
        .unwrap();
        let h = l.https.clone().unwrap();
        assert_eq!(h.ca_certificate_id.as_deref(), Some("cacert-1"));
        assert!(!h.enable_http2);
        assert!(!h.session_resumption);
        assert!(l
            .apply_https_params(&p(&[("TLSSessionResumption", "maybe")]), false)
            .is_err());
        // Rows stored before the setting existed resume, as before.
        let old: HttpsSettings = serde_json::from_str(
            r#"{"server_certificate_id":"c","ca_certificate_id":null,"tls_cipher_policy":"tls_cipher_policy_1_0","enable_http2":true}"#,
        )
        .unwrap();
        assert!(old.session_resumption);
        assert!(l
            .apply_https_params(&p(&[("TLSCipherPolicy", "tls_1_3")]), false)
            .is_err());
        l.apply_https_params(&p(&[("CACertificateId", "")]), false)
            .unwrap();
        assert!(l.https.unwrap().ca_certificate_id.is_none());
    }
}
