//! `slb-bench control-plane`: how fast a real `slb serve` turns API calls into served
//! traffic, and how many API calls it answers per second.

mod changes;
mod throughput;

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use clap::Args;
use slb_api::client::Client;

use crate::daemon::{Daemon, DaemonOptions};
use crate::http1::Backend;
use changes::{member, ChangeResult, CHANGE_TIMEOUT};
use throughput::Throughput;

/// Listener ports on the measured instance. The instance has an address of its own from
/// the pool, so these cannot collide with anything else on the machine.
const HTTP_PORT: u16 = 8080;
const TCP_PORT: u16 = 8081;
/// New listeners of the "new listener" case take ports from here upwards.
const NEW_LISTENER_PORT: u16 = 10_000;
/// At most this many changes per case (the new listeners need one port each).
const MAX_CHANGES: usize = 50_000;

/// Options of `slb-bench control-plane`.
#[derive(Args, Debug, Clone)]
pub struct ControlPlaneArgs {
    /// The `slb` binary to start and measure (e.g. target/release/slb).
    #[arg(long)]
    pub slb_bin: PathBuf,
    /// Configuration changes measured per case (backend switches, new listeners).
    #[arg(long, default_value_t = 100)]
    pub changes: usize,
    /// Instances created before DescribeLoadBalancers is measured.
    #[arg(long, default_value_t = 1000)]
    pub instances: usize,
    /// Seconds each DescribeLoadBalancers variant is called for.
    #[arg(long, default_value_t = 10)]
    pub duration: u64,
    /// Concurrent API clients for instance creation and DescribeLoadBalancers.
    #[arg(long, default_value_t = 8)]
    pub concurrency: usize,
    /// Also write the markdown report to this file.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// The node's `--address-pool`; needs one host per instance plus one. Distinct from
    /// `slb serve`'s default so a run never collides with a node started by hand.
    #[arg(long, default_value = "127.77.0.0/16")]
    pub address_pool: String,
    /// Directory for the node's scratch data directory (default: the system temp dir).
    #[arg(long)]
    pub work_dir: Option<PathBuf>,
}

/// Everything one run measured, in report order.
struct Report {
    args: ControlPlaneArgs,
    http: ChangeResult,
    tcp: ChangeResult,
    new_listener: ChangeResult,
    create: Throughput,
    describe: Vec<(&'static str, Throughput)>,
    node_exit: String,
}

/// Runs the whole measurement against a fresh node, prints the report and writes it to
/// `--out`. The node is stopped by its PID at the end, on error and on SIGINT/SIGTERM.
pub async fn run(args: ControlPlaneArgs) -> Result<()> {
    if args.changes == 0 || args.changes > MAX_CHANGES {
        bail!("--changes must be 1..={MAX_CHANGES}");
    }
    if !args.slb_bin.is_file() {
        bail!(
            "--slb-bin {} is not a file (build it with cargo build --release -p slb)",
            args.slb_bin.display()
        );
    }
    let daemon = Daemon::start(&DaemonOptions {
        bin: args.slb_bin.clone(),
        address_pool: args.address_pool.clone(),
        work_dir: args.work_dir.clone(),
    })
    .await?;
    let outcome = tokio::select! {
        r = measure(&daemon.client, &args) => r,
        s = crate::signal::interrupted() => Err(anyhow!("interrupted by {s}")),
    };
    let outcome =
        outcome.map_err(|e| anyhow!("{e:#}\nslb serve's last log lines:\n{}", daemon.log_tail()));
    let stopped = daemon.stop().await;
    let mut report = outcome?;
    report.node_exit = match &stopped {
        Ok(status) => status.to_string(),
        Err(e) => e.to_string(),
    };
    let text = report.render();
    print!("{text}");
    if let Some(out) = &args.out {
        std::fs::write(out, &text).with_context(|| format!("writing {}", out.display()))?;
    }
    stopped?;
    Ok(())
}

async fn call(client: &Client, action: &str, params: &[(&str, &str)]) -> Result<serde_json::Value> {
    client
        .call(action, params)
        .await
        .map_err(|e| anyhow!("{action}: {e}"))
}

async fn vserver_group(client: &Client, lb: &str, backend: &Backend) -> Result<String> {
    let v = call(
        client,
        "CreateVServerGroup",
        &[("LoadBalancerId", lb), ("BackendServers", &member(backend))],
    )
    .await?;
    v["VServerGroupId"]
        .as_str()
        .map(str::to_string)
        .context("CreateVServerGroup answered without VServerGroupId")
}

async fn measure(client: &Client, args: &ControlPlaneArgs) -> Result<Report> {
    let a = Backend::start(b"backend-a").await?;
    let b = Backend::start(b"backend-b").await?;
    let lb = call(
        client,
        "CreateLoadBalancer",
        &[("LoadBalancerName", "bench-target")],
    )
    .await?;
    let lb_id = lb["LoadBalancerId"]
        .as_str()
        .context("no LoadBalancerId")?
        .to_string();
    let address: IpAddr = lb["Address"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .context("no Address")?;
    let (http_group, tcp_group, new_group) = (
        vserver_group(client, &lb_id, &a).await?,
        vserver_group(client, &lb_id, &a).await?,
        vserver_group(client, &lb_id, &a).await?,
    );
    let (http_port, tcp_port) = (HTTP_PORT.to_string(), TCP_PORT.to_string());
    call(
        client,
        "CreateLoadBalancerHTTPListener",
        &[
            ("LoadBalancerId", &lb_id),
            ("ListenerPort", &http_port),
            ("VServerGroupId", &http_group),
            ("HealthCheck", "off"),
            ("StickySession", "off"),
            ("Bandwidth", "-1"),
        ],
    )
    .await?;
    call(
        client,
        "CreateLoadBalancerTCPListener",
        &[
            ("LoadBalancerId", &lb_id),
            ("ListenerPort", &tcp_port),
            ("VServerGroupId", &tcp_group),
            ("HealthCheckSwitch", "off"),
            ("Bandwidth", "-1"),
        ],
    )
    .await?;
    for port in [&http_port, &tcp_port] {
        call(
            client,
            "StartLoadBalancerListener",
            &[("LoadBalancerId", &lb_id), ("ListenerPort", port)],
        )
        .await?;
    }

    eprintln!(
        "measuring {} backend switches per listener...",
        args.changes
    );
    let http = changes::switch_backends(
        client,
        &http_group,
        SocketAddr::new(address, HTTP_PORT),
        (&a, &b),
        args.changes,
    )
    .await
    .context("HTTP listener")?;
    let tcp = changes::switch_backends(
        client,
        &tcp_group,
        SocketAddr::new(address, TCP_PORT),
        (&a, &b),
        args.changes,
    )
    .await
    .context("TCP listener")?;
    eprintln!("measuring {} new listeners...", args.changes);
    let new_listener = changes::new_listeners(
        client,
        &lb_id,
        address,
        &new_group,
        NEW_LISTENER_PORT,
        &a,
        args.changes,
    )
    .await?;

    eprintln!("creating {} instances...", args.instances);
    let create = throughput::create_instances(client, args.instances, args.concurrency).await;
    let duration = Duration::from_secs(args.duration);
    let variants: [(&'static str, &[(&'static str, &'static str)]); 3] = [
        ("DescribeLoadBalancers, no PageSize", &[]),
        ("DescribeLoadBalancers, PageSize=10", &[("PageSize", "10")]),
        (
            "DescribeLoadBalancers, PageSize=100",
            &[("PageSize", "100")],
        ),
    ];
    let mut describe = Vec::new();
    for (name, params) in variants {
        eprintln!("{name} for {duration:?}...");
        let t = throughput::describe(client, params, args.concurrency, duration).await;
        describe.push((name, t));
    }
    Ok(Report {
        args: args.clone(),
        http,
        tcp,
        new_listener,
        create,
        describe,
        node_exit: String::new(),
    })
}

impl Report {
    /// The markdown report: two tables with one unit per column, then notes and failures.
    fn render(&self) -> String {
        let a = &self.args;
        let mut s = String::new();
        let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
        let _ = writeln!(s, "# OpenSLB control-plane speed\n");
        let _ = writeln!(
            s,
            "`slb-bench control-plane --slb-bin {} --changes {} --instances {} --duration {} --concurrency {}`; \
             {cpus} CPUs seen; load generator, backends and node on one machine; node exit: {}.\n",
            a.slb_bin.display(),
            a.changes,
            a.instances,
            a.duration,
            a.concurrency,
            self.node_exit,
        );
        let _ = writeln!(s, "## From an API answer to the data plane serving it\n");
        let _ = writeln!(
            s,
            "| case | changes | failed | stale polls | poll errors | call p50 ms | call p99 ms | call max ms | served p50 ms | served p99 ms | served max ms |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
        for (name, r) in [
            ("HTTP listener, switch backend", &self.http),
            ("TCP listener, switch backend", &self.tcp),
            ("new TCP listener", &self.new_listener),
        ] {
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
                r.attempted,
                r.failed,
                r.stale,
                r.poll_errors,
                r.call.ms(50.0),
                r.call.ms(99.0),
                r.call.max_ms(),
                r.served.ms(50.0),
                r.served.ms(99.0),
                r.served.max_ms(),
            );
        }
        let _ = writeln!(
            s,
            "\n* switch backend: one ModifyVServerGroupBackendServers replacing the group's only \
             member (backend A ↔ B, both on 127.0.0.1); the HTTP and the TCP listener each have \
             their own group. new TCP listener: CreateLoadBalancerTCPListener + \
             StartLoadBalancerListener (call = both calls).\n\
             * call: sending the call to receiving its answer. served: from the answer to the first \
             response from the new configuration, polling with a fresh connection per request \
             (`GET /`, `Connection: close`); when the first poll already sees the change this is \
             one proxied request. A change not served within {CHANGE_TIMEOUT:?} counts as failed.\n\
             * stale polls: answers still from the old backend after the API had answered. poll \
             errors: polls refused, reset or answered with a non-200 status.\n\
             * baseline, one proxied request on a fresh connection with no change in flight \
             ({} requests each): HTTP listener p50 {} ms, p99 {} ms; TCP listener p50 {} ms, \
             p99 {} ms.\n",
            self.http.baseline.len(),
            self.http.baseline.ms(50.0),
            self.http.baseline.ms(99.0),
            self.tcp.baseline.ms(50.0),
            self.tcp.baseline.ms(99.0),
        );
        let _ = writeln!(s, "## API throughput\n");
        let _ = writeln!(
            s,
            "| case | calls | failed | calls/s | p50 ms | p99 ms | max ms | instances per answer |"
        );
        let _ = writeln!(s, "|---|---:|---:|---:|---:|---:|---:|---:|");
        let row = |s: &mut String, name: &str, t: &Throughput| {
            let items = match (t.items, t.total) {
                (Some(i), Some(total)) => format!("{i} of {total}"),
                _ => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {name} | {} | {} | {:.1} | {} | {} | {} | {items} |",
                t.ok,
                t.failed,
                t.per_second(),
                t.latency.ms(50.0),
                t.latency.ms(99.0),
                t.latency.max_ms(),
            );
        };
        row(&mut s, "CreateLoadBalancer", &self.create);
        for (name, t) in &self.describe {
            row(&mut s, name, t);
        }
        let _ = writeln!(
            s,
            "\n* {} concurrent clients, each signing every call (HMAC-SHA1, fresh nonce) and \
             parsing the JSON answer. CreateLoadBalancer: {} instances, calls/s = instances/s. \
             Each DescribeLoadBalancers variant runs {} s over {} instances (the measured one \
             included). Alibaba's default page is 10 (PageSize 1-100).",
            a.concurrency,
            a.instances,
            a.duration,
            a.instances + 1,
        );
        let no_page = self
            .describe
            .iter()
            .find(|(n, _)| n.ends_with("no PageSize"));
        if let Some((_, t)) = no_page {
            if let (Some(items), Some(size)) = (t.items, t.page_size) {
                let _ = writeln!(
                    s,
                    "* Without PageSize the node answered {items} instances with PageSize {size}."
                );
            }
        }
        let mut failures = Vec::new();
        for (name, list) in [
            ("HTTP switch", &self.http.failures),
            ("TCP switch", &self.tcp.failures),
            ("new listener", &self.new_listener.failures),
            ("CreateLoadBalancer", &self.create.failures),
        ] {
            failures.extend(list.iter().map(|f| format!("{name}: {f}")));
        }
        for (name, t) in &self.describe {
            failures.extend(t.failures.iter().map(|f| format!("{name}: {f}")));
        }
        if !failures.is_empty() {
            let _ = writeln!(s, "\n## First failures\n");
            for f in failures {
                let _ = writeln!(s, "* {f}");
            }
        }
        s
    }
}
