//! Certificates and private keys as users upload them (PEM): validated once, described
//! without ever exposing the key. TLS termination and the key server build on this crate.

pub mod config;
pub mod custom_policy;
pub mod inspect;
pub mod key;

pub use config::{server_config, ConfigError, SniCertificate, TlsSettings, TLS_POLICIES};
pub use custom_policy::CustomPolicy;
pub use inspect::{inspect_ca, inspect_server, key_kind, CertError, CertInfo};
pub use key::{KeyKind, ReadyCheck, RemoteKey, TlsKey};
