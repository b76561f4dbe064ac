//! Tags: key/value labels on instances, listeners, server groups, certificates and
//! access-control lists, so that tools which label what they create (Terraform, the
//! console's tag filters) can find it again. TagResources, UntagResources and
//! ListTagResources (and the older AddTags, RemoveTags, DescribeTags) manage them; create
//! actions take `Tag.N` and describe actions filter by it.

use serde::{Deserialize, Serialize};

use crate::params::{optional, ParamSource};
use crate::{ListenerKey, ModelError, Protocol, State};

/// Tags one resource may carry (Alibaba's limit).
pub const MAX_TAGS: usize = 20;
/// Resources one TagResources, UntagResources or ListTagResources call may name.
pub const MAX_RESOURCES_PER_CALL: usize = 20;
/// Longest tag key, in characters.
pub const MAX_KEY_CHARS: usize = 64;
/// Longest tag value, in characters.
pub const MAX_VALUE_CHARS: usize = 128;

/// One label. Keys are unique on a resource.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tag {
    pub key: String,
    pub value: String,
}

/// A `Tag.N` filter: resources carrying `key`, with `value` when one is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagFilter {
    pub key: String,
    pub value: Option<String>,
}

/// The kinds of resources a tag call addresses (`ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ResourceType {
    /// Load balancer instances (`lb-…`).
    Instance,
    /// Server and CA certificates.
    Certificate,
    /// Access-control lists.
    Acl,
    /// Listeners, named `LoadBalancerId_protocol_port` (`lb-…_http_80`).
    Listener,
    /// VServer groups (`rsp-…`).
    VServerGroup,
    /// Master/slave server groups.
    MasterSlaveServerGroup,
}

impl ResourceType {
    /// The required `ResourceType` parameter.
    pub fn from_params(p: &dyn ParamSource) -> Result<Self, ModelError> {
        match crate::params::required(p, "ResourceType")? {
            "instance" => Ok(Self::Instance),
            "certificate" => Ok(Self::Certificate),
            "acl" => Ok(Self::Acl),
            "listener" => Ok(Self::Listener),
            "vservergroup" => Ok(Self::VServerGroup),
            "masterslaveservergroup" => Ok(Self::MasterSlaveServerGroup),
            other => Err(ModelError::invalid_parameter(
                "ResourceType",
                format!("\"{other}\" is not one of instance, certificate, acl, listener, vservergroup, masterslaveservergroup"),
            )),
        }
    }

    /// The name the API uses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Instance => "instance",
            Self::Certificate => "certificate",
            Self::Acl => "acl",
            Self::Listener => "listener",
            Self::VServerGroup => "vservergroup",
            Self::MasterSlaveServerGroup => "masterslaveservergroup",
        }
    }
}

/// Checks one key or value: the prefixes and URLs Alibaba reserves are refused.
fn check(param: &str, text: &str, max: usize, may_be_empty: bool) -> Result<(), ModelError> {
    let chars = text.chars().count();
    let reserved = ["aliyun", "acs:"]
        .iter()
        .any(|p| text.to_ascii_lowercase().starts_with(p));
    if (chars == 0 && !may_be_empty)
        || chars > max
        || reserved
        || text.contains("http://")
        || text.contains("https://")
    {
        return Err(ModelError::invalid_parameter(
            param,
            format!(
                "must be {}{max} characters, not start with aliyun or acs: and not contain http:// or https://",
                if may_be_empty { "up to " } else { "1 to " }
            ),
        ));
    }
    Ok(())
}

/// The `Tag.N.Key`/`Tag.N.Value` pairs of a request, N counting from 1 with no gaps; a
/// value without its key is refused.
fn pairs(p: &dyn ParamSource) -> Result<Vec<(String, Option<String>)>, ModelError> {
    let mut out = Vec::new();
    for n in 1.. {
        let key_param = format!("Tag.{n}.Key");
        let value_param = format!("Tag.{n}.Value");
        let key = optional(p, &key_param);
        let value = p.get(&value_param);
        match (key, value) {
            (None, None) => break,
            (None, Some(_)) => return Err(crate::params::missing(&key_param)),
            (Some(k), v) => {
                if n > MAX_TAGS {
                    return Err(ModelError::invalid_parameter(
                        "Tag",
                        format!("at most {MAX_TAGS} tags per call"),
                    ));
                }
                check(&key_param, k, MAX_KEY_CHARS, false)?;
                if let Some(v) = v {
                    check(&value_param, v, MAX_VALUE_CHARS, true)?;
                }
                out.push((k.to_string(), v.map(str::to_string)));
            }
        }
    }
    Ok(out)
}

/// The tags to set (`Tag.N`; a missing value is an empty one). `required`: at least one.
pub fn tags_param(p: &dyn ParamSource, required: bool) -> Result<Vec<Tag>, ModelError> {
    let tags: Vec<Tag> = pairs(p)?
        .into_iter()
        .map(|(key, value)| Tag {
            key,
            value: value.unwrap_or_default(),
        })
        .collect();
    if required && tags.is_empty() {
        return Err(crate::params::missing("Tag.1.Key"));
    }
    Ok(tags)
}

/// The tag filters of a query (`Tag.N`; a missing or empty value matches any value).
pub fn filters_param(p: &dyn ParamSource) -> Result<Vec<TagFilter>, ModelError> {
    Ok(pairs(p)?
        .into_iter()
        .map(|(key, value)| TagFilter {
            key,
            value: value.filter(|v| !v.is_empty()),
        })
        .collect())
}

/// The filters of a JSON-string parameter (DescribeLoadBalancers' `Tags`):
/// `[{"TagKey":"k","TagValue":"v"}, …]`, the value optional (`tagKey`/`tagValue` too).
pub fn json_filters(p: &dyn ParamSource, name: &str) -> Result<Vec<TagFilter>, ModelError> {
    let Some(raw) = optional(p, name) else {
        return Ok(Vec::new());
    };
    let bad =
        || ModelError::invalid_parameter(name, "must be a JSON array of {\"TagKey\",\"TagValue\"}");
    let list: Vec<serde_json::Map<String, serde_json::Value>> =
        serde_json::from_str(raw).map_err(|_| bad())?;
    let field = |o: &serde_json::Map<String, serde_json::Value>, a: &str, b: &str| {
        o.get(a)
            .or_else(|| o.get(b))
            .and_then(|v| v.as_str())
            .map(str::to_string)
    };
    list.iter()
        .map(|o| {
            let key = field(o, "TagKey", "tagKey")
                .filter(|k| !k.is_empty())
                .ok_or_else(bad)?;
            let value = field(o, "TagValue", "tagValue").filter(|v| !v.is_empty());
            Ok(TagFilter { key, value })
        })
        .collect()
}

/// The tags of a JSON-string parameter (AddTags' `Tags`), checked as `Tag.N` are: at least
/// one and at most `max`.
pub fn json_tags(p: &dyn ParamSource, name: &str, max: usize) -> Result<Vec<Tag>, ModelError> {
    crate::params::required(p, name)?;
    let filters = json_filters(p, name)?;
    if filters.is_empty() || filters.len() > max {
        return Err(ModelError::invalid_parameter(
            name,
            format!("must hold 1 to {max} tags"),
        ));
    }
    let tags: Vec<Tag> = filters
        .into_iter()
        .map(|f| Tag {
            key: f.key,
            value: f.value.unwrap_or_default(),
        })
        .collect();
    for t in &tags {
        check(name, &t.key, MAX_KEY_CHARS, false)?;
        check(name, &t.value, MAX_VALUE_CHARS, true)?;
    }
    Ok(merged(&[], &tags))
}

impl TagFilter {
    /// Whether `tag` is one this filter names.
    pub fn accepts(&self, tag: &Tag) -> bool {
        tag.key == self.key && self.value.as_ref().is_none_or(|v| *v == tag.value)
    }
}

/// Whether `tags` satisfy every filter.
pub fn matches(tags: &[Tag], filters: &[TagFilter]) -> bool {
    filters.iter().all(|f| tags.iter().any(|t| f.accepts(t)))
}

/// `tags` with `new` set on them: a key already there takes the new value.
pub fn merged(tags: &[Tag], new: &[Tag]) -> Vec<Tag> {
    let mut out = tags.to_vec();
    for t in new {
        match out.iter_mut().find(|o| o.key == t.key) {
            Some(o) => o.value = t.value.clone(),
            None => out.push(t.clone()),
        }
    }
    out
}

/// `QuotaExceeded.TagNum`: a resource would carry more than [`MAX_TAGS`].
fn too_many(id: &str) -> ModelError {
    ModelError::new(
        400,
        "QuotaExceeded.TagNum",
        format!("The resource \"{id}\" would carry more than {MAX_TAGS} tags."),
    )
}

/// The tags a resource is created with (`Tag.N`, optional; a repeated key keeps its last
/// value).
pub fn new_tags(p: &dyn ParamSource) -> Result<Vec<Tag>, ModelError> {
    Ok(merged(&[], &tags_param(p, false)?))
}

/// A listener's resource id in tag calls: `LoadBalancerId_protocol_port`.
pub fn listener_id(key: &ListenerKey) -> String {
    format!(
        "{}_{}_{}",
        key.load_balancer_id,
        key.protocol.as_str(),
        key.port
    )
}

/// Reads a listener's resource id back.
fn listener_key(id: &str) -> Result<ListenerKey, ModelError> {
    let mut parts = id.rsplitn(3, '_');
    let (port, protocol, lb) = (parts.next(), parts.next(), parts.next());
    match (
        port.and_then(|p| p.parse().ok()),
        protocol.and_then(Protocol::parse),
        lb,
    ) {
        (Some(port), Some(protocol), Some(lb)) if !lb.is_empty() => Ok(ListenerKey {
            load_balancer_id: lb.to_string(),
            port,
            protocol,
        }),
        _ => Err(ModelError::invalid_parameter(
            "ResourceId",
            format!("\"{id}\" is not a listener id (LoadBalancerId_protocol_port)"),
        )),
    }
}

impl State {
    /// The tags of one resource, or its kind's not-found error.
    pub fn tags_of(&self, kind: ResourceType, id: &str) -> Result<&[Tag], ModelError> {
        Ok(match kind {
            ResourceType::Instance => &self.load_balancer(id)?.tags,
            ResourceType::Acl => &self.acl(id)?.tags,
            ResourceType::Certificate => {
                match (
                    self.server_certificates.get(id),
                    self.ca_certificates.get(id),
                ) {
                    (Some(c), _) => &c.tags,
                    (None, Some(c)) => &c.tags,
                    (None, None) => return Err(crate::certificate::certificate_not_found(id)),
                }
            }
            ResourceType::Listener => {
                let key = listener_key(id)?;
                &self
                    .find_listener(&key.load_balancer_id, key.port, Some(key.protocol))?
                    .tags
            }
            ResourceType::VServerGroup => {
                &self
                    .vserver_groups
                    .get(id)
                    .ok_or_else(|| ModelError::vserver_group_not_found(id))?
                    .tags
            }
            ResourceType::MasterSlaveServerGroup => &self.master_slave_group(id)?.tags,
        })
    }

    fn tags_mut(&mut self, kind: ResourceType, id: &str) -> Result<&mut Vec<Tag>, ModelError> {
        self.tags_of(kind, id)?;
        let found = match kind {
            ResourceType::Instance => self.load_balancers.get_mut(id).map(|r| &mut r.tags),
            ResourceType::Acl => self.acls.get_mut(id).map(|r| &mut r.tags),
            ResourceType::Certificate => match self.server_certificates.get_mut(id) {
                Some(c) => Some(&mut c.tags),
                None => self.ca_certificates.get_mut(id).map(|r| &mut r.tags),
            },
            ResourceType::Listener => self
                .listeners
                .get_mut(&listener_key(id)?)
                .map(|r| &mut r.tags),
            ResourceType::VServerGroup => self.vserver_groups.get_mut(id).map(|r| &mut r.tags),
            ResourceType::MasterSlaveServerGroup => {
                self.master_slave_groups.get_mut(id).map(|r| &mut r.tags)
            }
        };
        Ok(found.expect("tags_of found it"))
    }

    /// Every resource of `kind` with its tags, in id order (server certificates before CA
    /// certificates).
    pub fn tagged(&self, kind: ResourceType) -> Vec<(String, &[Tag])> {
        fn all<'a, T: 'a>(
            items: impl Iterator<Item = &'a T>,
            id: impl Fn(&T) -> String,
            tags: impl Fn(&T) -> &[Tag],
        ) -> Vec<(String, &'a [Tag])> {
            items.map(|r| (id(r), tags(r))).collect()
        }
        match kind {
            ResourceType::Instance => {
                all(self.load_balancers.values(), |r| r.id.clone(), |r| &r.tags)
            }
            ResourceType::Acl => all(self.acls.values(), |r| r.id.clone(), |r| &r.tags),
            ResourceType::Certificate => {
                let mut out = all(
                    self.server_certificates.values(),
                    |r| r.id.clone(),
                    |r| &r.tags,
                );
                out.extend(all(
                    self.ca_certificates.values(),
                    |r| r.id.clone(),
                    |r| &r.tags,
                ));
                out
            }
            ResourceType::Listener => all(
                self.listeners.values(),
                |r| listener_id(&r.key),
                |r| &r.tags,
            ),
            ResourceType::VServerGroup => {
                all(self.vserver_groups.values(), |r| r.id.clone(), |r| &r.tags)
            }
            ResourceType::MasterSlaveServerGroup => all(
                self.master_slave_groups.values(),
                |r| r.id.clone(),
                |r| &r.tags,
            ),
        }
    }

    /// TagResources: sets `tags` on every resource in `ids`, all or none.
    pub fn tag_resources(
        &mut self,
        kind: ResourceType,
        ids: &[String],
        tags: &[Tag],
    ) -> Result<(), ModelError> {
        let mut changes = Vec::with_capacity(ids.len());
        for id in ids {
            let next = merged(self.tags_of(kind, id)?, tags);
            if next.len() > MAX_TAGS {
                return Err(too_many(id));
            }
            changes.push((id, next));
        }
        for (id, next) in changes {
            *self.tags_mut(kind, id)? = next;
        }
        Ok(())
    }

    /// RemoveTags: removes from instance `id` each tag that a filter names (by key, and by
    /// value when the filter has one).
    pub fn remove_tags(&mut self, id: &str, filters: &[TagFilter]) -> Result<(), ModelError> {
        let tags = self.tags_mut(ResourceType::Instance, id)?;
        tags.retain(|t| !filters.iter().any(|f| f.accepts(t)));
        Ok(())
    }

    /// UntagResources: removes the tags with `keys` (every tag with `all` and no keys)
    /// from every resource in `ids`, all or none.
    pub fn untag_resources(
        &mut self,
        kind: ResourceType,
        ids: &[String],
        keys: &[String],
        all: bool,
    ) -> Result<(), ModelError> {
        for id in ids {
            self.tags_of(kind, id)?;
        }
        for id in ids {
            let tags = self.tags_mut(kind, id)?;
            if keys.is_empty() && all {
                tags.clear();
            } else {
                tags.retain(|t| !keys.contains(&t.key));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use crate::params::test_params as params;
    use std::net::IpAddr;

    use super::*;
    use crate::LoadBalancer;

    fn tag(k: &str, v: &str) -> Tag {
        Tag {
            key: k.into(),
            value: v.into(),
        }
    }

    fn state_with(ids: &[&str]) -> State {
        let mut s = State::default();
        for id in ids {
            s.load_balancers.insert(
                id.to_string(),
                LoadBalancer::new(*id, IpAddr::from([10, 0, 0, 1])),
            );
        }
        s
    }

    #[test]
    fn tag_params_are_read_in_order_and_checked() {
        let p = params(&[
            ("Tag.1.Key", "team"),
            ("Tag.1.Value", "payments"),
            ("Tag.2.Key", "env"),
        ]);
        assert_eq!(
            tags_param(&p, true).unwrap(),
            vec![tag("team", "payments"), tag("env", "")]
        );
        let filters = filters_param(&p).unwrap();
        assert_eq!(filters[1].value, None, "no value matches any value");

        for (k, v) in [
            ("aliyun-x", "v"),
            ("acs:x", "v"),
            ("k", "see https://example.com"),
            ("k", "Aliyun"),
        ] {
            let p = params(&[("Tag.1.Key", k), ("Tag.1.Value", v)]);
            let e = tags_param(&p, true).unwrap_err();
            assert_eq!(e.code, "InvalidParameter", "{k}={v}");
        }
        let long = "k".repeat(MAX_KEY_CHARS + 1);
        assert!(tags_param(&params(&[("Tag.1.Key", &long)]), true).is_err());
        let e = tags_param(&params(&[("Tag.1.Value", "v")]), true).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        let e = tags_param(&params(&[]), true).unwrap_err();
        assert_eq!(e.code, "MissingParameter");
        let many: Vec<(String, String)> = (1..=MAX_TAGS + 1)
            .map(|n| (format!("Tag.{n}.Key"), format!("k{n}")))
            .collect();
        let many: BTreeMap<String, String> = many.into_iter().collect();
        assert!(tags_param(&many, true).is_err());
    }

    #[test]
    fn tagging_merges_by_key_and_is_all_or_none() {
        let mut s = state_with(&["lb-a", "lb-b"]);
        let ids = vec!["lb-a".to_string(), "lb-b".to_string()];
        s.tag_resources(
            ResourceType::Instance,
            &ids,
            &[tag("team", "a"), tag("env", "prod")],
        )
        .unwrap();
        s.tag_resources(ResourceType::Instance, &ids[..1], &[tag("team", "b")])
            .unwrap();
        assert_eq!(
            s.tags_of(ResourceType::Instance, "lb-a").unwrap(),
            &[tag("team", "b"), tag("env", "prod")]
        );

        // One unknown id: nothing changes.
        let before = s.clone();
        let e = s
            .tag_resources(
                ResourceType::Instance,
                &["lb-b".into(), "lb-none".into()],
                &[tag("x", "1")],
            )
            .unwrap_err();
        assert_eq!(e.code, "InvalidLoadBalancerId.NotFound");
        assert_eq!(s, before);

        // The 21st tag is refused, and nothing changes.
        let full: Vec<Tag> = (0..MAX_TAGS - 2)
            .map(|n| tag(&format!("k{n}"), ""))
            .collect();
        s.tag_resources(ResourceType::Instance, &ids[1..], &full)
            .unwrap();
        let before = s.clone();
        let e = s
            .tag_resources(ResourceType::Instance, &ids, &[tag("one-more", "")])
            .unwrap_err();
        assert_eq!(e.code, "QuotaExceeded.TagNum");
        assert_eq!(s, before);
    }

    #[test]
    fn untagging_by_key_or_all() {
        let mut s = state_with(&["lb-a"]);
        let ids = vec!["lb-a".to_string()];
        let tags = [tag("a", "1"), tag("b", "2"), tag("c", "3")];
        s.tag_resources(ResourceType::Instance, &ids, &tags)
            .unwrap();
        s.untag_resources(ResourceType::Instance, &ids, &["b".into()], false)
            .unwrap();
        assert_eq!(
            s.tags_of(ResourceType::Instance, "lb-a").unwrap(),
            &[tag("a", "1"), tag("c", "3")]
        );
        // Neither keys nor All: nothing is removed.
        s.untag_resources(ResourceType::Instance, &ids, &[], false)
            .unwrap();
        assert_eq!(s.tags_of(ResourceType::Instance, "lb-a").unwrap().len(), 2);
        s.untag_resources(ResourceType::Instance, &ids, &[], true)
            .unwrap();
        assert!(s
            .tags_of(ResourceType::Instance, "lb-a")
            .unwrap()
            .is_empty());
    }

    #[test]
    fn json_filters_of_describe_load_balancers() {
        let p = params(&[(
            "Tags",
            r#"[{"TagKey":"team","TagValue":"a"},{"tagKey":"env"}]"#,
        )]);
        let f = json_filters(&p, "Tags").unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value.as_deref(), Some("a"));
        assert_eq!((f[1].key.as_str(), f[1].value.as_deref()), ("env", None));
        for bad in ["team", r#"[{"TagValue":"a"}]"#, r#"{"TagKey":"a"}"#] {
            let e = json_filters(&params(&[("Tags", bad)]), "Tags").unwrap_err();
            assert_eq!(e.code, "InvalidParameter", "{bad}");
        }
        assert!(json_filters(&params(&[]), "Tags").unwrap().is_empty());
    }

    #[test]
    fn listener_ids_name_instance_protocol_and_port() {
        let key = ListenerKey {
            load_balancer_id: "lb-abc".into(),
            port: 80,
            protocol: Protocol::Http,
        };
        assert_eq!(listener_id(&key), "lb-abc_http_80");
        assert_eq!(listener_key("lb-abc_http_80").unwrap(), key);
        for bad in [
            "lb-abc",
            "lb-abc_http",
            "lb-abc_gopher_80",
            "_tcp_80",
            "lb-abc_tcp_x",
        ] {
            let e = listener_key(bad).unwrap_err();
            assert_eq!(e.code, "InvalidParameter", "{bad}");
        }
        let mut s = state_with(&["lb-abc"]);
        s.listeners.insert(key.clone(), crate::Listener::new(key));
        s.tag_resources(
            ResourceType::Listener,
            &["lb-abc_http_80".into()],
            &[tag("k", "v")],
        )
        .unwrap();
        assert_eq!(s.tagged(ResourceType::Listener)[0].0, "lb-abc_http_80");
        let e = s
            .tags_of(ResourceType::Listener, "lb-abc_tcp_80")
            .unwrap_err();
        assert_eq!(e.status, 404);
    }

    #[test]
    fn json_tags_are_checked_and_remove_tags_matches_key_and_value() {
        let p = params(&[("Tags", r#"[{"TagKey":"a","TagValue":"1"},{"TagKey":"b"}]"#)]);
        let tags = json_tags(&p, "Tags", 5).unwrap();
        assert_eq!(tags, vec![tag("a", "1"), tag("b", "")]);
        assert!(json_tags(&p, "Tags", 1).is_err());
        assert!(json_tags(&params(&[("Tags", "[]")]), "Tags", 5).is_err());
        let reserved = params(&[("Tags", r#"[{"TagKey":"acs:x"}]"#)]);
        assert!(json_tags(&reserved, "Tags", 5).is_err());

        let mut s = state_with(&["lb-a"]);
        let ids = vec!["lb-a".to_string()];
        s.tag_resources(
            ResourceType::Instance,
            &ids,
            &[tag("a", "1"), tag("b", "2")],
        )
        .unwrap();
        let f = |k: &str, v: Option<&str>| TagFilter {
            key: k.into(),
            value: v.map(str::to_string),
        };
        s.remove_tags("lb-a", &[f("b", Some("other"))]).unwrap();
        assert_eq!(s.tags_of(ResourceType::Instance, "lb-a").unwrap().len(), 2);
        s.remove_tags("lb-a", &[f("b", None)]).unwrap();
        assert_eq!(
            s.tags_of(ResourceType::Instance, "lb-a").unwrap(),
            &[tag("a", "1")]
        );
    }

    #[test]
    fn filters_need_every_tag() {
        let tags = [tag("team", "a"), tag("env", "prod")];
        let f = |k: &str, v: Option<&str>| TagFilter {
            key: k.into(),
            value: v.map(str::to_string),
        };
        assert!(matches(&tags, &[]));
        assert!(matches(&tags, &[f("team", None), f("env", Some("prod"))]));
        assert!(!matches(&tags, &[f("team", Some("b"))]));
        assert!(!matches(&tags, &[f("team", None), f("owner", None)]));
    }
}
