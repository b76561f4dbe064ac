//! Layer-4 TCP proxying: the accept loop, backend selection with retries, and the relay.
//!
//! Per connection: accept → TCP_NODELAY → load the listener snapshot → persistence lookup →
//! scheduler over eligible backends → connect (retrying another backend on failure) →
//! relay both ways with half-close propagation, an idle timeout and byte counting, until
//! both sides finish, the idle timeout fires, or the backend is closed by a removal.

pub(crate) mod accept;
pub(crate) mod bind;
pub(crate) mod buffers;
pub(crate) mod connect;
pub(crate) mod relay;
pub(crate) mod splice;
