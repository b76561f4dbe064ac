//! The measured node: a real `slb serve` child on a scratch data directory, stopped by its
//! PID when the measurement ends, fails or is interrupted.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use slb_api::client::Client;

/// How long the node may take to write `api.addr` after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long it may take to exit after SIGTERM before it gets SIGKILL.
const STOP_TIMEOUT: Duration = Duration::from_secs(10);

/// How to start the node.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// The `slb` binary to measure.
    pub bin: PathBuf,
    /// `--address-pool`: every instance takes one address of it, so it must hold at least
    /// as many hosts as instances are created.
    pub address_pool: String,
    /// Where the scratch data directory is created (a fresh temporary directory inside it).
    /// The node writes its database there with fsync, so its disk is part of what is measured.
    pub work_dir: Option<PathBuf>,
}

/// A running `slb serve` child. Dropping it kills the child (SIGKILL by PID); [`stop`]
/// ends it gracefully first.
///
/// [`stop`]: Daemon::stop
pub struct Daemon {
    child: Option<Child>,
    /// The management API's bound address, read from `DATA_DIR/api.addr`.
    pub api: SocketAddr,
    /// Signs calls with the node's generated key from `DATA_DIR/credentials`.
    pub client: Client,
    log: PathBuf,
    /// Removed when the daemon is dropped, after the child is gone.
    _dir: tempfile::TempDir,
}

impl Daemon {
    /// Starts the node with the API throttle off (`--api-rate-limit 0`), the access log off
    /// and the API on an ephemeral port, and waits until it has written its address.
    pub async fn start(opts: &DaemonOptions) -> Result<Daemon> {
        let dir = match &opts.work_dir {
            Some(parent) => tempfile::Builder::new()
                .prefix("slb-bench-")
                .tempdir_in(parent),
            None => tempfile::Builder::new().prefix("slb-bench-").tempdir(),
        }
        .context("creating the scratch data directory")?;
        let data = dir.path().join("data");
        let log = dir.path().join("slb.log");
        let stderr = std::fs::File::create(&log)?;
        let child = Command::new(&opts.bin)
            .args(["serve", "--api-addr", "127.0.0.1:0"])
            .arg("--data-dir")
            .arg(&data)
            .args(["--address-pool", &opts.address_pool])
            .args(["--api-rate-limit", "0", "--access-log", "off"])
            // The node must generate and write its own key: that file is what we read.
            .env_remove("SLB_ACCESS_KEY_ID")
            .env_remove("SLB_ACCESS_KEY_SECRET")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .with_context(|| format!("starting {}", opts.bin.display()))?;
        let mut daemon = Daemon {
            child: Some(child),
            api: SocketAddr::from(([127, 0, 0, 1], 0)),
            client: Client::new("http://127.0.0.1:0", "", ""),
            log,
            _dir: dir,
        };
        let deadline = Instant::now() + START_TIMEOUT;
        daemon.api = loop {
            if let Ok(s) = std::fs::read_to_string(data.join("api.addr")) {
                if let Ok(a) = s.trim().parse::<SocketAddr>() {
                    break a;
                }
            }
            if let Some(status) = daemon.child_mut().try_wait()? {
                bail!(
                    "slb serve exited at start ({status}): {}",
                    daemon.log_tail()
                );
            }
            if Instant::now() > deadline {
                bail!(
                    "slb serve wrote no api.addr within {START_TIMEOUT:?}: {}",
                    daemon.log_tail()
                );
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let (id, secret) = read_credentials(&data.join("credentials"))?;
        daemon.client = Client::new(&format!("http://{}", daemon.api), &id, &secret);
        Ok(daemon)
    }

    fn child_mut(&mut self) -> &mut Child {
        self.child.as_mut().expect("child present until stop")
    }

    /// The last lines the node wrote to stderr, to explain a failure.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(10)..].join("\n");
        if tail.is_empty() {
            "(no output)".into()
        } else {
            tail
        }
    }

    /// SIGTERM by PID, then waits (bounded) for the exit; SIGKILL if it does not come.
    pub async fn stop(mut self) -> Result<ExitStatus> {
        let Some(mut child) = self.child.take() else {
            bail!("slb serve was already stopped");
        };
        if let Ok(raw) = i32::try_from(child.id()) {
            let _ = kill(Pid::from_raw(raw), Signal::SIGTERM);
        }
        let deadline = Instant::now() + STOP_TIMEOUT;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() <= deadline => {}
                Ok(None) => {
                    let _ = child.kill();
                    let status = child.wait()?;
                    bail!("slb serve ignored SIGTERM for {STOP_TIMEOUT:?}; killed ({status})");
                }
                Err(e) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(e.into());
                }
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Child::kill is SIGKILL to this child's PID only.
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The `access_key_id = ...` / `access_key_secret = ...` file `slb serve` writes (0600).
pub fn read_credentials(path: &Path) -> Result<(String, String)> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    slb_api::client::parse_credentials(&text).with_context(|| {
        format!(
            "{} lacks access_key_id or access_key_secret",
            path.display()
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_credentials_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("credentials");
        std::fs::write(&p, "access_key_id = LTAIabc\naccess_key_secret = s3cr=t\n").unwrap();
        assert_eq!(
            read_credentials(&p).unwrap(),
            ("LTAIabc".to_string(), "s3cr=t".to_string())
        );
        std::fs::write(&p, "access_key_id = LTAIabc\n").unwrap();
        assert!(read_credentials(&p).is_err());
    }
}
