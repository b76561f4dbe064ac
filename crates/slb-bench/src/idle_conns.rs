//! `slb-bench idle-conns`: holds many idle HTTP/1.1 keep-alive connections open on a proxy
//! so a benchmark script can sample what they cost it (RSS), after each has carried one
//! request (so the proxy has also set up its per-connection request state and, usually,
//! a pooled backend connection).

use std::io::Write as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::Args;
use nix::sys::resource::{getrlimit, setrlimit, Resource, RLIM_INFINITY};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::task::JoinSet;

use crate::http1::read_response;

/// File descriptors kept free for everything but the connections (runtime, stdio, files).
const FD_RESERVE: u64 = 64;

/// Options of `slb-bench idle-conns`.
#[derive(Args, Debug, Clone)]
pub struct IdleConnsArgs {
    /// The proxy's listener, HOST:PORT.
    #[arg(long)]
    pub addr: String,
    /// Connections to open and hold. All go to one address from one source IP, so the
    /// local ephemeral port range (about 28,000 by default on Linux) is a ceiling.
    #[arg(long, default_value_t = 10_000)]
    pub conns: usize,
    /// Path of the one GET each connection sends.
    #[arg(long, default_value = "/")]
    pub path: String,
    /// Host header (default: --addr as given).
    #[arg(long)]
    pub host: Option<String>,
    /// Seconds to hold the connections idle once all are open; SIGINT/SIGTERM ends sooner.
    #[arg(long, default_value_t = 60)]
    pub hold: u64,
    /// Write `ready N` here (atomically) once every connection is open; default stdout.
    #[arg(long)]
    pub ready_file: Option<PathBuf>,
    /// Connections being opened at the same time.
    #[arg(long, default_value_t = 256)]
    pub concurrency: usize,
    /// Seconds one connection may take to connect and receive its response.
    #[arg(long, default_value_t = 10)]
    pub timeout: u64,
}

/// Raises the soft RLIMIT_NOFILE to the hard limit, or fails with what to change if even
/// the hard limit cannot hold `needed` descriptors. Returns the new soft limit.
pub fn raise_nofile(needed: u64) -> Result<u64> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).context("getrlimit(RLIMIT_NOFILE)")?;
    // An unlimited hard limit still stops at the kernel's per-process maximum.
    let ceiling = if hard == RLIM_INFINITY {
        std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1 << 20)
    } else {
        hard
    };
    if ceiling < needed {
        bail!(
            "{needed} file descriptors are needed but RLIMIT_NOFILE's hard limit is {ceiling}: \
             raise it (`ulimit -Hn {needed}` as root, or LimitNOFILE= for a service) or ask for \
             fewer --conns"
        );
    }
    if soft < ceiling {
        setrlimit(Resource::RLIMIT_NOFILE, ceiling, hard)
            .with_context(|| format!("setrlimit(RLIMIT_NOFILE, {ceiling})"))?;
    }
    Ok(ceiling)
}

/// Opens one connection and completes one request on it; the connection stays usable.
async fn open_one(addr: SocketAddr, request: &[u8], timeout: Duration) -> Result<TcpStream> {
    let io = async {
        let mut s = TcpStream::connect(addr).await.context("connect")?;
        s.write_all(request).await.context("send")?;
        let r = read_response(&mut s).await.context("response")?;
        if !(200..300).contains(&r.status) {
            bail!("status {}", r.status);
        }
        if r.until_close {
            bail!("response without Content-Length or chunked framing: not keep-alive");
        }
        Ok(s)
    };
    tokio::time::timeout(timeout, io)
        .await
        .map_err(|_| anyhow::anyhow!("no response within {timeout:?}"))?
}

/// Writes `text` to `path` through a temporary file and a rename, so a reader polling
/// `path` never sees half of it.
fn write_atomically(path: &Path, text: &str) -> Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".tmp");
    let tmp = PathBuf::from(tmp);
    std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("renaming to {}", path.display()))?;
    Ok(())
}

/// Opens the connections, reports readiness, holds them, and reports what survived.
/// Fails (exit status 1) when a connection could not be opened or was closed while held.
pub async fn run(args: IdleConnsArgs) -> Result<()> {
    let limit = raise_nofile(args.conns as u64 + FD_RESERVE)?;
    let addr = tokio::net::lookup_host(&args.addr)
        .await
        .with_context(|| format!("resolving {}", args.addr))?
        .next()
        .with_context(|| format!("{} resolves to no address", args.addr))?;
    let host = args.host.clone().unwrap_or_else(|| args.addr.clone());
    let request: Arc<[u8]> = format!(
        "GET {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: slb-bench\r\n\r\n",
        args.path
    )
    .into_bytes()
    .into();
    let timeout = Duration::from_secs(args.timeout);
    eprintln!(
        "opening {} connections to {addr} ({} at a time; RLIMIT_NOFILE {limit})",
        args.conns, args.concurrency
    );
    let next = Arc::new(AtomicUsize::new(0));
    let mut workers = JoinSet::new();
    for _ in 0..args.concurrency.clamp(1, args.conns.max(1)) {
        let (next, request, n) = (next.clone(), request.clone(), args.conns);
        workers.spawn(async move {
            let mut open = Vec::new();
            let mut errors = Vec::new();
            while next.fetch_add(1, Ordering::Relaxed) < n {
                match open_one(addr, &request, timeout).await {
                    Ok(s) => open.push(s),
                    Err(e) => errors.push(format!("{e:#}")),
                }
            }
            (open, errors)
        });
    }
    let mut streams = Vec::with_capacity(args.conns);
    let mut errors = Vec::new();
    let opening = async {
        while let Some(joined) = workers.join_next().await {
            let (open, errs) = joined.context("a connecting task failed")?;
            streams.extend(open);
            errors.extend(errs);
        }
        anyhow::Ok(())
    };
    tokio::select! {
        r = opening => r?,
        s = crate::signal::interrupted() => bail!("interrupted by {s} while opening connections"),
    }
    let established = streams.len();
    let ready = format!("ready {established}\n");
    match &args.ready_file {
        Some(path) => write_atomically(path, &ready)?,
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(ready.as_bytes())?;
            out.flush()?;
        }
    }
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_secs(args.hold)) => {}
        s = crate::signal::interrupted() => eprintln!("{s}: ending the hold"),
    }
    // A peer's FIN makes the socket readable with nothing to read.
    let mut probe = [0u8; 1];
    let still_open = streams
        .iter()
        .filter(|s| match s.try_read(&mut probe) {
            Ok(0) => false,
            Ok(_) => true,
            Err(e) => e.kind() == std::io::ErrorKind::WouldBlock,
        })
        .count();
    let failed = errors.len();
    println!(
        "established {established} failed {failed} still_open {still_open} of {}",
        args.conns
    );
    let mut kinds: Vec<&String> = errors.iter().collect();
    kinds.sort();
    kinds.dedup();
    for e in kinds.iter().take(5) {
        eprintln!("failure: {e}");
    }
    if failed > 0 {
        bail!(
            "{failed} of {} connections could not be established",
            args.conns
        );
    }
    if still_open < established {
        bail!(
            "{} of {established} connections were closed by the peer while held (its idle timeout?)",
            established - still_open
        );
    }
    Ok(())
}
