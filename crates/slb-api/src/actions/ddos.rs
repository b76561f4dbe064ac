//! DescribeLoadBalancerDdosStatus (OpenSLB's own action, named in Alibaba's style): an
//! instance's anti-DDoS state, thresholds, last second's rates, drops and episodes.

use serde_json::{json, Value};
use slb_model::params::{required, ParamSource};
use slb_model::ModelError;

use super::Actions;

/// An instance's anti-DDoS state as the data plane sees it.
#[derive(Debug, Clone, Default)]
pub struct DdosStatus {
    /// `normal`, `scrubbing` or `blackholed`.
    pub status: &'static str,
    /// (name, value) pairs: `ScrubBps`, `ScrubPps`, ...
    pub thresholds: Vec<(&'static str, u64)>,
    /// Last complete second: bits, datagrams and new connections per second.
    pub rates: (u64, u64, u64),
    /// (reason, count).
    pub dropped: Vec<(&'static str, u64)>,
    pub events: Vec<DdosEvent>,
}

/// One scrubbing or blackholing episode.
#[derive(Debug, Clone)]
pub struct DdosEvent {
    pub action: &'static str,
    /// RFC 3339.
    pub start_time: String,
    /// RFC 3339, empty while it lasts.
    pub end_time: String,
    pub peak: (u64, u64, u64),
}

/// Where anti-DDoS state comes from: the local data plane.
pub trait DdosSource: Send + Sync {
    /// `None` when protection is off or the instance has no listener yet.
    fn ddos_status(&self, load_balancer_id: &str) -> Option<DdosStatus>;
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    a.state().load_balancer(lb)?;
    let Some(s) = a.ddos.as_ref().and_then(|d| d.ddos_status(lb)) else {
        return Ok(json!({ "LoadBalancerId": lb, "Status": "disabled" }));
    };
    let thresholds: serde_json::Map<String, Value> = s
        .thresholds
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let dropped: serde_json::Map<String, Value> = s
        .dropped
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let events: Vec<Value> = s
        .events
        .iter()
        .map(|e| {
            json!({
                "Action": e.action,
                "StartTime": e.start_time,
                "EndTime": e.end_time,
                "PeakBps": e.peak.0,
                "PeakPps": e.peak.1,
                "PeakCps": e.peak.2,
            })
        })
        .collect();
    Ok(json!({
        "LoadBalancerId": lb,
        "Status": s.status,
        "Thresholds": thresholds,
        "CurrentRates": { "Bps": s.rates.0, "Pps": s.rates.1, "Cps": s.rates.2 },
        "Dropped": dropped,
        "Events": { "Event": events },
    }))
}
