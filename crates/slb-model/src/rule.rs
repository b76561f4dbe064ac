//! Forwarding rules of HTTP listeners: a `Domain` and/or `Url` prefix mapped to a VServer
//! group of the same instance. Requests no rule matches go to the listener's own group.
//!
//! # Matching
//!
//! * **Domain** is compared with the request's host (the `Host` header, or the authority
//!   of an absolute URI), lower-cased, without port and trailing dot. An exact domain
//!   (`www.example.com`) matches only itself; a wildcard (`*.example.com`) matches any host
//!   with one or more labels before `.example.com`, but not `example.com` itself.
//! * **Url** is a prefix of the request target as sent (path and query): `/img` matches
//!   `/img`, `/img/a.png` and `/images`.
//! * A rule with both matches when both match; a rule with one ignores the other.
//!
//! # Precedence (most specific wins), see [`rule_order`]
//!
//! 1. exact domain, then wildcard domain, then no domain;
//! 2. within the same domain class, the longer domain first;
//! 3. then the longer URL prefix first (no URL counts as length 0);
//! 4. then a rule with both Domain and Url before one with only one of them;
//! 5. ties (impossible between rules of one listener, which have distinct Domain+Url)
//!    by rule id.
//!
//! The first rule in that order that matches the request wins.

use std::cmp::{Ordering, Reverse};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rule_settings::setting_params;
use crate::{Listener, ListenerKey, ModelError, RuleSettings, State};

/// Most rules one CreateRules call may add (Alibaba: 10).
pub const MAX_RULES_PER_CALL: usize = 10;

/// Most rules one listener may hold (Alibaba's default quota).
pub const MAX_RULES_PER_LISTENER: usize = 40;

/// A forwarding rule of an HTTP listener. At least one of `domain` and `url` is set; the
/// domain is stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rule {
    /// `rule-…`, issued by the API.
    pub id: String,
    pub load_balancer_id: String,
    pub listener_port: u16,
    pub protocol: crate::Protocol,
    /// 1-40 letters, digits and `-/._`; unique within the listener.
    pub name: String,
    /// Exact (`www.example.com`) or wildcard (`*.example.com`) host name.
    pub domain: Option<String>,
    /// Prefix of the request target, starting with `/`.
    pub url: Option<String>,
    pub vserver_group_id: String,
    /// `ListenerSync=off`: this rule's own scheduler, persistence and health check;
    /// `None` (`on`, the default) uses the listener's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub own_settings: Option<RuleSettings>,
}

impl Rule {
    /// The listener this rule belongs to.
    pub fn listener_key(&self) -> ListenerKey {
        ListenerKey {
            load_balancer_id: self.load_balancer_id.clone(),
            port: self.listener_port,
            protocol: self.protocol,
        }
    }

    /// Parses Alibaba's `RuleList` JSON (`[{"RuleName","Domain","Url","VServerGroupId"}]`,
    /// with `ListenerSync` and the rule's own settings when it is `off`) into rules of
    /// `listener`, each with an id from `new_id`. Shapes are validated here; references
    /// (group, listener) by [`State::create_rules`].
    pub fn parse_list(
        json: &str,
        owner: &Listener,
        mut new_id: impl FnMut() -> String,
    ) -> Result<Vec<Rule>, ModelError> {
        let listener = &owner.key;
        let bad = |detail: &str| ModelError::invalid_parameter("RuleList", detail);
        let items: Vec<Value> =
            serde_json::from_str(json).map_err(|_| bad("must be a JSON array of rules"))?;
        if items.is_empty() {
            return Err(bad("must name at least one rule"));
        }
        if items.len() > MAX_RULES_PER_CALL {
            return Err(bad(&format!("at most {MAX_RULES_PER_CALL} rules per call")));
        }
        items
            .iter()
            .map(|item| {
                let obj = item
                    .as_object()
                    .ok_or_else(|| bad("each rule must be an object"))?;
                let field = |name: &str| -> Result<Option<String>, ModelError> {
                    match obj.get(name) {
                        None | Some(Value::Null) => Ok(None),
                        Some(Value::String(s)) if s.is_empty() => Ok(None),
                        Some(Value::String(s)) => Ok(Some(s.clone())),
                        Some(_) => Err(bad(&format!("{name} must be a string"))),
                    }
                };
                let own_settings = match field("ListenerSync")?.as_deref() {
                    None | Some("on") => None,
                    Some("off") => {
                        let mut own = RuleSettings::from_listener(owner);
                        own.apply(&setting_params(obj)?)?;
                        Some(own)
                    }
                    Some(_) => return Err(bad("ListenerSync must be on or off")),
                };
                let rule = Rule {
                    id: new_id(),
                    load_balancer_id: listener.load_balancer_id.clone(),
                    listener_port: listener.port,
                    protocol: listener.protocol,
                    name: field("RuleName")?.ok_or_else(|| bad("every rule needs a RuleName"))?,
                    domain: field("Domain")?.map(|d| d.to_ascii_lowercase()),
                    url: field("Url")?,
                    vserver_group_id: field("VServerGroupId")?
                        .ok_or_else(|| bad("every rule needs a VServerGroupId"))?,
                    own_settings,
                };
                rule.validate()?;
                Ok(rule)
            })
            .collect()
    }

    /// Checks name, domain and URL shapes and that at least one of Domain and Url is set.
    pub fn validate(&self) -> Result<(), ModelError> {
        check_name(&self.name)?;
        if self.domain.is_none() && self.url.is_none() {
            return Err(ModelError::invalid_parameter(
                "RuleList",
                "a rule needs a Domain, a Url or both",
            ));
        }
        if let Some(d) = &self.domain {
            if !valid_domain(d) {
                return Err(ModelError::invalid_parameter(
                    "Domain",
                    format!("\"{d}\" is not a host name or *.wildcard of at most 80 letters, digits, - and ."),
                ));
            }
        }
        if let Some(u) = &self.url {
            if !valid_url(u) {
                return Err(ModelError::invalid_parameter(
                    "Url",
                    format!("\"{u}\" must start with /, be 2-80 characters of letters, digits and -/.%?#&"),
                ));
            }
        }
        Ok(())
    }

    /// Whether the domain is a `*.` wildcard.
    pub fn is_wildcard(&self) -> bool {
        self.domain.as_deref().is_some_and(|d| d.starts_with("*."))
    }

    /// Whether a request for `host` (as in the `Host` header, port allowed) and `target`
    /// (path and query) matches this rule; see the module documentation.
    pub fn matches(&self, host: &str, target: &str) -> bool {
        let domain_ok = match &self.domain {
            None => true,
            Some(d) => {
                let host = normalize_host(host);
                match d.strip_prefix('*') {
                    Some(suffix) => host.len() > suffix.len() && host.ends_with(suffix),
                    None => host == *d,
                }
            }
        };
        domain_ok && self.url.as_deref().is_none_or(|u| target.starts_with(u))
    }

    fn domain_class(&self) -> u8 {
        match &self.domain {
            Some(_) if self.is_wildcard() => 1,
            Some(_) => 0,
            None => 2,
        }
    }
}

/// The rules in precedence order, most specific first (see the module documentation):
/// exact domain < wildcard domain < no domain; then longer domain; then longer URL; then
/// Domain+Url before a single condition; then rule id.
pub fn rule_order<'a>(rules: &[&'a Rule]) -> Vec<&'a Rule> {
    let mut out = rules.to_vec();
    out.sort_by(|a, b| precedence(a, b));
    out
}

fn precedence(a: &Rule, b: &Rule) -> Ordering {
    let key = |r: &Rule| {
        (
            r.domain_class(),
            Reverse(r.domain.as_ref().map_or(0, String::len)),
            Reverse(r.url.as_ref().map_or(0, String::len)),
            Reverse(r.domain.is_some() && r.url.is_some()),
        )
    };
    key(a).cmp(&key(b)).then_with(|| a.id.cmp(&b.id))
}

/// The first rule of `ordered` (as returned by [`rule_order`]) that matches the request.
pub fn select<'a>(ordered: &[&'a Rule], host: &str, target: &str) -> Option<&'a Rule> {
    ordered.iter().copied().find(|r| r.matches(host, target))
}

/// Lower-cases a `Host` value and strips its port and trailing dot.
pub fn normalize_host(host: &str) -> String {
    let host = host.trim();
    let no_port = if let Some(rest) = host.strip_prefix('[') {
        rest.split(']').next().unwrap_or(rest)
    } else {
        host.rsplit_once(':').map_or(host, |(h, _)| h)
    };
    no_port.trim_end_matches('.').to_ascii_lowercase()
}

/// A rule name: 1-40 letters, digits and `-/._`.
pub fn check_name(name: &str) -> Result<(), ModelError> {
    let ok = (1..=40).contains(&name.chars().count())
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '/' | '.' | '_'));
    if ok {
        Ok(())
    } else {
        Err(ModelError::invalid_parameter(
            "RuleName",
            format!("\"{name}\" must be 1-40 letters, digits and -/._"),
        ))
    }
}

/// An exact host name or `*.` wildcard: at most 80 characters, labels of letters, digits
/// and `-` (not at a label's ends), separated by single dots.
pub fn valid_domain(d: &str) -> bool {
    let body = d.strip_prefix("*.").unwrap_or(d);
    !body.is_empty()
        && d.len() <= 80
        && body.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// A URL prefix as Alibaba accepts it: starts with `/`, 2-80 characters of letters,
/// digits and `-/.%?#&`.
pub fn valid_url(u: &str) -> bool {
    u.starts_with('/')
        && (2..=80).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-/.%?#&".contains(&b))
}

/// What SetRule does to a rule's own settings.
pub enum SettingsChange<'a> {
    /// Nothing (no `ListenerSync`, no setting parameters).
    Keep,
    /// `ListenerSync=on`: follow the listener again.
    Listener,
    /// `ListenerSync=off` or setting parameters on a rule that has its own: apply them (the
    /// first time over a copy of the listener's settings).
    Own(&'a dyn crate::params::ParamSource),
}

fn rule_not_found(id: &str) -> ModelError {
    ModelError::new(
        404,
        "InvalidRuleId.NotFound",
        format!("The specified RuleId \"{id}\" does not exist."),
    )
}

impl State {
    /// The rule, or `InvalidRuleId.NotFound`.
    pub fn rule(&self, id: &str) -> Result<&Rule, ModelError> {
        self.rules.get(id).ok_or_else(|| rule_not_found(id))
    }

    /// Rules of one listener, in id order (use [`rule_order`] for precedence).
    pub fn rules_of<'a>(&'a self, key: &'a ListenerKey) -> impl Iterator<Item = &'a Rule> + 'a {
        self.rules.values().filter(move |r| {
            r.load_balancer_id == key.load_balancer_id
                && r.listener_port == key.port
                && r.protocol == key.protocol
        })
    }

    /// Adds rules all or nothing. Each rule's listener must exist and be HTTP/HTTPS, its
    /// group must belong to the same instance, and Domain+Url and names must be unique
    /// within the listener (including the other rules of the batch).
    pub fn create_rules(&mut self, rules: Vec<Rule>) -> Result<(), ModelError> {
        let mut next = self.rules.clone();
        for rule in rules {
            rule.validate()?;
            if next.contains_key(&rule.id) {
                return Err(ModelError::new(
                    400,
                    "InvalidParameter",
                    "The rule id already exists.",
                ));
            }
            self.check_rule_refs(&rule)?;
            let key = rule.listener_key();
            let same_listener: Vec<&Rule> =
                next.values().filter(|r| r.listener_key() == key).collect();
            if same_listener.len() >= MAX_RULES_PER_LISTENER {
                return Err(ModelError::new(
                    400,
                    "QuotaExceeded.RulesPerListener",
                    format!("A listener holds at most {MAX_RULES_PER_LISTENER} forwarding rules."),
                ));
            }
            if same_listener
                .iter()
                .any(|r| r.domain == rule.domain && r.url == rule.url)
            {
                return Err(ModelError::new(
                    400,
                    "DomainUrlExist",
                    format!(
                        "A rule with Domain \"{}\" and Url \"{}\" already exists on this listener.",
                        rule.domain.as_deref().unwrap_or(""),
                        rule.url.as_deref().unwrap_or("")
                    ),
                ));
            }
            if same_listener.iter().any(|r| r.name == rule.name) {
                return Err(duplicate_name(&rule.name));
            }
            next.insert(rule.id.clone(), rule);
        }
        self.rules = next;
        Ok(())
    }

    /// Deletes rules all or nothing: every id must exist.
    pub fn delete_rules(&mut self, ids: &[String]) -> Result<(), ModelError> {
        for id in ids {
            self.rule(id)?;
        }
        for id in ids {
            self.rules.remove(id);
        }
        Ok(())
    }

    /// Renames a rule and/or points it at another group of the same instance.
    pub fn set_rule(
        &mut self,
        id: &str,
        name: Option<String>,
        vserver_group_id: Option<String>,
        settings: &SettingsChange<'_>,
    ) -> Result<(), ModelError> {
        let mut rule = self.rule(id)?.clone();
        match settings {
            SettingsChange::Keep => {}
            SettingsChange::Listener => rule.own_settings = None,
            SettingsChange::Own(p) => {
                let mut own = match rule.own_settings.take() {
                    Some(own) => own,
                    None => {
                        let key = rule.listener_key();
                        let l = self.find_listener(
                            &key.load_balancer_id,
                            key.port,
                            Some(key.protocol),
                        )?;
                        RuleSettings::from_listener(l)
                    }
                };
                own.apply(*p)?;
                rule.own_settings = Some(own);
            }
        }
        if let Some(name) = name {
            check_name(&name)?;
            let key = rule.listener_key();
            if self
                .rules_of(&key)
                .any(|r| r.id != rule.id && r.name == name)
            {
                return Err(duplicate_name(&name));
            }
            rule.name = name;
        }
        if let Some(g) = vserver_group_id {
            rule.vserver_group_id = g;
        }
        self.check_rule_refs(&rule)?;
        self.rules.insert(rule.id.clone(), rule);
        Ok(())
    }

    fn check_rule_refs(&self, rule: &Rule) -> Result<(), ModelError> {
        let key = rule.listener_key();
        self.load_balancer(&key.load_balancer_id)?;
        if !self.listeners.contains_key(&key) {
            return Err(ModelError::listener_not_found(
                &key.load_balancer_id,
                key.port,
            ));
        }
        if !key.protocol.is_layer7() {
            return Err(ModelError::new(
                400,
                "OperationFailed.ListenerProtocol",
                "Forwarding rules need an HTTP or HTTPS listener.",
            ));
        }
        let g = &rule.vserver_group_id;
        let group = self
            .vserver_groups
            .get(g)
            .ok_or_else(|| ModelError::vserver_group_not_found(g))?;
        if group.load_balancer_id != key.load_balancer_id {
            return Err(ModelError::new(
                400,
                "InvalidParameter.VServerGroupId",
                format!("The VServer group \"{g}\" belongs to another load balancer."),
            ));
        }
        Ok(())
    }
}

fn duplicate_name(name: &str) -> ModelError {
    ModelError::new(
        400,
        "InvalidParameter.RuleName",
        format!("A rule named \"{name}\" already exists on this listener."),
    )
}

#[cfg(test)]
#[path = "rule_tests.rs"]
mod tests;
