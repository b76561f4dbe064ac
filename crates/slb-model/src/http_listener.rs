//! Layer-7 settings of an HTTP listener: session persistence, forwarded headers, timeouts,
//! gzip and the HTTP-to-HTTPS redirect, with Alibaba's names, ranges and defaults.
//!
//! The scheduler, server group, description and health check stay on [`Listener`]; only
//! what TCP listeners lack lives in [`HttpSettings`] (`Listener::http`).

use serde::{Deserialize, Serialize};

use crate::listener::unsupported;
use crate::params::{int_in, on_off, one_of, optional, required, text, ParamSource};
use crate::{HealthCheck, Listener, ListenerKey, ModelError, Protocol};

/// Schedulers a layer-7 listener accepts (Alibaba: `wrr` default, `rr`, `wlc`).
pub const L7_SCHEDULERS: &[&str] = &["wrr", "rr", "wlc"];

/// Session persistence of an HTTP listener (`StickySession`, `StickySessionType`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum StickySession {
    /// `StickySession=off` (Alibaba's default).
    #[default]
    Off,
    /// `insert`: the balancer sets its own cookie, valid `cookie_timeout` seconds (1-86400).
    Insert { cookie_timeout: u32 },
    /// `server`: the balancer follows the backend's own cookie named `cookie`.
    Server { cookie: String },
}

/// Everything an HTTP listener has beyond a TCP one. Defaults are Alibaba's: no
/// persistence, `X-Forwarded-For` always on, the other forwarded headers off, gzip on,
/// 15 s idle timeout, 60 s request timeout, no redirect.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HttpSettings {
    pub sticky_session: StickySession,
    /// `X-Forwarded-For` with the client address appended; cannot be turned off.
    pub x_forwarded_for: bool,
    /// `SLB-IP` header with the instance address (`XForwardedFor_SLBIP`).
    pub x_forwarded_for_slb_ip: bool,
    /// `SLB-ID` header with the instance id (`XForwardedFor_SLBID`).
    pub x_forwarded_for_slb_id: bool,
    /// `X-Forwarded-Proto` (`XForwardedFor_proto`).
    pub x_forwarded_for_proto: bool,
    /// `X-Forwarded-Port` with the listener port (`XForwardedFor_SLBPORT`).
    pub x_forwarded_for_slb_port: bool,
    /// `X-Forwarded-Client-srcport` with the client's port (`XForwardedFor_ClientSrcPort`).
    pub x_forwarded_for_client_src_port: bool,
    /// Compress text responses when the client accepts it (`Gzip`, default on).
    pub gzip: bool,
    /// Seconds a client keep-alive connection may stay idle, 1-60 (default 15).
    pub idle_timeout: u32,
    /// Seconds to wait for the backend's response before answering 504, 1-180 (default 60).
    pub request_timeout: u32,
    /// `ListenerForward=on`: answer every request with a redirect to HTTPS on this port
    /// (`ForwardPort`). `None` = off.
    pub forward_port: Option<u16>,
}

impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            sticky_session: StickySession::Off,
            x_forwarded_for: true,
            x_forwarded_for_slb_ip: false,
            x_forwarded_for_slb_id: false,
            x_forwarded_for_proto: false,
            x_forwarded_for_slb_port: false,
            x_forwarded_for_client_src_port: false,
            gzip: true,
            idle_timeout: 15,
            request_timeout: 60,
            forward_port: None,
        }
    }
}

/// A `Cookie` name as Alibaba accepts it: 1-200 ASCII letters and digits (which also rules
/// out `,`, `;`, spaces and a leading `$`).
pub fn valid_cookie_name(name: &str) -> bool {
    (1..=200).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric())
}

impl HttpSettings {
    /// Applies the layer-7 parameters present in `p` and checks the combination: sticky
    /// `insert` needs `CookieTimeout`, `server` needs `Cookie`, `ListenerForward=on` needs
    /// `ForwardPort`.
    pub fn apply(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        self.apply_sticky(p)?;
        if let Some(on) = on_off(p, "XForwardedFor")? {
            if !on {
                return Err(unsupported("XForwardedFor", "turning off X-Forwarded-For"));
            }
        }
        let switches: [(&str, &mut bool); 6] = [
            ("XForwardedFor_SLBIP", &mut self.x_forwarded_for_slb_ip),
            ("XForwardedFor_SLBID", &mut self.x_forwarded_for_slb_id),
            ("XForwardedFor_proto", &mut self.x_forwarded_for_proto),
            ("XForwardedFor_SLBPORT", &mut self.x_forwarded_for_slb_port),
            (
                "XForwardedFor_ClientSrcPort",
                &mut self.x_forwarded_for_client_src_port,
            ),
            ("Gzip", &mut self.gzip),
        ];
        for (name, field) in switches {
            if let Some(v) = on_off(p, name)? {
                *field = v;
            }
        }
        if let Some(v) = int_in(p, "IdleTimeout", 1..=60u32)? {
            self.idle_timeout = v;
        }
        if let Some(v) = int_in(p, "RequestTimeout", 1..=180u32)? {
            self.request_timeout = v;
        }
        let port = int_in(p, "ForwardPort", 1..=65535u16)?;
        match on_off(p, "ListenerForward")? {
            Some(true) => {
                let port = port
                    .or(self.forward_port)
                    .ok_or_else(|| crate::params::missing("ForwardPort"))?;
                self.forward_port = Some(port);
            }
            Some(false) => self.forward_port = None,
            None => {
                if port.is_some() && self.forward_port.is_some() {
                    self.forward_port = port;
                }
            }
        }
        Ok(())
    }

    fn apply_sticky(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        self.sticky_session.apply(p)
    }
}

impl StickySession {
    /// Applies `StickySession`, `StickySessionType`, `CookieTimeout` and `Cookie` from `p`
    /// over the current setting: `insert` needs a `CookieTimeout`, `server` a `Cookie`.
    pub fn apply(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        let on = on_off(p, "StickySession")?;
        let kind = one_of(p, "StickySessionType", &["insert", "server"])?;
        let timeout = int_in(p, "CookieTimeout", 1..=86400u32)?;
        let cookie = match optional(p, "Cookie") {
            Some(c) if !valid_cookie_name(c) => {
                return Err(ModelError::invalid_parameter(
                    "Cookie",
                    "must be 1-200 ASCII letters and digits",
                ))
            }
            c => c.map(str::to_string),
        };
        let (cur_kind, cur_timeout, cur_cookie) = match &*self {
            StickySession::Off => (None, None, None),
            StickySession::Insert { cookie_timeout } => {
                (Some("insert"), Some(*cookie_timeout), None)
            }
            StickySession::Server { cookie } => (Some("server"), None, Some(cookie.clone())),
        };
        let enabled = on.unwrap_or(cur_kind.is_some());
        if !enabled {
            *self = StickySession::Off;
            return Ok(());
        }
        *self = match kind.or(cur_kind) {
            None => return Err(crate::params::missing("StickySessionType")),
            Some("insert") => StickySession::Insert {
                cookie_timeout: timeout
                    .or(cur_timeout)
                    .ok_or_else(|| crate::params::missing("CookieTimeout"))?,
            },
            Some(_) => StickySession::Server {
                cookie: cookie
                    .or(cur_cookie)
                    .ok_or_else(|| crate::params::missing("Cookie"))?,
            },
        };
        Ok(())
    }
}

/// Applies the health-check parameters of a layer-7 listener or rule: always HTTP checks,
/// `/` when no URI is set, `$_ip` (Alibaba's "the backend's own address") as no domain.
pub fn apply_http_health(hc: &mut HealthCheck, p: &dyn ParamSource) -> Result<(), ModelError> {
    if optional(p, "HealthCheckType").is_some_and(|t| t != "http") {
        return Err(ModelError::invalid_parameter(
            "HealthCheckType",
            "HTTP listeners use HTTP health checks",
        ));
    }
    hc.apply(p)?;
    hc.kind = "http".into();
    if hc.uri.is_empty() {
        hc.uri = "/".into();
    }
    if hc.domain == "$_ip" {
        hc.domain.clear();
    }
    Ok(())
}

impl Listener {
    /// A new stopped HTTP listener with Alibaba's defaults: `wrr`, HTTP health check of
    /// `/` with `HEAD` accepting `http_2xx`, and [`HttpSettings::default`].
    pub fn new_http(load_balancer_id: impl Into<String>, port: u16) -> Self {
        let mut l = Listener::new(ListenerKey {
            load_balancer_id: load_balancer_id.into(),
            port,
            protocol: Protocol::Http,
        });
        l.health_check = HealthCheck {
            kind: "http".into(),
            uri: "/".into(),
            ..HealthCheck::default()
        };
        l.http = Some(HttpSettings::default());
        l
    }

    /// Applies the HTTP listener parameters present in `p` (create and set share this).
    /// `create` makes `HealthCheck` mandatory, as Alibaba does. `VServerGroupId` is checked
    /// against the state by the caller. Refuses what is not enforced yet (bandwidth limits,
    /// ACLs), like [`Listener::apply_tcp_params`].
    pub fn apply_http_params(
        &mut self,
        p: &dyn ParamSource,
        create: bool,
    ) -> Result<(), ModelError> {
        if create {
            required(p, "HealthCheck")?;
        }
        if let Some(v) = int_in(p, "BackendServerPort", 1..=65535u16)? {
            self.backend_server_port = Some(v);
        }
        if let Some(v) = one_of(p, "Scheduler", L7_SCHEDULERS)? {
            self.scheduler = v.into();
        }
        if let Some(b) = crate::listener::bandwidth_param(p)? {
            self.bandwidth = b;
        }
        if let Some(v) = text(p, "Description", 256)? {
            self.description = v;
        }
        self.apply_acl_params(p)?;
        apply_http_health(&mut self.health_check, p)?;
        let mut http = self.http.take().unwrap_or_default();
        let applied = http.apply(p);
        self.http = Some(http);
        applied
    }

    /// The redirect target port when `ListenerForward` is on: such a listener needs no backends.
    pub fn forward_port(&self) -> Option<u16> {
        self.http.as_ref().and_then(|h| h.forward_port)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::test_params as p;

    fn apply(l: &mut Listener, pairs: &[(&str, &str)], create: bool) -> Result<(), ModelError> {
        l.apply_http_params(&p(pairs), create)
    }

    #[test]
    fn defaults_are_alibabas() {
        let mut l = Listener::new_http("lb-1", 80);
        apply(
            &mut l,
            &[("HealthCheck", "on"), ("BackendServerPort", "8080")],
            true,
        )
        .unwrap();
        let h = l.http.as_ref().unwrap();
        assert_eq!(h, &HttpSettings::default());
        assert!(h.gzip && h.x_forwarded_for && !h.x_forwarded_for_proto);
        assert_eq!((h.idle_timeout, h.request_timeout), (15, 60));
        assert_eq!(l.scheduler, "wrr");
        assert_eq!(l.health_check.kind, "http");
        assert_eq!(l.health_check.uri, "/");
        assert_eq!(l.health_check.method, "head");
        assert_eq!(l.health_check.http_code, "http_2xx");
    }

    #[test]
    fn ranges_and_refusals() {
        let mut l = Listener::new_http("lb-1", 80);
        let bad: &[(&str, &str)] = &[
            ("IdleTimeout", "61"),
            ("IdleTimeout", "0"),
            ("RequestTimeout", "181"),
            ("CookieTimeout", "86401"),
            ("Scheduler", "sch"),
            ("Gzip", "yes"),
            ("Cookie", "$bad"),
            ("Cookie", "a;b"),
            ("HealthCheckMethod", "post"),
            ("HealthCheckType", "tcp"),
            ("ForwardPort", "0"),
        ];
        assert_eq!(
            apply(&mut l, &[("Bandwidth", "5121")], false)
                .unwrap_err()
                .code,
            "InvalidParameter"
        );
        apply(&mut l, &[("Bandwidth", "10")], false).unwrap();
        assert_eq!(l.bandwidth, 10);
        for pair in bad {
            let err = apply(&mut l, &[("HealthCheck", "on"), *pair], true).unwrap_err();
            assert_eq!(err.code, "InvalidParameter", "{pair:?}");
        }
        assert_eq!(
            apply(&mut l, &[("XForwardedFor", "off")], false)
                .unwrap_err()
                .code,
            "OperationUnsupported.XForwardedFor"
        );
        assert_eq!(
            apply(&mut l, &[("AclStatus", "on")], false)
                .unwrap_err()
                .code,
            "MissingParameter",
            "AclStatus on needs AclType and AclId"
        );
        assert_eq!(
            apply(&mut l, &[("BackendServerPort", "80")], true)
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        apply(
            &mut l,
            &[
                ("Bandwidth", "-1"),
                ("AclStatus", "off"),
                ("Scheduler", "wlc"),
            ],
            false,
        )
        .unwrap();
        assert_eq!(l.scheduler, "wlc");
    }

    #[test]
    fn sticky_session_needs_its_companions() {
        let mut l = Listener::new_http("lb-1", 80);
        let code = |l: &mut Listener, pairs: &[(&str, &str)]| {
            apply(l, pairs, false).map_err(|e| e.message)
        };
        assert!(code(&mut l, &[("StickySession", "on")])
            .unwrap_err()
            .contains("StickySessionType"));
        assert!(code(
            &mut l,
            &[("StickySession", "on"), ("StickySessionType", "insert")]
        )
        .unwrap_err()
        .contains("CookieTimeout"));
        assert!(code(
            &mut l,
            &[("StickySession", "on"), ("StickySessionType", "server")]
        )
        .unwrap_err()
        .contains("Cookie"));
        code(
            &mut l,
            &[
                ("StickySession", "on"),
                ("StickySessionType", "insert"),
                ("CookieTimeout", "300"),
            ],
        )
        .unwrap();
        // A later set changes only what it names.
        code(&mut l, &[("CookieTimeout", "600")]).unwrap();
        let sticky = &l.http.as_ref().unwrap().sticky_session;
        assert_eq!(
            sticky,
            &StickySession::Insert {
                cookie_timeout: 600
            }
        );
        code(
            &mut l,
            &[("StickySessionType", "server"), ("Cookie", "SESSIONID")],
        )
        .unwrap();
        let sticky = &l.http.as_ref().unwrap().sticky_session;
        assert_eq!(
            sticky,
            &StickySession::Server {
                cookie: "SESSIONID".into()
            }
        );
        code(&mut l, &[("StickySession", "off")]).unwrap();
        assert_eq!(l.http.as_ref().unwrap().sticky_session, StickySession::Off);
    }

    #[test]
    fn redirect_needs_a_port() {
        let mut l = Listener::new_http("lb-1", 80);
        assert_eq!(
            apply(&mut l, &[("ListenerForward", "on")], false)
                .unwrap_err()
                .code,
            "MissingParameter"
        );
        apply(
            &mut l,
            &[("ListenerForward", "on"), ("ForwardPort", "443")],
            false,
        )
        .unwrap();
        assert_eq!(l.forward_port(), Some(443));
        apply(&mut l, &[("ListenerForward", "off")], false).unwrap();
        assert_eq!(l.forward_port(), None);
    }

    #[test]
    fn stored_tcp_listeners_without_http_still_load() {
        let l = Listener::new(ListenerKey {
            load_balancer_id: "lb-1".into(),
            port: 80,
            protocol: Protocol::Tcp,
        });
        let mut v = serde_json::to_value(&l).unwrap();
        v.as_object_mut().unwrap().remove("http");
        let back: Listener = serde_json::from_value(v).unwrap();
        assert_eq!(back, l);
        let h = Listener::new_http("lb-1", 81);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(serde_json::from_str::<Listener>(&json).unwrap(), h);
    }
}
