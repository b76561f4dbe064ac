//! Sans-IO load-balancing algorithms for OpenSLB.
//!
//! Nothing here touches a socket, spawns a task or reads the clock: time is passed in as
//! [`std::time::Instant`] / [`std::time::Duration`] and per-connection facts (client
//! address, active connection counts, backend eligibility) as arguments. That keeps every
//! algorithm deterministic to test, fuzz and benchmark on its own.
//!
//! - [`acl`]: access-control list matching (merged ranges, binary search).
//! - [`ddos`]: per-instance anti-DDoS metering, scrubbing and blackholing.
//! - [`sched`]: backend schedulers (`wrr`, `wlc`, `rr`, `sch`, `tch`) behind [`Scheduler`].
//! - [`health`]: rise/fall threshold state machine for health-check results.
//! - [`persistence`]: source-IP session persistence table with expiry.
//! - [`proxy_protocol`]: PROXY protocol v2 headers (encode and decode).
//! - [`rules`]: HTTP forwarding-rule matching (domain + URL, first match wins).
//! - [`token_bucket`]: byte-rate pacing for listener bandwidth limits.
//! - [`http_codes`]: parsing of Alibaba `HealthCheckHttpCode` into a status-class set.

pub mod acl;
pub mod ddos;
pub mod health;
pub mod http_codes;
pub mod persistence;
pub mod proxy_protocol;
pub mod rules;
pub mod sched;
pub mod token_bucket;

pub use acl::AclMatcher;
pub use health::{HealthStatus, HealthTracker};
pub use http_codes::{HttpCodes, ParseHttpCodesError};
pub use persistence::PersistenceTable;
pub use rules::RuleTable;
pub use sched::{
    build, BackendWeight, PickContext, Scheduler, SchedulerKind, UnknownSchedulerError,
};
pub use token_bucket::TokenBucket;
