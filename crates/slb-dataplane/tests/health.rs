//! Health probes through a real listener: a killed backend leaves and returns, all
//! unhealthy still forwards, HTTP probes check the status code.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::*;
use slb_dataplane::{
    DataPlane, HealthCheckKind, HealthCheckSpec, HealthStatus, HttpMethod, SchedulerKind,
    FORWARD_WHEN_ALL_UNHEALTHY,
};

const INTERVAL: Duration = Duration::from_millis(200);
const THRESHOLD: u32 = 2;

fn tcp_check() -> HealthCheckSpec {
    HealthCheckSpec {
        kind: HealthCheckKind::Tcp,
        port: None,
        timeout: Duration::from_millis(200),
        interval: INTERVAL,
        healthy_threshold: THRESHOLD,
        unhealthy_threshold: THRESHOLD,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_backend_leaves_and_returns() {
    let mut a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(90, vec![a.spec(1), b.spec(1)], SchedulerKind::Rr);
    s.health = Some(tcp_check());
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    let limit = INTERVAL * (THRESHOLD + 1) + Duration::from_millis(500);
    wait_until(limit, "both healthy", || {
        status_of(&dp, a.addr) == Some(HealthStatus::Healthy)
            && status_of(&dp, b.addr) == Some(HealthStatus::Healthy)
    })
    .await;

    a.kill().await;
    let took = wait_until(Duration::from_secs(3), "a unhealthy", || {
        status_of(&dp, a.addr) == Some(HealthStatus::Unhealthy)
    })
    .await;
    // interval × threshold + interval, plus scheduling slack.
    assert!(took <= limit, "took {took:?}");
    for _ in 0..10 {
        assert_eq!(ask(addr).await, "b");
    }
    let mut out = String::new();
    dp.render_metrics(&mut out);
    assert!(
        out.contains(&format!("backend=\"{}\"}} 0", a.addr)),
        "metrics show a unhealthy:\n{out}"
    );

    a.restart().await;
    wait_until(Duration::from_secs(3), "a healthy again", || {
        status_of(&dp, a.addr) == Some(HealthStatus::Healthy)
    })
    .await;
    let names: HashSet<String> = {
        let mut v = HashSet::new();
        for _ in 0..6 {
            v.insert(ask(addr).await);
        }
        v
    };
    assert!(names.contains("a") && names.contains("b"), "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_unhealthy_still_forwards() {
    const { assert!(FORWARD_WHEN_ALL_UNHEALTHY) };
    let a = EchoBackend::start("a").await;
    let b = EchoBackend::start("b").await;
    let dp = DataPlane::new();
    let mut s = spec(91, vec![a.spec(1), b.spec(1)], SchedulerKind::Rr);
    // Probe a port where nothing listens: every probe fails, the backends are fine.
    let mut check = tcp_check();
    check.port = Some(dead_addr().port());
    s.health = Some(check);
    apply_ok(&dp, vec![s.clone()]).await;
    let addr = dp.local_addr(&s.key).unwrap();
    wait_until(Duration::from_secs(3), "all unhealthy", || {
        dp.health()
            .iter()
            .all(|r| r.status == HealthStatus::Unhealthy)
    })
    .await;
    let mut names = HashSet::new();
    for _ in 0..6 {
        names.insert(ask(addr).await);
    }
    assert_eq!(names.len(), 2, "{names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_checks_status_code_and_health_survives_swap() {
    let a = EchoBackend::start("a").await;
    let (http, _task) = http_backend().await;
    let dp = DataPlane::new();
    let mut s = spec(92, vec![a.spec(1)], SchedulerKind::Wrr);
    let check = |uri: &str| HealthCheckSpec {
        kind: HealthCheckKind::Http {
            uri: uri.into(),
            domain: Some("example.test".into()),
            method: HttpMethod::Get,
            codes: "http_2xx".parse().unwrap(),
        },
        port: Some(http.port()),
        timeout: Duration::from_millis(300),
        interval: INTERVAL,
        healthy_threshold: 1,
        unhealthy_threshold: 1,
    };
    s.health = Some(check("/ok"));
    apply_ok(&dp, vec![s.clone()]).await;
    wait_until(Duration::from_secs(3), "healthy by http", || {
        status_of(&dp, a.addr) == Some(HealthStatus::Healthy)
    })
    .await;

    // A swap that keeps the backend keeps its status: no back-to-unknown.
    let b = EchoBackend::start("b").await;
    s.backends.push(b.spec(1));
    apply_ok(&dp, vec![s.clone()]).await;
    assert_eq!(status_of(&dp, a.addr), Some(HealthStatus::Healthy));

    s.health = Some(check("/missing"));
    apply_ok(&dp, vec![s.clone()]).await;
    wait_until(Duration::from_secs(3), "unhealthy by 404", || {
        status_of(&dp, a.addr) == Some(HealthStatus::Unhealthy)
    })
    .await;

    // Health check off: every backend reported unknown and eligible.
    s.health = None;
    apply_ok(&dp, vec![s]).await;
    assert!(dp
        .health()
        .iter()
        .all(|r| r.status == HealthStatus::Unknown));
}
