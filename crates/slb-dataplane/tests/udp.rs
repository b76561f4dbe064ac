//! UDP listeners with real UDP backends on 127.0.0.1: sessions per client address, replies
//! from the listener's address, datagrams kept whole, schedulers, persistence, idle expiry,
//! the bounded session table, UDP health checks, PROXY protocol v2 and backend removal.

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::{apply_ok, udp_metric as metric, wait_until, STEP};
use slb_core::proxy_protocol::{decode, Header, Transport};
use slb_dataplane::{
    BackendSpec, DataPlane, HealthCheckKind, HealthCheckSpec, HealthStatus, ListenerKey,
    ListenerSpec, SchedulerKind, PROTOCOL_UDP,
};
use tokio::net::UdpSocket;

/// A UDP backend answering each datagram with `name|<length>|<PROXY source or ->`;
/// `silent` backends read and never answer.
struct UdpBackend {
    addr: SocketAddr,
    received: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl UdpBackend {
    async fn start(name: &str, silent: bool) -> Self {
        let s = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = s.local_addr().unwrap();
        let received = Arc::new(AtomicUsize::new(0));
        let (name, count) = (name.to_string(), received.clone());
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 70_000];
            loop {
                let Ok((n, from)) = s.recv_from(&mut buf).await else {
                    return;
                };
                count.fetch_add(1, Ordering::Relaxed);
                if silent {
                    continue;
                }
                let (src, len) = match decode(&buf[..n]) {
                    Ok(Some((
                        Header::Proxy {
                            source, transport, ..
                        },
                        used,
                    ))) => {
                        assert_eq!(transport, Transport::Datagram);
                        (source.to_string(), n - used)
                    }
                    _ => ("-".to_string(), n),
                };
                let reply = if &buf[..n] == b"health?" {
                    b"healthy!".to_vec()
                } else {
                    format!("{name}|{len}|{src}").into_bytes()
                };
                let _ = s.send_to(&reply, from).await;
            }
        });
        Self {
            addr,
            received,
            task,
        }
    }

    fn spec(&self, weight: u32) -> BackendSpec {
        BackendSpec {
            server_id: self.addr.to_string(),
            addr: self.addr,
            weight,
        }
    }
}

impl Drop for UdpBackend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn udp_spec(port: u16, backends: Vec<BackendSpec>, scheduler: SchedulerKind) -> ListenerSpec {
    let mut s = common::spec(port, backends, scheduler);
    s.key = ListenerKey {
        protocol: PROTOCOL_UDP.into(),
        ..s.key
    };
    s
}

async fn start(dp: &DataPlane, spec: ListenerSpec) -> SocketAddr {
    let key = spec.key.clone();
    apply_ok(dp, vec![spec]).await;
    dp.local_addr(&key).unwrap()
}

/// A client socket on `ip` that sends `payload` to `listener` and returns the reply text,
/// checking it came from the listener's address.
async fn client(ip: &str) -> UdpSocket {
    UdpSocket::bind(format!("{ip}:0")).await.unwrap()
}

async fn ask(c: &UdpSocket, listener: SocketAddr, payload: &[u8]) -> String {
    c.send_to(payload, listener).await.unwrap();
    let mut buf = vec![0u8; 2048];
    let (n, from) = tokio::time::timeout(STEP, c.recv_from(&mut buf))
        .await
        .expect("no reply")
        .unwrap();
    assert_eq!(from, listener, "replies come from the listener's address");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

fn name(reply: &str) -> &str {
    reply.split('|').next().unwrap()
}

#[tokio::test]
async fn sessions_keep_clients_on_a_backend_and_datagrams_whole() {
    let (a, b) = (
        UdpBackend::start("a", false).await,
        UdpBackend::start("b", false).await,
    );
    let dp = DataPlane::new();
    let l = start(
        &dp,
        udp_spec(1, vec![a.spec(100), b.spec(100)], SchedulerKind::Rr),
    )
    .await;
    // Many client ports: rr spreads sessions, each session stays on its backend.
    let mut per_backend = std::collections::HashMap::new();
    // Every client stays open: a closed one's port could come back as a "new" client
    // that still has a session.
    let mut clients = Vec::new();
    for _ in 0..10 {
        let c = client("127.0.0.1").await;
        let first = ask(&c, l, b"x").await;
        for _ in 0..3 {
            assert_eq!(name(&ask(&c, l, b"y").await), name(&first));
        }
        *per_backend.entry(name(&first).to_string()).or_insert(0) += 1;
        clients.push(c);
    }
    assert_eq!(per_backend["a"], 5);
    assert_eq!(per_backend["b"], 5);
    // One datagram in, one out, whatever the size: never merged or split.
    let c = client("127.0.0.1").await;
    for size in [1usize, 1400, 9000, 65_000] {
        let reply = ask(&c, l, &vec![7u8; size]).await;
        assert_eq!(reply.split('|').nth(1).unwrap(), size.to_string());
    }
    assert_eq!(metric(&dp, "slb_udp_sessions_active"), 11);
    assert_eq!(metric(&dp, "slb_udp_datagrams_in_total"), 44);
    assert_eq!(metric(&dp, "slb_udp_datagrams_out_total"), 44);
    dp.shutdown().await;
}

#[tokio::test]
async fn schedulers_and_persistence() {
    let (a, b) = (
        UdpBackend::start("a", false).await,
        UdpBackend::start("b", false).await,
    );
    let dp = DataPlane::new();
    let both = |w: [u32; 2]| vec![a.spec(w[0]), b.spec(w[1])];
    let mut persistent = udp_spec(5, both([100, 100]), SchedulerKind::Rr);
    persistent.persistence_timeout = Duration::from_secs(60);
    // One desired set holds every listener (each apply replaces the whole set).
    let specs = vec![
        udp_spec(1, both([75, 25]), SchedulerKind::Wrr),
        udp_spec(2, both([100, 100]), SchedulerKind::Wlc),
        udp_spec(3, both([100, 100]), SchedulerKind::Sch),
        udp_spec(4, both([100, 100]), SchedulerKind::Tch),
        persistent,
    ];
    let keys: Vec<_> = specs.iter().map(|s| s.key.clone()).collect();
    apply_ok(&dp, specs).await;
    let [wrr, wlc, sch, tch, pl] = [0, 1, 2, 3, 4].map(|i| dp.local_addr(&keys[i]).unwrap());
    // wrr 3:1 over 8 sessions.
    let mut count_a = 0;
    let mut open = Vec::new();
    for _ in 0..8 {
        let c = client("127.0.0.1").await;
        if name(&ask(&c, wrr, b"x").await) == "a" {
            count_a += 1;
        }
        open.push(c);
    }
    assert_eq!(count_a, 6);
    // wlc: sessions stay open, so each new one goes to the backend with fewer.
    let mut names = Vec::new();
    for _ in 0..6 {
        let c = client("127.0.0.1").await;
        names.push(name(&ask(&c, wlc, b"x").await).to_string());
        open.push(c);
    }
    assert_eq!(names.iter().filter(|n| *n == "a").count(), 3, "{names:?}");
    // sch: one source IP, many ports, one backend; tch: the ports spread.
    let mut sch_names = std::collections::HashSet::new();
    let mut tch_names = std::collections::HashSet::new();
    for _ in 0..16 {
        let (c1, c2) = (client("127.0.0.7").await, client("127.0.0.7").await);
        sch_names.insert(name(&ask(&c1, sch, b"x").await).to_string());
        tch_names.insert(name(&ask(&c2, tch, b"x").await).to_string());
        open.push(c1);
        open.push(c2);
    }
    assert_eq!(sch_names.len(), 1);
    assert_eq!(tch_names.len(), 2);
    // Persistence: a new port of the same IP returns to its backend under rr.
    let c = client("127.0.0.8").await;
    let first = name(&ask(&c, pl, b"x").await).to_string();
    open.push(c);
    for _ in 0..4 {
        let c = client("127.0.0.8").await;
        assert_eq!(name(&ask(&c, pl, b"x").await), first);
        open.push(c);
    }
    dp.shutdown().await;
}

#[tokio::test]
async fn idle_sessions_expire_and_a_full_table_evicts() {
    let (a, b) = (
        UdpBackend::start("a", false).await,
        UdpBackend::start("b", false).await,
    );
    let dp = DataPlane::new();
    let mut spec = udp_spec(1, vec![a.spec(100), b.spec(100)], SchedulerKind::Rr);
    spec.established_timeout = Duration::from_millis(300);
    spec.max_sessions = 4;
    let l = start(&dp, spec).await;
    let c = client("127.0.0.1").await;
    let first = name(&ask(&c, l, b"x").await).to_string();
    wait_until(Duration::from_secs(3), "session expiry", || {
        metric(&dp, "slb_udp_sessions_active") == 0
    })
    .await;
    // A new session for the same client: rr moves on to the other backend.
    assert_ne!(name(&ask(&c, l, b"x").await), first);

    let mut clients = Vec::new();
    for _ in 0..10 {
        let c = client("127.0.0.1").await;
        ask(&c, l, b"x").await;
        clients.push(c);
    }
    assert!(metric(&dp, "slb_udp_sessions_active") <= 4);
    assert_eq!(metric(&dp, "slb_udp_sessions_evicted_total"), 7);
    dp.shutdown().await;
}

#[tokio::test]
async fn udp_health_checks_follow_alibaba_semantics() {
    let answering = UdpBackend::start("ok", false).await;
    let silent = UdpBackend::start("silent", true).await;
    // A port with nothing behind it answers ICMP port unreachable.
    let closed = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let closed_spec = BackendSpec {
        server_id: "closed".into(),
        addr: closed,
        weight: 100,
    };
    let dp = DataPlane::new();
    let health = |expect: Option<&[u8]>| HealthCheckSpec {
        kind: HealthCheckKind::Udp {
            request: b"health?".to_vec(),
            expect: expect.map(<[u8]>::to_vec),
        },
        port: None,
        timeout: Duration::from_millis(200),
        interval: Duration::from_millis(50),
        healthy_threshold: 2,
        unhealthy_threshold: 2,
    };
    // With HealthCheckExp: the right answer is healthy, silence and unreachable are not.
    let mut with_exp = udp_spec(
        1,
        vec![answering.spec(100), silent.spec(100), closed_spec.clone()],
        SchedulerKind::Rr,
    );
    with_exp.health = Some(health(Some(b"healthy!")));
    // Without it: silence is healthy, unreachable is not.
    let mut without_exp = udp_spec(2, vec![silent.spec(100), closed_spec], SchedulerKind::Rr);
    without_exp.health = Some(health(None));
    let (k1, k2) = (with_exp.key.clone(), without_exp.key.clone());
    apply_ok(&dp, vec![with_exp, without_exp]).await;
    let status = |key: &ListenerKey, addr: SocketAddr| {
        dp.health()
            .into_iter()
            .find(|r| &r.key == key && r.addr == addr)
            .map(|r| r.status)
    };
    wait_until(Duration::from_secs(5), "UDP health verdicts", || {
        status(&k1, answering.addr) == Some(HealthStatus::Healthy)
            && status(&k1, silent.addr) == Some(HealthStatus::Unhealthy)
            && status(&k1, closed) == Some(HealthStatus::Unhealthy)
            && status(&k2, silent.addr) == Some(HealthStatus::Healthy)
            && status(&k2, closed) == Some(HealthStatus::Unhealthy)
    })
    .await;
    // Traffic avoids the unhealthy backends.
    let l = dp.local_addr(&k1).unwrap();
    for _ in 0..4 {
        assert_eq!(name(&ask(&client("127.0.0.1").await, l, b"x").await), "ok");
    }
    dp.shutdown().await;
}

#[tokio::test]
async fn proxy_protocol_header_on_every_datagram_for_ipv4_and_ipv6_clients() {
    let a = UdpBackend::start("a", false).await;
    let dp = DataPlane::new();
    let mut v4 = udp_spec(1, vec![a.spec(100)], SchedulerKind::Rr);
    v4.proxy_protocol = true;
    let mut v6 = udp_spec(2, vec![a.spec(100)], SchedulerKind::Rr);
    v6.proxy_protocol = true;
    v6.bind = "[::1]:0".parse().unwrap();
    let (k4, k6) = (v4.key.clone(), v6.key.clone());
    apply_ok(&dp, vec![v4, v6]).await;
    for (key, ip) in [(k4, "127.0.0.9"), (k6, "::1")] {
        let l = dp.local_addr(&key).unwrap();
        let c = if ip.contains(':') {
            UdpSocket::bind("[::1]:0").await.unwrap()
        } else {
            client(ip).await
        };
        let me = c.local_addr().unwrap();
        for size in [5usize, 1000] {
            let reply = ask(&c, l, &vec![1u8; size]).await;
            assert_eq!(reply, format!("a|{size}|{me}"));
        }
    }
    dp.shutdown().await;
}

#[tokio::test]
async fn removed_backend_ends_its_sessions_and_removed_listener_frees_its_port() {
    let (a, b) = (
        UdpBackend::start("a", false).await,
        UdpBackend::start("b", false).await,
    );
    let dp = DataPlane::new();
    let spec = udp_spec(1, vec![a.spec(100)], SchedulerKind::Rr);
    let l = start(&dp, spec.clone()).await;
    let c = client("127.0.0.1").await;
    assert_eq!(name(&ask(&c, l, b"x").await), "a");
    // a removed (drain off): its session ends, the client's next datagram goes to b.
    let mut to_b = spec.clone();
    to_b.backends = vec![b.spec(100)];
    to_b.bind = l;
    start(&dp, to_b).await;
    assert_eq!(name(&ask(&c, l, b"x").await), "b");
    assert_eq!(a.received.load(Ordering::Relaxed), 1);
    // Listener removed: its address can be bound again at once.
    dp.apply(Vec::new()).await;
    wait_until(Duration::from_secs(2), "port released", || {
        std::net::UdpSocket::bind(l).is_ok()
    })
    .await;
}
