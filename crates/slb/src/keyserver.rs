//! `slb keyserver`: the key server role on its own, and `slb keyserver pki` to make the
//! identities it and its nodes authenticate each other with.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use slb_keyserver::{pki, KeyServerClient, KeyStore};

/// Options of `slb keyserver`.
#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct KeyserverArgs {
    #[command(subcommand)]
    pub action: Option<KeyserverAction>,
    #[command(flatten)]
    pub run: RunArgs,
}

/// What `slb keyserver` does besides running.
#[derive(Subcommand, Debug, Clone)]
pub enum KeyserverAction {
    /// Create a CA and the key server's and nodes' certificates in a directory.
    Pki(PkiArgs),
}

/// Options of a running key server.
#[derive(Args, Debug, Clone)]
pub struct RunArgs {
    /// Address nodes connect to.
    #[arg(long, default_value = "127.0.0.1:8790")]
    pub listen: SocketAddr,
    /// Directory holding the key file (`keys.redb`).
    #[arg(long, default_value = "slb-keyserver-data")]
    pub data_dir: PathBuf,
    /// Directory with `ca.crt`, `keyserver.crt` and `keyserver.key`. Default:
    /// `DATA_DIR/pki`, created on first start (valid for localhost and the listen address)
    /// when it holds no `ca.crt`.
    #[arg(long)]
    pub tls_dir: Option<PathBuf>,
}

/// Options of `slb keyserver pki`.
#[derive(Args, Debug, Clone)]
pub struct PkiArgs {
    /// Directory to create the files in; an existing CA is never replaced.
    #[arg(long)]
    pub dir: PathBuf,
    /// Names (DNS or IP) nodes use to reach the key server; repeat the flag.
    #[arg(long = "name", default_values_t = ["localhost".to_string(), "127.0.0.1".to_string()])]
    pub names: Vec<String>,
}

/// Runs the key server until SIGINT or SIGTERM, or makes identities.
pub async fn run(args: KeyserverArgs) -> Result<()> {
    if let Some(KeyserverAction::Pki(p)) = args.action {
        pki::generate(&p.dir, &p.names)?;
        println!(
            "created {}: give nodes ca.crt, node.crt and node.key (--keyserver-tls-dir); keep ca.key offline",
            p.dir.display()
        );
        return Ok(());
    }
    let args = args.run;
    let ks = start(args.listen, &args.data_dir, args.tls_dir.clone()).await?;
    crate::serve::wait_for_signal().await?;
    tracing::info!("key server shutting down");
    ks.stop().await
}

/// A key server role running in this process (`slb keyserver`, or in `slb serve` with
/// `--keyserver-listen`).
pub struct RunningKeyServer {
    /// The bound address (also written to `DATA_DIR/keyserver.addr`).
    pub addr: SocketAddr,
    /// Where `ca.crt` and the node identity nodes need are.
    pub tls_dir: PathBuf,
    stop: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningKeyServer {
    /// Stops accepting and waits for the accept loop to end.
    pub async fn stop(self) -> Result<()> {
        let _ = self.stop.send(true);
        self.task.await??;
        Ok(())
    }
}

/// Starts the key server role: keys in `DATA_DIR/keys.redb`, identities from `tls_dir`
/// (default `DATA_DIR/pki`, created with a new CA when it holds no `ca.crt`).
pub async fn start(
    listen: SocketAddr,
    data_dir: &Path,
    tls_dir: Option<PathBuf>,
) -> Result<RunningKeyServer> {
    std::fs::create_dir_all(data_dir)
        .with_context(|| format!("creating {}", data_dir.display()))?;
    let tls_dir = match tls_dir {
        Some(d) => d,
        None => {
            let d = data_dir.join("pki");
            if !d.join(pki::CA_CERT).exists() {
                let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
                let ip = listen.ip();
                if !ip.is_unspecified() && !names.contains(&ip.to_string()) {
                    names.push(ip.to_string());
                }
                pki::generate(&d, &names)?;
                tracing::info!(dir = %d.display(), "created the key server's CA and certificates; nodes need ca.crt, node.crt and node.key from it");
            }
            d
        }
    };
    let tls = pki::server_config(&tls_dir)?;
    let key_file = data_dir.join("keys.redb");
    let store = Arc::new(
        KeyStore::open(&key_file).with_context(|| format!("opening {}", key_file.display()))?,
    );
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the key server to {listen}"))?;
    let addr = listener.local_addr()?;
    std::fs::write(data_dir.join("keyserver.addr"), addr.to_string())?;
    tracing::info!(%addr, keys = store.len(), tls_dir = %tls_dir.display(), "OpenSLB key server started");
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(slb_keyserver::server::serve(listener, tls, store, stopped));
    Ok(RunningKeyServer {
        addr,
        tls_dir,
        stop,
        task,
    })
}

/// The key server as the API's key vault: uploads go there, never into the state.
pub struct Vault(pub Arc<KeyServerClient>);

impl slb_api::actions::KeyVault for Vault {
    fn put(&self, id: &str, pem: &str) -> Result<(), String> {
        self.0.put(id, pem).map_err(|e| e.to_string())
    }

    fn delete(&self, id: &str) -> Result<(), String> {
        self.0.delete(id).map_err(|e| e.to_string())
    }
}
