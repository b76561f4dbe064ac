//! `slb-bench`: measurement tools that drive real processes over real sockets.
//!
//! * `control-plane` starts `slb serve` and measures how soon API changes are served and how
//!   many API calls per second it answers;
//! * `idle-conns` holds many idle keep-alive connections on a proxy so a script can sample
//!   the proxy's memory.
//!
//! Everything talks to 127.0.0.0/8; every loop is bounded in count and time.

mod control_plane;
mod daemon;
mod http1;
mod idle_conns;
mod signal;
mod stats;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "slb-bench", version, about = "OpenSLB measurement tools")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Change-to-served latency and API throughput of a fresh `slb serve`.
    ControlPlane(control_plane::ControlPlaneArgs),
    /// Open N keep-alive connections, one request each, and hold them idle.
    IdleConns(idle_conns::IdleConnsArgs),
}

#[tokio::main]
async fn main() {
    let result = match Cli::parse().command {
        Command::ControlPlane(args) => control_plane::run(args).await,
        Command::IdleConns(args) => idle_conns::run(args).await,
    };
    if let Err(e) = result {
        // The whole cause chain on one line, without a backtrace: the messages say what to do.
        eprintln!("slb-bench: {e:#}");
        std::process::exit(1);
    }
}
