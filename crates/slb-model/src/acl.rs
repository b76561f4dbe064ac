//! Access-control lists: named sets of CIDR blocks (one IP version each) that listeners
//! use as a whitelist or a blacklist of client addresses.

use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{ModelError, State};

/// Entries one AddAccessControlListEntry / RemoveAccessControlListEntry call may carry.
pub const MAX_ENTRIES_PER_CALL: usize = 50;
/// Entries one list may hold (Alibaba's default quota).
pub const MAX_ENTRIES: usize = 300;
/// Lists per region (Alibaba's default quota).
pub const MAX_ACLS: usize = 50;

/// One list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acl {
    pub id: String,
    pub name: String,
    /// `ipv4` or `ipv6`: every entry is of this version.
    pub ip_version: String,
    pub resource_group_id: String,
    pub create_time: String,
    pub entries: Vec<AclEntry>,
    /// Labels (TagResources); absent in rows stored before tags, and when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<crate::Tag>,
}

/// One block with its comment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AclEntry {
    pub cidr: IpNet,
    pub comment: String,
}

impl ModelError {
    /// An unknown list id.
    pub fn acl_not_found(id: &str) -> Self {
        Self::new(
            404,
            "AclNotExist",
            format!("The specified AclId \"{id}\" does not exist."),
        )
    }
}

impl Acl {
    /// Parses `AclEntrys`: a JSON list of `{"entry": "CIDR", "comment": "..."}` (at most
    /// [`MAX_ENTRIES_PER_CALL`]), every block of `ip_version`. A plain address counts as
    /// a /32 (or /128).
    pub fn parse_entries(json: &str, ip_version: &str) -> Result<Vec<AclEntry>, ModelError> {
        let bad = |d: String| ModelError::invalid_parameter("AclEntrys", d);
        let items: Vec<Value> =
            serde_json::from_str(json).map_err(|e| bad(format!("not a JSON list: {e}")))?;
        if items.is_empty() || items.len() > MAX_ENTRIES_PER_CALL {
            return Err(bad(format!(
                "give 1 to {MAX_ENTRIES_PER_CALL} entries per call"
            )));
        }
        let mut out = Vec::with_capacity(items.len());
        for item in &items {
            let entry = item
                .get("entry")
                .and_then(Value::as_str)
                .ok_or_else(|| bad("every item needs an \"entry\" (a CIDR block)".into()))?;
            let cidr: IpNet = entry
                .parse()
                .or_else(|_| entry.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| bad(format!("\"{entry}\" is not a CIDR block")))?;
            let version = if cidr.addr().is_ipv4() {
                "ipv4"
            } else {
                "ipv6"
            };
            if version != ip_version {
                return Err(bad(format!(
                    "\"{entry}\" is not an {ip_version} block (the list's AddressIPVersion)"
                )));
            }
            let comment = item
                .get("comment")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string();
            if comment.len() > 100 {
                return Err(bad("a comment has at most 100 characters".into()));
            }
            out.push(AclEntry {
                cidr: cidr.trunc(),
                comment,
            });
        }
        Ok(out)
    }
}

impl State {
    /// The list `id`.
    pub fn acl(&self, id: &str) -> Result<&Acl, ModelError> {
        self.acls
            .get(id)
            .ok_or_else(|| ModelError::acl_not_found(id))
    }

    /// Adds a list; names are unique.
    pub fn create_acl(&mut self, acl: Acl) -> Result<(), ModelError> {
        if self.acls.len() >= MAX_ACLS {
            return Err(ModelError::new(
                400,
                "QuotaExceeded.Acl",
                format!("A region holds at most {MAX_ACLS} access control lists."),
            ));
        }
        self.check_acl_name(&acl.name, None)?;
        self.acls.insert(acl.id.clone(), acl);
        Ok(())
    }

    fn check_acl_name(&self, name: &str, except: Option<&str>) -> Result<(), ModelError> {
        if self
            .acls
            .values()
            .any(|a| a.name == name && Some(a.id.as_str()) != except)
        {
            return Err(ModelError::new(
                400,
                "AclNameExist",
                format!("An access control list named \"{name}\" already exists."),
            ));
        }
        Ok(())
    }

    /// Renames a list.
    pub fn set_acl_name(&mut self, id: &str, name: String) -> Result<(), ModelError> {
        self.acl(id)?;
        self.check_acl_name(&name, Some(id))?;
        self.acls.get_mut(id).expect("checked").name = name;
        Ok(())
    }

    /// Deletes a list no listener uses.
    pub fn delete_acl(&mut self, id: &str) -> Result<(), ModelError> {
        self.acl(id)?;
        if let Some(l) = self
            .listeners
            .values()
            .find(|l| l.acl_id.as_deref() == Some(id))
        {
            return Err(ModelError::new(
                400,
                "ResourceInUse.Acl",
                format!(
                    "The access control list is used by the listener on port {} of {}.",
                    l.key.port, l.key.load_balancer_id
                ),
            ));
        }
        self.acls.remove(id);
        Ok(())
    }

    /// Adds entries; blocks already listed are skipped, as Alibaba does.
    pub fn add_acl_entries(&mut self, id: &str, entries: Vec<AclEntry>) -> Result<(), ModelError> {
        let acl = self
            .acls
            .get_mut(id)
            .ok_or_else(|| ModelError::acl_not_found(id))?;
        let mut next = acl.entries.clone();
        for e in entries {
            if !next.iter().any(|x| x.cidr == e.cidr) {
                next.push(e);
            }
        }
        if next.len() > MAX_ENTRIES {
            return Err(ModelError::new(
                400,
                "QuotaExceeded.AclEntry",
                format!("An access control list holds at most {MAX_ENTRIES} entries."),
            ));
        }
        acl.entries = next;
        Ok(())
    }

    /// Removes entries; every one must be in the list.
    pub fn remove_acl_entries(&mut self, id: &str, entries: &[AclEntry]) -> Result<(), ModelError> {
        let acl = self
            .acls
            .get_mut(id)
            .ok_or_else(|| ModelError::acl_not_found(id))?;
        if let Some(missing) = entries
            .iter()
            .find(|e| !acl.entries.iter().any(|x| x.cidr == e.cidr))
        {
            return Err(ModelError::new(
                400,
                "AclEntryNotExist",
                format!("The entry {} is not in the list.", missing.cidr),
            ));
        }
        acl.entries
            .retain(|x| !entries.iter().any(|e| e.cidr == x.cidr));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acl(id: &str, name: &str, version: &str) -> Acl {
        Acl {
            id: id.into(),
            name: name.into(),
            ip_version: version.into(),
            resource_group_id: String::new(),
            create_time: String::new(),
            entries: Vec::new(),
            tags: Vec::new(),
        }
    }

    #[test]
    fn entries_are_parsed_checked_and_deduplicated() {
        let e = Acl::parse_entries(
            r#"[{"entry":"10.0.0.1/8","comment":"a"},{"entry":"192.168.0.1"}]"#,
            "ipv4",
        )
        .unwrap();
        assert_eq!(e[0].cidr.to_string(), "10.0.0.0/8");
        assert_eq!(e[1].cidr.to_string(), "192.168.0.1/32");
        for bad in [
            "[]",
            r#"[{"entry":"2001:db8::/32"}]"#,
            r#"[{"entry":"10.0.0.0/33"}]"#,
            r#"[{"comment":"x"}]"#,
            "nope",
        ] {
            assert_eq!(
                Acl::parse_entries(bad, "ipv4").unwrap_err().code,
                "InvalidParameter",
                "{bad}"
            );
        }
        let many: Vec<String> = (0..51)
            .map(|i| format!(r#"{{"entry":"10.0.{i}.0/24"}}"#))
            .collect();
        assert!(Acl::parse_entries(&format!("[{}]", many.join(",")), "ipv4").is_err());

        let mut s = State::default();
        s.create_acl(acl("acl-1", "a", "ipv4")).unwrap();
        assert_eq!(
            s.create_acl(acl("acl-2", "a", "ipv4")).unwrap_err().code,
            "AclNameExist"
        );
        s.add_acl_entries("acl-1", e.clone()).unwrap();
        s.add_acl_entries("acl-1", e.clone()).unwrap();
        assert_eq!(s.acls["acl-1"].entries.len(), 2, "duplicates skipped");
        s.remove_acl_entries("acl-1", &e[..1]).unwrap();
        assert_eq!(
            s.remove_acl_entries("acl-1", &e[..1]).unwrap_err().code,
            "AclEntryNotExist"
        );
        assert_eq!(s.acl("acl-9").unwrap_err().code, "AclNotExist");
    }
}
