//! The one state machine every change goes through.
//!
//! Each method validates the whole change first and mutates only when it is allowed, so a
//! refused change leaves the state untouched. The store runs these inside a transaction and
//! persists what changed; the API, a config file and store replay all call the same methods.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde::{Deserialize, Serialize};

use crate::listener::ListenerStatus;
use crate::{
    BackendServer, Listener, ListenerKey, LoadBalancer, LoadBalancerStatus, ModelError, Protocol,
    Rule, VServerGroup,
};

/// Most members a server group may hold (Alibaba's default quota is 200 per group).
pub const MAX_GROUP_MEMBERS: usize = 200;

/// Every resource of the node, keyed by id.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub load_balancers: BTreeMap<String, LoadBalancer>,
    pub listeners: BTreeMap<ListenerKey, Listener>,
    pub vserver_groups: BTreeMap<String, VServerGroup>,
    /// Access-control lists, by id.
    #[serde(default)]
    pub acls: BTreeMap<String, crate::Acl>,
    /// Master/slave server groups of layer-4 listeners, by id.
    #[serde(default)]
    pub master_slave_groups: BTreeMap<String, crate::MasterSlaveServerGroup>,
    /// Forwarding rules of HTTP listeners, by rule id (absent in states stored before rules).
    #[serde(default)]
    pub rules: BTreeMap<String, Rule>,
    /// Server certificates (with their private keys), by id.
    #[serde(default)]
    pub server_certificates: BTreeMap<String, crate::ServerCertificate>,
    /// CA certificates for mutual TLS, by id.
    #[serde(default)]
    pub ca_certificates: BTreeMap<String, crate::CaCertificate>,
    /// SNI certificates of HTTPS listeners, by id.
    #[serde(default)]
    pub domain_extensions: BTreeMap<String, crate::DomainExtension>,
    /// Custom TLS policies of HTTPS listeners, by id.
    #[serde(default)]
    pub tls_cipher_policies: BTreeMap<String, crate::tls_policy::TlsCipherPolicy>,
}

impl State {
    /// The instance, or `InvalidLoadBalancerId.NotFound`.
    pub fn load_balancer(&self, id: &str) -> Result<&LoadBalancer, ModelError> {
        self.load_balancers
            .get(id)
            .ok_or_else(|| ModelError::load_balancer_not_found(id))
    }

    pub(crate) fn load_balancer_mut(&mut self, id: &str) -> Result<&mut LoadBalancer, ModelError> {
        self.load_balancers
            .get_mut(id)
            .ok_or_else(|| ModelError::load_balancer_not_found(id))
    }

    /// Listeners of one instance, in port order.
    pub fn listeners_of<'a>(&'a self, lb: &'a str) -> impl Iterator<Item = &'a Listener> + 'a {
        self.listeners
            .values()
            .filter(move |l| l.key.load_balancer_id == lb)
    }

    /// Finds a listener by instance and port; `protocol` narrows it when TCP and UDP share a port.
    pub fn find_listener(
        &self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
    ) -> Result<&Listener, ModelError> {
        self.load_balancer(lb)?;
        self.listeners
            .values()
            .filter(|l| l.key.load_balancer_id == lb)
            .find(|l| l.key.port == port && protocol.is_none_or(|p| p == l.key.protocol))
            .ok_or_else(|| ModelError::listener_not_found(lb, port))
    }

    /// The first address of `pool` that no instance holds yet.
    pub fn free_address(&self, pool: impl IntoIterator<Item = IpAddr>) -> Option<IpAddr> {
        pool.into_iter()
            .find(|a| !self.load_balancers.values().any(|lb| lb.address == *a))
    }

    /// Adds a new instance; its id and address must be unused.
    pub fn create_load_balancer(&mut self, lb: LoadBalancer) -> Result<(), ModelError> {
        if self.load_balancers.contains_key(&lb.id) {
            return Err(ModelError::new(
                400,
                "InvalidParameter",
                "The load balancer id already exists.",
            ));
        }
        if self
            .load_balancers
            .values()
            .any(|o| o.address == lb.address)
        {
            return Err(ModelError::new(
                400,
                "InvalidAddress.AlreadyUsed",
                format!("The specified Address \"{}\" is already used.", lb.address),
            ));
        }
        self.load_balancers.insert(lb.id.clone(), lb);
        Ok(())
    }

    /// Deletes an instance with its listeners, rules and server groups, unless delete
    /// protection is on.
    pub fn delete_load_balancer(&mut self, id: &str) -> Result<(), ModelError> {
        if self.load_balancer(id)?.delete_protection {
            return Err(ModelError::new(
                400,
                "OperationDenied.DeleteProtection",
                "The load balancer has delete protection on; turn it off with SetLoadBalancerDeleteProtection first.",
            ));
        }
        self.load_balancers.remove(id);
        self.listeners.retain(|k, _| k.load_balancer_id != id);
        self.rules.retain(|_, r| r.load_balancer_id != id);
        self.domain_extensions
            .retain(|_, d| d.listener.load_balancer_id != id);
        self.vserver_groups.retain(|_, g| g.load_balancer_id != id);
        self.master_slave_groups
            .retain(|_, g| g.load_balancer_id != id);
        Ok(())
    }

    /// Changes an instance's `LoadBalancerSpec` (and so its capacity); an instance billed
    /// by capacity units has none.
    pub fn set_load_balancer_spec(&mut self, id: &str, spec: String) -> Result<(), ModelError> {
        let lb = self.load_balancer_mut(id)?;
        if lb.pay_by_clcu {
            return Err(ModelError::new(
                400,
                "OperationFailed.InstanceChargeType",
                format!("The instance \"{id}\" is billed by capacity units (PayByCLCU) and has no LoadBalancerSpec."),
            ));
        }
        lb.spec = spec;
        Ok(())
    }

    /// Renames an instance.
    pub fn set_load_balancer_name(&mut self, id: &str, name: String) -> Result<(), ModelError> {
        self.load_balancer_mut(id)?.name = name;
        Ok(())
    }

    /// `inactive` stops every listener of the instance from accepting; `active` resumes them.
    pub fn set_load_balancer_status(
        &mut self,
        id: &str,
        status: LoadBalancerStatus,
    ) -> Result<(), ModelError> {
        self.load_balancer_mut(id)?.status = status;
        Ok(())
    }

    /// Turns delete protection on or off.
    pub fn set_delete_protection(&mut self, id: &str, on: bool) -> Result<(), ModelError> {
        self.load_balancer_mut(id)?.delete_protection = on;
        Ok(())
    }

    /// Adds a listener. Its port must be free on the instance (TCP, HTTP and HTTPS share one
    /// port space, UDP has its own), and it needs either a `BackendServerPort` or a VServer
    /// group of the same instance (an HTTP listener that only redirects needs neither).
    pub fn create_listener(&mut self, listener: Listener) -> Result<(), ModelError> {
        let lb = listener.key.load_balancer_id.clone();
        self.load_balancer(&lb)?;
        let space = listener.key.protocol.port_space();
        if self
            .listeners_of(&lb)
            .any(|l| l.key.port == listener.key.port && l.key.protocol.port_space() == space)
        {
            return Err(ModelError::new(
                400,
                "ListenerAlreadyExists",
                "The specified listener already exists.",
            ));
        }
        self.check_listener(&listener)?;
        self.listeners.insert(listener.key.clone(), listener);
        Ok(())
    }

    /// The sum of instance `lb`'s listeners' own bandwidth limits (Mbit/s), `except` one;
    /// a listener at -1 shares the instance's bandwidth and counts for nothing.
    pub(crate) fn listeners_bandwidth(&self, lb: &str, except: Option<&ListenerKey>) -> i64 {
        self.listeners_of(lb)
            .filter(|o| Some(&o.key) != except && o.bandwidth > 0)
            .map(|o| i64::from(o.bandwidth))
            .sum()
    }

    /// A pay-by-bandwidth instance (positive `Bandwidth`) caps the sum of its listeners'
    /// limits.
    fn check_bandwidth(&self, l: &Listener) -> Result<(), ModelError> {
        let cap = self.load_balancer(&l.key.load_balancer_id)?.bandwidth;
        if l.bandwidth <= 0 || cap <= 0 {
            return Ok(());
        }
        let others = self.listeners_bandwidth(&l.key.load_balancer_id, Some(&l.key));
        let total = others + i64::from(l.bandwidth);
        if total > i64::from(cap) {
            return Err(ModelError::invalid_parameter(
                "Bandwidth",
                format!(
                    "the listeners' bandwidth would total {total} Mbps, more than the instance's {cap} Mbps"
                ),
            ));
        }
        Ok(())
    }

    /// Replaces a listener's settings with `updated` (same key), after the same checks as create.
    pub fn update_listener(&mut self, updated: Listener) -> Result<(), ModelError> {
        if !self.listeners.contains_key(&updated.key) {
            return Err(ModelError::listener_not_found(
                &updated.key.load_balancer_id,
                updated.key.port,
            ));
        }
        self.check_listener(&updated)?;
        self.listeners.insert(updated.key.clone(), updated);
        Ok(())
    }

    fn check_listener(&self, l: &Listener) -> Result<(), ModelError> {
        self.check_bandwidth(l)?;
        if l.acl_status && l.white_list_on {
            return Err(crate::white_list::conflict());
        }
        if let Some(id) = &l.acl_id {
            self.acl(id)?;
        }
        if let Some(ms) = &l.master_slave_server_group_id {
            if l.vserver_group_id.is_some() {
                return Err(ModelError::invalid_parameter(
                    "MasterSlaveServerGroupId",
                    "a listener uses either a VServer group or a master/slave server group",
                ));
            }
            return self.check_master_slave_ref(&l.key.load_balancer_id, ms);
        }
        match &l.vserver_group_id {
            Some(g) => {
                let group = self
                    .vserver_groups
                    .get(g)
                    .ok_or_else(|| ModelError::vserver_group_not_found(g))?;
                if group.load_balancer_id != l.key.load_balancer_id {
                    return Err(ModelError::new(
                        400,
                        "InvalidParameter.VServerGroupId",
                        format!("The VServer group \"{g}\" belongs to another load balancer."),
                    ));
                }
            }
            None if l.backend_server_port.is_none() && l.forward_port().is_none() => {
                return Err(crate::params::missing("BackendServerPort"));
            }
            None => {}
        }
        Ok(())
    }

    /// Starts or stops one listener.
    pub fn set_listener_status(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
        status: ListenerStatus,
    ) -> Result<(), ModelError> {
        let key = self.find_listener(lb, port, protocol)?.key.clone();
        if let Some(l) = self.listeners.get_mut(&key) {
            l.status = status;
        }
        Ok(())
    }

    /// Deletes one listener with its forwarding rules.
    pub fn delete_listener(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
    ) -> Result<(), ModelError> {
        let key = self.find_listener(lb, port, protocol)?.key.clone();
        self.listeners.remove(&key);
        self.rules.retain(|_, r| r.listener_key() != key);
        self.domain_extensions.retain(|_, d| d.listener != key);
        Ok(())
    }

    /// Adds members to the default server group; a member already present gets the new weight.
    pub fn add_backend_servers(
        &mut self,
        lb: &str,
        servers: Vec<BackendServer>,
    ) -> Result<(), ModelError> {
        let group = &mut self.load_balancer_mut(lb)?.backend_servers;
        merge_members(group, servers)
    }

    /// Removes members from the default server group; every named member must be present.
    pub fn remove_backend_servers(
        &mut self,
        lb: &str,
        servers: &[BackendServer],
    ) -> Result<(), ModelError> {
        let group = &mut self.load_balancer_mut(lb)?.backend_servers;
        remove_members(group, servers)
    }

    /// Changes the weights (and descriptions) of members already in the default server group.
    pub fn set_backend_servers(
        &mut self,
        lb: &str,
        servers: Vec<BackendServer>,
    ) -> Result<(), ModelError> {
        let group = &mut self.load_balancer_mut(lb)?.backend_servers;
        update_members(group, servers)
    }

    /// Creates a VServer group on an instance.
    pub fn create_vserver_group(&mut self, group: VServerGroup) -> Result<(), ModelError> {
        self.load_balancer(&group.load_balancer_id)?;
        if group.backend_servers.len() > MAX_GROUP_MEMBERS {
            return Err(too_many());
        }
        self.vserver_groups.insert(group.id.clone(), group);
        Ok(())
    }

    fn group_mut(&mut self, id: &str) -> Result<&mut VServerGroup, ModelError> {
        self.vserver_groups
            .get_mut(id)
            .ok_or_else(|| ModelError::vserver_group_not_found(id))
    }

    /// Renames a group and/or changes the weights of existing members.
    pub fn set_vserver_group_attribute(
        &mut self,
        id: &str,
        name: Option<String>,
        servers: Option<Vec<BackendServer>>,
    ) -> Result<(), ModelError> {
        let group = self.group_mut(id)?;
        if let Some(servers) = servers {
            update_members(&mut group.backend_servers, servers)?;
        }
        if let Some(name) = name {
            group.name = name;
        }
        Ok(())
    }

    /// Adds members (server + port) to a group; a member already present gets the new weight.
    pub fn add_vserver_group_servers(
        &mut self,
        id: &str,
        servers: Vec<BackendServer>,
    ) -> Result<(), ModelError> {
        merge_members(&mut self.group_mut(id)?.backend_servers, servers)
    }

    /// Removes members from a group; every named member must be present.
    pub fn remove_vserver_group_servers(
        &mut self,
        id: &str,
        servers: &[BackendServer],
    ) -> Result<(), ModelError> {
        remove_members(&mut self.group_mut(id)?.backend_servers, servers)
    }

    /// Replaces `old` members by `new` ones in one step (ModifyVServerGroupBackendServers).
    pub fn modify_vserver_group_servers(
        &mut self,
        id: &str,
        old: &[BackendServer],
        new: Vec<BackendServer>,
    ) -> Result<(), ModelError> {
        let group = self.group_mut(id)?;
        let mut members = group.backend_servers.clone();
        remove_members(&mut members, old)?;
        merge_members(&mut members, new)?;
        group.backend_servers = members;
        Ok(())
    }

    /// Deletes a group that no listener or forwarding rule uses.
    pub fn delete_vserver_group(&mut self, id: &str) -> Result<(), ModelError> {
        self.group_mut(id)?;
        if let Some(l) = self
            .listeners
            .values()
            .find(|l| l.vserver_group_id.as_deref() == Some(id))
        {
            return Err(ModelError::new(
                400,
                "RspoolVipExist",
                format!(
                    "The VServer group is used by the listener on port {}; detach it first.",
                    l.key.port
                ),
            ));
        }
        if let Some(r) = self.rules.values().find(|r| r.vserver_group_id == id) {
            return Err(ModelError::new(
                400,
                "RspoolVipExist",
                format!(
                    "The VServer group is used by forwarding rule \"{}\"; delete or change the rule first.",
                    r.id
                ),
            ));
        }
        self.vserver_groups.remove(id);
        Ok(())
    }
}

fn too_many() -> ModelError {
    ModelError::new(
        400,
        "QuotaExceeded.BackendServer",
        format!("A server group holds at most {MAX_GROUP_MEMBERS} backend servers."),
    )
}

fn merge_members(
    group: &mut Vec<BackendServer>,
    servers: Vec<BackendServer>,
) -> Result<(), ModelError> {
    let mut merged = group.clone();
    for s in servers {
        match merged.iter_mut().find(|m| m.same_member(&s)) {
            Some(m) => *m = s,
            None => merged.push(s),
        }
    }
    if merged.len() > MAX_GROUP_MEMBERS {
        return Err(too_many());
    }
    *group = merged;
    Ok(())
}

fn remove_members(
    group: &mut Vec<BackendServer>,
    servers: &[BackendServer],
) -> Result<(), ModelError> {
    if let Some(missing) = servers
        .iter()
        .find(|s| !group.iter().any(|m| m.same_member(s)))
    {
        return Err(not_member(missing));
    }
    group.retain(|m| !servers.iter().any(|s| s.same_member(m)));
    Ok(())
}

fn update_members(
    group: &mut [BackendServer],
    servers: Vec<BackendServer>,
) -> Result<(), ModelError> {
    if let Some(missing) = servers
        .iter()
        .find(|s| !group.iter().any(|m| m.same_member(s)))
    {
        return Err(not_member(missing));
    }
    for s in servers {
        if let Some(m) = group.iter_mut().find(|m| m.same_member(&s)) {
            m.weight = s.weight;
            if !s.description.is_empty() {
                m.description = s.description;
            }
        }
    }
    Ok(())
}

fn not_member(s: &BackendServer) -> ModelError {
    let port = s.port.map(|p| format!(":{p}")).unwrap_or_default();
    ModelError::new(
        400,
        "InvalidBackendServers.ServerIdNotExist",
        format!(
            "The backend server \"{}{port}\" is not in the server group.",
            s.server_id
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lb(id: &str, addr: &str) -> LoadBalancer {
        LoadBalancer::new(id, addr.parse().unwrap())
    }

    fn members(json: &str, port: bool) -> Vec<BackendServer> {
        BackendServer::parse_list(json, port).unwrap()
    }

    fn key(port: u16) -> ListenerKey {
        ListenerKey {
            load_balancer_id: "lb-1".into(),
            port,
            protocol: Protocol::Tcp,
        }
    }

    #[test]
    fn refused_changes_leave_state_untouched() {
        let mut s = State::default();
        s.create_load_balancer(lb("lb-1", "127.0.0.1")).unwrap();
        s.add_backend_servers("lb-1", members(r#"[{"ServerId":"10.0.0.1"}]"#, false))
            .unwrap();
        let before = s.clone();
        // Removing two members where one is absent removes neither.
        let err = s
            .remove_backend_servers(
                "lb-1",
                &members(
                    r#"[{"ServerId":"10.0.0.1"},{"ServerId":"10.0.0.2"}]"#,
                    false,
                ),
            )
            .unwrap_err();
        assert_eq!(err.code, "InvalidBackendServers.ServerIdNotExist");
        assert_eq!(s, before);
        let mut l = Listener::new(key(80));
        assert_eq!(
            s.create_listener(l.clone()).unwrap_err().code,
            "MissingParameter"
        );
        l.vserver_group_id = Some("rsp-x".into());
        assert_eq!(s.create_listener(l).unwrap_err().status, 404);
        assert_eq!(s, before);
    }

    #[test]
    fn listener_bandwidth_fits_in_a_pay_by_bandwidth_instance() {
        let mut s = State::default();
        let mut capped = lb("lb-1", "127.0.0.1");
        capped.bandwidth = 10;
        s.create_load_balancer(capped).unwrap();
        let listener = |port: u16, bw: i32| {
            let mut l = Listener::new(key(port));
            l.backend_server_port = Some(80);
            l.bandwidth = bw;
            l
        };
        s.create_listener(listener(80, 6)).unwrap();
        let e = s.create_listener(listener(81, 5)).unwrap_err();
        assert_eq!(e.code, "InvalidParameter");
        assert!(e.message.contains("11 Mbps"), "{}", e.message);
        s.create_listener(listener(81, 4)).unwrap();
        s.create_listener(listener(82, -1)).unwrap();
        // Raising one listener past the cap is refused too; lowering is fine.
        assert!(s.update_listener(listener(80, 7)).is_err());
        s.update_listener(listener(80, 5)).unwrap();
        // A pay-by-traffic instance (-1) caps nothing.
        s.create_load_balancer(lb("lb-2", "127.0.0.2")).unwrap();
        let mut l = listener(80, 5120);
        l.key.load_balancer_id = "lb-2".into();
        s.create_listener(l).unwrap();
    }

    #[test]
    fn listeners_and_groups_follow_their_instance() {
        let mut s = State::default();
        s.create_load_balancer(lb("lb-1", "127.0.0.1")).unwrap();
        s.create_vserver_group(VServerGroup {
            id: "rsp-1".into(),
            name: "g".into(),
            load_balancer_id: "lb-1".into(),
            backend_servers: members(r#"[{"ServerId":"10.0.0.1","Port":81}]"#, true),
            tags: Vec::new(),
        })
        .unwrap();
        let mut l = Listener::new(key(80));
        l.vserver_group_id = Some("rsp-1".into());
        s.create_listener(l.clone()).unwrap();
        assert_eq!(
            s.create_listener(l).unwrap_err().code,
            "ListenerAlreadyExists"
        );
        assert_eq!(
            s.delete_vserver_group("rsp-1").unwrap_err().code,
            "RspoolVipExist"
        );
        s.set_listener_status("lb-1", 80, None, ListenerStatus::Running)
            .unwrap();
        assert_eq!(s.listeners[&key(80)].status, ListenerStatus::Running);
        s.set_delete_protection("lb-1", true).unwrap();
        assert!(s.delete_load_balancer("lb-1").is_err());
        s.set_delete_protection("lb-1", false).unwrap();
        s.delete_load_balancer("lb-1").unwrap();
        assert!(s.listeners.is_empty() && s.vserver_groups.is_empty());
    }

    #[test]
    fn modify_swaps_members_atomically() {
        let mut s = State::default();
        s.create_load_balancer(lb("lb-1", "127.0.0.1")).unwrap();
        s.create_vserver_group(VServerGroup {
            id: "rsp-1".into(),
            name: "g".into(),
            load_balancer_id: "lb-1".into(),
            backend_servers: members(r#"[{"ServerId":"10.0.0.1","Port":81}]"#, true),
            tags: Vec::new(),
        })
        .unwrap();
        let old = members(r#"[{"ServerId":"10.0.0.1","Port":81}]"#, true);
        let new = members(r#"[{"ServerId":"10.0.0.1","Port":82,"Weight":5}]"#, true);
        s.modify_vserver_group_servers("rsp-1", &old, new.clone())
            .unwrap();
        assert_eq!(s.vserver_groups["rsp-1"].backend_servers, new);
        // The old member is gone now, so the same call is refused and changes nothing.
        let before = s.clone();
        assert!(s.modify_vserver_group_servers("rsp-1", &old, new).is_err());
        assert_eq!(s, before);
    }

    #[test]
    fn free_address_skips_taken_ones() {
        let mut s = State::default();
        s.create_load_balancer(lb("lb-1", "127.0.0.1")).unwrap();
        let pool = ["127.0.0.1", "127.0.0.2"].map(|a| a.parse().unwrap());
        assert_eq!(s.free_address(pool), Some("127.0.0.2".parse().unwrap()));
        assert_eq!(
            s.create_load_balancer(lb("lb-2", "127.0.0.1"))
                .unwrap_err()
                .code,
            "InvalidAddress.AlreadyUsed"
        );
    }
}
