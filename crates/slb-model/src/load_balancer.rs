//! Load balancer instances: a virtual address with listeners and a default server group.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::BackendServer;

/// `active` instances serve; `inactive` ones accept nothing on any listener.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadBalancerStatus {
    Active,
    Inactive,
}

impl LoadBalancerStatus {
    /// Alibaba's name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Active => "active",
            Self::Inactive => "inactive",
        }
    }
}

/// What a `LoadBalancerSpec` allows (Alibaba's table): concurrent connections, new
/// connections per second and HTTP/HTTPS queries per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpecCaps {
    pub max_connections: u64,
    pub cps: u64,
    pub qps: u64,
}

/// The caps of a spec name, `None` for no (or an unknown) spec.
pub fn spec_caps(spec: &str) -> Option<SpecCaps> {
    let (max_connections, cps, qps) = match spec {
        "slb.s1.small" => (5_000, 3_000, 1_000),
        "slb.s2.small" => (50_000, 5_000, 5_000),
        "slb.s2.medium" => (100_000, 10_000, 10_000),
        "slb.s3.small" => (200_000, 20_000, 20_000),
        "slb.s3.medium" => (500_000, 50_000, 30_000),
        "slb.s3.large" => (1_000_000, 100_000, 50_000),
        _ => return None,
    };
    Some(SpecCaps {
        max_connections,
        cps,
        qps,
    })
}

/// Instance specifications Alibaba sells; each caps the instance (see [`spec_caps`]).
pub const SPECS: &[&str] = &[
    "slb.s1.small",
    "slb.s2.small",
    "slb.s2.medium",
    "slb.s3.small",
    "slb.s3.medium",
    "slb.s3.large",
];

/// An instance. `backend_servers` is its default server group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoadBalancer {
    pub id: String,
    pub name: String,
    pub address: IpAddr,
    /// `internet` or `intranet`.
    pub address_type: String,
    pub network_type: String,
    pub vpc_id: String,
    pub vswitch_id: String,
    pub status: LoadBalancerStatus,
    pub spec: String,
    /// Mbit/s for pay-by-bandwidth instances, else -1.
    pub bandwidth: i32,
    pub internet_charge_type: String,
    pub pay_type: String,
    pub master_zone_id: String,
    pub slave_zone_id: String,
    pub region_id: String,
    pub resource_group_id: String,
    pub delete_protection: bool,
    /// RFC 3339 UTC, as Alibaba prints `CreateTime`.
    pub create_time: String,
    /// Milliseconds since the epoch.
    pub create_time_stamp: u64,
    pub backend_servers: Vec<BackendServer>,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
}

impl LoadBalancer {
    /// An active instance with Alibaba's defaults (intranet, classic network, pay by
    /// traffic, unlimited bandwidth, no zones, no members); callers set the rest.
    pub fn new(id: impl Into<String>, address: IpAddr) -> Self {
        let id = id.into();
        Self {
            name: id.clone(),
            id,
            address,
            address_type: "intranet".into(),
            network_type: "classic".into(),
            vpc_id: String::new(),
            vswitch_id: String::new(),
            status: LoadBalancerStatus::Active,
            spec: String::new(),
            bandwidth: -1,
            internet_charge_type: "paybytraffic".into(),
            pay_type: "PayOnDemand".into(),
            master_zone_id: String::new(),
            slave_zone_id: String::new(),
            region_id: String::new(),
            resource_group_id: String::new(),
            delete_protection: false,
            create_time: String::new(),
            create_time_stamp: 0,
            backend_servers: Vec::new(),
            tags: Vec::new(),
        }
    }
}
