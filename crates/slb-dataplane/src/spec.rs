//! The plain input the control plane hands to the data plane.
//!
//! The reconciler in the binary compiles stored configuration (instances, listeners, server
//! groups) into one [`ListenerSpec`] per running listener and passes the whole desired set to
//! [`DataPlane::apply`](crate::DataPlane::apply). Nothing here refers to the store or the API:
//! the spec is already resolved (server group chosen, backend ports filled in, defaults set).

use std::net::SocketAddr;
use std::time::Duration;

use slb_core::{HttpCodes, SchedulerKind};

/// Identity of a listener: Alibaba keys listeners by (instance, `ListenerPort`, protocol).
///
/// Two specs with the same key describe the same listener, so [`DataPlane::apply`]
/// (crate::DataPlane::apply) updates it in place instead of rebinding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerKey {
    /// `LoadBalancerId` of the instance the listener belongs to.
    pub load_balancer_id: String,
    /// `ListenerPort` (the frontend port).
    pub port: u16,
    /// Lowercase protocol; this data plane serves `"tcp"` only (see [`PROTOCOL_TCP`]).
    pub protocol: String,
}

impl ListenerKey {
    /// Convenience constructor for a `tcp` listener.
    pub fn tcp(load_balancer_id: impl Into<String>, port: u16) -> Self {
        Self {
            load_balancer_id: load_balancer_id.into(),
            port,
            protocol: PROTOCOL_TCP.to_owned(),
        }
    }
}

impl std::fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.load_balancer_id, self.protocol, self.port
        )
    }
}

/// The only protocol value [`ListenerKey::protocol`] may have for this data plane.
pub const PROTOCOL_TCP: &str = "tcp";

/// Alibaba's default idle timeout for an established TCP connection: 900 s.
pub const DEFAULT_ESTABLISHED_TIMEOUT: Duration = Duration::from_secs(900);

/// Default backend connect timeout: 5 s.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Everything the data plane needs to run one TCP listener.
#[derive(Clone, Debug, PartialEq)]
pub struct ListenerSpec {
    /// Which listener this is.
    pub key: ListenerKey,
    /// Local address to accept on: the instance `Address` and the `ListenerPort`.
    /// Changing it is the only change that rebinds the socket.
    pub bind: SocketAddr,
    /// Backends (the default server group or the listener's VServer group, already resolved
    /// to addresses with their backend ports). A backend's identity is its address: health
    /// state and connection counts follow the address across updates.
    pub backends: Vec<BackendSpec>,
    /// Scheduling algorithm (Alibaba `Scheduler`, default `wrr`).
    pub scheduler: SchedulerKind,
    /// Health check settings; `None` turns health checking off and every backend with a
    /// non-zero weight is eligible.
    pub health: Option<HealthCheckSpec>,
    /// Source-IP persistence (Alibaba `PersistenceTimeout`); `Duration::ZERO` turns it off.
    pub persistence_timeout: Duration,
    /// Idle timeout of an established connection: no byte in either direction for this long
    /// closes both sides. Alibaba's default is 900 s ([`DEFAULT_ESTABLISHED_TIMEOUT`]);
    /// `Duration::ZERO` disables the idle timeout.
    pub established_timeout: Duration,
    /// Timeout of one backend connect attempt (default 5 s, [`DEFAULT_CONNECT_TIMEOUT`]).
    pub connect_timeout: Duration,
    /// Connection drain (Alibaba `ConnectionDrain`/`ConnectionDrainTimeout`). `Some(t)`: a
    /// backend removed from the list keeps its connections for `t`, then they are closed;
    /// a removed listener's connections are closed after `t` too. `None` (drain off):
    /// connections to a removed backend are closed at once, while connections of a removed
    /// listener are left to finish by themselves.
    pub drain_timeout: Option<std::time::Duration>,
}

/// One backend server of a listener.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct BackendSpec {
    /// Alibaba `ServerId` (an IP address or a server inventory id); reported back as is.
    pub server_id: String,
    /// Where to connect: server IP and backend port.
    pub addr: SocketAddr,
    /// Relative weight `0..=100`; `0` takes no new connections.
    pub weight: u32,
}

/// Health check settings of a listener (Alibaba `HealthCheck*` parameters).
#[derive(Clone, Debug, PartialEq)]
pub struct HealthCheckSpec {
    /// TCP connect or HTTP request.
    pub kind: HealthCheckKind,
    /// Probe this port instead of the backend's port (`HealthCheckConnectPort`).
    pub port: Option<u16>,
    /// Time one probe may take (`HealthCheckConnectTimeout` / `HealthCheckTimeout`).
    pub timeout: Duration,
    /// Time between the starts of two probes (`HealthCheckInterval`).
    pub interval: Duration,
    /// Consecutive successes that make an unhealthy backend healthy (`HealthyThreshold`).
    pub healthy_threshold: u32,
    /// Consecutive failures that make a backend unhealthy (`UnhealthyThreshold`).
    pub unhealthy_threshold: u32,
}

/// What a health probe does.
#[derive(Clone, Debug, PartialEq)]
pub enum HealthCheckKind {
    /// Succeeds when a TCP connection is established within the timeout.
    Tcp,
    /// Sends an HTTP/1.0 request and succeeds when the status code is in `codes`.
    Http {
        /// Request target, e.g. `/health` (`HealthCheckURI`); must start with `/`.
        uri: String,
        /// `Host` header (`HealthCheckDomain`); `None` sends the backend's IP.
        domain: Option<String>,
        /// `HEAD` (Alibaba's default) or `GET`.
        method: HttpMethod,
        /// Status classes counted as healthy (`HealthCheckHttpCode`, e.g. `http_2xx,http_3xx`).
        codes: HttpCodes,
    },
}

/// HTTP method of an HTTP health probe.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum HttpMethod {
    /// `HEAD`, Alibaba's default.
    #[default]
    Head,
    /// `GET`.
    Get,
}

impl HttpMethod {
    /// The method as sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Head => "HEAD",
            Self::Get => "GET",
        }
    }
}
