//! API throughput: instances created per second, and DescribeLoadBalancers calls per second
//! over that many instances, each with a fixed number of concurrent clients.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use slb_api::client::Client;
use tokio::task::JoinSet;

use crate::stats::Samples;

/// Upper bound on the creation phase, whatever `--instances` asks for.
pub const CREATE_DEADLINE: Duration = Duration::from_secs(900);
/// Upper bound on calls per describe worker, beside the duration.
const MAX_CALLS_PER_WORKER: usize = 10_000_000;

/// What one throughput measurement saw.
#[derive(Debug, Default)]
pub struct Throughput {
    /// Calls answered with a success.
    pub ok: usize,
    /// Calls answered with an error or not at all.
    pub failed: usize,
    /// The first few failure descriptions.
    pub failures: Vec<String>,
    /// Latency of successful calls, from sending to the parsed answer.
    pub latency: Samples,
    /// Wall time of the whole measurement.
    pub elapsed: Duration,
    /// Instances in the first answer's page (describe only), to show what a call carried.
    pub items: Option<usize>,
    /// `TotalCount` of the first answer (describe only).
    pub total: Option<u64>,
    /// `PageSize` the node reported in its first answer (describe only).
    pub page_size: Option<u64>,
}

impl Throughput {
    /// Successful calls per second of wall time.
    pub fn per_second(&self) -> f64 {
        let secs = self.elapsed.as_secs_f64();
        if secs > 0.0 {
            self.ok as f64 / secs
        } else {
            0.0
        }
    }

    fn merge(&mut self, other: Throughput) {
        self.ok += other.ok;
        self.failed += other.failed;
        for f in other.failures {
            if self.failures.len() < 5 {
                self.failures.push(f);
            }
        }
        self.latency.extend(other.latency);
        self.items = self.items.or(other.items);
        self.total = self.total.or(other.total);
        self.page_size = self.page_size.or(other.page_size);
    }

    fn fail(&mut self, why: String) {
        self.failed += 1;
        if self.failures.len() < 5 {
            self.failures.push(why);
        }
    }
}

/// Creates `n` instances named `bench-N` with `concurrency` clients.
pub async fn create_instances(client: &Client, n: usize, concurrency: usize) -> Throughput {
    let next = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + CREATE_DEADLINE;
    let start = Instant::now();
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, next) = (client.clone(), next.clone());
        workers.spawn(async move {
            let mut t = Throughput::default();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= n || Instant::now() > deadline {
                    break;
                }
                let name = format!("bench-{i}");
                let sent = Instant::now();
                match client
                    .call("CreateLoadBalancer", &[("LoadBalancerName", &name)])
                    .await
                {
                    Ok(_) => {
                        t.latency.push(sent.elapsed());
                        t.ok += 1;
                    }
                    Err(e) => t.fail(format!("CreateLoadBalancer: {e}")),
                }
            }
            t
        });
    }
    let mut all = merge_workers(workers).await;
    all.elapsed = start.elapsed();
    let unfinished = n.saturating_sub(all.ok + all.failed);
    if unfinished > 0 {
        all.failed += unfinished;
        all.failures.push(format!(
            "{unfinished} not attempted within {CREATE_DEADLINE:?}"
        ));
    }
    all
}

/// Calls DescribeLoadBalancers with `params` from `concurrency` clients for `duration`.
pub async fn describe(
    client: &Client,
    params: &[(&'static str, &'static str)],
    concurrency: usize,
    duration: Duration,
) -> Throughput {
    let params: Arc<Vec<(&'static str, &'static str)>> = Arc::new(params.to_vec());
    let start = Instant::now();
    let end = start + duration;
    let mut workers = JoinSet::new();
    for _ in 0..concurrency.max(1) {
        let (client, params) = (client.clone(), params.clone());
        workers.spawn(async move {
            let mut t = Throughput::default();
            for _ in 0..MAX_CALLS_PER_WORKER {
                if Instant::now() >= end {
                    break;
                }
                let sent = Instant::now();
                match client.call("DescribeLoadBalancers", &params).await {
                    Ok(v) => {
                        t.latency.push(sent.elapsed());
                        t.ok += 1;
                        if t.items.is_none() {
                            t.items = v["LoadBalancers"]["LoadBalancer"].as_array().map(Vec::len);
                            t.total = v["TotalCount"].as_u64();
                            t.page_size = v["PageSize"].as_u64();
                        }
                    }
                    Err(e) => t.fail(format!("DescribeLoadBalancers: {e}")),
                }
            }
            t
        });
    }
    let mut all = merge_workers(workers).await;
    // Calls in flight at `end` finish after it; count the wall time they took.
    all.elapsed = start.elapsed();
    all
}

/// Waits for every worker and adds up what each measured; a worker that panicked counts
/// as a failure.
async fn merge_workers(mut workers: JoinSet<Throughput>) -> Throughput {
    let mut all = Throughput::default();
    while let Some(joined) = workers.join_next().await {
        match joined {
            Ok(t) => all.merge(t),
            Err(e) => all.fail(format!("worker failed: {e}")),
        }
    }
    all
}
