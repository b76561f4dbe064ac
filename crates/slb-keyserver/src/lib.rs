//! The key server: private keys live only here; L7 nodes hold certificates and ask for
//! each handshake's signature over mutual TLS.
//!
//! - [`proto`]: the wire format (sans-IO).
//! - [`keystore`]: keys on disk (redb) and in memory.
//! - [`server`]: the `slb keyserver` role.
//! - [`client`] and [`remote_key`]: a node's side, a rustls signing key that signs remotely.
//! - [`pki`]: the CA and identities both sides authenticate with.

pub mod client;
pub mod keystore;
pub mod pki;
pub mod proto;
pub mod remote_key;
pub mod server;

pub use client::{KeyServerClient, KeyServerError, KeyServerStats};
pub use keystore::{KeyStore, KeyStoreError};
