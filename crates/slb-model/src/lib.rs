//! OpenSLB's resource model: the load balancer instances, listeners, forwarding rules,
//! backend servers and VServer groups of Alibaba SLB API 2014-05-15, with the validation rules and state
//! transitions that every entry point (API, config file, store replay) shares.
//!
//! No I/O lives here: the store persists a [`State`], the API turns requests into calls on
//! it, and the reconciler compiles it into data-plane snapshots.

pub mod acl;
pub mod backend;
pub mod certificate;
pub mod domain_extension;
pub mod error;
pub mod health_check;
pub mod http_listener;
pub mod https_listener;
pub mod listener;
pub mod load_balancer;
pub mod master_slave_group;
pub mod params;
pub mod resource_group;
pub mod rule;
pub mod rule_settings;
pub mod state;
pub mod tag;
pub mod tls_policy;
pub mod vserver_group;
pub mod white_list;

pub use acl::{Acl, AclEntry};
pub use backend::{BackendServer, ServerType};
pub use certificate::{CaCertificate, CertSummary, ServerCertificate};
pub use domain_extension::DomainExtension;
pub use error::ModelError;
pub use health_check::HealthCheck;
pub use http_listener::{HttpSettings, StickySession};
pub use https_listener::{HttpsSettings, TLS_CIPHER_POLICIES};
pub use listener::{Listener, ListenerKey, ListenerStatus, Protocol};
pub use load_balancer::{spec_caps, LoadBalancer, LoadBalancerStatus, SpecCaps};
pub use master_slave_group::MasterSlaveServerGroup;
pub use rule::{rule_order, Rule};
pub use rule_settings::RuleSettings;
pub use state::State;
pub use tag::Tag;
pub use vserver_group::VServerGroup;
