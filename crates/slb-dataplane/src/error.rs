//! Errors of the data plane, saying what failed and whether retrying may help.

use std::net::SocketAddr;

/// Why [`DataPlane::apply`](crate::DataPlane::apply) could not bring one listener to its
/// desired state. Other listeners of the same call are not affected by such an error, and a
/// listener that was already running keeps its last good configuration.
#[derive(Debug, thiserror::Error)]
pub enum DataPlaneError {
    /// Binding or listening on the address failed (address in use, not local, no
    /// permission). Caused by the host's state; retrying succeeds once the address is free.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address that could not be bound.
        addr: SocketAddr,
        /// The operating system's error.
        #[source]
        source: std::io::Error,
    },
    /// The spec's protocol does not belong to the call: `apply` serves `tcp`, `apply_http`
    /// serves `http`. Caused by the caller; retrying the same spec fails again.
    #[error("unsupported listener protocol {0:?} here; apply serves tcp, apply_http serves http")]
    UnsupportedProtocol(String),
    /// An HTTPS listener's certificate, key, client CA or TLS policy cannot be used.
    /// Caused by the configuration; the listener keeps its previous TLS settings if it had any.
    #[error("TLS configuration: {0}")]
    Tls(#[from] slb_tls::ConfigError),
    /// The same listener key appears more than once in one `apply` call; only the first
    /// occurrence is applied. Caused by the caller.
    #[error("listener appears more than once in the desired set")]
    DuplicateListener,
}
