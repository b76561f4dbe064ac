//! Domain extensions of HTTPS listeners (CreateDomainExtension and friends): extra
//! certificates chosen by the client's SNI name, exact (`www.example.com`) or wildcard
//! (`*.example.com`, one or more labels). Clients without a matching name get the
//! listener's own certificate.

use serde::{Deserialize, Serialize};

use crate::rule::valid_domain;
use crate::{ListenerKey, ModelError, Protocol, State};

/// Most domain extensions one listener holds.
pub const MAX_DOMAIN_EXTENSIONS: usize = 50;

/// An SNI name and the certificate served for it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DomainExtension {
    /// `de-…`.
    pub id: String,
    pub listener: ListenerKey,
    /// Lower-case exact or `*.` wildcard name.
    pub domain: String,
    pub server_certificate_id: String,
}

fn not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "InvalidParameter.DomainExtensionId",
        format!("The specified DomainExtensionId \"{id}\" does not exist."),
    )
}

impl State {
    /// Adds a domain extension to an HTTPS listener.
    pub fn create_domain_extension(&mut self, ext: DomainExtension) -> Result<(), ModelError> {
        let key = &ext.listener;
        let l = self.find_listener(&key.load_balancer_id, key.port, Some(key.protocol))?;
        if l.key.protocol != Protocol::Https {
            return Err(ModelError::new(
                400,
                "OperationFailed.ListenerProtocol",
                "Domain extensions need an HTTPS listener.",
            ));
        }
        if !valid_domain(&ext.domain) {
            return Err(ModelError::invalid_parameter(
                "Domain",
                "must be a host name or *.wildcard of at most 80 letters, digits, - and .",
            ));
        }
        self.server_certificate(&ext.server_certificate_id)?;
        let same: Vec<&DomainExtension> = self
            .domain_extensions
            .values()
            .filter(|d| d.listener == ext.listener)
            .collect();
        if same.iter().any(|d| d.domain == ext.domain) {
            return Err(ModelError::new(
                400,
                "DomainExtensionExist",
                format!(
                    "The domain \"{}\" already has an extension on this listener.",
                    ext.domain
                ),
            ));
        }
        if same.len() >= MAX_DOMAIN_EXTENSIONS {
            return Err(ModelError::new(
                400,
                "QuotaExceeded.DomainExtensions",
                format!("A listener holds at most {MAX_DOMAIN_EXTENSIONS} domain extensions."),
            ));
        }
        self.domain_extensions.insert(ext.id.clone(), ext);
        Ok(())
    }

    pub fn domain_extension(&self, id: &str) -> Result<&DomainExtension, ModelError> {
        self.domain_extensions.get(id).ok_or_else(|| not_found(id))
    }

    /// Points an extension at another certificate.
    pub fn set_domain_extension_certificate(
        &mut self,
        id: &str,
        server_certificate_id: &str,
    ) -> Result<(), ModelError> {
        self.server_certificate(server_certificate_id)?;
        let ext = self
            .domain_extensions
            .get_mut(id)
            .ok_or_else(|| not_found(id))?;
        ext.server_certificate_id = server_certificate_id.to_owned();
        Ok(())
    }

    pub fn delete_domain_extension(&mut self, id: &str) -> Result<(), ModelError> {
        self.domain_extensions
            .remove(id)
            .map(drop)
            .ok_or_else(|| not_found(id))
    }

    /// The extensions of one listener, by domain.
    pub fn domain_extensions_of<'a>(
        &'a self,
        key: &'a ListenerKey,
    ) -> impl Iterator<Item = &'a DomainExtension> + 'a {
        self.domain_extensions
            .values()
            .filter(move |d| d.listener == *key)
    }
}
