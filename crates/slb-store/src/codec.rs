//! How resources are laid out in the `resources` table: one JSON value per resource under a
//! prefixed key, so a change writes only the resources it touched.

use std::collections::BTreeMap;

use serde::de::DeserializeOwned;
use serde::Serialize;
use slb_model::State;

const LB: &str = "lb/";
const LISTENER: &str = "listener/";
const GROUP: &str = "vsg/";
const RULE: &str = "rule/";
const CERT: &str = "cert/";
const CA_CERT: &str = "cacert/";
const DOMAIN_EXT: &str = "domainext/";
const MASTER_SLAVE: &str = "msgroup/";
const ACL: &str = "acl/";
const TLS_POLICY: &str = "tlspolicy/";

/// Every resource of `state` as (key, JSON bytes).
pub fn encode(state: &State) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for (id, lb) in &state.load_balancers {
        out.insert(format!("{LB}{id}"), to_json(lb));
    }
    for (key, l) in &state.listeners {
        out.insert(format!("{LISTENER}{key}"), to_json(l));
    }
    for (id, g) in &state.vserver_groups {
        out.insert(format!("{GROUP}{id}"), to_json(g));
    }
    for (id, r) in &state.rules {
        out.insert(format!("{RULE}{id}"), to_json(r));
    }
    for (id, c) in &state.server_certificates {
        out.insert(format!("{CERT}{id}"), to_json(c));
    }
    for (id, c) in &state.ca_certificates {
        out.insert(format!("{CA_CERT}{id}"), to_json(c));
    }
    for (id, d) in &state.domain_extensions {
        out.insert(format!("{DOMAIN_EXT}{id}"), to_json(d));
    }
    for (id, a) in &state.acls {
        out.insert(format!("{ACL}{id}"), to_json(a));
    }
    for (id, g) in &state.master_slave_groups {
        out.insert(format!("{MASTER_SLAVE}{id}"), to_json(g));
    }
    for (id, p) in &state.tls_cipher_policies {
        out.insert(format!("{TLS_POLICY}{id}"), to_json(p));
    }
    out
}

/// Rebuilds the state from stored rows; unknown prefixes are an error so nothing is lost silently.
pub fn decode<'a>(rows: impl IntoIterator<Item = (String, &'a [u8])>) -> Result<State, String> {
    let mut state = State::default();
    for (key, bytes) in rows {
        if key.starts_with(LB) {
            let lb: slb_model::LoadBalancer = from_json(&key, bytes)?;
            state.load_balancers.insert(lb.id.clone(), lb);
        } else if key.starts_with(LISTENER) {
            let l: slb_model::Listener = from_json(&key, bytes)?;
            state.listeners.insert(l.key.clone(), l);
        } else if key.starts_with(GROUP) {
            let g: slb_model::VServerGroup = from_json(&key, bytes)?;
            state.vserver_groups.insert(g.id.clone(), g);
        } else if key.starts_with(RULE) {
            let r: slb_model::Rule = from_json(&key, bytes)?;
            state.rules.insert(r.id.clone(), r);
        } else if key.starts_with(CERT) {
            let c: slb_model::ServerCertificate = from_json(&key, bytes)?;
            state.server_certificates.insert(c.id.clone(), c);
        } else if key.starts_with(DOMAIN_EXT) {
            let d: slb_model::DomainExtension = from_json(&key, bytes)?;
            state.domain_extensions.insert(d.id.clone(), d);
        } else if key.starts_with(ACL) {
            let a: slb_model::Acl = from_json(&key, bytes)?;
            state.acls.insert(a.id.clone(), a);
        } else if key.starts_with(MASTER_SLAVE) {
            let g: slb_model::MasterSlaveServerGroup = from_json(&key, bytes)?;
            state.master_slave_groups.insert(g.id.clone(), g);
        } else if key.starts_with(TLS_POLICY) {
            let p: slb_model::tls_policy::TlsCipherPolicy = from_json(&key, bytes)?;
            state.tls_cipher_policies.insert(p.id.clone(), p);
        } else if key.starts_with(CA_CERT) {
            let c: slb_model::CaCertificate = from_json(&key, bytes)?;
            state.ca_certificates.insert(c.id.clone(), c);
        } else {
            return Err(format!("unknown resource key {key:?} in the database"));
        }
    }
    Ok(state)
}

fn to_json<T: Serialize>(v: &T) -> Vec<u8> {
    serde_json::to_vec(v).expect("model types always serialise")
}

fn from_json<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T, String> {
    serde_json::from_slice(bytes).map_err(|e| format!("resource {key:?} is unreadable: {e}"))
}

/// Rows to write and keys to delete to go from `old` to `new`.
pub fn diff(old: &State, new: &State) -> (Vec<(String, Vec<u8>)>, Vec<String>) {
    let before = encode(old);
    let after = encode(new);
    let puts = after
        .iter()
        .filter(|(k, v)| before.get(*k) != Some(v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let deletes = before
        .keys()
        .filter(|k| !after.contains_key(*k))
        .cloned()
        .collect();
    (puts, deletes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use slb_model::{Listener, LoadBalancer, Protocol, Rule, VServerGroup};

    #[test]
    fn every_resource_kind_round_trips() {
        let mut s = State::default();
        s.create_load_balancer(LoadBalancer::new("lb-1", "127.0.0.1".parse().unwrap()))
            .unwrap();
        s.create_vserver_group(VServerGroup {
            id: "rsp-1".into(),
            name: "g".into(),
            load_balancer_id: "lb-1".into(),
            backend_servers: Vec::new(),
            tags: Vec::new(),
        })
        .unwrap();
        let mut l = Listener::new_http("lb-1", 80);
        l.vserver_group_id = Some("rsp-1".into());
        let own = slb_model::RuleSettings {
            scheduler: "rr".into(),
            ..slb_model::RuleSettings::from_listener(&l)
        };
        s.create_listener(l).unwrap();
        s.create_rules(vec![Rule {
            id: "rule-1".into(),
            load_balancer_id: "lb-1".into(),
            listener_port: 80,
            protocol: Protocol::Http,
            name: "r".into(),
            domain: Some("*.example.com".into()),
            url: Some("/a".into()),
            vserver_group_id: "rsp-1".into(),
            own_settings: Some(own),
        }])
        .unwrap();
        s.add_server_certificate(slb_model::ServerCertificate {
            id: "cert-1".into(),
            name: "web".into(),
            region_id: "local".into(),
            summary: slb_model::CertSummary {
                fingerprint: "aa".into(),
                common_name: "a.test".into(),
                alt_names: vec!["a.test".into()],
                not_before: 0,
                not_after: 1,
                key_algorithm: "ECC".into(),
                key_bits: 256,
            },
            created_ms: 0,
            chain_pem: "chain".into(),
            private_key_pem: "key".into(),
            tags: vec![slb_model::Tag {
                key: "team".into(),
                value: "web".into(),
            }],
            resource_group_id: String::new(),
        })
        .unwrap();
        let (master, slave) = slb_model::MasterSlaveServerGroup::parse_servers(
            r#"[{"ServerId":"10.0.0.1","Type":"ip","Port":80,"ServerType":"Master"},
                {"ServerId":"10.0.0.2","Type":"ip","Port":80,"ServerType":"Slave"}]"#,
        )
        .unwrap();
        s.create_master_slave_group(slb_model::MasterSlaveServerGroup {
            id: "rsp-ms".into(),
            name: "pair".into(),
            load_balancer_id: "lb-1".into(),
            master,
            slave,
            create_time: "2026-11-30T00:00:00Z".into(),
            tags: Vec::new(),
        })
        .unwrap();
        let mut udp = Listener::new(slb_model::ListenerKey {
            load_balancer_id: "lb-1".into(),
            port: 53,
            protocol: Protocol::Udp,
        });
        udp.master_slave_server_group_id = Some("rsp-ms".into());
        udp.health_check.kind = "udp".into();
        udp.health_check.udp_request = "ping".into();
        s.create_listener(udp).unwrap();
        let rows = encode(&s);
        assert!(rows.contains_key("msgroup/rsp-ms"));
        assert!(rows.contains_key("rule/rule-1"));
        assert!(rows.contains_key("cert/cert-1"));
        let back = decode(rows.iter().map(|(k, v)| (k.clone(), v.as_slice()))).unwrap();
        assert_eq!(back, s);
    }

    /// An untagged resource's row has no `tags` field, as rows written before tags had,
    /// and reads back untagged; a tagged one round-trips its tags.
    #[test]
    fn rows_without_tags_are_as_before_and_tags_round_trip() {
        let mut s = State::default();
        s.create_load_balancer(LoadBalancer::new("lb-1", "10.0.0.1".parse().unwrap()))
            .unwrap();
        let rows = encode(&s);
        let lb: serde_json::Value = serde_json::from_slice(&rows["lb/lb-1"]).unwrap();
        assert!(lb.get("tags").is_none(), "{lb}");
        let back = decode(rows.iter().map(|(k, v)| (k.clone(), v.as_slice()))).unwrap();
        assert_eq!(back, s);

        let tag = slb_model::Tag {
            key: "team".into(),
            value: "web".into(),
        };
        s.tag_resources(
            slb_model::tag::ResourceType::Instance,
            &["lb-1".into()],
            &[tag],
        )
        .unwrap();
        let rows = encode(&s);
        let lb: serde_json::Value = serde_json::from_slice(&rows["lb/lb-1"]).unwrap();
        assert_eq!(lb["tags"][0]["key"], "team");
        let back = decode(rows.iter().map(|(k, v)| (k.clone(), v.as_slice()))).unwrap();
        assert_eq!(back, s);
    }
}
