//! Master/slave (primary/secondary) server groups of layer-4 listeners: exactly two
//! backends, all traffic to the master while it is healthy, to the slave when it is not.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{BackendServer, ModelError, State};

/// Master/slave groups per instance (Alibaba's quota).
pub const MAX_MASTER_SLAVE_GROUPS: usize = 100;

/// A master/slave server group of one instance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MasterSlaveServerGroup {
    pub id: String,
    pub name: String,
    pub load_balancer_id: String,
    pub master: BackendServer,
    pub slave: BackendServer,
    /// Creation time, `YYYY-MM-DDThh:mm:ssZ`.
    pub create_time: String,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
}

impl MasterSlaveServerGroup {
    /// Parses `MasterSlaveBackendServers`: a JSON list of exactly two servers with their
    /// `Port`, one `"ServerType": "Master"` and one `"Slave"`. Returns (master, slave).
    pub fn parse_servers(json: &str) -> Result<(BackendServer, BackendServer), ModelError> {
        const PARAM: &str = "MasterSlaveBackendServers";
        let bad = |d: &str| ModelError::invalid_parameter(PARAM, d);
        let servers = BackendServer::parse_list(json, true).map_err(|e| {
            ModelError::new(e.status, e.code, e.message.replace("BackendServers", PARAM))
        })?;
        let items: Vec<Value> = serde_json::from_str(json).map_err(|_| bad("not a JSON list"))?;
        if servers.len() != 2 || items.len() != 2 {
            return Err(bad("a master/slave group has exactly two servers"));
        }
        let role = |v: &Value| {
            v.get("ServerType")
                .and_then(Value::as_str)
                .map(str::to_ascii_lowercase)
        };
        match (role(&items[0]).as_deref(), role(&items[1]).as_deref()) {
            (Some("master"), Some("slave")) => Ok((servers[0].clone(), servers[1].clone())),
            (Some("slave"), Some("master")) => Ok((servers[1].clone(), servers[0].clone())),
            _ => Err(bad(
                "one server needs \"ServerType\": \"Master\" and the other \"Slave\"",
            )),
        }
    }
}

impl ModelError {
    /// Alibaba's answer for an unknown master/slave group id.
    pub fn master_slave_group_not_found(id: &str) -> Self {
        Self::new(
            404,
            "InvalidParameter.MasterSlaveServerGroupId",
            format!("The specified MasterSlaveServerGroupId \"{id}\" does not exist."),
        )
    }
}

impl State {
    /// Adds a group to its instance (within the quota).
    pub fn create_master_slave_group(
        &mut self,
        group: MasterSlaveServerGroup,
    ) -> Result<(), ModelError> {
        self.load_balancer(&group.load_balancer_id)?;
        let count = self
            .master_slave_groups
            .values()
            .filter(|g| g.load_balancer_id == group.load_balancer_id)
            .count();
        if count >= MAX_MASTER_SLAVE_GROUPS {
            return Err(ModelError::new(
                400,
                "QuotaExceeded.MasterSlaveServerGroup",
                format!("An instance holds at most {MAX_MASTER_SLAVE_GROUPS} master/slave server groups."),
            ));
        }
        self.master_slave_groups.insert(group.id.clone(), group);
        Ok(())
    }

    /// The group `id`.
    pub fn master_slave_group(&self, id: &str) -> Result<&MasterSlaveServerGroup, ModelError> {
        self.master_slave_groups
            .get(id)
            .ok_or_else(|| ModelError::master_slave_group_not_found(id))
    }

    /// Deletes a group no listener uses.
    pub fn delete_master_slave_group(&mut self, id: &str) -> Result<(), ModelError> {
        self.master_slave_group(id)?;
        if let Some(l) = self
            .listeners
            .values()
            .find(|l| l.master_slave_server_group_id.as_deref() == Some(id))
        {
            return Err(ModelError::new(
                400,
                "RspoolVipExist",
                format!(
                    "The master/slave server group is used by the listener on port {}; detach it first.",
                    l.key.port
                ),
            ));
        }
        self.master_slave_groups.remove(id);
        Ok(())
    }

    /// A listener's master/slave group must exist on its instance.
    pub fn check_master_slave_ref(&self, lb: &str, id: &str) -> Result<(), ModelError> {
        let g = self.master_slave_group(id)?;
        if g.load_balancer_id != lb {
            return Err(ModelError::new(
                400,
                "InvalidParameter.MasterSlaveServerGroupId",
                format!("The master/slave server group \"{id}\" belongs to another load balancer."),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exactly_one_master_and_one_slave() {
        let ok = r#"[{"ServerId":"10.0.0.2","Type":"ip","Port":80,"ServerType":"Slave"},
                     {"ServerId":"10.0.0.1","Type":"ip","Port":80,"ServerType":"Master","Weight":100}]"#;
        let (m, s) = MasterSlaveServerGroup::parse_servers(ok).unwrap();
        assert_eq!(
            (m.server_id.as_str(), s.server_id.as_str()),
            ("10.0.0.1", "10.0.0.2")
        );
        for bad in [
            r#"[{"ServerId":"10.0.0.1","Type":"ip","Port":80,"ServerType":"Master"}]"#,
            r#"[{"ServerId":"10.0.0.1","Type":"ip","Port":80,"ServerType":"Master"},
                {"ServerId":"10.0.0.2","Type":"ip","Port":80,"ServerType":"Master"}]"#,
            r#"[{"ServerId":"10.0.0.1","Type":"ip","Port":80},
                {"ServerId":"10.0.0.2","Type":"ip","Port":80,"ServerType":"Slave"}]"#,
            r#"[{"ServerId":"10.0.0.1","Type":"ip","ServerType":"Master"},
                {"ServerId":"10.0.0.2","Type":"ip","Port":80,"ServerType":"Slave"}]"#,
            "nope",
        ] {
            let e = MasterSlaveServerGroup::parse_servers(bad).unwrap_err();
            assert_eq!(e.code, "InvalidParameter", "{bad}");
            assert!(
                e.message.contains("MasterSlaveBackendServers"),
                "{}",
                e.message
            );
        }
    }
}
