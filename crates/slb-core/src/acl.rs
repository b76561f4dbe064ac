//! Access-control list matching, sans-IO: is a client address inside any of a list's
//! CIDR blocks? Blocks are merged into sorted, disjoint ranges once per change, so a
//! lookup is a binary search (O(log n)) however many thousand entries a list holds.

use std::net::IpAddr;

use ipnet::IpNet;

/// The compiled blocks of one list, IPv4 and IPv6 apart. IPv4-mapped IPv6 clients
/// (`::ffff:a.b.c.d`) are matched as IPv4.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AclMatcher {
    v4: Vec<(u32, u32)>,
    v6: Vec<(u128, u128)>,
}

/// Sorts and merges overlapping or adjacent inclusive ranges.
fn merge<T: Copy + Ord + num_like::Succ>(mut ranges: Vec<(T, T)>) -> Vec<(T, T)> {
    ranges.sort_unstable();
    let mut out: Vec<(T, T)> = Vec::with_capacity(ranges.len());
    for (start, end) in ranges {
        if let Some(last) = out.last_mut() {
            if last.1 >= start || last.1.succ() == Some(start) {
                last.1 = last.1.max(end);
                continue;
            }
        }
        out.push((start, end));
    }
    out
}

mod num_like {
    /// The next integer, if any.
    pub trait Succ: Sized {
        fn succ(self) -> Option<Self>;
    }
    impl Succ for u32 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
    impl Succ for u128 {
        fn succ(self) -> Option<Self> {
            self.checked_add(1)
        }
    }
}

fn find<T: Copy + Ord>(ranges: &[(T, T)], x: T) -> bool {
    // The last range starting at or before `x`.
    let i = ranges.partition_point(|&(start, _)| start <= x);
    i > 0 && ranges[i - 1].1 >= x
}

impl AclMatcher {
    /// Compiles `blocks` (host bits are ignored: `10.0.0.1/8` covers `10.0.0.0/8`).
    pub fn new<'a>(blocks: impl IntoIterator<Item = &'a IpNet>) -> Self {
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for net in blocks {
            match net.trunc() {
                IpNet::V4(n) => v4.push((u32::from(n.network()), u32::from(n.broadcast()))),
                IpNet::V6(n) => v6.push((u128::from(n.network()), u128::from(n.broadcast()))),
            }
        }
        Self {
            v4: merge(v4),
            v6: merge(v6),
        }
    }

    /// Whether `ip` is inside a block of the list.
    pub fn contains(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => find(&self.v4, u32::from(v4)),
            IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                Some(v4) => find(&self.v4, u32::from(v4)),
                None => find(&self.v6, u128::from(v6)),
            },
        }
    }

    /// Disjoint ranges after merging (for tests and sizing).
    pub fn ranges(&self) -> usize {
        self.v4.len() + self.v6.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(blocks: &[&str]) -> AclMatcher {
        let nets: Vec<IpNet> = blocks.iter().map(|b| b.parse().unwrap()).collect();
        AclMatcher::new(&nets)
    }

    #[test]
    fn ipv4_and_ipv6_blocks() {
        let acl = m(&[
            "10.0.0.0/8",
            "192.168.1.7/32",
            "2001:db8::/32",
            "127.0.0.2/32",
        ]);
        for ip in [
            "10.1.2.3",
            "192.168.1.7",
            "2001:db8::1",
            "::ffff:10.0.0.1",
            "127.0.0.2",
        ] {
            assert!(acl.contains(ip.parse().unwrap()), "{ip}");
        }
        for ip in ["11.0.0.0", "192.168.1.8", "2001:db9::1", "::1", "127.0.0.3"] {
            assert!(!acl.contains(ip.parse().unwrap()), "{ip}");
        }
        assert!(!AclMatcher::default().contains("10.0.0.1".parse().unwrap()));
    }

    #[test]
    fn overlapping_and_adjacent_blocks_merge() {
        let acl = m(&[
            "10.0.0.0/25",
            "10.0.0.128/25",
            "10.0.0.0/24",
            "10.0.0.5/32",
            "0.0.0.0/0",
        ]);
        assert_eq!(acl.ranges(), 1);
        assert!(acl.contains("255.255.255.255".parse().unwrap()));
        let acl = m(&["10.0.0.1/8"]);
        assert!(
            acl.contains("10.200.0.0".parse().unwrap()),
            "host bits ignored"
        );
        let all6 = m(&["::/0"]);
        assert!(all6.contains("ffff::1".parse().unwrap()));
    }

    #[test]
    fn thousands_of_entries_agree_with_a_linear_scan() {
        let nets: Vec<IpNet> = (0..5000u32)
            .map(|i| {
                let base = i.wrapping_mul(2_654_435_761);
                IpNet::V4(ipnet::Ipv4Net::new(base.into(), 16 + (i % 17) as u8).unwrap())
            })
            .collect();
        let acl = AclMatcher::new(&nets);
        for i in 0..2_000u32 {
            let ip: IpAddr = std::net::Ipv4Addr::from(i.wrapping_mul(40_503).rotate_left(7)).into();
            let linear = nets.iter().any(|n| n.trunc().contains(&ip));
            assert_eq!(acl.contains(ip), linear, "{ip}");
        }
    }
}
