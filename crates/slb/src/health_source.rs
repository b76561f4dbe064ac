//! Lets DescribeHealthStatus read the local data plane's probe results.

use slb_api::actions::{BackendHealth, HealthSource};
use slb_core::HealthStatus;
use slb_dataplane::DataPlane;
use slb_model::Protocol;

/// The data plane of this node as the API's health source.
pub struct LocalHealth(pub DataPlane);

impl HealthSource for LocalHealth {
    fn backend_health(&self, load_balancer_id: &str) -> Vec<BackendHealth> {
        self.0
            .health()
            .into_iter()
            .filter(|h| h.key.load_balancer_id == load_balancer_id)
            .filter_map(|h| {
                Some(BackendHealth {
                    load_balancer_id: h.key.load_balancer_id.clone(),
                    listener_port: h.key.port,
                    protocol: Protocol::parse(&h.key.protocol)?,
                    server_id: h.server_id,
                    server_ip: h.addr.ip().to_string(),
                    port: h.addr.port(),
                    status: match h.status {
                        HealthStatus::Healthy => "normal",
                        HealthStatus::Unhealthy => "abnormal",
                        // Not probed yet, or health checking is off.
                        HealthStatus::Unknown => "unavailable",
                    },
                })
            })
            .collect()
    }
}
