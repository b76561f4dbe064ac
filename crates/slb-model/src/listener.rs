//! Listeners: a port on an instance, its protocol, scheduler, persistence, timeouts and health check.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::params::{int_in, on_off, one_of, optional, text, ParamSource};
use crate::{HealthCheck, HttpSettings, ModelError};

/// Listener protocol. TCP, HTTP and HTTPS have a model; UDP is a reserved name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    Tcp,
    Udp,
    Http,
    Https,
}

impl Protocol {
    /// Alibaba's lowercase name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::Http => "http",
            Self::Https => "https",
        }
    }

    /// Parses Alibaba's protocol names, case-insensitively as the API accepts them.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Some(Self::Tcp),
            "udp" => Some(Self::Udp),
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            _ => None,
        }
    }

    /// HTTP and HTTPS: listeners that can carry forwarding rules.
    pub fn is_layer7(self) -> bool {
        matches!(self, Self::Http | Self::Https)
    }

    /// TCP, HTTP and HTTPS share one port space on an instance; UDP has its own.
    pub fn port_space(self) -> u8 {
        match self {
            Self::Udp => 1,
            _ => 0,
        }
    }
}

/// Where a listener lives: instance, port and protocol (TCP and UDP may share a port).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ListenerKey {
    pub load_balancer_id: String,
    pub port: u16,
    pub protocol: Protocol,
}

impl fmt::Display for ListenerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}",
            self.load_balancer_id,
            self.protocol.as_str(),
            self.port
        )
    }
}

/// A listener is created `stopped` and serves only while `running` and its instance is `active`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ListenerStatus {
    Running,
    Stopped,
}

impl ListenerStatus {
    /// Alibaba's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Running => "running",
            Self::Stopped => "stopped",
        }
    }
}

/// Schedulers a layer-4 listener accepts.
pub const L4_SCHEDULERS: &[&str] = &["wrr", "wlc", "rr", "sch", "tch"];

/// A listener and every setting the data plane needs. Defaults are Alibaba's: `wrr`,
/// unlimited bandwidth (-1), no persistence, 900 s established timeout, no drain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Listener {
    pub key: ListenerKey,
    /// Port on the default-group backends; `None` when the listener uses a VServer group.
    pub backend_server_port: Option<u16>,
    pub vserver_group_id: Option<String>,
    pub status: ListenerStatus,
    pub scheduler: String,
    /// Mbit/s, -1 = unlimited.
    pub bandwidth: i32,
    /// Seconds of source-IP persistence, 0 = off.
    pub persistence_timeout: u32,
    /// Idle seconds before an established connection is closed.
    pub established_timeout: u32,
    pub connection_drain: bool,
    /// Seconds a removed backend keeps its connections when `connection_drain` is on.
    pub connection_drain_timeout: u32,
    pub proxy_protocol_v2: bool,
    pub description: String,
    pub health_check: HealthCheck,
    /// Access control: when on, clients are checked against list `acl_id` as a
    /// whitelist (`white`) or a blacklist (`black`) before anything else happens.
    #[serde(default)]
    pub acl_status: bool,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub acl_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub acl_id: Option<String>,
    /// Layer 4: a master/slave server group instead of a VServer group or default group.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub master_slave_server_group_id: Option<String>,
    /// Layer-7 settings; `Some` exactly for HTTP (later HTTPS) listeners. Absent in rows
    /// stored before HTTP listeners existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpSettings>,
    /// TLS settings; `Some` exactly for HTTPS listeners.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub https: Option<crate::HttpsSettings>,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
    /// The older per-listener whitelist is on (`white_list.rs`): only `white_list` may
    /// connect. Absent while off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub white_list_on: bool,
    /// The older per-listener whitelist's blocks; absent while empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub white_list: Vec<ipnet::IpNet>,
}

impl Listener {
    /// A new stopped TCP listener with Alibaba's defaults, before parameters are applied.
    /// HTTP listeners start from [`Listener::new_http`].
    pub fn new(key: ListenerKey) -> Self {
        Self {
            key,
            backend_server_port: None,
            vserver_group_id: None,
            status: ListenerStatus::Stopped,
            scheduler: "wrr".into(),
            bandwidth: -1,
            persistence_timeout: 0,
            established_timeout: 900,
            connection_drain: false,
            connection_drain_timeout: 300,
            proxy_protocol_v2: false,
            description: String::new(),
            health_check: HealthCheck::default(),
            master_slave_server_group_id: None,
            acl_status: false,
            acl_type: String::new(),
            acl_id: None,
            http: None,
            https: None,
            tags: Vec::new(),
            white_list_on: false,
            white_list: Vec::new(),
        }
    }

    /// Applies the TCP listener parameters present in `p` (create and set share this), then
    /// checks the combination. `VServerGroupId` is validated against the state by the caller.
    pub fn apply_tcp_params(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        if let Some(v) = int_in(p, "BackendServerPort", 1..=65535u16)? {
            self.backend_server_port = Some(v);
        }
        if let Some(v) = one_of(p, "Scheduler", L4_SCHEDULERS)? {
            self.scheduler = v.into();
        }
        if let Some(b) = bandwidth_param(p)? {
            self.bandwidth = b;
        }
        if let Some(v) = int_in(p, "PersistenceTimeout", 0..=3600u32)? {
            self.persistence_timeout = v;
        }
        if let Some(v) = int_in(p, "EstablishedTimeout", 10..=900u32)? {
            self.established_timeout = v;
        }
        if let Some(v) = on_off(p, "ConnectionDrain")? {
            self.connection_drain = v;
        }
        if let Some(v) = int_in(p, "ConnectionDrainTimeout", 10..=900u32)? {
            self.connection_drain_timeout = v;
        }
        if let Some(v) = optional(p, "ProxyProtocolV2Enabled") {
            // Python SDKs send booleans as `True` / `False`.
            self.proxy_protocol_v2 = match v.to_ascii_lowercase().as_str() {
                "true" => true,
                "false" => false,
                _ => {
                    return Err(ModelError::invalid_parameter(
                        "ProxyProtocolV2Enabled",
                        "must be true or false",
                    ))
                }
            };
        }
        if let Some(v) = text(p, "Description", 256)? {
            self.description = v;
        }
        self.apply_acl_params(p)?;
        self.health_check.apply(p)?;
        Ok(())
    }
}

impl Listener {
    /// `AclStatus`, `AclType` (white / black) and `AclId`, for every listener type. The
    /// list itself is checked against the state by [`State::check_listener`]; turning the
    /// status on needs a type and a list.
    pub fn apply_acl_params(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        if let Some(v) = on_off(p, "AclStatus")? {
            self.acl_status = v;
        }
        if let Some(v) = one_of(p, "AclType", &["white", "black"])? {
            self.acl_type = v.into();
        }
        if let Some(v) = optional(p, "AclId") {
            self.acl_id = Some(v.to_string());
        }
        if self.acl_status {
            if self.acl_type.is_empty() {
                return Err(crate::params::missing("AclType"));
            }
            if self.acl_id.is_none() {
                return Err(crate::params::missing("AclId"));
            }
        }
        Ok(())
    }

    /// Applies the UDP listener parameters (create and set share this): the layer-4 ones
    /// of [`Listener::apply_tcp_params`] except `EstablishedTimeout` (a UDP session's idle
    /// timeout is the node's), and the UDP health check (`healthCheckReq`/`healthCheckExp`).
    pub fn apply_udp_params(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        for name in ["EstablishedTimeout", "HealthCheckType"] {
            if optional(p, name).is_some() {
                return Err(ModelError::invalid_parameter(
                    name,
                    "not a UDP listener parameter",
                ));
            }
        }
        self.apply_tcp_params(p)?;
        self.health_check.kind = "udp".into();
        Ok(())
    }
}

/// `Bandwidth`: -1 (unlimited) or 1-5120 Mbit/s.
pub fn bandwidth_param(p: &dyn ParamSource) -> Result<Option<i32>, ModelError> {
    match optional(p, "Bandwidth") {
        None => Ok(None),
        Some("-1") => Ok(Some(-1)),
        Some(_) => int_in(p, "Bandwidth", 1..=5120i32),
    }
}

/// A setting Alibaba has that this version does not enforce yet: refused rather than
/// stored and silently ignored, so nobody believes it protects them.
pub fn unsupported(param: &str, feature: &str) -> ModelError {
    ModelError::new(
        400,
        format!("OperationUnsupported.{param}"),
        format!("{feature} ({param}) are not supported by this OpenSLB version yet."),
    )
}
