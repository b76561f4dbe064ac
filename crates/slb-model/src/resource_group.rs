//! MoveResourceGroup: the resource group of an instance, a certificate or an
//! access-control list, which Alibaba's consoles and tools group and filter resources by
//! (`ResourceGroupId`). OpenSLB records and reports it; it grants nothing.

use crate::params::{required, ParamSource};
use crate::{ModelError, State};

/// The kinds MoveResourceGroup moves (`ResourceType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Movable {
    LoadBalancer,
    Certificate,
    Acl,
}

impl Movable {
    /// The required `ResourceType`: `loadbalancer`, `certificate` or `acl`.
    pub fn from_params(p: &dyn ParamSource) -> Result<Self, ModelError> {
        match required(p, "ResourceType")? {
            "loadbalancer" => Ok(Self::LoadBalancer),
            "certificate" => Ok(Self::Certificate),
            "acl" => Ok(Self::Acl),
            other => Err(ModelError::invalid_parameter(
                "ResourceType",
                format!("\"{other}\" is not one of loadbalancer, certificate, acl"),
            )),
        }
    }
}

impl State {
    /// Puts resource `id` of `kind` in resource group `group`.
    pub fn move_resource_group(
        &mut self,
        kind: Movable,
        id: &str,
        group: &str,
    ) -> Result<(), ModelError> {
        let slot = match kind {
            Movable::LoadBalancer => &mut self.load_balancer_mut(id)?.resource_group_id,
            Movable::Acl => {
                self.acl(id)?;
                &mut self.acls.get_mut(id).expect("checked").resource_group_id
            }
            Movable::Certificate => {
                match (
                    self.server_certificates.get_mut(id),
                    self.ca_certificates.get_mut(id),
                ) {
                    (Some(c), _) => &mut c.resource_group_id,
                    (None, Some(c)) => &mut c.resource_group_id,
                    (None, None) => return Err(crate::certificate::certificate_not_found(id)),
                }
            }
        };
        *slot = group.to_string();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;
    use crate::LoadBalancer;

    #[test]
    fn moves_an_instance_and_refuses_unknown_ids() {
        let mut s = State::default();
        s.create_load_balancer(LoadBalancer::new("lb-1", IpAddr::from([10, 0, 0, 1])))
            .unwrap();
        s.move_resource_group(Movable::LoadBalancer, "lb-1", "rg-2")
            .unwrap();
        assert_eq!(s.load_balancer("lb-1").unwrap().resource_group_id, "rg-2");
        for (kind, code) in [
            (Movable::LoadBalancer, "InvalidLoadBalancerId.NotFound"),
            (Movable::Certificate, "InvalidResourceId.NotFound"),
            (Movable::Acl, "AclNotExist"),
        ] {
            let e = s.move_resource_group(kind, "x-none", "rg").unwrap_err();
            assert_eq!(e.code, code);
        }
    }
}
