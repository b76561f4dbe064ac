//! Each scheduler's defining behaviour, weights and persistence, through real connections.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::kit::*;

const PORT: u16 = 7000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrr_split_follows_weights() {
    let d = Daemon::start("127.61.1.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(&lb, PORT, &[(&a, 75), (&b, 25)], &[("Scheduler", "wrr")])
        .await;
    let t = tally(SocketAddr::new(ip, PORT), 400).await;
    let got_a = t.get("a").copied().unwrap_or(0) as f64;
    let got_b = t.get("b").copied().unwrap_or(0) as f64;
    assert_eq!(got_a + got_b, 400.0, "every connection served: {t:?}");
    assert!((got_a / 400.0 - 0.75).abs() < 0.03, "split {t:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rr_alternates_and_weight_zero_takes_nothing() {
    let d = Daemon::start("127.61.2.0/24").await;
    let (a, b, z) = (
        Backend::start("a").await,
        Backend::start("b").await,
        Backend::start("zero").await,
    );
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(
        &lb,
        PORT,
        &[(&a, 100), (&b, 10), (&z, 0)],
        &[("Scheduler", "rr")],
    )
    .await;
    let addr = SocketAddr::new(ip, PORT);
    let mut names = Vec::new();
    for _ in 0..20 {
        names.push(hello(addr).await.expect("served"));
    }
    assert!(!names.contains(&"zero".to_string()), "{names:?}");
    for pair in names.windows(2) {
        assert_ne!(pair[0], pair[1], "rr alternates: {names:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wlc_sends_new_connections_to_the_least_loaded() {
    let d = Daemon::start("127.61.3.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(&lb, PORT, &[(&a, 100), (&b, 100)], &[("Scheduler", "wlc")])
        .await;
    let addr = SocketAddr::new(ip, PORT);
    // Hold one connection open on one backend...
    let (busy, _held) = hello_from(addr, None).await.expect("served");
    // ...then short connections all go to the other, idle one (rr would alternate).
    let mut idle_hits = 0;
    for _ in 0..10 {
        let name = hello(addr).await.expect("served");
        if name != busy {
            idle_hits += 1;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        idle_hits >= 9,
        "wlc chose the idle backend {idle_hits}/10 times"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sch_pins_a_source_ip_and_tch_spreads_its_ports() {
    let d = Daemon::start("127.61.4.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(&lb, PORT, &[(&a, 100), (&b, 100)], &[("Scheduler", "sch")])
        .await;
    d.tcp_listener(
        &lb,
        PORT + 1,
        &[(&a, 100), (&b, 100)],
        &[("Scheduler", "tch")],
    )
    .await;
    let sch = SocketAddr::new(ip, PORT);
    let tch = SocketAddr::new(ip, PORT + 1);
    let mut across_sources = BTreeSet::new();
    for i in 2..22u8 {
        let src: IpAddr = [127, 0, 0, i].into();
        let mut seen = BTreeSet::new();
        for _ in 0..5 {
            seen.insert(hello_from(sch, Some(src)).await.expect("served").0);
        }
        assert_eq!(
            seen.len(),
            1,
            "sch keeps source {src} on one backend: {seen:?}"
        );
        across_sources.extend(seen);
    }
    assert_eq!(across_sources.len(), 2, "sch spreads different sources");
    let mut seen = BTreeSet::new();
    for _ in 0..40 {
        seen.insert(
            hello_from(tch, Some([127, 0, 0, 2].into()))
                .await
                .expect("served")
                .0,
        );
    }
    assert_eq!(seen.len(), 2, "tch hashes the source port too: {seen:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistence_keeps_a_client_on_its_backend() {
    let d = Daemon::start("127.61.5.0/24").await;
    let (a, b) = (Backend::start("a").await, Backend::start("b").await);
    let (lb, ip) = d.create_lb().await;
    d.tcp_listener(
        &lb,
        PORT,
        &[(&a, 100), (&b, 100)],
        &[("Scheduler", "wrr"), ("PersistenceTimeout", "60")],
    )
    .await;
    let addr = SocketAddr::new(ip, PORT);
    for i in 2..6u8 {
        let src: IpAddr = [127, 0, 0, i].into();
        let mut seen = BTreeSet::new();
        for _ in 0..8 {
            seen.insert(hello_from(addr, Some(src)).await.expect("served").0);
        }
        assert_eq!(seen.len(), 1, "persistent for {src}: {seen:?}");
    }
}
