//! OpenSLB's durable state: one redb database file holding every resource, a revision
//! counter and a changelog keyed by revision, so that a watcher can follow changes.
//!
//! Writers go through [`Store::update`], which runs a [`slb_model::State`] method on a copy
//! of the current state and, only if it succeeds, writes what changed in one durable
//! transaction before publishing the new state. A refused or failed change publishes nothing.

mod codec;
mod store;

pub use store::{Snapshot, Store, StoreError};
