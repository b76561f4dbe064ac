//! The Alibaba SLB 2014-05-15 compatible management API.
//!
//! * [`server`]: the axum router, authentication and dispatch to an [`ActionHandler`].
//! * [`sign`]: V1 (HMAC-SHA1) and V3 (ACS3-HMAC-SHA256) signatures as pure functions.
//! * [`auth`]: access keys, the timestamp window and the nonce replay cache.
//! * [`params`]: typed access to request parameters with Alibaba's errors.
//! * [`error`]: [`ApiError`] and Alibaba's error body.
//! * [`actions`]: the SLB actions; [`client`]: a V1 signing client.

pub mod actions;
pub mod auth;
pub mod client;
pub mod error;
pub mod params;
pub mod server;
pub mod sign;

pub use auth::{CredentialSource, NonceCache, StaticCredentials};
pub use error::ApiError;
pub use params::Params;
pub use server::{router, ActionHandler, ApiContext, BoxFuture, RequestContext, SignatureVersion};
