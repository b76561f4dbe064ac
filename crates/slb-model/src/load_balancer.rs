//! Load balancer instances: a virtual address with listeners and a default server group.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::{BackendServer, ModelError, State};

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
    /// `ConsoleProtection` with its reason (SetLoadBalancerModificationProtection); `None`
    /// is `NonProtection`. Recorded and reported: OpenSLB has no console to protect from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub modification_protection: Option<String>,
    /// The `ClientToken` it was created with: a retried CreateLoadBalancer with the same
    /// token answers with this instance instead of creating another.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_token: Option<String>,
    /// Billed by capacity units (`PayByCLCU`) rather than a `LoadBalancerSpec`
    /// (`PayBySpec`, the default): such an instance has no spec, so the node's default
    /// capacity applies. Absent while `PayBySpec`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub pay_by_clcu: bool,
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
            modification_protection: None,
            client_token: None,
            pay_by_clcu: false,
        }
    }
}

impl State {
    /// ModifyLoadBalancerInternetSpec: the metering method and, for pay-by-bandwidth, the
    /// instance's bandwidth (Mbit/s), which must still cover the listeners' own limits.
    pub fn set_internet_spec(
        &mut self,
        id: &str,
        charge: &str,
        bandwidth: Option<i32>,
    ) -> Result<(), ModelError> {
        let lb = self.load_balancer(id)?;
        let bandwidth = match (charge, bandwidth) {
            ("paybybandwidth", Some(b)) => b,
            ("paybybandwidth", None) if lb.bandwidth > 0 => lb.bandwidth,
            ("paybybandwidth", None) => return Err(crate::params::missing("Bandwidth")),
            _ => -1,
        };
        if bandwidth > 0 {
            let listeners = self.listeners_bandwidth(id, None);
            if listeners > i64::from(bandwidth) {
                return Err(ModelError::invalid_parameter(
                    "Bandwidth",
                    format!("the instance's listeners are limited to {listeners} Mbps in all, more than {bandwidth} Mbps"),
                ));
            }
        }
        let lb = self.load_balancer_mut(id)?;
        lb.internet_charge_type = charge.to_string();
        lb.bandwidth = bandwidth;
        Ok(())
    }

    /// ModifyLoadBalancerInstanceChargeType: to `PayByCLCU` (the spec is dropped and the
    /// node's default capacity applies; internet traffic is then paid by traffic), or to
    /// `PayBySpec` with `spec`.
    pub fn set_instance_charge_type(
        &mut self,
        id: &str,
        pay_by_clcu: bool,
        spec: Option<String>,
    ) -> Result<(), ModelError> {
        let lb = self.load_balancer_mut(id)?;
        if pay_by_clcu {
            lb.pay_by_clcu = true;
            lb.spec.clear();
            lb.internet_charge_type = "paybytraffic".into();
            lb.bandwidth = -1;
            return Ok(());
        }
        let spec = spec.ok_or_else(|| crate::params::missing("LoadBalancerSpec"))?;
        lb.pay_by_clcu = false;
        lb.spec = spec;
        Ok(())
    }

    /// ModifyLoadBalancerPayType: recorded (`PayOnDemand` or `PrePay`); nothing is billed.
    pub fn set_pay_type(&mut self, id: &str, pay_type: &str) -> Result<(), ModelError> {
        self.load_balancer_mut(id)?.pay_type = pay_type.to_string();
        Ok(())
    }

    /// SetLoadBalancerModificationProtection: `Some(reason)` is `ConsoleProtection`.
    pub fn set_modification_protection(
        &mut self,
        id: &str,
        protection: Option<String>,
    ) -> Result<(), ModelError> {
        self.load_balancer_mut(id)?.modification_protection = protection;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Listener, ListenerKey, Protocol};

    #[test]
    fn internet_spec_keeps_room_for_the_listeners() {
        let mut s = State::default();
        let mut lb = LoadBalancer::new("lb-1", IpAddr::from([10, 0, 0, 1]));
        lb.internet_charge_type = "paybybandwidth".into();
        lb.bandwidth = 100;
        s.create_load_balancer(lb).unwrap();
        let mut l = Listener::new(ListenerKey {
            load_balancer_id: "lb-1".into(),
            port: 80,
            protocol: Protocol::Tcp,
        });
        l.backend_server_port = Some(80);
        l.bandwidth = 60;
        s.create_listener(l).unwrap();

        let e = s
            .set_internet_spec("lb-1", "paybybandwidth", Some(50))
            .unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert_eq!(s.load_balancer("lb-1").unwrap().bandwidth, 100);
        s.set_internet_spec("lb-1", "paybybandwidth", Some(60))
            .unwrap();
        assert_eq!(s.load_balancer("lb-1").unwrap().bandwidth, 60);
        s.set_internet_spec("lb-1", "paybytraffic", None).unwrap();
        let lb = s.load_balancer("lb-1").unwrap();
        assert_eq!(
            (lb.internet_charge_type.as_str(), lb.bandwidth),
            ("paybytraffic", -1)
        );
        let e = s
            .set_internet_spec("lb-1", "paybybandwidth", None)
            .unwrap_err();
        assert_eq!(e.code, "MissingParameter");
    }
}
