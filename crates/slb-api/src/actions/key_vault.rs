//! Where uploaded private keys go when a node must not keep them: the key server.

/// Keeps private keys outside the node's state. Both calls block (a network round trip and
/// the key server's fsync); actions run them on the blocking pool.
pub trait KeyVault: Send + Sync {
    /// Stores key `id`; it is durable on the key server when this returns `Ok`.
    fn put(&self, id: &str, pem: &str) -> Result<(), String>;
    /// Forgets key `id`; not an error if it is already gone.
    fn delete(&self, id: &str) -> Result<(), String>;
}
