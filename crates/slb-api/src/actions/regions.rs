//! DescribeRegions and DescribeZones: the node's own region and the zones it declares.

use serde_json::{json, Value};
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
