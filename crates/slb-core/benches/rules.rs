//! HTTP forwarding-rule match (`RuleTable::find`), run once per request.
//!
//! Rules are tried in order and the first match wins, so each case puts its matching rule
//! last behind non-matching fillers: the figures are the worst case for that rule count.

use std::hint::black_box;

mod common;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion};
use slb_core::RuleTable;

/// `n` rules that match none of the requests below: exact domains, wildcard domains and
/// URL-only rules in turn.
fn fillers(n: usize) -> Vec<(Option<String>, Option<String>)> {
    (0..n)
        .map(|i| match i % 3 {
            0 => (Some(format!("svc{i}.example.org")), None),
            1 => (Some(format!("*.zone{i}.example.org")), Some("/".into())),
            _ => (None, Some(format!("/v{i}/"))),
        })
        .collect()
}

/// Each case: its target rule, the request (host, path), and whether it should match.
type Case = (
    &'static str,
    Option<(&'static str, &'static str)>,
    (&'static str, &'static str),
);

const CASES: [Case; 4] = [
    (
        "exact",
        Some(("www.example.com", "")),
        ("www.example.com:8080", "/index.html"),
    ),
    (
        "wildcard",
        Some(("*.example.com", "")),
        ("img.Example.com", "/a.png"),
    ),
    (
        "url",
        Some(("", "/static/")),
        ("other.org", "/static/app.js"),
    ),
    ("miss", None, ("www.example.net", "/index.html")),
];

/// `find` with 1, 10 and 100 rules per case.
fn find(c: &mut Criterion) {
    let mut g = c.benchmark_group("rules_find");
    for (name, target, (host, path)) in CASES {
        for n in [1, 10, 100] {
            let mut rules = fillers(n - usize::from(target.is_some()));
            if let Some((d, u)) = target {
                rules.push((Some(d.into()), Some(u.into())));
            }
            let table = RuleTable::new(rules.iter().map(|(d, u)| (d.as_deref(), u.as_deref())));
            let want = target.map(|_| n - 1);
            assert_eq!(table.find(host, path), want, "{name} {n}");
            g.bench_function(BenchmarkId::new(name, n), |b| {
                b.iter(|| table.find(black_box(host), black_box(path)))
            });
        }
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = common::config();
    targets = find
}
criterion_main!(benches);
