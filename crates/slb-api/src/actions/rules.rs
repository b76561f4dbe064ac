//! Forwarding rule actions of HTTP listeners: CreateRules, DeleteRules, SetRule,
//! DescribeRules and DescribeRuleAttribute. Rules are listed most specific first, the
//! order in which the data plane tries them (`slb_model::rule`).

use std::collections::BTreeMap;

use serde_json::{json, Value};
use slb_model::params::{int_in, optional, required, ParamSource};
use slb_model::rule::SettingsChange;
use slb_model::rule_settings::RULE_SETTING_PARAMS;
use slb_model::{rule_order, ListenerKey, ModelError, Protocol, Rule, State};

use super::load_balancers::new_id;
use super::{render, Actions};

fn port(p: &dyn ParamSource) -> Result<u16, ModelError> {
    required(p, "ListenerPort")?;
    Ok(int_in(p, "ListenerPort", 1..=65535u16)?.unwrap_or_default())
}

fn protocol(p: &dyn ParamSource) -> Result<Option<Protocol>, ModelError> {
    match optional(p, "ListenerProtocol") {
        None => Ok(None),
        Some(v) => match Protocol::parse(v) {
            Some(proto) if proto.is_layer7() => Ok(Some(proto)),
            _ => Err(ModelError::invalid_parameter(
                "ListenerProtocol",
                "forwarding rules exist for http and https listeners",
            )),
        },
    }
}

/// The layer-7 listener on `port` (of `protocol` when given).
fn listener_key(
    s: &State,
    lb: &str,
    port: u16,
    protocol: Option<Protocol>,
) -> Result<ListenerKey, ModelError> {
    if protocol.is_none() {
        if let Some(l) = s
            .listeners_of(lb)
            .find(|l| l.key.port == port && l.key.protocol.is_layer7())
        {
            return Ok(l.key.clone());
        }
    }
    Ok(s.find_listener(lb, port, protocol)?.key.clone())
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?.to_string();
    let port = port(p)?;
    let proto = protocol(p)?;
    let list = required(p, "RuleList")?.to_string();
    let created = a
        .write("CreateRules", move |s| {
            let key = listener_key(s, &lb, port, proto)?;
            let owner = s.find_listener(&key.load_balancer_id, key.port, Some(key.protocol))?;
            let rules = Rule::parse_list(&list, owner, || new_id("rule"))?;
            s.create_rules(rules.clone())?;
            Ok(rules)
        })
        .await?;
    let list: Vec<Value> = created
        .iter()
        .map(|r| json!({ "RuleId": r.id, "RuleName": r.name }))
        .collect();
    Ok(json!({ "Rules": { "Rule": list } }))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let raw = required(p, "RuleIds")?;
    let ids: Vec<String> = serde_json::from_str(raw)
        .ok()
        .filter(|ids: &Vec<String>| !ids.is_empty())
        .ok_or_else(|| {
            ModelError::invalid_parameter("RuleIds", "must be a JSON list of rule ids")
        })?;
    a.write("DeleteRules", move |s| s.delete_rules(&ids))
        .await?;
    Ok(json!({}))
}

pub async fn set(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "RuleId")?.to_string();
    let sync = match optional(p, "ListenerSync") {
        None => None,
        Some("on") => Some(true),
        Some("off") => Some(false),
        Some(_) => {
            return Err(ModelError::invalid_parameter(
                "ListenerSync",
                "must be on or off",
            ))
        }
    };
    // The setting parameters, owned, for the write closure.
    let settings: BTreeMap<String, String> = RULE_SETTING_PARAMS
        .iter()
        .filter_map(|n| optional(p, n).map(|v| ((*n).to_string(), v.to_string())))
        .collect();
    let name = optional(p, "RuleName").map(str::to_string);
    let group = optional(p, "VServerGroupId").map(str::to_string);
    a.write("SetRule", move |s| {
        let has_own = s.rule(&id)?.own_settings.is_some();
        let change = match (sync, has_own, settings.is_empty()) {
            (Some(true), _, true) => SettingsChange::Listener,
            (Some(true), _, false) => {
                return Err(ModelError::invalid_parameter(
                    "ListenerSync",
                    "a rule's own Scheduler, StickySession and HealthCheck settings need ListenerSync off",
                ))
            }
            (Some(false), _, _) | (None, true, false) => SettingsChange::Own(&settings),
            (None, false, false) => {
                return Err(ModelError::invalid_parameter(
                    "ListenerSync",
                    "set ListenerSync to off to give the rule its own settings",
                ))
            }
            (None, _, true) => SettingsChange::Keep,
        };
        s.set_rule(&id, name, group, &change)
    })
    .await?;
    Ok(json!({}))
}

pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let lb = required(p, "LoadBalancerId")?;
    let port = port(p)?;
    let proto = protocol(p)?;
    let state = a.state();
    let key = listener_key(&state, lb, port, proto)?;
    let rules: Vec<&Rule> = state.rules_of(&key).collect();
    let list: Vec<Value> = rule_order(&rules).into_iter().map(render::rule).collect();
    Ok(json!({ "Rules": { "Rule": list } }))
}

pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "RuleId")?;
    let state = a.state();
    Ok(render::rule(state.rule(id)?))
}
