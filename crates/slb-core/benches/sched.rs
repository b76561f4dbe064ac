//! `Scheduler::pick` of every scheduler kind, as built by `slb_core::build`.
//!
//! `pick` runs once per new connection (TCP), session (UDP) or request (HTTP), so its cost
//! against the backend count decides how large a server group stays cheap.

use std::hint::black_box;
use std::net::SocketAddr;

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use slb_core::{build, BackendWeight, PickContext, SchedulerKind};

/// `n` backends with weights 1..=10.
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

/// One pick per iteration, every backend eligible, uneven active counts (for `wlc`), the
/// client port changing every call (for `sch`/`tch`).
fn pick(c: &mut Criterion) {
    let local: SocketAddr = "198.51.100.1:80".parse().unwrap();
    for kind in SchedulerKind::ALL {
        let mut g = c.benchmark_group(format!("pick_{kind}"));
        for n in [2, 16, 256] {
            let s = build(kind, &backends(n));
            let active: Vec<u32> = (0..n as u32).map(|i| i * 7 % 13).collect();
            let mut ctx = PickContext {
                client: "192.0.2.1:40000".parse().unwrap(),
                local,
                active: &active,
            };
            let eligible = |i: usize| black_box(i) < n;
            g.bench_function(BenchmarkId::from_parameter(n), |b| {
                b.iter(|| {
                    ctx.client.set_port(ctx.client.port().wrapping_add(1));
                    s.pick(black_box(&ctx), &eligible)
                })
            });
        }
        g.finish();
    }
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = pick
}
criterion_main!(benches);
