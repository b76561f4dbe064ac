//! Instance actions: create, delete, describe, rename, status, delete and modification
//! protection, and the internet spec and pay type.

use std::net::IpAddr;

use serde_json::{json, Value};
use slb_model::load_balancer::SPECS;
use slb_model::params::{int_in, on_off, one_of, optional, required, text, ParamSource};
use slb_model::{LoadBalancer, LoadBalancerStatus, ModelError};

use super::{render, Actions};

/// A new resource id: Alibaba's prefix and 22 lowercase alphanumerics.
pub fn new_id(prefix: &str) -> String {
    let hex = uuid::Uuid::new_v4().simple().to_string();
    format!("{prefix}-{}", &hex[..22])
}

pub async fn create(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let explicit: Option<IpAddr> = match optional(p, "Address") {
        None => None,
        Some(raw) => Some(
            raw.parse()
                .map_err(|_| ModelError::invalid_parameter("Address", "not an IP address"))?,
        ),
    };
    let zones = &a.node.zones;
    let master = match optional(p, "MasterZoneId") {
        Some(z) if zones.iter().any(|k| k == z) => z.to_string(),
        Some(z) => {
            return Err(ModelError::new(
                400,
                "InvalidParameter.MasterZoneId",
                format!(
                    "The zone \"{z}\" is not one of this region's zones: {}.",
                    zones.join(", ")
                ),
            ))
        }
        None => zones.first().cloned().unwrap_or_default(),
    };
    let slave = match optional(p, "SlaveZoneId") {
        Some(z) if z != master && zones.iter().any(|k| k == z) => z.to_string(),
        Some(z) => {
            return Err(ModelError::new(
                400,
                "InvalidParameter.SlaveZoneId",
                format!(
                    "The zone \"{z}\" must be another zone of this region than the master zone."
                ),
            ))
        }
        None => zones
            .iter()
            .find(|z| **z != master)
            .cloned()
            .unwrap_or_default(),
    };
    let address_type = one_of(p, "AddressType", &["internet", "intranet"])?.unwrap_or("internet");
    let charge = one_of(p, "InternetChargeType", &["paybytraffic", "paybybandwidth"])?
        .unwrap_or("paybytraffic");
    let vpc_id = text(p, "VpcId", 64)?.unwrap_or_default();
    let vswitch_id = text(p, "VSwitchId", 64)?.unwrap_or_default();
    let by_clcu =
        one_of(p, "InstanceChargeType", &["PayBySpec", "PayByCLCU"])? == Some("PayByCLCU");
    let now = chrono::Utc::now();
    let id = new_id("lb");
    let name = text(p, "LoadBalancerName", 80)?
        .unwrap_or_else(|| format!("auto_named_slb_{}", &id[3..11]));
    let mut lb =
        LoadBalancer {
            id: id.clone(),
            name,
            address: explicit.unwrap_or(IpAddr::from([0, 0, 0, 0])),
            address_type: address_type.into(),
            network_type: if vswitch_id.is_empty() {
                "classic"
            } else {
                "vpc"
            }
            .into(),
            vpc_id,
            vswitch_id,
            status: LoadBalancerStatus::Active,
            spec: if by_clcu {
                String::new()
            } else {
                one_of(p, "LoadBalancerSpec", SPECS)?.unwrap_or("").into()
            },
            bandwidth: int_in(p, "Bandwidth", 1..=5120i32)?
                .unwrap_or(if charge == "paybybandwidth" { 1 } else { -1 }),
            internet_charge_type: charge.into(),
            pay_type: one_of(p, "PayType", &["PayOnDemand", "PrePay"])?
                .unwrap_or("PayOnDemand")
                .into(),
            master_zone_id: master,
            slave_zone_id: slave,
            region_id: a.node.region.clone(),
            resource_group_id: text(p, "ResourceGroupId", 64)?.unwrap_or_default(),
            delete_protection: on_off(p, "DeleteProtection")?.unwrap_or(false),
            create_time: now.format("%Y-%m-%dT%H:%MZ").to_string(),
            create_time_stamp: now.timestamp_millis() as u64,
            backend_servers: Vec::new(),
            tags: slb_model::tag::new_tags(p)?,
            modification_protection: protection_param(p)?,
            client_token: text(p, "ClientToken", 64)?,
            pay_by_clcu: by_clcu,
        };
    let pool = a.node.address_pool;
    let lb = a
        .write("CreateLoadBalancer", move |s| {
            // A retry of a create that succeeded: the same instance, nothing new.
            if let Some(done) = lb.client_token.as_ref().and_then(|t| {
                s.load_balancers
                    .values()
                    .find(|o| o.client_token.as_ref() == Some(t))
            }) {
                return Ok(done.clone());
            }
            if explicit.is_none() {
                lb.address = s.free_address(pool.hosts()).ok_or_else(|| {
                    ModelError::new(
                        400,
                        "OperationFailed.NoFreeAddress",
                        format!("No free address is left in the address pool {pool}."),
                    )
                })?;
            }
            s.create_load_balancer(lb.clone())?;
            Ok(lb)
        })
        .await?;
    Ok(json!({
        "LoadBalancerId": lb.id,
        "Address": lb.address.to_string(),
        "LoadBalancerName": lb.name,
        "NetworkType": lb.network_type,
        "VpcId": lb.vpc_id,
        "VSwitchId": lb.vswitch_id,
        "AddressIPVersion": if lb.address.is_ipv4() { "ipv4" } else { "ipv6" },
        "ResourceGroupId": lb.resource_group_id,
        "OrderId": 0,
    }))
}

pub async fn delete(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    a.write("DeleteLoadBalancer", move |s| s.delete_load_balancer(&id))
        .await?;
    Ok(json!({}))
}

/// Lists instances matching every given filter; `PageNumber`/`PageSize` page the result
/// (without them every match is returned).
pub fn describe(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let state = a.state();
    let ids: Option<Vec<&str>> =
        optional(p, "LoadBalancerId").map(|v| v.split(',').map(str::trim).collect());
    let status = one_of(p, "LoadBalancerStatus", &["active", "inactive", "locked"])?;
    let server_id = optional(p, "ServerId");
    let exact = [
        ("LoadBalancerName", 0),
        ("Address", 1),
        ("AddressType", 2),
        ("NetworkType", 3),
        ("VpcId", 4),
        ("VSwitchId", 5),
        ("MasterZoneId", 6),
        ("SlaveZoneId", 7),
        ("InternetChargeType", 8),
        ("PayType", 9),
        ("ResourceGroupId", 10),
    ];
    let filters: Vec<(usize, &str)> = exact
        .iter()
        .filter_map(|(name, i)| optional(p, name).map(|v| (*i, v)))
        .collect();
    let mut tagged = slb_model::tag::filters_param(p)?;
    tagged.extend(slb_model::tag::json_filters(p, "Tags")?);
    let page_number = int_in(p, "PageNumber", 1..=u32::MAX)?;
    let page_size = int_in(p, "PageSize", 1..=100u32)?;
    // Filter first and render only the page asked for: rendering every instance made a
    // 10-instance page of 1,000 cost as much as the whole list.
    let matches: Vec<_> = state
        .load_balancers
        .values()
        .filter(|lb| ids.as_ref().is_none_or(|ids| ids.contains(&lb.id.as_str())))
        .filter(|lb| status.is_none_or(|s| s == lb.status.as_str()))
        .filter(|lb| slb_model::tag::matches(&lb.tags, &tagged))
        .filter(|lb| {
            server_id.is_none_or(|sid| lb.backend_servers.iter().any(|b| b.server_id == sid))
        })
        .filter(|lb| {
            if filters.is_empty() {
                return true;
            }
            let address = lb.address.to_string();
            let fields = [
                lb.name.as_str(),
                address.as_str(),
                lb.address_type.as_str(),
                lb.network_type.as_str(),
                lb.vpc_id.as_str(),
                lb.vswitch_id.as_str(),
                lb.master_zone_id.as_str(),
                lb.slave_zone_id.as_str(),
                lb.internet_charge_type.as_str(),
                lb.pay_type.as_str(),
                lb.resource_group_id.as_str(),
            ];
            filters.iter().all(|(i, v)| fields[*i] == *v)
        })
        .collect();
    let total = matches.len();
    let (number, size) = match (page_number, page_size) {
        (None, None) => (1, total.max(1) as u32),
        (n, s) => (n.unwrap_or(1), s.unwrap_or(10)),
    };
    let start = ((number - 1) as usize).saturating_mul(size as usize);
    let page: Vec<Value> = matches
        .into_iter()
        .skip(start)
        .take(size as usize)
        .map(render::load_balancer_summary)
        .collect();
    Ok(json!({
        "LoadBalancers": { "LoadBalancer": page },
        "TotalCount": total,
        "PageNumber": number,
        "PageSize": size,
    }))
}

pub fn describe_attribute(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?;
    let state = a.state();
    let lb = state.load_balancer(id)?;
    let mut v = render::load_balancer_summary(lb);
    let listeners: Vec<_> = state.listeners_of(id).collect();
    v["ListenerPorts"] =
        json!({ "ListenerPort": listeners.iter().map(|l| l.key.port).collect::<Vec<_>>() });
    let pairs = |port_key: &str, proto_key: &str| -> Vec<Value> {
        listeners
            .iter()
            .map(|l| {
                let mut v = json!({ port_key: l.key.port, proto_key: l.key.protocol.as_str(), "Description": l.description });
                // An HTTP listener that redirects to HTTPS says where to.
                if let Some(http) = &l.http {
                    v["ListenerForward"] = json!(slb_model::params::on_off_str(http.forward_port.is_some()));
                    if let Some(port) = http.forward_port {
                        v["ForwardPort"] = json!(port);
                    }
                }
                v
            })
            .collect()
    };
    v["ListenerPortsAndProtocal"] =
        json!({ "ListenerPortAndProtocal": pairs("ListenerPort", "ListenerProtocal") });
    v["ListenerPortsAndProtocol"] =
        json!({ "ListenerPortAndProtocol": pairs("ListenerPort", "ListenerProtocol") });
    v["BackendServers"] = render::backends(&lb.backend_servers);
    Ok(v)
}

pub async fn set_name(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    let name = text(p, "LoadBalancerName", 80)?
        .ok_or_else(|| slb_model::params::missing("LoadBalancerName"))?;
    a.write("SetLoadBalancerName", move |s| {
        s.set_load_balancer_name(&id, name)
    })
    .await?;
    Ok(json!({}))
}

/// ModifyLoadBalancerInstanceSpec: a new `LoadBalancerSpec`, applied to new connections.
pub async fn modify_spec(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "LoadBalancerSpec")?;
    let spec = one_of(p, "LoadBalancerSpec", SPECS)?
        .unwrap_or_default()
        .to_string();
    a.write("ModifyLoadBalancerInstanceSpec", move |s| {
        s.set_load_balancer_spec(&id, spec)
    })
    .await?;
    Ok(json!({}))
}

pub async fn set_status(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "LoadBalancerStatus")?;
    let status = match one_of(p, "LoadBalancerStatus", &["active", "inactive"])? {
        Some("active") => LoadBalancerStatus::Active,
        _ => LoadBalancerStatus::Inactive,
    };
    a.write("SetLoadBalancerStatus", move |s| {
        s.set_load_balancer_status(&id, status)
    })
    .await?;
    Ok(json!({}))
}

pub async fn set_delete_protection(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "DeleteProtection")?;
    let on = on_off(p, "DeleteProtection")?.unwrap_or(false);
    a.write("SetLoadBalancerDeleteProtection", move |s| {
        s.set_delete_protection(&id, on)
    })
    .await?;
    Ok(json!({}))
}

/// `ModificationProtectionStatus` (and its `ModificationProtectionReason`, up to 80
/// characters): `Some(reason)` for `ConsoleProtection`, `None` for `NonProtection` or absent.
fn protection_param(p: &dyn ParamSource) -> Result<Option<String>, ModelError> {
    let status = one_of(
        p,
        "ModificationProtectionStatus",
        &["NonProtection", "ConsoleProtection"],
    )?;
    let reason = text(p, "ModificationProtectionReason", 80)?;
    Ok((status == Some("ConsoleProtection")).then(|| reason.unwrap_or_default()))
}

/// SetLoadBalancerModificationProtection.
pub async fn set_modification_protection(
    a: &Actions,
    p: &dyn ParamSource,
) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "ModificationProtectionStatus")?;
    let protection = protection_param(p)?;
    a.write("SetLoadBalancerModificationProtection", move |s| {
        s.set_modification_protection(&id, protection)
    })
    .await?;
    Ok(json!({}))
}

/// ModifyLoadBalancerInternetSpec: `InternetChargeType` (the current one when absent) and,
/// for pay-by-bandwidth, `Bandwidth`.
pub async fn modify_internet_spec(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    let charge =
        one_of(p, "InternetChargeType", &["paybytraffic", "paybybandwidth"])?.map(str::to_string);
    let bandwidth = int_in(p, "Bandwidth", 1..=5120i32)?;
    a.write("ModifyLoadBalancerInternetSpec", move |s| {
        let charge = match charge {
            Some(c) => c,
            None => s.load_balancer(&id)?.internet_charge_type.clone(),
        };
        s.set_internet_spec(&id, &charge, bandwidth)
    })
    .await?;
    Ok(json!({ "OrderId": 0 }))
}

/// ModifyLoadBalancerPayType: `PayType` is recorded (nothing is billed here).
pub async fn modify_pay_type(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "PayType")?;
    let pay_type = one_of(p, "PayType", &["PayOnDemand", "PrePay"])?
        .unwrap_or_default()
        .to_string();
    a.write("ModifyLoadBalancerPayType", move |s| {
        s.set_pay_type(&id, &pay_type)
    })
    .await?;
    Ok(json!({ "OrderId": 0 }))
}

/// ModifyLoadBalancerInstanceChargeType: `PayByCLCU` (the spec goes, the node's default
/// capacity applies) or `PayBySpec` with a `LoadBalancerSpec`.
pub async fn modify_instance_charge_type(
    a: &Actions,
    p: &dyn ParamSource,
) -> Result<Value, ModelError> {
    let id = required(p, "LoadBalancerId")?.to_string();
    required(p, "InstanceChargeType")?;
    let by_clcu =
        one_of(p, "InstanceChargeType", &["PayBySpec", "PayByCLCU"])? == Some("PayByCLCU");
    let spec = one_of(p, "LoadBalancerSpec", SPECS)?.map(str::to_string);
    a.write("ModifyLoadBalancerInstanceChargeType", move |s| {
        s.set_instance_charge_type(&id, by_clcu, spec)
    })
    .await?;
    Ok(json!({ "OrderId": 0 }))
}

/// MoveResourceGroup: an instance's, certificate's or access-control list's
/// `ResourceGroupId`.
pub async fn move_resource_group(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let kind = slb_model::resource_group::Movable::from_params(p)?;
    let id = required(p, "ResourceId")?.to_string();
    let group = text(p, "NewResourceGroupId", 64)?
        .ok_or_else(|| slb_model::params::missing("NewResourceGroupId"))?;
    a.write("MoveResourceGroup", move |s| {
        s.move_resource_group(kind, &id, &group)
    })
    .await?;
    Ok(json!({}))
}
