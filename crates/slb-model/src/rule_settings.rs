//! A forwarding rule's own scheduler, session persistence and health check, used instead of
//! the listener's when the rule has `ListenerSync=off` (Alibaba's CreateRules / SetRule).
//!
//! Turning `ListenerSync` off starts from the listener's current settings, so a rule that
//! only names `Scheduler` keeps the listener's persistence and health check. Turning it back
//! on drops the rule's own settings. Later changes to the listener do not reach a rule with
//! its own settings.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::http_listener::{apply_http_health, L7_SCHEDULERS};
use crate::params::{one_of, ParamSource};
use crate::{HealthCheck, Listener, ModelError, StickySession};

/// The parameters that belong to a rule's own settings (as in Alibaba's RuleList items and
/// SetRule).
pub const RULE_SETTING_PARAMS: &[&str] = &[
    "Scheduler",
    "StickySession",
    "StickySessionType",
    "CookieTimeout",
    "Cookie",
    "HealthCheck",
    "HealthCheckDomain",
    "HealthCheckURI",
    "HealthCheckConnectPort",
    "HealthyThreshold",
    "UnhealthyThreshold",
    "HealthCheckTimeout",
    "HealthCheckInterval",
    "HealthCheckHttpCode",
    "HealthCheckMethod",
];

/// Settings a rule uses instead of its listener's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuleSettings {
    /// `wrr`, `wlc` or `rr`.
    pub scheduler: String,
    pub sticky_session: StickySession,
    pub health_check: HealthCheck,
}

impl RuleSettings {
    /// The listener's current settings, the starting point of a rule's own.
    pub fn from_listener(l: &Listener) -> Self {
        Self {
            scheduler: l.scheduler.clone(),
            sticky_session: l
                .http
                .as_ref()
                .map(|h| h.sticky_session.clone())
                .unwrap_or_default(),
            health_check: l.health_check.clone(),
        }
    }

    /// Applies the rule-setting parameters present in `p`, with the listener's ranges.
    pub fn apply(&mut self, p: &dyn ParamSource) -> Result<(), ModelError> {
        if let Some(v) = one_of(p, "Scheduler", L7_SCHEDULERS)? {
            self.scheduler = v.into();
        }
        self.sticky_session.apply(p)?;
        apply_http_health(&mut self.health_check, p)
    }
}

/// The rule-setting parameters of one RuleList item, as text (numbers are accepted as
/// JSON numbers or strings, as Alibaba's SDKs send either).
pub fn setting_params(item: &Map<String, Value>) -> Result<BTreeMap<String, String>, ModelError> {
    let mut out = BTreeMap::new();
    for name in RULE_SETTING_PARAMS {
        let v = match item.get(*name) {
            None | Some(Value::Null) => continue,
            Some(Value::String(s)) => s.clone(),
            Some(Value::Number(n)) => n.to_string(),
            Some(_) => {
                return Err(ModelError::invalid_parameter(
                    "RuleList",
                    format!("{name} must be a string or a number"),
                ))
            }
        };
        out.insert((*name).to_string(), v);
    }
    Ok(out)
}

/// Whether `p` names any rule-setting parameter.
pub fn names_settings(p: &dyn ParamSource) -> bool {
    RULE_SETTING_PARAMS.iter().any(|n| p.get(n).is_some())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::params::test_params as params;

    #[test]
    fn starts_from_the_listener_and_applies_overrides() {
        let l = Listener::new_http("lb-1", 80);
        let mut s = RuleSettings::from_listener(&l);
        assert_eq!(s.scheduler, "wrr");
        assert_eq!(s.sticky_session, StickySession::Off);
        s.apply(&params(&[
            ("Scheduler", "rr"),
            ("StickySession", "on"),
            ("StickySessionType", "insert"),
            ("CookieTimeout", "100"),
            ("HealthCheckURI", "/health"),
            ("HealthyThreshold", "2"),
        ]))
        .unwrap();
        assert_eq!(s.scheduler, "rr");
        assert_eq!(
            s.sticky_session,
            StickySession::Insert {
                cookie_timeout: 100
            }
        );
        assert_eq!(s.health_check.uri, "/health");
        assert_eq!(s.health_check.kind, "http");
        assert_eq!(s.health_check.healthy_threshold, 2);
    }

    #[test]
    fn refuses_out_of_range_values() {
        let l = Listener::new_http("lb-1", 80);
        for bad in [
            params(&[("Scheduler", "sch")]),
            params(&[("StickySession", "on"), ("StickySessionType", "server")]),
            params(&[("HealthyThreshold", "11")]),
            params(&[("HealthCheckURI", "no-slash")]),
        ] {
            let mut s = RuleSettings::from_listener(&l);
            assert!(s.apply(&bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn item_values_as_text() {
        let item: Value = serde_json::json!({"Scheduler": "rr", "CookieTimeout": 60, "Url": "/x"});
        let p = setting_params(item.as_object().unwrap()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p["CookieTimeout"], "60");
        let bad: Value = serde_json::json!({"Scheduler": ["rr"]});
        assert!(setting_params(bad.as_object().unwrap()).is_err());
    }
}
