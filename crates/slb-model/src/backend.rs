//! Backend servers: the members of an instance's default server group or of a VServer group.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::ModelError;

/// Alibaba's default backend weight.
pub const DEFAULT_WEIGHT: u32 = 100;
/// Largest weight Alibaba accepts.
pub const MAX_WEIGHT: u32 = 100;

/// What a `ServerId` names. OpenSLB has no server inventory yet, so `ecs`/`eni` members
/// must carry their address in `ServerIp`; `ip` members are their own address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ServerType {
    Ecs,
    Eni,
    Eci,
    Ip,
}

impl ServerType {
    fn parse(s: &str) -> Result<Self, ModelError> {
        match s {
            "ecs" => Ok(Self::Ecs),
            "eni" => Ok(Self::Eni),
            "eci" => Ok(Self::Eci),
            "ip" => Ok(Self::Ip),
            other => Err(ModelError::invalid_parameter(
                "BackendServers.Type",
                format!("unknown type \"{other}\" (ecs, eni, eci or ip)"),
            )),
        }
    }
}

/// One backend member. `port` is set for VServer group members (they carry their own port)
/// and absent in the default server group (the listener's `BackendServerPort` applies).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BackendServer {
    pub server_id: String,
    pub weight: u32,
    #[serde(rename = "Type")]
    pub server_type: ServerType,
    pub server_ip: IpAddr,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default)]
    pub description: String,
}

impl BackendServer {
    /// Identity inside a group: Alibaba treats the same server on another port as another member.
    pub fn same_member(&self, other: &BackendServer) -> bool {
        self.server_id == other.server_id && self.port == other.port
    }

    /// Parses the `BackendServers` JSON list parameter. `with_port` is true for VServer groups,
    /// whose members must name a `Port` (1-65535).
    pub fn parse_list(json: &str, with_port: bool) -> Result<Vec<BackendServer>, ModelError> {
        let bad = |d: String| ModelError::invalid_parameter("BackendServers", d);
        let value: Value =
            serde_json::from_str(json).map_err(|e| bad(format!("not a JSON list: {e}")))?;
        let items = value
            .as_array()
            .ok_or_else(|| bad("expected a JSON list of servers".into()))?;
        if items.is_empty() {
            return Err(bad("the list is empty".into()));
        }
        if items.len() > 20 {
            return Err(bad("at most 20 servers per call".into()));
        }
        let mut out: Vec<BackendServer> = Vec::with_capacity(items.len());
        for item in items {
            let server = Self::parse_one(item, with_port).map_err(bad)?;
            if out.iter().any(|s| s.same_member(&server)) {
                return Err(bad(format!(
                    "server \"{}\" is listed twice",
                    server.server_id
                )));
            }
            out.push(server);
        }
        Ok(out)
    }

    fn parse_one(item: &Value, with_port: bool) -> Result<BackendServer, String> {
        let obj = item
            .as_object()
            .ok_or("each server must be a JSON object")?;
        let field = |name: &str| obj.get(name).filter(|v| !v.is_null());
        let server_id = match field("ServerId") {
            Some(Value::String(s)) if !s.is_empty() => s.clone(),
            _ => return Err("every server needs a ServerId".into()),
        };
        let server_type = match field("Type") {
            Some(Value::String(t)) => ServerType::parse(t).map_err(|e| e.message)?,
            None => {
                if server_id.parse::<IpAddr>().is_ok() {
                    ServerType::Ip
                } else {
                    ServerType::Ecs
                }
            }
            Some(_) => return Err("Type must be a string".into()),
        };
        let weight = match field("Weight") {
            None => DEFAULT_WEIGHT as u64,
            Some(v) => number(v).ok_or("Weight must be an integer 0-100")?,
        };
        if weight > MAX_WEIGHT as u64 {
            return Err(format!("Weight {weight} is out of range 0-100"));
        }
        let server_ip = match (server_type, field("ServerIp")) {
            (_, Some(Value::String(ip))) => ip
                .parse::<IpAddr>()
                .map_err(|_| format!("ServerIp \"{ip}\" is not an IP address"))?,
            (ServerType::Ip, None) => server_id
                .parse::<IpAddr>()
                .map_err(|_| format!("ServerId \"{server_id}\" of Type ip is not an IP address"))?,
            _ => {
                return Err(format!(
                    "server \"{server_id}\" is not an IP address: use Type \"ip\" or give its ServerIp (this region has no server inventory)"
                ))
            }
        };
        let port = if with_port {
            let p = field("Port")
                .and_then(number)
                .ok_or("every VServer group member needs a Port")?;
            if !(1..=65535).contains(&p) {
                return Err(format!("Port {p} is out of range 1-65535"));
            }
            Some(p as u16)
        } else {
            None
        };
        let description = match field("Description") {
            Some(Value::String(d)) if d.len() <= 80 => d.clone(),
            Some(Value::String(_)) => return Err("Description is longer than 80 characters".into()),
            _ => String::new(),
        };
        Ok(BackendServer {
            server_id,
            weight: weight as u32,
            server_type,
            server_ip,
            port,
            description,
        })
    }
}

/// Alibaba's SDKs send numbers both as JSON numbers and as strings ("Weight":"100").
fn number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_ip_members_with_string_weights() {
        let list = BackendServer::parse_list(
            r#"[{"ServerId":"127.0.0.1","Weight":"30","Type":"ip"},{"ServerId":"127.0.0.2"}]"#,
            false,
        )
        .unwrap();
        assert_eq!(list[0].weight, 30);
        assert_eq!(list[1].weight, 100);
        assert_eq!(list[1].server_type, ServerType::Ip);
        assert_eq!(list[1].server_ip.to_string(), "127.0.0.2");
    }

    #[test]
    fn rejects_bad_members() {
        for bad in [
            "not json",
            "[]",
            r#"[{"Weight":1}]"#,
            r#"[{"ServerId":"127.0.0.1","Weight":101}]"#,
            r#"[{"ServerId":"i-abc"}]"#,
            r#"[{"ServerId":"127.0.0.1"},{"ServerId":"127.0.0.1"}]"#,
        ] {
            let err = BackendServer::parse_list(bad, false).unwrap_err();
            assert_eq!(err.code, "InvalidParameter", "{bad}");
        }
    }

    #[test]
    fn vserver_members_need_ports() {
        assert!(BackendServer::parse_list(r#"[{"ServerId":"127.0.0.1"}]"#, true).is_err());
        assert!(BackendServer::parse_list(r#"[{"ServerId":"127.0.0.1","Port":0}]"#, true).is_err());
        let l = BackendServer::parse_list(
            r#"[{"ServerId":"127.0.0.1","Port":"8080"},{"ServerId":"127.0.0.1","Port":8081}]"#,
            true,
        )
        .unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].port, Some(8080));
    }

    #[test]
    fn ecs_members_need_an_address() {
        let l = BackendServer::parse_list(
            r#"[{"ServerId":"i-abc","Type":"ecs","ServerIp":"10.0.0.5"}]"#,
            false,
        )
        .unwrap();
        assert_eq!(l[0].server_ip.to_string(), "10.0.0.5");
    }
}
