//! How long after an API answer the data plane serves the change.
//!
//! `slb serve` answers a write only once the data plane has applied it, so the expected
//! delay is one proxied request. What this measures is whether that promise holds from a
//! client's point of view: after each answer, fresh connections poll the listener until the
//! new backend answers, and every answer still coming from the old one is counted as stale.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use serde_json::json;
use slb_api::client::Client;

use crate::http1::{get_once, Backend};
use crate::stats::Samples;

/// How long one change may take to show before it counts as failed.
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(5);
/// Upper bound on polls per change, beside [`CHANGE_TIMEOUT`].
const MAX_POLLS: usize = 100_000;
/// Timeout of one poll request.
const POLL_TIMEOUT: Duration = Duration::from_secs(1);

/// What one case of changes measured.
#[derive(Debug, Default)]
pub struct ChangeResult {
    /// Changes attempted.
    pub attempted: usize,
    /// API errors plus changes not observed within [`CHANGE_TIMEOUT`].
    pub failed: usize,
    /// Polls after an answer that were still served the old configuration.
    pub stale: usize,
    /// Polls that got no usable answer (refused, reset, timeout, non-200).
    pub poll_errors: usize,
    /// The first few failure descriptions, for the report.
    pub failures: Vec<String>,
    /// From sending the call(s) to receiving the answer.
    pub call: Samples,
    /// From receiving the answer to the first response served by the new configuration.
    pub served: Samples,
    /// One proxied request with no change in flight, to read `served` against.
    pub baseline: Samples,
}

impl ChangeResult {
    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(why);
        }
    }
}

/// The JSON member list of a VServer group holding only `backend` (type `ip`).
pub fn member(backend: &Backend) -> String {
    json!([{
        "ServerId": backend.addr.ip().to_string(),
        "Type": "ip",
        "Port": backend.addr.port(),
        "Weight": 100,
    }])
    .to_string()
}

/// Polls `listener` with fresh connections until a body equal to `want` arrives (Ok with
/// the elapsed time since `since`), or the deadline passes (Err).
async fn poll_until(
    listener: SocketAddr,
    want: &[u8],
    since: Instant,
    result: &mut ChangeResult,
) -> Result<Duration, String> {
    let deadline = since + CHANGE_TIMEOUT;
    let mut last_error = String::from("no poll finished");
    for _ in 0..MAX_POLLS {
        if Instant::now() > deadline {
            break;
        }
        match get_once(listener, "/", POLL_TIMEOUT).await {
            Ok(r) if r.status == 200 && r.body == want => return Ok(since.elapsed()),
            Ok(r) if r.status == 200 => result.stale += 1,
            Ok(r) => {
                result.poll_errors += 1;
                last_error = format!("status {}", r.status);
            }
            Err(e) => {
                result.poll_errors += 1;
                last_error = e.to_string();
            }
        }
    }
    Err(format!(
        "not served within {CHANGE_TIMEOUT:?} (last poll error: {last_error})"
    ))
}

/// Switches the only member of `group` between `a` and `b`, `n` times, with
/// ModifyVServerGroupBackendServers (the one-call replacement of a member), polling
/// `listener` after each answer.
pub async fn switch_backends(
    client: &Client,
    group: &str,
    listener: SocketAddr,
    (a, b): (&Backend, &Backend),
    n: usize,
) -> Result<ChangeResult> {
    let mut result = ChangeResult::default();
    // The group starts on `a`; make sure the listener serves it before measuring.
    poll_until(listener, &a.body, Instant::now(), &mut result)
        .await
        .map_err(anyhow::Error::msg)
        .context("the listener never served its first backend")?;
    result.stale = 0;
    result.poll_errors = 0;
    for _ in 0..n {
        let sent = Instant::now();
        match get_once(listener, "/", POLL_TIMEOUT).await {
            Ok(r) if r.status == 200 && r.body == a.body => result.baseline.push(sent.elapsed()),
            Ok(r) => anyhow::bail!("baseline request answered {} {:?}", r.status, r.body),
            Err(e) => anyhow::bail!("baseline request failed: {e}"),
        }
    }
    let (mut current, mut next) = (a, b);
    for _ in 0..n {
        result.attempted += 1;
        let (old, new) = (member(current), member(next));
        let sent = Instant::now();
        let answer = client
            .call(
                "ModifyVServerGroupBackendServers",
                &[
                    ("VServerGroupId", group),
                    ("OldBackendServers", &old),
                    ("NewBackendServers", &new),
                ],
            )
            .await;
        let answered = Instant::now();
        if let Err(e) = answer {
            result.fail(format!("ModifyVServerGroupBackendServers: {e}"));
            continue;
        }
        result.call.push(answered - sent);
        match poll_until(listener, &next.body, answered, &mut result).await {
            Ok(d) => result.served.push(d),
            Err(why) => result.fail(why),
        }
        std::mem::swap(&mut current, &mut next);
    }
    Ok(result)
}

/// Creates and starts `n` TCP listeners (ports `first_port..`) on `lb` forwarding to
/// `group` (whose only member is `backend`), timing Create+Start, then polls each new
/// listener until `backend` answers through it.
pub async fn new_listeners(
    client: &Client,
    lb: &str,
    address: std::net::IpAddr,
    group: &str,
    first_port: u16,
    backend: &Backend,
    n: usize,
) -> Result<ChangeResult> {
    let mut result = ChangeResult::default();
    for i in 0..n {
        result.attempted += 1;
        let port = first_port
            .checked_add(u16::try_from(i)?)
            .context("listener port beyond 65535: use fewer changes")?;
        let port_s = port.to_string();
        let sent = Instant::now();
        let created = client
            .call(
                "CreateLoadBalancerTCPListener",
                &[
                    ("LoadBalancerId", lb),
                    ("ListenerPort", &port_s),
                    ("VServerGroupId", group),
                    ("Bandwidth", "-1"),
                    ("HealthCheckSwitch", "off"),
                ],
            )
            .await;
        if let Err(e) = created {
            result.fail(format!("CreateLoadBalancerTCPListener {port}: {e}"));
            continue;
        }
        let started = client
            .call(
                "StartLoadBalancerListener",
                &[("LoadBalancerId", lb), ("ListenerPort", &port_s)],
            )
            .await;
        let answered = Instant::now();
        if let Err(e) = started {
            result.fail(format!("StartLoadBalancerListener {port}: {e}"));
            continue;
        }
        result.call.push(answered - sent);
        let listener = SocketAddr::new(address, port);
        match poll_until(listener, &backend.body, answered, &mut result).await {
            Ok(d) => result.served.push(d),
            Err(why) => result.fail(why),
        }
    }
    Ok(result)
}
