//! Health check settings of a listener.

use serde::{Deserialize, Serialize};

use crate::params::{int_in, on_off, one_of, optional, ParamSource};
use crate::ModelError;

/// Health check settings with Alibaba's defaults: on, TCP, 5 s timeout, every 2 s,
/// 3 successes to rise, 3 failures to fall, HTTP checks accept `http_2xx`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    pub enabled: bool,
    /// `tcp` or `http`.
    pub kind: String,
    /// Probe this port instead of the backend's own; `None` = the backend port.
    pub connect_port: Option<u16>,
    /// Seconds to wait for a probe, 1-300.
    pub timeout: u32,
    /// Seconds between probes, 1-50.
    pub interval: u32,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub uri: String,
    pub domain: String,
    /// Comma-separated `http_2xx,http_3xx,...`.
    pub http_code: String,
    /// `head` or `get` for HTTP checks.
    pub method: String,
    /// UDP checks: the datagram sent (`HealthCheckReq`); empty sends a newline.
    #[serde(default)]
    pub udp_request: String,
    /// UDP checks: the exact reply that means healthy (`HealthCheckExp`); empty = any reply
    /// or silence is healthy, only ICMP port unreachable is not.
    #[serde(default)]
    pub udp_expect: String,
}

impl Default for HealthCheck {
    fn default() -> Self {
        Self {
            enabled: true,
            kind: "tcp".into(),
            connect_port: None,
            timeout: 5,
            interval: 2,
            healthy_threshold: 3,
            unhealthy_threshold: 3,
            uri: String::new(),
            domain: String::new(),
            http_code: "http_2xx".into(),
            method: "head".into(),
            udp_request: String::new(),
            udp_expect: String::new(),
        }
    }
}

impl HealthCheck {
    /// Applies the health-check parameters present in `p`, leaving the others as they are.
    /// Accepts both `HealthCheckInterval` and the `healthCheckInterval` spelling that
    /// Alibaba's SDK sends for CreateLoadBalancerTCPListener.
    pub fn apply(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        if let Some(v) = on_off(p, "HealthCheckSwitch")? {
            self.enabled = v;
        }
        if let Some(v) = on_off(p, "HealthCheck")? {
            self.enabled = v;
        }
        if let Some(v) = one_of(p, "HealthCheckType", &["tcp", "http"])? {
            self.kind = v.into();
        }
        if let Some(raw) = optional(p, "HealthCheckConnectPort") {
            // Alibaba documents -520 as "use the backend port".
            if raw == "-520" {
                self.connect_port = None;
            } else {
                self.connect_port = int_in(p, "HealthCheckConnectPort", 1..=65535u16)?;
            }
        }
        if let Some(v) = int_in(p, "HealthCheckConnectTimeout", 1..=300u32)? {
            self.timeout = v;
        }
        if let Some(v) = int_in(p, "HealthCheckTimeout", 1..=300u32)? {
            self.timeout = v;
        }
        for name in ["HealthCheckInterval", "healthCheckInterval"] {
            if let Some(v) = int_in(p, name, 1..=50u32)? {
                self.interval = v;
            }
        }
        if let Some(v) = int_in(p, "HealthyThreshold", 2..=10u32)? {
            self.healthy_threshold = v;
        }
        if let Some(v) = int_in(p, "UnhealthyThreshold", 2..=10u32)? {
            self.unhealthy_threshold = v;
        }
        if let Some(uri) = optional(p, "HealthCheckURI") {
            if !uri.starts_with('/') || uri.len() > 80 || uri.chars().any(|c| c.is_whitespace()) {
                return Err(ModelError::invalid_parameter(
                    "HealthCheckURI",
                    "must start with / and be at most 80 characters without spaces",
                ));
            }
            self.uri = uri.into();
        }
        if let Some(d) = optional(p, "HealthCheckDomain") {
            if d.len() > 80 || d.chars().any(|c| c.is_whitespace() || c == '/') {
                return Err(ModelError::invalid_parameter(
                    "HealthCheckDomain",
                    "must be a host name of at most 80 characters",
                ));
            }
            self.domain = d.into();
        }
        if let Some(codes) = optional(p, "HealthCheckHttpCode") {
            let ok = codes
                .split(',')
                .all(|c| matches!(c.trim(), "http_2xx" | "http_3xx" | "http_4xx" | "http_5xx"));
            if !ok {
                return Err(ModelError::invalid_parameter(
                    "HealthCheckHttpCode",
                    "use a comma-separated list of http_2xx, http_3xx, http_4xx, http_5xx",
                ));
            }
            self.http_code = codes.replace(' ', "");
        }
        if let Some(m) = one_of(p, "HealthCheckMethod", &["head", "get"])? {
            self.method = m.into();
        }
        // Alibaba's SDKs send the lower-case spelling; accept both.
        for (names, field) in [
            (["healthCheckReq", "HealthCheckReq"], &mut self.udp_request),
            (["healthCheckExp", "HealthCheckExp"], &mut self.udp_expect),
        ] {
            for name in names {
                if let Some(v) = p.get(name) {
                    if v.len() > 64 || v.chars().any(|c| !c.is_ascii_graphic()) {
                        return Err(ModelError::invalid_parameter(
                            name,
                            "at most 64 printable ASCII characters without spaces",
                        ));
                    }
                    *field = v.to_string();
                }
            }
        }
        if self.kind == "http" && self.uri.is_empty() {
            self.uri = "/".into();
        }
        Ok(())
    }
}
