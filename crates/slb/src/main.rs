//! `slb`: the OpenSLB daemon and its command-line client. Argument parsing and wiring only.

mod access_keys;
mod api_tls;
mod call;
mod credentials;
mod ddos_source;
mod demo;
mod fd_limit;
mod health_source;
mod keyserver;
mod metrics;
mod reconcile;
mod serve;
mod status;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "slb",
    version,
    about = "OpenSLB: a self-hosted, Alibaba SLB compatible load balancer"
)]
struct Cli {
    /// Threads serving connections; 0 = one per CPU this process may use. With one, the
    /// whole node runs a single-threaded runtime (measured ~30 % less CPU per proxied HTTP
    /// request than a one-worker multi-threaded one). With more, a node serves
    /// thread-per-core: each worker thread runs its own single-threaded runtime and
    /// has its own socket of every listener (SO_REUSEPORT).
    #[arg(long, global = true, env = "SLB_WORKERS", default_value_t = 0)]
    workers: usize,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a node: management API, TCP listeners and health checks.
    Serve(Box<serve::ServeArgs>),
    /// Send one API action, signed with the node's credentials, and print the JSON answer.
    Call(call::CallArgs),
    /// Show instances, listeners and backend health as tables.
    Status(call::ClientArgs),
    /// Manage extra access keys (admin or read-only) of a node's data directory.
    Keys(access_keys::KeysArgs),
    /// Run the key server: holds private keys and signs TLS handshakes for nodes started
    /// with `--keyserver`.
    Keyserver(keyserver::KeyserverArgs),
    /// Quickstart: a node, two demo backends in two zones and a load balancer in front.
    Demo(demo::DemoArgs),
}

/// Where `serve`, `call` and `status` keep and find state when `--data-dir` is not given.
pub fn default_data_dir() -> PathBuf {
    PathBuf::from("slb-data")
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        // Colour codes only on a terminal: log files and journald get plain text.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let workers = match cli.workers {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        n => n,
    };
    // Nodes serve connections thread-per-core: the data plane's own worker threads, each a
    // current-thread runtime with its own socket per listener (`slb_dataplane::Workers`).
    // The runtime below then runs the API, reconciler and health checks.
    let mut command = cli.command;
    let node_workers = match &mut command {
        Command::Serve(args) => Some(&mut args.workers),
        Command::Demo(args) => Some(&mut args.workers),
        _ => None,
    };
    let _worker_threads = match node_workers {
        Some(slot) if workers > 1 => {
            let (w, threads) = slb_dataplane::Workers::start(workers)?;
            *slot = w;
            Some(threads)
        }
        _ => None,
    };
    let runtime = if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
    } else {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(workers)
            .enable_all()
            .build()?
    };
    runtime.block_on(async move {
        match command {
            Command::Serve(args) => serve::run(*args).await,
            Command::Call(args) => call::run(args).await,
            Command::Status(args) => status::run(args).await,
            Command::Demo(args) => demo::run(args).await,
            Command::Keyserver(args) => keyserver::run(args).await,
            Command::Keys(args) => access_keys::run(args),
        }
    })
}

/// jemalloc rather than glibc's malloc: it keeps allocations of different sizes apart, so
/// the buffers of a burst of requests do not leave holes between the small long-lived
/// state of idle connections (with glibc, 10,000 idle keep-alive connections left some
/// 8 MB free but resident), and it gives freed pages back by itself (options in
/// `.cargo/config.toml`). It also measured a few per cent less CPU per request.
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
