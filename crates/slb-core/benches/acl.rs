//! ACL compile and match: `AclMatcher::new` per list change, `contains` per accepted
//! connection (before TLS), so the match must stay cheap for lists of thousands of blocks.

use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use slb_core::AclMatcher;

/// `n` disjoint IPv4 /24 blocks with a /24 gap after each, so none merge.
fn v4_blocks(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let base = u32::from(Ipv4Addr::new(10, 0, 0, 0)) + i * 512;
            IpNet::V4(Ipv4Net::new(Ipv4Addr::from(base), 24).unwrap())
        })
        .collect()
}

/// `n` disjoint IPv6 /48 blocks with a /48 gap after each.
fn v6_blocks(n: u32) -> Vec<IpNet> {
    (0..n)
        .map(|i| {
            let base = u128::from(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 0))
                + ((u128::from(i) * 2) << 80);
            IpNet::V6(Ipv6Net::new(Ipv6Addr::from(base), 48).unwrap())
        })
        .collect()
}

/// An address inside the middle block (`hit`) and one in the gap after it (`miss`).
fn probes(blocks: &[IpNet]) -> [(&'static str, IpAddr); 2] {
    let mid = blocks[blocks.len() / 2];
    let hit = match mid {
        IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.network()) + 7)),
        IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.network()) + 7)),
    };
    let miss = match mid {
        IpNet::V4(n) => IpAddr::V4(Ipv4Addr::from(u32::from(n.broadcast()) + 7)),
        IpNet::V6(n) => IpAddr::V6(Ipv6Addr::from(u128::from(n.broadcast()) + 7)),
    };
    [("hit", hit), ("miss", miss)]
}

const SIZES: [u32; 3] = [10, 300, 5_000];

/// `contains` per connection, IPv4 and IPv6, hit and miss.
fn contains(c: &mut Criterion) {
    for (family, make) in [
        ("v4", v4_blocks as fn(u32) -> Vec<IpNet>),
        ("v6", v6_blocks),
    ] {
        let mut g = c.benchmark_group(format!("acl_contains_{family}"));
        for n in SIZES {
            let blocks = make(n);
            let acl = AclMatcher::new(&blocks);
            for (outcome, ip) in probes(&blocks) {
                assert_eq!(acl.contains(ip), outcome == "hit", "{family} {n} {ip}");
                g.bench_function(BenchmarkId::new(outcome, n), |b| {
                    b.iter(|| acl.contains(black_box(ip)))
                });
            }
        }
        g.finish();
    }
}

/// `new` per list change: sort and merge of the blocks, IPv4 and IPv6 half each.
fn compile(c: &mut Criterion) {
    let mut g = c.benchmark_group("acl_new");
    for n in SIZES {
        let mut blocks = v4_blocks(n / 2);
        blocks.extend(v6_blocks(n - n / 2));
        // Reverse so the sort has work to do.
        blocks.reverse();
        g.bench_with_input(BenchmarkId::from_parameter(n), &blocks, |b, blocks| {
            b.iter(|| AclMatcher::new(black_box(blocks)))
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = contains, compile
}
criterion_main!(benches);
