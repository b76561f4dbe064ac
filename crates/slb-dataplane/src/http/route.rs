//! The immutable snapshot of an HTTP listener and request routing.
//!
//! Every server group of the listener (the default group and one per rule) becomes a TCP
//! [`Snapshot`], so eligibility, health and scheduling are exactly the TCP ones. A backend
//! address has one [`BackendState`] across all groups of the listener. Each request loads
//! the snapshot, so a keep-alive connection sees a rule or backend change on its next request.
//! Which rule a request takes is decided by the sans-IO [`RuleTable`] of `slb-core`.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use crate::backend::BackendState;
use crate::snapshot::Snapshot;
use slb_core::{RuleTable, SchedulerKind};

use crate::spec::{BackendSpec, HealthCheckSpec, HttpListenerSpec, ListenerSpec, StickySpec};

/// Re-exported so the HTTP/1.1 and HTTP/2 paths strip ports exactly as routing does.
pub(crate) use slb_core::rules::host_without_port;

/// One rule's target: its id and the index of its group in [`HttpSnapshot::groups`]. Its
/// matchers live at the same index in [`HttpSnapshot::matcher`].
pub(crate) struct Rule {
    pub rule_id: String,
    pub group: usize,
}

/// Immutable view of an HTTP listener's configuration.
pub(crate) struct HttpSnapshot {
    /// Group 0 is the listener's default group; rules point at the others.
    pub groups: Vec<Snapshot>,
    /// Persistence of each group: the listener's, or a `ListenerSync=off` rule's own.
    pub group_sticky: Vec<Option<StickySpec>>,
    /// Health check of each group, likewise.
    pub group_health: Vec<Option<HealthCheckSpec>>,
    /// Rule `i` of [`HttpSnapshot::rules`] matches when `matcher.find` returns `i`.
    pub rules: Vec<Rule>,
    matcher: RuleTable,
    pub spec: HttpListenerSpec,
}

impl HttpSnapshot {
    /// Builds the snapshot. A backend address has one state per distinct health check
    /// among the groups it is in (a rule with its own check judges it on its own);
    /// `state_for` is asked once per such pair.
    pub(crate) fn build(
        spec: &HttpListenerSpec,
        mut state_for: impl FnMut(SocketAddr, &Option<HealthCheckSpec>) -> Arc<BackendState>,
    ) -> Self {
        let mut healths: Vec<Option<HealthCheckSpec>> = Vec::new();
        let mut states: HashMap<(SocketAddr, usize), Arc<BackendState>> = HashMap::new();
        let mut group = |backends: &[BackendSpec],
                         scheduler: SchedulerKind,
                         health: &Option<HealthCheckSpec>| {
            let h = match healths.iter().position(|x| x == health) {
                Some(i) => i,
                None => {
                    healths.push(health.clone());
                    healths.len() - 1
                }
            };
            let tcp = ListenerSpec {
                key: spec.key.clone(),
                bind: spec.bind,
                backends: backends.to_vec(),
                scheduler,
                health: health.clone(),
                persistence_timeout: std::time::Duration::ZERO,
                established_timeout: std::time::Duration::ZERO,
                connect_timeout: std::time::Duration::ZERO,
                drain_timeout: None,
                proxy_protocol: false,
                max_sessions: 0,
                master_slave: false,
                bandwidth_mbps: None,
                acl: None,
                caps: None,
                ddos: None,
            };
            Snapshot::build(&tcp, |addr| {
                states
                    .entry((addr, h))
                    .or_insert_with(|| state_for(addr, health))
                    .clone()
            })
        };
        let mut groups = vec![group(&spec.default_backends, spec.scheduler, &spec.health)];
        let mut group_sticky = vec![spec.sticky.clone()];
        let mut group_health = vec![spec.health.clone()];
        let mut rules = Vec::with_capacity(spec.rules.len());
        for r in &spec.rules {
            let (scheduler, sticky, health) = match &r.own {
                Some(own) => (own.scheduler, &own.sticky, &own.health),
                None => (spec.scheduler, &spec.sticky, &spec.health),
            };
            groups.push(group(&r.backends, scheduler, health));
            group_sticky.push(sticky.clone());
            group_health.push(health.clone());
            rules.push(Rule {
                rule_id: r.rule_id.clone(),
                group: groups.len() - 1,
            });
        }
        let matcher = RuleTable::new(
            spec.rules
                .iter()
                .map(|r| (r.domain.as_deref(), r.url.as_deref())),
        );
        Self {
            groups,
            group_sticky,
            group_health,
            rules,
            matcher,
            spec: spec.clone(),
        }
    }

    /// The group for a request: the first rule whose domain matches `host` (any case, port
    /// ignored) and whose url is a prefix of `path`; otherwise the default group (0).
    pub(crate) fn route(&self, host: &str, path: &str) -> (usize, Option<&str>) {
        match self.matcher.find(host, path).map(|i| &self.rules[i]) {
            Some(r) => (r.group, Some(&r.rule_id)),
            None => (0, None),
        }
    }

    /// The state of an address judged by `health` anywhere in the listener.
    pub(crate) fn state_of(
        &self,
        addr: SocketAddr,
        health: &Option<HealthCheckSpec>,
    ) -> Option<&Arc<BackendState>> {
        self.groups
            .iter()
            .zip(&self.group_health)
            .filter(|(_, h)| *h == health)
            .find_map(|(g, _)| g.state_of(addr))
    }

    /// Every distinct backend (first occurrence by address, the listener's default group
    /// first) with whether its group is health checked.
    pub(crate) fn unique_backends(&self) -> Vec<(&crate::snapshot::Backend, bool)> {
        let mut seen = std::collections::HashSet::new();
        self.groups
            .iter()
            .zip(&self.group_health)
            .flat_map(|(g, h)| g.backends.iter().map(move |b| (b, h.is_some())))
            .filter(|(b, _)| seen.insert(b.addr))
            .collect()
    }

    /// Every (address, health check, state) to probe: one per distinct pair.
    pub(crate) fn probe_targets(&self) -> Vec<(SocketAddr, &HealthCheckSpec, &Arc<BackendState>)> {
        let mut out: Vec<(SocketAddr, &HealthCheckSpec, &Arc<BackendState>)> = Vec::new();
        for (g, h) in self.groups.iter().zip(&self.group_health) {
            let Some(h) = h else { continue };
            for b in &g.backends {
                if !out.iter().any(|(a, x, _)| *a == b.addr && *x == h) {
                    out.push((b.addr, h, &b.state));
                }
            }
        }
        out
    }

    /// States of backends in groups without health checks (their health is reset).
    pub(crate) fn unchecked_states(&self) -> impl Iterator<Item = &Arc<BackendState>> + '_ {
        self.groups
            .iter()
            .zip(&self.group_health)
            .filter(|(_, h)| h.is_none())
            .flat_map(|(g, _)| g.backends.iter().map(|b| &b.state))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{ForwardedHeaders, HttpRuleSpec, ListenerKey};
    use slb_core::SchedulerKind;

    fn be(port: u16) -> Vec<BackendSpec> {
        vec![BackendSpec {
            server_id: format!("s{port}"),
            addr: SocketAddr::from(([10, 0, 0, 1], port)),
            weight: 1,
        }]
    }

    fn rule(id: &str, domain: Option<&str>, url: Option<&str>) -> HttpRuleSpec {
        HttpRuleSpec {
            rule_id: id.into(),
            domain: domain.map(Into::into),
            url: url.map(Into::into),
            backends: be(1),
            own: None,
        }
    }

    fn snap(rules: Vec<HttpRuleSpec>) -> HttpSnapshot {
        let spec = HttpListenerSpec {
            key: ListenerKey::http("lb", 80),
            bind: "127.0.0.1:0".parse().unwrap(),
            default_backends: be(2),
            rules,
            scheduler: SchedulerKind::Rr,
            health: None,
            sticky: None,
            forwarded: ForwardedHeaders::default(),
            idle_timeout: Default::default(),
            request_timeout: Default::default(),
            gzip: false,
            redirect_https_port: None,
            cookie_key: [0; 32],
            tls: None,
            bandwidth_mbps: None,
            acl: None,
            caps: None,
            ddos: None,
        };
        HttpSnapshot::build(&spec, |_, _| BackendState::new())
    }

    #[test]
    fn first_matching_rule_wins() {
        let s = snap(vec![
            rule("exact-api", Some("www.example.com"), Some("/api")),
            rule("wild", Some("*.example.com"), None),
            rule("url", None, Some("/static")),
        ]);
        assert_eq!(s.route("WWW.example.com:80", "/api/x").1, Some("exact-api"));
        assert_eq!(s.route("www.example.com", "/other").1, Some("wild"));
        assert_eq!(s.route("a.b.example.com", "/").1, Some("wild"));
        assert_eq!(
            s.route("example.com", "/").1,
            None,
            "wildcard needs a label"
        );
        assert_eq!(s.route("other.org", "/static/a.css").1, Some("url"));
        assert_eq!(s.route("other.org", "/"), (0, None));
        // The two rules sharing an address share one state.
        assert!(Arc::ptr_eq(
            &s.groups[1].backends[0].state,
            &s.groups[2].backends[0].state
        ));
        assert_eq!(s.unique_backends().len(), 2);
    }
}
