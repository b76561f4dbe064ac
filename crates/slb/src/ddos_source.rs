//! Lets DescribeLoadBalancerDdosStatus read the local data plane's anti-DDoS state.

use std::time::{Instant, SystemTime};

use chrono::{DateTime, Utc};
use slb_api::actions::{DdosEvent, DdosSource, DdosStatus};
use slb_dataplane::DataPlane;

/// The data plane of this node as the API's anti-DDoS source.
pub struct LocalDdos(pub DataPlane);

/// Wall-clock time of a monotonic instant, RFC 3339.
fn wall(at: Instant) -> String {
    let now = SystemTime::now();
    let t = now - Instant::now().saturating_duration_since(at);
    DateTime::<Utc>::from(t)
        .format("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

impl DdosSource for LocalDdos {
    fn ddos_status(&self, load_balancer_id: &str) -> Option<DdosStatus> {
        let r = self.0.ddos_report(load_balancer_id)?;
        let c = r.config;
        Some(DdosStatus {
            status: r.mode.as_str(),
            thresholds: vec![
                ("ScrubBps", c.scrub_bps),
                ("ScrubPps", c.scrub_pps),
                ("ScrubCps", c.scrub_cps),
                ("BlackholeBps", c.blackhole_bps),
                ("BlackholePps", c.blackhole_pps),
                ("BlackholeSeconds", c.blackhole_for.as_secs()),
                ("SourceCps", c.source_cps),
                ("SourcePps", c.source_pps),
                ("SourceBps", c.source_bps),
            ],
            rates: (r.last.bps, r.last.pps, r.last.cps),
            dropped: slb_dataplane::ddos::DROP_REASONS
                .iter()
                .zip(r.dropped)
                .map(|(d, n)| (d.label(), n))
                .collect(),
            events: r
                .events
                .iter()
                .map(|e| DdosEvent {
                    action: e.action.as_str(),
                    start_time: wall(e.started),
                    end_time: e.ended.map(wall).unwrap_or_default(),
                    peak: (e.peak.bps, e.peak.pps, e.peak.cps),
                })
                .collect(),
        })
    }
}
