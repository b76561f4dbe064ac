//! The older per-listener whitelist (SetListenerAccessControlStatus,
//! AddListenerWhiteListItem, RemoveListenerWhiteListItem,
//! DescribeListenerAccessControlAttribute), which scripts written before access-control
//! lists still call. When it is on, only clients in its blocks may connect; with no blocks,
//! nobody may (as Alibaba documents). It is a whitelist of the listener's own, not a
//! shared list, and cannot be on together with the listener's `AclStatus`.

use ipnet::IpNet;

use crate::params::{required, ParamSource};
use crate::{Listener, ModelError, Protocol, State};

/// Blocks one listener's whitelist may hold (as an access-control list).
pub const MAX_ITEMS: usize = crate::acl::MAX_ENTRIES;

/// `SourceItems`: addresses and CIDR blocks separated by commas (a plain address is a /32
/// or /128). A /0 is refused: to let everyone in, the whitelist is closed.
pub fn source_items(p: &dyn ParamSource) -> Result<Vec<IpNet>, ModelError> {
    let raw = required(p, "SourceItems")?;
    let bad = |d: String| ModelError::invalid_parameter("SourceItems", d);
    let mut out: Vec<IpNet> = Vec::new();
    for item in raw.split(',').map(str::trim).filter(|i| !i.is_empty()) {
        let block: IpNet = item
            .parse()
            .or_else(|_| item.parse::<std::net::IpAddr>().map(IpNet::from))
            .map_err(|_| bad(format!("\"{item}\" is not an address or CIDR block")))?;
        if block.prefix_len() == 0 {
            return Err(bad(format!(
                "\"{item}\" lets everyone in: close the whitelist instead"
            )));
        }
        let block = block.trunc();
        if !out.contains(&block) {
            out.push(block);
        }
    }
    if out.is_empty() {
        return Err(bad("no address or block given".into()));
    }
    Ok(out)
}

/// `OperationDenied.AccessControlConflict` (ours): both kinds of access control at once.
pub(crate) fn conflict() -> ModelError {
    ModelError::new(
        400,
        "OperationDenied.AccessControlConflict",
        "A listener's access-control list (AclStatus) and its whitelist (SetListenerAccessControlStatus) cannot both be on; turn one off first.",
    )
}

impl State {
    /// The listener at `port` (of `protocol` when given), to change its whitelist.
    fn white_list_listener(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
    ) -> Result<&mut Listener, ModelError> {
        let key = self.find_listener(lb, port, protocol)?.key.clone();
        Ok(self.listeners.get_mut(&key).expect("found above"))
    }

    /// SetListenerAccessControlStatus: `open_white_list` (`on`) or `close`.
    pub fn set_white_list_status(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
        on: bool,
    ) -> Result<(), ModelError> {
        let l = self.white_list_listener(lb, port, protocol)?;
        if on && l.acl_status {
            return Err(conflict());
        }
        l.white_list_on = on;
        Ok(())
    }

    /// AddListenerWhiteListItem: blocks already listed are skipped.
    pub fn add_white_list_items(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
        items: &[IpNet],
    ) -> Result<(), ModelError> {
        let l = self.white_list_listener(lb, port, protocol)?;
        let new: Vec<IpNet> = items
            .iter()
            .filter(|i| !l.white_list.contains(i))
            .copied()
            .collect();
        if l.white_list.len() + new.len() > MAX_ITEMS {
            return Err(ModelError::new(
                400,
                "QuotaExceeded.WhiteListItem",
                format!("A listener's whitelist holds at most {MAX_ITEMS} blocks."),
            ));
        }
        l.white_list.extend(new);
        Ok(())
    }

    /// RemoveListenerWhiteListItem: blocks not listed are ignored.
    pub fn remove_white_list_items(
        &mut self,
        lb: &str,
        port: u16,
        protocol: Option<Protocol>,
        items: &[IpNet],
    ) -> Result<(), ModelError> {
        let l = self.white_list_listener(lb, port, protocol)?;
        l.white_list.retain(|b| !items.contains(b));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::net::IpAddr;

    use super::*;
    use crate::{ListenerKey, LoadBalancer};

    fn items(raw: &str) -> Result<Vec<IpNet>, ModelError> {
        let p: BTreeMap<String, String> = [("SourceItems".to_string(), raw.to_string())].into();
        source_items(&p)
    }

    #[test]
    fn source_items_are_addresses_and_blocks() {
        let got = items("10.0.0.1, 192.168.1.7/24,,2001:db8::/32,10.0.0.1").unwrap();
        let want: Vec<IpNet> = ["10.0.0.1/32", "192.168.1.0/24", "2001:db8::/32"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        assert_eq!(got, want);
        for bad in ["", "nope", "0.0.0.0/0", "::/0", "10.0.0.1/33"] {
            assert!(items(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_whitelist_and_an_acl_exclude_each_other() {
        let mut s = State::default();
        s.create_load_balancer(LoadBalancer::new("lb-1", IpAddr::from([10, 0, 0, 1])))
            .unwrap();
        let mut l = Listener::new(ListenerKey {
            load_balancer_id: "lb-1".into(),
            port: 80,
            protocol: Protocol::Tcp,
        });
        l.backend_server_port = Some(80);
        s.create_listener(l).unwrap();
        let blocks = items("10.0.0.0/8,127.0.0.1").unwrap();
        s.add_white_list_items("lb-1", 80, None, &blocks).unwrap();
        s.add_white_list_items("lb-1", 80, None, &blocks[..1])
            .unwrap();
        s.set_white_list_status("lb-1", 80, None, true).unwrap();
        let l = s.find_listener("lb-1", 80, None).unwrap();
        assert_eq!(l.white_list.len(), 2);
        assert!(l.white_list_on);

        // AclStatus on is refused while the whitelist is open, and the other way round.
        let mut with_acl = l.clone();
        with_acl.acl_status = true;
        assert_eq!(
            s.update_listener(with_acl.clone()).unwrap_err().code,
            "OperationDenied.AccessControlConflict"
        );
        s.set_white_list_status("lb-1", 80, None, false).unwrap();
        with_acl.white_list_on = false;
        s.update_listener(with_acl).unwrap();
        assert_eq!(
            s.set_white_list_status("lb-1", 80, None, true)
                .unwrap_err()
                .code,
            "OperationDenied.AccessControlConflict"
        );

        s.remove_white_list_items("lb-1", 80, None, &blocks[..1])
            .unwrap();
        let l = s.find_listener("lb-1", 80, None).unwrap();
        assert_eq!(l.white_list, blocks[1..].to_vec());
        assert_eq!(
            s.add_white_list_items("lb-1", 81, None, &blocks)
                .unwrap_err()
                .status,
            404
        );
    }
}
