//! `slb-bench`: measurement tools that drive real processes over real sockets.
//!
//! * `control-plane` starts `slb serve` and measures how soon API changes are served and how
//!   many API calls per second it answers;
//! * `idle-conns` holds many idle keep-alive connections on a proxy so a script can sample
//!   the proxy's memory;
//! * `relay` is a minimal blocking TCP relay, the floor of a user-space proxy hop, measured
//!   in a proxy's place.
//!
//! Everything talks to 127.0.0.0/8; every loop is bounded in count and time.

mod control_plane;
mod daemon;
mod http1;
mod idle_conns;
mod relay;
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
    /// Relay TCP with a blocking thread per direction: the least a proxy hop can cost.
    Relay(relay::RelayArgs),
}

fn main() {
    let result = match Cli::parse().command {
        Command::ControlPlane(args) => {
            runtime().and_then(|rt| rt.block_on(control_plane::run(args)))
        }
        Command::IdleConns(args) => runtime().and_then(|rt| rt.block_on(idle_conns::run(args))),
        // Blocking threads on purpose: no runtime between the sockets.
        Command::Relay(args) => relay::run(args),
    };
    if let Err(e) = result {
        // The whole cause chain on one line, without a backtrace: the messages say what to do.
        eprintln!("slb-bench: {e:#}");
        std::process::exit(1);
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}
