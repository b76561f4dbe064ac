use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use super::super::test_util::{all, backends};
use super::*;

const LOCAL: &str = "198.51.100.1:80";

fn pick_for(m: &Maglev, client: SocketAddr, eligible: &dyn Fn(usize) -> bool) -> Option<usize> {
    let ctx = PickContext {
        client,
        local: LOCAL.parse().unwrap(),
        active: &[],
    };
    m.pick(&ctx, eligible)
}

/// 100k distinct client addresses, same port.
fn clients() -> impl Iterator<Item = SocketAddr> {
    (0..100_000u32).map(|i| SocketAddr::new(IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i)), 5000))
}

#[test]
fn same_key_same_backend_across_builds() {
    let a = Maglev::new(&backends(&[1; 10]), HashKey::ClientIp);
    let b = Maglev::new(&backends(&[1; 10]), HashKey::ClientIp);
    assert_eq!(a.table, b.table);
    for c in clients().take(1000) {
        let first = pick_for(&a, c, &all);
        assert_eq!(first, pick_for(&a, c, &all));
        assert_eq!(first, pick_for(&b, c, &all));
    }
}

#[test]
fn hash_is_fixed_across_releases() {
    // Golden values: changing the hash or fill order reshuffles every client on upgrade and
    // splits a mixed-version cluster. Update only deliberately.
    // Published FNV-1a 64 test vectors.
    assert_eq!(fnv1a(FNV_OFFSET, b""), 0xcbf2_9ce4_8422_2325);
    assert_eq!(fnv1a(FNV_OFFSET, b"a"), 0xaf63_dc4c_8601_ec8c);
    assert_eq!(fnv1a(FNV_OFFSET, b"foobar"), 0x8594_4171_f739_67e8);
    let m = Maglev::new(&backends(&[1, 1, 1]), HashKey::ClientIp);
    assert_eq!(hash(0, b"10.0.0.1:80"), 0x183d_5a7e_9206_2462);
    assert_eq!(&m.table[..12], &[1, 2, 0, 1, 2, 0, 0, 0, 1, 0, 1, 2]);
    let slot = m.slot("192.0.2.1:1".parse().unwrap(), LOCAL.parse().unwrap());
    assert_eq!(slot, 43_665);
}

#[test]
fn sch_ignores_ports_tch_does_not() {
    let bs = backends(&[1; 10]);
    let sch = Maglev::new(&bs, HashKey::ClientIp);
    let tch = Maglev::new(&bs, HashKey::FourTuple);
    let ip: IpAddr = "203.0.113.9".parse().unwrap();
    let sch_picks: std::collections::HashSet<_> = (1000..1100u16)
        .map(|p| pick_for(&sch, SocketAddr::new(ip, p), &all))
        .collect();
    assert_eq!(sch_picks.len(), 1);
    let tch_picks: std::collections::HashSet<_> = (1000..1100u16)
        .map(|p| pick_for(&tch, SocketAddr::new(ip, p), &all))
        .collect();
    assert!(tch_picks.len() >= 8, "tch spread only over {tch_picks:?}");
}

#[test]
fn ipv4_mapped_client_hashes_like_ipv4() {
    let m = Maglev::new(&backends(&[1; 10]), HashKey::ClientIp);
    let v4 = Ipv4Addr::new(203, 0, 113, 7);
    let a = m.slot(SocketAddr::new(v4.into(), 1), LOCAL.parse().unwrap());
    let b = m.slot(
        SocketAddr::new(v4.to_ipv6_mapped().into(), 1),
        LOCAL.parse().unwrap(),
    );
    assert_eq!(a, b);
}

#[test]
fn ineligible_backend_moves_only_its_own_keys() {
    let m = Maglev::new(&backends(&[1; 10]), HashKey::ClientIp);
    let mut moved_foreign = 0;
    let mut on_removed = 0;
    for c in clients() {
        let before = pick_for(&m, c, &all).unwrap();
        let after = pick_for(&m, c, &|i| i != 3).unwrap();
        assert_ne!(after, 3);
        if before == 3 {
            on_removed += 1;
        } else if before != after {
            moved_foreign += 1;
        }
    }
    assert_eq!(moved_foreign, 0);
    assert!((8_000..12_000).contains(&on_removed), "{on_removed}");
}

#[test]
fn removing_one_of_ten_remaps_about_a_tenth() {
    let n = 10;
    let full = backends(&[1; 10]);
    let before = Maglev::new(&full, HashKey::ClientIp);
    // Remove backend 3 by rebuilding without it; map new indices back to keys.
    let mut rest = full.clone();
    rest.remove(3);
    let after = Maglev::new(&rest, HashKey::ClientIp);
    let (mut moved, mut foreign_moved) = (0usize, 0usize);
    for c in clients() {
        let b = &full[pick_for(&before, c, &all).unwrap()].key;
        let a = &rest[pick_for(&after, c, &all).unwrap()].key;
        if a != b {
            moved += 1;
            if *b != full[3].key {
                foreign_moved += 1;
            }
        }
    }
    let total = 100_000.0;
    assert!((moved as f64) < total * 1.5 / n as f64, "moved {moved}");
    assert!((moved as f64) < total * 2.0 / n as f64);
    // Maglev permits a little disruption beyond the removed backend's keys.
    assert!(
        (foreign_moved as f64) < total * 0.5 / n as f64,
        "foreign {foreign_moved}"
    );
}

#[test]
fn slots_proportional_to_weight() {
    let weights = [10, 20, 30, 40, 100];
    let m = Maglev::new(&backends(&weights), HashKey::ClientIp);
    let counts = m.slot_counts(weights.len());
    assert_eq!(counts.iter().sum::<usize>(), MAGLEV_TABLE_SIZE);
    let total_w: u32 = weights.iter().sum();
    for (i, &w) in weights.iter().enumerate() {
        let expect = MAGLEV_TABLE_SIZE as f64 * f64::from(w) / f64::from(total_w);
        let err = (counts[i] as f64 - expect).abs() / expect;
        assert!(
            err < 0.02,
            "backend {i}: {} slots, expected {expect:.0}",
            counts[i]
        );
    }
    // Traffic follows the table.
    let mut hits = vec![0usize; weights.len()];
    for c in clients() {
        hits[pick_for(&m, c, &all).unwrap()] += 1;
    }
    let ratio = hits[4] as f64 / hits[0] as f64;
    assert!((8.5..11.5).contains(&ratio), "{hits:?}");
}

#[test]
fn weight_zero_backend_owns_no_slots() {
    let m = Maglev::new(&backends(&[1, 0, 1]), HashKey::FourTuple);
    let counts = m.slot_counts(3);
    assert_eq!(counts[1], 0);
    assert_eq!(counts[0] + counts[2], MAGLEV_TABLE_SIZE);
}

#[test]
fn single_backend_and_empty() {
    let m = Maglev::new(&backends(&[5]), HashKey::ClientIp);
    assert_eq!(m.slot_counts(1), vec![MAGLEV_TABLE_SIZE]);
    assert_eq!(
        pick_for(&m, "192.0.2.1:1".parse().unwrap(), &|_| false),
        None
    );
    let m = Maglev::new(&[], HashKey::ClientIp);
    assert_eq!(pick_for(&m, "192.0.2.1:1".parse().unwrap(), &all), None);
}
