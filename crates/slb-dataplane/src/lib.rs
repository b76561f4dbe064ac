//! OpenSLB's tokio data plane: layer-4 TCP and UDP and layer-7 HTTP listeners, backend selection, proxying, health
//! probes and atomic configuration swaps.
//!
//! The control plane describes the desired listeners as plain [`ListenerSpec`]s and calls
//! [`DataPlane::apply`]; the data plane applies the difference without dropping
//! connections or rebinding sockets that did not change. Algorithms (schedulers, health
//! thresholds, persistence tables) come from the sans-IO `slb-core` crate; this crate adds
//! the sockets, tasks and timers around them.
//!
//! Layout: [`spec`] (input), `dataplane.rs` (the handle and the diff), `listener.rs` (one
//! listener's lifecycle), `snapshot.rs` and `backend.rs` (immutable config beside live
//! state), `tcp/` (bind, accept, connect with retries, relay), `udp/` (sessions),
//! `health/` (probes), `persistence.rs`, [`metrics`] (names and counters), [`http`]
//! (layer-7 listeners, fed by [`DataPlane::apply_http`]), `workers.rs` (thread-per-core
//! serving) with `reuseport.rs` (a listener's socket per worker).

mod backend;
mod dataplane;
pub mod ddos;
mod error;
mod health;
mod housekeeping;
pub mod http;
mod limits;
mod listener;
pub mod metrics;
mod persistence;
mod reuseport;
mod shaper;
mod snapshot;
mod spares;
pub mod spec;
mod tcp;
mod udp;
mod workers;

pub use dataplane::{BackendHealthReport, DataPlane};
pub use error::DataPlaneError;
pub use health::{MAX_STATUS_LINE, MIN_PROBE_INTERVAL};
pub use http::access_log::{AccessLog, AccessLogEntry, JsonLinesAccessLog};
pub use limits::InstanceCaps;
pub use persistence::PURGE_EVERY;
pub use slb_core::{HealthStatus, HttpCodes, SchedulerKind};
pub use snapshot::FORWARD_WHEN_ALL_UNHEALTHY;
pub use spec::{
    BackendSpec, ForwardedHeaders, HealthCheckKind, HealthCheckSpec, HttpListenerSpec, HttpMethod,
    HttpRuleSpec, ListenerKey, ListenerSpec, RuleOwnSpec, StickySpec, DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_ESTABLISHED_TIMEOUT, DEFAULT_HTTP_IDLE_TIMEOUT, DEFAULT_HTTP_REQUEST_TIMEOUT,
    PROTOCOL_HTTP, PROTOCOL_HTTPS, PROTOCOL_TCP, PROTOCOL_UDP,
};
pub use tcp::accept::ACCEPT_ERROR_BACKOFF;
pub use tcp::bind::LISTEN_BACKLOG;
pub use tcp::connect::MAX_CONNECT_ATTEMPTS;
pub use tcp::relay::{use_splice as use_tcp_splice, RELAY_BUFFER_SIZE};
pub use udp::serve::MAX_DATAGRAM;
pub use workers::{WorkerThreads, Workers};
