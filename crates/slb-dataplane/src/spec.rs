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
/// Two specs with the same key describe the same listener, so
/// [`DataPlane::apply`](crate::DataPlane::apply) updates it in place instead of rebinding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ListenerKey {
    /// `LoadBalancerId` of the instance the listener belongs to.
    pub load_balancer_id: String,
    /// `ListenerPort` (the frontend port).
    pub port: u16,
    /// Lowercase protocol: `"tcp"` ([`PROTOCOL_TCP`]) for `apply`, `"http"`
    /// ([`PROTOCOL_HTTP`]) for `apply_http`.
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

/// [`ListenerKey::protocol`] of a TCP listener passed to `apply`.
pub const PROTOCOL_TCP: &str = "tcp";
/// [`ListenerKey::protocol`] of a UDP listener passed to `apply`: `established_timeout` is
/// then a session's idle timeout and `max_sessions` bounds its session table.
pub const PROTOCOL_UDP: &str = "udp";

/// Default bound of a UDP listener's session table (each session holds one socket).
pub const DEFAULT_UDP_MAX_SESSIONS: usize = 16_384;

/// Default idle timeout of a UDP session.
pub const DEFAULT_UDP_SESSION_TIMEOUT: Duration = Duration::from_secs(120);

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
    /// Send a PROXY protocol v2 header with the client's address at the start of every
    /// backend connection (Alibaba `ProxyProtocolV2Enabled`).
    pub proxy_protocol: bool,
    /// Master/slave group: `backends[0]` (the master) takes every new connection or session
    /// while it is eligible, `backends[1]` (the slave) only while the master is not; the
    /// scheduler is not used.
    pub master_slave: bool,
    /// Alibaba `Bandwidth` in Mbit/s, each direction shared by all the listener's
    /// connections or sessions; `None` = unlimited (-1).
    pub bandwidth_mbps: Option<u32>,
    /// Access control checked before anything else is done for a client.
    pub acl: Option<AclSpec>,
    /// The instance's capacity, shared with its other listeners; `None`: unlimited.
    pub caps: Option<crate::limits::InstanceCaps>,
    /// The instance's anti-DDoS thresholds, shared with its other listeners; `None`: off.
    pub ddos: Option<slb_core::ddos::DdosConfig>,
    /// UDP only: most sessions at once; beyond, the longest idle of a sample is evicted.
    pub max_sessions: usize,
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
    /// Sends `request` (`HealthCheckReq`; empty sends a newline) in one datagram. ICMP port
    /// unreachable is unhealthy; with `expect` (`HealthCheckExp`) only that exact reply
    /// within the timeout is healthy, without it silence is healthy too.
    Udp {
        request: Vec<u8>,
        expect: Option<Vec<u8>>,
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

/// The protocol value of an HTTP listener's [`ListenerKey`].
pub const PROTOCOL_HTTP: &str = "http";

/// The protocol value of an HTTPS listener's [`ListenerKey`] (an HTTP listener with `tls`).
pub const PROTOCOL_HTTPS: &str = "https";

/// Alibaba's default `IdleTimeout` of an HTTP listener (client keep-alive): 15 s.
pub const DEFAULT_HTTP_IDLE_TIMEOUT: Duration = Duration::from_secs(15);

/// Alibaba's default `RequestTimeout` of an HTTP listener: 60 s.
pub const DEFAULT_HTTP_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

impl ListenerKey {
    /// Convenience constructor for an `http` listener.
    pub fn http(load_balancer_id: impl Into<String>, port: u16) -> Self {
        Self {
            load_balancer_id: load_balancer_id.into(),
            port,
            protocol: PROTOCOL_HTTP.to_owned(),
        }
    }
}

/// Everything the data plane needs to run one layer-7 HTTP listener
/// (see [`DataPlane::apply_http`](crate::DataPlane::apply_http)).
#[derive(Clone, Debug, PartialEq)]
pub struct HttpListenerSpec {
    /// Which listener this is; `protocol` must be [`PROTOCOL_HTTP`].
    pub key: ListenerKey,
    /// Local address to accept on. Changing it is the only change that rebinds the socket.
    pub bind: SocketAddr,
    /// The listener's default server group (or `VServerGroupId`), resolved to addresses;
    /// used when no rule matches.
    pub default_backends: Vec<BackendSpec>,
    /// Forwarding rules, already sorted most-specific-first by the caller; the first rule
    /// that matches wins.
    pub rules: Vec<HttpRuleSpec>,
    /// Scheduling algorithm for every group of the listener (`wrr`, `wlc` or `rr`).
    pub scheduler: SchedulerKind,
    /// Health check settings; probes run once per distinct backend address of the listener.
    pub health: Option<HealthCheckSpec>,
    /// Cookie session persistence; `None` is off.
    pub sticky: Option<StickySpec>,
    /// Which `X-Forwarded-*`/`SLB-*` headers are added (X-Forwarded-For always is).
    pub forwarded: ForwardedHeaders,
    /// Client keep-alive idle timeout (Alibaba `IdleTimeout`, default 15 s,
    /// [`DEFAULT_HTTP_IDLE_TIMEOUT`]). Also bounds the time a client may take to send a
    /// request head. Zero means the default.
    pub idle_timeout: Duration,
    /// No response head from the backend within this time answers 504 (Alibaba
    /// `RequestTimeout`, default 60 s, [`DEFAULT_HTTP_REQUEST_TIMEOUT`]). Zero means the default.
    pub request_timeout: Duration,
    /// Compress text responses with gzip when the client accepts it (Alibaba default on).
    pub gzip: bool,
    /// `ListenerForward` on with `ForwardPort`: every request is answered with a 301 redirect
    /// to `https://host:port/path?query`.
    pub redirect_https_port: Option<u16>,
    /// Node secret that signs insert-mode sticky cookies, so a client cannot choose an
    /// arbitrary backend.
    pub cookie_key: [u8; 32],
    /// HTTPS: terminate TLS with these settings (certificate, policy, ALPN, client CA).
    /// A changed value applies to new handshakes; established connections keep theirs.
    pub tls: Option<slb_tls::TlsSettings>,
    /// Alibaba `Bandwidth` in Mbit/s, each direction (client to backend, backend to
    /// client) shared by all the listener's connections; `None` = unlimited (-1).
    pub bandwidth_mbps: Option<u32>,
    /// Access control checked at accept, before any TLS work.
    pub acl: Option<AclSpec>,
    /// The instance's capacity, shared with its other listeners; `None`: unlimited.
    pub caps: Option<crate::limits::InstanceCaps>,
    /// The instance's anti-DDoS thresholds, shared with its other listeners; `None`: off.
    pub ddos: Option<slb_core::ddos::DdosConfig>,
}

/// A listener's access control (Alibaba `AclStatus=on`, `AclType`, `AclId`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AclSpec {
    /// `white`: only listed clients; `black`: everyone but them.
    pub whitelist: bool,
    /// The list's blocks, compiled; shared by the listener's snapshots.
    pub matcher: std::sync::Arc<slb_core::AclMatcher>,
}

impl AclSpec {
    /// Whether a client at `ip` may connect (or send a datagram).
    pub fn allows(&self, ip: std::net::IpAddr) -> bool {
        self.matcher.contains(ip) == self.whitelist
    }
}

/// One forwarding rule (Alibaba `CreateRules`): requests whose host and path match go to
/// `backends` instead of the listener's default group.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpRuleSpec {
    /// Alibaba `RuleId`, for logs.
    pub rule_id: String,
    /// Exact host (`www.example.com`) or wildcard (`*.example.com`, one or more labels);
    /// compared case-insensitively without the port. `None` matches every host.
    pub domain: Option<String>,
    /// Path prefix (`/api`); `None` matches every path.
    pub url: Option<String>,
    /// The rule's server group, resolved to addresses.
    pub backends: Vec<BackendSpec>,
    /// `ListenerSync=off`: the rule's own scheduler, persistence and health check; `None`
    /// uses the listener's.
    pub own: Option<RuleOwnSpec>,
}

/// Settings a rule with `ListenerSync=off` uses instead of its listener's.
#[derive(Clone, Debug, PartialEq)]
pub struct RuleOwnSpec {
    pub scheduler: SchedulerKind,
    pub sticky: Option<StickySpec>,
    pub health: Option<HealthCheckSpec>,
}

/// Cookie session persistence (Alibaba `StickySession` on).
#[derive(Clone, Debug, PartialEq)]
pub enum StickySpec {
    /// `StickySessionType=insert`: the balancer sets a signed `SERVERID` cookie naming the
    /// backend, valid for `cookie_timeout` (`CookieTimeout`).
    Insert {
        /// Cookie lifetime (`Max-Age`).
        cookie_timeout: Duration,
    },
    /// `StickySessionType=server`: the balancer remembers which backend set the named
    /// cookie (`Cookie`) and routes requests carrying its value there.
    Server {
        /// Name of the backend's own cookie.
        cookie: String,
    },
}

/// Optional forwarded headers of an HTTP listener (`X-Forwarded-For` is always added).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ForwardedHeaders {
    /// `X-Forwarded-Proto: http` (`XForwardedFor_proto`).
    pub proto: bool,
    /// `SLB-IP`: the listener address (`XForwardedFor_SLBIP`).
    pub slb_ip: bool,
    /// `SLB-ID`: the load balancer id (`XForwardedFor_SLBID`).
    pub slb_id: bool,
    /// `X-Forwarded-Port`: the listener port.
    pub port: bool,
    /// `X-Forwarded-Client-srcport`: the client's source port (`XForwardedFor_ClientSrcPort`).
    pub client_src_port: bool,
}
