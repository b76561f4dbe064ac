//! DescribeRegions, DescribeZones and DescribeAvailableResource: the node's own region,
//! the zones it declares, and what an instance can be created with in them.

use serde_json::{json, Value};
use slb_model::params::{one_of, ParamSource};
use slb_model::ModelError;

use super::Actions;

pub fn describe_regions(a: &Actions) -> Result<Value, ModelError> {
    Ok(json!({
        "Regions": { "Region": [{
            "RegionId": a.node.region,
            "LocalName": a.node.region,
            "RegionEndpoint": "",
        }]}
    }))
}

/// Every zone is listed with the other zones as its possible slave zones.
pub fn describe_zones(a: &Actions) -> Result<Value, ModelError> {
    let zones: Vec<Value> = a
        .node
        .zones
        .iter()
        .map(|z| {
            let slaves: Vec<Value> = a
                .node
                .zones
                .iter()
                .filter(|o| *o != z)
                .map(|o| json!({ "ZoneId": o, "LocalName": o }))
                .collect();
            json!({ "ZoneId": z, "LocalName": z, "SlaveZones": { "SlaveZone": slaves } })
        })
        .collect();
    Ok(json!({ "Zones": { "Zone": zones } }))
}

/// Every (master, slave) pair of zones, each with the address types an instance can have
/// and the IP version of the node's address pool; `AddressType` and `AddressIPVersion`
/// narrow the answer (a version the pool lacks: no resource).
pub fn describe_available_resource(a: &Actions, p: &dyn ParamSource) -> Result<Value, ModelError> {
    let wanted_type = one_of(
        p,
        "AddressType",
        &["vpc", "classic_internet", "classic_intranet"],
    )?;
    let wanted_version = one_of(p, "AddressIPVersion", &["ipv4", "ipv6"])?;
    let version = match a.node.address_pool {
        ipnet::IpNet::V4(_) => "ipv4",
        ipnet::IpNet::V6(_) => "ipv6",
    };
    let support: Vec<Value> = ["vpc", "classic_internet", "classic_intranet"]
        .into_iter()
        .filter(|t| wanted_type.is_none_or(|w| w == *t))
        .filter(|_| wanted_version.is_none_or(|w| w == version))
        .map(|t| json!({ "AddressType": t, "AddressIPVersion": version }))
        .collect();
    let mut resources = Vec::new();
    if !support.is_empty() {
        for master in &a.node.zones {
            for slave in a.node.zones.iter().filter(|z| *z != master) {
                resources.push(json!({
                    "MasterZoneId": master,
                    "SlaveZoneId": slave,
                    "SupportResources": { "SupportResource": support },
                }));
            }
        }
    }
    Ok(json!({ "AvailableResources": { "AvailableResource": resources } }))
}
