//! Maglev (`sch`/`tch`) table build and per-connection slot lookup.
//!
//! The build runs on every backend-list or weight change of a consistent-hash listener; the
//! lookup runs on every new connection (TCP) or session (UDP).

use std::hint::black_box;
use std::net::SocketAddr;

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use slb_core::sched::{HashKey, Maglev};
use slb_core::BackendWeight;

/// `n` backends with weights 1..=10 so the weighted rounds of the build are exercised.
fn backends(n: usize) -> Vec<BackendWeight> {
    (0..n)
        .map(|i| {
            BackendWeight::new(
                format!("10.{}.{}.1:80", i / 256, i % 256),
                1 + i as u32 % 10,
            )
        })
        .collect()
}

/// Table build time against backend count (the table size is fixed, 65,537 slots).
fn build(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_build");
    // One build is around a millisecond: fewer samples keep the run short.
    g.sample_size(20);
    for n in [10, 100, 1000] {
        let bs = backends(n);
        g.bench_with_input(BenchmarkId::from_parameter(n), &bs, |b, bs| {
            b.iter(|| Maglev::new(black_box(bs), HashKey::ClientIp))
        });
    }
    g.finish();
}

/// Slot lookup per connection for both hash keys; the client port changes every call.
fn slot(c: &mut Criterion) {
    let mut g = c.benchmark_group("maglev_slot");
    let local: SocketAddr = "198.51.100.1:80".parse().unwrap();
    for (name, key) in [("sch", HashKey::ClientIp), ("tch", HashKey::FourTuple)] {
        for (family, client) in [("v4", "192.0.2.1:40000"), ("v6", "[2001:db8::1]:40000")] {
            let m = Maglev::new(&backends(100), key);
            let mut client: SocketAddr = client.parse().unwrap();
            g.bench_function(format!("{name}/{family}"), |b| {
                b.iter(|| {
                    client.set_port(client.port().wrapping_add(1));
                    m.slot(black_box(client), black_box(local))
                })
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = build, slot
}
criterion_main!(benches);
