//! Forwarding-rule matching for HTTP(S) listeners, sans-IO: which rule (domain + URL) takes
//! a request? Kept apart from the snapshot that owns the server groups so the hot per-request
//! part is tested and benchmarked on its own.
//!
//! Semantics (Alibaba SLB forwarding rules):
//! - A rule's domain is either exact (`www.example.com`) or a wildcard (`*.example.com`),
//!   compared without regard to ASCII case. A wildcard needs at least one label before the
//!   suffix: `*.example.com` matches `a.example.com` and `a.b.example.com`, not
//!   `example.com`.
//! - A rule's URL is a case-sensitive prefix of the request path.
//! - A missing or empty domain or URL matches anything.
//! - Rules are tried in the order given and the **first** that matches wins; no "most
//!   specific" reordering is done here, so the caller's order is the priority. (The model's
//!   `rule_order` in `slb-model/src/rule.rs` sorts rules most specific first before the data
//!   plane gets them.)
//!
//! Matching allocates nothing: the host is compared case-insensitively in place instead of
//! being lowercased per request.

/// How a rule's domain matches the request host.
#[derive(Debug, Clone, PartialEq, Eq)]
enum DomainMatch {
    /// Lowercase host.
    Exact(String),
    /// Lowercase suffix including the leading dot: `*.example.com` → `.example.com`.
    Wildcard(String),
}

impl DomainMatch {
    fn new(d: &str) -> Self {
        let d = d.trim().to_ascii_lowercase();
        match d.strip_prefix('*') {
            Some(suffix) if suffix.starts_with('.') => Self::Wildcard(suffix.to_owned()),
            _ => Self::Exact(d),
        }
    }

    /// `host` is without port, in any ASCII case.
    fn matches(&self, host: &str) -> bool {
        match self {
            Self::Exact(d) => host.eq_ignore_ascii_case(d),
            // One or more labels before the suffix.
            Self::Wildcard(s) => {
                let (h, s) = (host.as_bytes(), s.as_bytes());
                h.len() > s.len() && h[h.len() - s.len()..].eq_ignore_ascii_case(s)
            }
        }
    }
}

/// The matchers of one rule.
#[derive(Debug, Clone, PartialEq, Eq)]
struct RuleMatch {
    domain: Option<DomainMatch>,
    url: Option<String>,
}

/// The compiled forwarding rules of one listener, in priority order. Built once per
/// configuration change; [`RuleTable::find`] runs per request.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RuleTable {
    rules: Vec<RuleMatch>,
}

impl RuleTable {
    /// Compiles `(domain, url)` pairs, in priority order. `None` or an empty string means
    /// "any". A domain is trimmed and lowercased; `*.` starts a wildcard.
    pub fn new<'a>(rules: impl IntoIterator<Item = (Option<&'a str>, Option<&'a str>)>) -> Self {
        let rules = rules
            .into_iter()
            .map(|(domain, url)| RuleMatch {
                domain: domain.filter(|d| !d.is_empty()).map(DomainMatch::new),
                url: url.filter(|u| !u.is_empty()).map(str::to_owned),
            })
            .collect();
        Self { rules }
    }

    /// Index (in the order given to [`RuleTable::new`]) of the first rule whose domain
    /// matches `host` (any case; a `:port` suffix is ignored) and whose URL is a prefix of
    /// `path`; `None` when no rule matches and the listener's default group applies.
    pub fn find(&self, host: &str, path: &str) -> Option<usize> {
        let host = host_without_port(host);
        self.rules.iter().position(|r| {
            r.domain.as_ref().is_none_or(|d| d.matches(host))
                && r.url.as_deref().is_none_or(|u| path.starts_with(u))
        })
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether there are no rules (every request goes to the default group).
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }
}

/// The host of a `Host` header or `:authority` without its port, so rules and virtual
/// hosts compare names only: `example.com:8080` → `example.com`; `[::1]:80` → `[::1]`.
pub fn host_without_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn table(rules: &[(Option<&str>, Option<&str>)]) -> RuleTable {
        RuleTable::new(rules.iter().copied())
    }

    #[test]
    fn first_matching_rule_wins() {
        let t = table(&[
            (Some("www.example.com"), Some("/api")),
            (Some("*.example.com"), None),
            (None, Some("/static")),
        ]);
        assert_eq!(t.find("WWW.example.com:80", "/api/x"), Some(0));
        assert_eq!(t.find("www.example.com", "/other"), Some(1));
        assert_eq!(t.find("a.b.example.com", "/"), Some(1));
        assert_eq!(t.find("example.com", "/"), None, "wildcard needs a label");
        assert_eq!(t.find("other.org", "/static/a.css"), Some(2));
        assert_eq!(t.find("other.org", "/"), None);
        assert_eq!(t.len(), 3);
    }

    #[test]
    fn order_is_priority_not_specificity() {
        let t = table(&[
            (Some("*.example.com"), None),
            (Some("www.example.com"), Some("/api")),
        ]);
        assert_eq!(t.find("www.example.com", "/api"), Some(0));
    }

    #[test]
    fn empty_and_missing_match_anything() {
        let t = table(&[(Some(""), Some(""))]);
        assert_eq!(t.find("any.host", "/x"), Some(0));
        let t = table(&[(None, None)]);
        assert_eq!(t.find("", ""), Some(0));
        assert!(RuleTable::default().is_empty());
        assert_eq!(RuleTable::default().find("a", "/"), None);
    }

    #[test]
    fn domain_is_trimmed_and_case_folded_url_is_not() {
        let t = table(&[(Some("  *.Example.COM "), Some("/Api"))]);
        assert_eq!(t.find("X.EXAMPLE.com", "/Api/v1"), Some(0));
        assert_eq!(t.find("x.example.com", "/api/v1"), None);
        // `*` not followed by a dot is an exact name.
        let t = table(&[(Some("*example.com"), None)]);
        assert_eq!(t.find("*EXAMPLE.com", "/"), Some(0));
        assert_eq!(t.find("www.example.com", "/"), None);
    }

    #[test]
    fn wildcard_suffix_is_compared_on_label_boundary_bytes() {
        let t = table(&[(Some("*.example.com"), None)]);
        assert_eq!(t.find("badexample.com", "/"), None);
        assert_eq!(t.find(".example.com", "/"), None, "empty label");
        assert_eq!(t.find("é.example.com", "/"), Some(0), "non-ASCII host");
        assert_eq!(t.find("x.exämple.com", "/"), None);
    }

    #[test]
    fn strips_ports() {
        assert_eq!(host_without_port("a.com:8080"), "a.com");
        assert_eq!(host_without_port("[::1]:80"), "[::1]");
        assert_eq!(host_without_port("[::1"), "[::1");
        assert_eq!(host_without_port("a.com"), "a.com");
        assert_eq!(host_without_port("a.com:x"), "a.com:x");
    }

    /// The matching before it moved here: lowercase the host once, then compare exactly.
    fn reference(
        rules: &[(Option<String>, Option<String>)],
        host: &str,
        path: &str,
    ) -> Option<usize> {
        let host = host_without_port(host).to_ascii_lowercase();
        rules.iter().position(|(d, u)| {
            let domain_ok = d.as_deref().filter(|d| !d.is_empty()).is_none_or(|d| {
                let d = d.trim().to_ascii_lowercase();
                match d.strip_prefix('*') {
                    Some(s) if s.starts_with('.') => host.len() > s.len() && host.ends_with(s),
                    _ => host == d,
                }
            });
            let url_ok = u
                .as_deref()
                .filter(|u| !u.is_empty())
                .is_none_or(|u| path.starts_with(u));
            domain_ok && url_ok
        })
    }

    proptest! {
        #[test]
        fn same_answer_as_lowercasing_the_host(
            rules in prop::collection::vec(
                (
                    prop::option::of("(\\*\\.)?[aAbB.é]{0,4}"),
                    prop::option::of("/[aA]{0,2}"),
                ),
                0..5,
            ),
            host in "[aAbB.é*]{0,6}(:[0-9]{1,2})?",
            path in "/[aA/]{0,3}",
        ) {
            let t = RuleTable::new(rules.iter().map(|(d, u)| (d.as_deref(), u.as_deref())));
            prop_assert_eq!(t.find(&host, &path), reference(&rules, &host, &path));
        }
    }
}
