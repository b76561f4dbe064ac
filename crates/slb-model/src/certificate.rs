//! Server and CA certificates as uploaded (UploadServerCertificate, UploadCACertificate).
//!
//! The API validates the PEM (see the `slb-tls` crate) before a certificate reaches the
//! state; the state keeps the PEM, the description Alibaba shows, and names. A server
//! certificate's private key is stored with it (the single-node default; the key server
//! of a later issue keeps keys off the proxies) and is never rendered by any action.

use serde::{Deserialize, Serialize};

use crate::{ModelError, State};

/// Most server certificates, and most CA certificates, one node holds (Alibaba's default
/// quota per region is 100 of each).
pub const MAX_CERTIFICATES: usize = 100;

/// What a certificate says about itself (its leaf, for a chain).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertSummary {
    /// SHA-1 of the leaf, hex pairs joined by `:`.
    pub fingerprint: String,
    pub common_name: String,
    pub alt_names: Vec<String>,
    /// Validity, Unix seconds.
    pub not_before: i64,
    pub not_after: i64,
    /// `RSA` or `ECC`.
    pub key_algorithm: String,
    pub key_bits: u32,
}

/// A server certificate chain with its private key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ServerCertificate {
    /// `cert-…`.
    pub id: String,
    pub name: String,
    pub region_id: String,
    pub summary: CertSummary,
    /// Upload time, Unix milliseconds.
    pub created_ms: i64,
    /// PEM chain, leaf first.
    pub chain_pem: String,
    /// PEM private key; never rendered. Empty when the key server holds the key.
    pub private_key_pem: String,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
    /// The resource group (MoveResourceGroup); absent while none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_group_id: String,
}

/// A CA certificate that client certificates are verified against (mutual TLS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaCertificate {
    /// `cacert-…`.
    pub id: String,
    pub name: String,
    pub region_id: String,
    pub summary: CertSummary,
    pub created_ms: i64,
    pub pem: String,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
    /// The resource group (MoveResourceGroup); absent while none.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub resource_group_id: String,
}

/// A certificate name: up to 80 letters, digits and `-/._`, starting with a letter or
/// digit; empty is allowed (Alibaba then shows the id).
pub fn check_cert_name(param: &str, name: &str) -> Result<(), ModelError> {
    let ok = name.chars().count() <= 80
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | '.' | '_'))
        && !name.starts_with(['-', '/', '.', '_']);
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid_parameter(
            param,
            "must be at most 80 letters, digits, -, /, . and _, starting with a letter or digit",
        ))
    }
}

fn server_not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "ServerCertificateId.NotFound",
        format!("The specified ServerCertificateId \"{id}\" does not exist."),
    )
}

/// A `certificate` resource (server or CA) that does not exist, for the actions that take
/// either kind (tags, resource groups).
pub(crate) fn certificate_not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "InvalidResourceId.NotFound",
        format!("The specified certificate \"{id}\" does not exist."),
    )
}

fn ca_not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "CACertificateId.NotFound",
        format!("The specified CACertificateId \"{id}\" does not exist."),
    )
}

fn in_use(id: &str) -> ModelError {
    ModelError::new(
        400,
        "ResourceInUse.Certificate",
        format!("The certificate \"{id}\" is used by an HTTPS listener."),
    )
}

fn quota(kind: &str) -> ModelError {
    ModelError::new(
        400,
        "QuotaExceeded.Certificates",
        format!("A node holds at most {MAX_CERTIFICATES} {kind} certificates."),
    )
}

impl State {
    /// Adds a validated server certificate.
    pub fn add_server_certificate(&mut self, cert: ServerCertificate) -> Result<(), ModelError> {
        check_cert_name("ServerCertificateName", &cert.name)?;
        if self.server_certificates.len() >= MAX_CERTIFICATES {
            return Err(quota("server"));
        }
        self.server_certificates.insert(cert.id.clone(), cert);
        Ok(())
    }

    /// The server certificate, or `ServerCertificateId.NotFound`.
    pub fn server_certificate(&self, id: &str) -> Result<&ServerCertificate, ModelError> {
        self.server_certificates
            .get(id)
            .ok_or_else(|| server_not_found(id))
    }

    pub fn set_server_certificate_name(&mut self, id: &str, name: &str) -> Result<(), ModelError> {
        check_cert_name("ServerCertificateName", name)?;
        let cert = self
            .server_certificates
            .get_mut(id)
            .ok_or_else(|| server_not_found(id))?;
        cert.name = name.to_owned();
        Ok(())
    }

    /// Deletes a certificate no HTTPS listener uses.
    pub fn delete_server_certificate(&mut self, id: &str) -> Result<(), ModelError> {
        self.server_certificate(id)?;
        if self.certificate_in_use(id) {
            return Err(in_use(id));
        }
        self.server_certificates
            .remove(id)
            .map(drop)
            .ok_or_else(|| server_not_found(id))
    }

    /// Adds a validated CA certificate.
    pub fn add_ca_certificate(&mut self, cert: CaCertificate) -> Result<(), ModelError> {
        check_cert_name("CACertificateName", &cert.name)?;
        if self.ca_certificates.len() >= MAX_CERTIFICATES {
            return Err(quota("CA"));
        }
        self.ca_certificates.insert(cert.id.clone(), cert);
        Ok(())
    }

    /// The CA certificate, or `CACertificateId.NotFound`.
    pub fn ca_certificate(&self, id: &str) -> Result<&CaCertificate, ModelError> {
        self.ca_certificates.get(id).ok_or_else(|| ca_not_found(id))
    }

    pub fn set_ca_certificate_name(&mut self, id: &str, name: &str) -> Result<(), ModelError> {
        check_cert_name("CACertificateName", name)?;
        let cert = self
            .ca_certificates
            .get_mut(id)
            .ok_or_else(|| ca_not_found(id))?;
        cert.name = name.to_owned();
        Ok(())
    }

    /// Deletes a CA certificate no HTTPS listener uses.
    pub fn delete_ca_certificate(&mut self, id: &str) -> Result<(), ModelError> {
        self.ca_certificate(id)?;
        if self.certificate_in_use(id) {
            return Err(in_use(id));
        }
        self.ca_certificates
            .remove(id)
            .map(drop)
            .ok_or_else(|| ca_not_found(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> CertSummary {
        CertSummary {
            fingerprint: "aa:bb".into(),
            common_name: "a.test".into(),
            alt_names: vec!["a.test".into()],
            not_before: 0,
            not_after: 1,
            key_algorithm: "ECC".into(),
            key_bits: 256,
        }
    }

    fn server(id: &str, name: &str) -> ServerCertificate {
        ServerCertificate {
            id: id.into(),
            name: name.into(),
            region_id: "local".into(),
            summary: summary(),
            created_ms: 0,
            chain_pem: "chain".into(),
            private_key_pem: "key".into(),
            tags: Vec::new(),
            resource_group_id: String::new(),
        }
    }

    #[test]
    fn server_certificates_lifecycle_and_limits() {
        let mut s = State::default();
        s.add_server_certificate(server("cert-1", "web")).unwrap();
        assert_eq!(
            s.add_server_certificate(server("cert-2", "bad name!"))
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
        s.set_server_certificate_name("cert-1", "renamed").unwrap();
        assert_eq!(s.server_certificate("cert-1").unwrap().name, "renamed");
        assert_eq!(
            s.set_server_certificate_name("cert-9", "x")
                .unwrap_err()
                .status,
            404
        );
        for i in 2..=MAX_CERTIFICATES {
            s.add_server_certificate(server(&format!("cert-{i}"), ""))
                .unwrap();
        }
        assert_eq!(
            s.add_server_certificate(server("cert-x", ""))
                .unwrap_err()
                .code,
            "QuotaExceeded.Certificates"
        );
        s.delete_server_certificate("cert-1").unwrap();
        assert_eq!(
            s.delete_server_certificate("cert-1").unwrap_err().code,
            "ServerCertificateId.NotFound"
        );
    }

    #[test]
    fn ca_certificates_lifecycle() {
        let mut s = State::default();
        s.add_ca_certificate(CaCertificate {
            id: "cacert-1".into(),
            name: "root".into(),
            region_id: "local".into(),
            summary: summary(),
            created_ms: 0,
            pem: "pem".into(),
            tags: Vec::new(),
            resource_group_id: String::new(),
        })
        .unwrap();
        s.set_ca_certificate_name("cacert-1", "root-2").unwrap();
        assert_eq!(s.ca_certificate("cacert-1").unwrap().name, "root-2");
        s.delete_ca_certificate("cacert-1").unwrap();
        assert_eq!(
            s.ca_certificate("cacert-1").unwrap_err().code,
            "CACertificateId.NotFound"
        );
    }
}
