//! `slb serve`: wires the store, the reconciler, the data plane and the API together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Args;
use slb_api::actions::{Actions, NodeInfo};
use slb_dataplane::DataPlane;
use slb_store::Store;
use tokio::net::TcpListener;

use crate::credentials::Credentials;
use crate::{metrics, reconcile};

/// Options of a node.
#[derive(Args, Debug, Clone)]
pub struct ServeArgs {
    /// Directory holding the database file and the generated credentials.
    #[arg(long, default_value_os_t = crate::default_data_dir())]
    pub data_dir: PathBuf,
    /// Address of the management API and `/metrics`.
    #[arg(long, default_value = "127.0.0.1:8780")]
    pub api_addr: SocketAddr,
    /// The region this node serves; other `RegionId`s are refused.
    #[arg(long, default_value = "local")]
    pub region: String,
    /// Zones this node declares (repeat the flag); the first is the default master zone.
    #[arg(long = "zone", default_values_t = ["local-a".to_string(), "local-b".to_string()])]
    pub zones: Vec<String>,
    /// Network instance addresses are allocated from. The loopback default needs no set-up
    /// on Linux, where all of 127.0.0.0/8 is local.
    #[arg(long, default_value = "127.1.0.0/16")]
    pub address_pool: ipnet::IpNet,
    /// HTTP access log, one JSON line per request: a file path, `stdout`, or `off`.
    /// Default: `DATA_DIR/access.log`.
    #[arg(long)]
    pub access_log: Option<String>,
    /// Relay TCP listeners with `splice(2)` instead of copying through a 16 KiB buffer:
    /// the payload stays in the kernel (less CPU per MiB), but measured on loopback it
    /// moved less (docs/performance.md, TCP rows).
    #[arg(long)]
    pub tcp_splice: bool,
    /// Key server (`host:port`, or several separated by commas) holding the private keys:
    /// uploaded keys go to every one of them and each handshake's signature is computed by
    /// the first that answers. Without it, keys stay in this node's state and handshakes
    /// sign in-process (the single-node default).
    #[arg(long, conflicts_with = "keyserver_listen")]
    pub keyserver: Option<String>,
    /// Directory with `ca.crt`, `node.crt` and `node.key` (from `slb keyserver pki`, or the
    /// key server's `DATA_DIR/pki`) for the mutual TLS to the key server.
    #[arg(long, requires = "keyserver")]
    pub keyserver_tls_dir: Option<PathBuf>,
    /// Also run the key server role in this process, on this address: this node's keys go
    /// to `DATA_DIR/keyserver/keys.redb` (not its state) and other nodes can use it with
    /// `--keyserver` and the identities in `DATA_DIR/keyserver/pki`.
    #[arg(long)]
    pub keyserver_listen: Option<SocketAddr>,
    /// Capacity of instances without a `LoadBalancerSpec`: concurrent connections
    /// (0 = unlimited). Instances with a spec get Alibaba's figures for it.
    #[arg(long, default_value_t = 0)]
    pub default_max_connections: u64,
    /// ... new connections per second (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub default_cps: u64,
    /// ... HTTP/HTTPS requests per second (0 = unlimited).
    #[arg(long, default_value_t = 0)]
    pub default_qps: u64,
    /// Requests per second each access key may make to the API; over it the answer is
    /// `Throttling` (0 = unlimited).
    #[arg(long, default_value_t = 100)]
    pub api_rate_limit: u64,
    /// Protect every instance with anti-DDoS scrubbing and blackholing (off by default:
    /// the thresholds below must suit the site's capacity).
    #[arg(long)]
    pub ddos_protection: bool,
    /// Scrubbing threshold floor in Mbit/s inbound per instance (the threshold is the
    /// larger of this and twice the instance's Bandwidth).
    #[arg(long, default_value_t = 1_000)]
    pub ddos_scrub_mbps: u64,
    /// Scrubbing threshold in datagrams per second per instance.
    #[arg(long, default_value_t = 200_000)]
    pub ddos_scrub_pps: u64,
    /// Scrubbing threshold in new connections per second per instance.
    #[arg(long, default_value_t = 20_000)]
    pub ddos_scrub_cps: u64,
    /// Blackholing threshold floor in Mbit/s (at least 4 × the scrubbing threshold).
    #[arg(long, default_value_t = 10_000)]
    pub ddos_blackhole_mbps: u64,
    /// Blackholing threshold in datagrams per second per instance.
    #[arg(long, default_value_t = 2_000_000)]
    pub ddos_blackhole_pps: u64,
    /// How long a blackhole lasts, in seconds.
    #[arg(long, default_value_t = 300)]
    pub ddos_blackhole_seconds: u64,
    /// While scrubbing, new connections per second one source may open.
    #[arg(long, default_value_t = 200)]
    pub ddos_source_cps: u64,
    /// While scrubbing, datagrams per second one source may send.
    #[arg(long, default_value_t = 20_000)]
    pub ddos_source_pps: u64,
    /// While scrubbing, Mbit/s one source may send in datagrams.
    #[arg(long, default_value_t = 100)]
    pub ddos_source_mbps: u64,
    /// Serve the API over HTTPS with this PEM certificate chain (with --api-tls-key).
    #[arg(long, requires = "api_tls_key")]
    pub api_tls_cert: Option<PathBuf>,
    /// The API certificate's PEM private key.
    #[arg(long, requires = "api_tls_cert")]
    pub api_tls_key: Option<PathBuf>,
    /// The data plane's worker threads (from the global `--workers`): none serves on the
    /// node's own runtime.
    #[arg(skip)]
    pub workers: slb_dataplane::Workers,
}

/// A running node: what tests and the demo need to reach it.
pub struct Node {
    pub api_addr: SocketAddr,
    pub credentials: Credentials,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<Result<()>>,
}

impl Node {
    /// Starts every role of a node and returns once the API is accepting.
    pub async fn start(args: ServeArgs) -> Result<Node> {
        std::fs::create_dir_all(&args.data_dir)
            .with_context(|| format!("creating {}", args.data_dir.display()))?;
        let credentials = Credentials::load_or_create(&args.data_dir)?;
        let db_path = args.data_dir.join("slb.redb");
        let store = Arc::new(
            Store::open(&db_path).with_context(|| format!("opening {}", db_path.display()))?,
        );
        let cookie_key = crate::credentials::cookie_key(&args.data_dir)?;
        slb_dataplane::use_tcp_splice(args.tcp_splice);
        let dataplane = DataPlane::on_workers(args.workers.clone());
        let (dataplane, flush_log) = match access_log(&args)? {
            Some((log, flush)) => (dataplane.with_access_log(log), Some(flush)),
            None => (dataplane, None),
        };
        let (shutdown, shutdown_rx) = tokio::sync::watch::channel(false);
        let own_keyserver = match args.keyserver_listen {
            Some(listen) => {
                Some(crate::keyserver::start(listen, &args.data_dir.join("keyserver"), None).await?)
            }
            None => None,
        };
        let keyserver = match (&own_keyserver, &args.keyserver) {
            (Some(ks), _) => {
                // A wildcard listen address is reached (and certified) as 127.0.0.1.
                let mut addr = ks.addr;
                if addr.ip().is_unspecified() {
                    addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
                }
                Some((addr.to_string(), ks.tls_dir.clone()))
            }
            (None, Some(addr)) => {
                let dir = args
                    .keyserver_tls_dir
                    .clone()
                    .context("--keyserver needs --keyserver-tls-dir")?;
                Some((addr.clone(), dir))
            }
            (None, None) => None,
        };
        let keys = match keyserver {
            None => None,
            Some((addr, dir)) => {
                let tls = slb_keyserver::pki::client_config(&dir)?;
                Some(slb_keyserver::KeyServerClient::new(&addr, tls)?)
            }
        };
        if keys.is_some() {
            let local = store
                .snapshot()
                .state
                .server_certificates
                .values()
                .filter(|c| !c.private_key_pem.is_empty())
                .count();
            if local > 0 {
                tracing::warn!(certificates = local, "some certificates were uploaded before --keyserver and keep their private keys in this node's state; upload them again to move the keys to the key server");
            }
        }

        // Bring listeners back before the API answers, so a restarted node serves at once.
        let initial = store.snapshot();
        let defaults = reconcile::NodeDefaults {
            caps: slb_dataplane::InstanceCaps {
                max_connections: args.default_max_connections,
                cps: args.default_cps,
                qps: args.default_qps,
            },
            ddos: args.ddos_protection.then_some(reconcile::DdosSettings {
                scrub_mbps: args.ddos_scrub_mbps,
                scrub_pps: args.ddos_scrub_pps,
                scrub_cps: args.ddos_scrub_cps,
                blackhole_mbps: args.ddos_blackhole_mbps,
                blackhole_pps: args.ddos_blackhole_pps,
                blackhole_for: std::time::Duration::from_secs(args.ddos_blackhole_seconds),
                source_cps: args.ddos_source_cps,
                source_pps: args.ddos_source_pps,
                source_mbps: args.ddos_source_mbps,
            }),
        };
        reconcile_once(&dataplane, &initial, cookie_key, keys.as_ref(), &defaults).await;
        let (applied_tx, applied_rx) = tokio::sync::watch::channel(initial.revision);
        let mut watch = store.subscribe();
        let dp = dataplane.clone();
        let reconcile_keys = keys.clone();
        tokio::spawn(async move {
            while watch.changed().await.is_ok() {
                let snapshot = watch.borrow_and_update().clone();
                reconcile_once(
                    &dp,
                    &snapshot,
                    cookie_key,
                    reconcile_keys.as_ref(),
                    &defaults,
                )
                .await;
                applied_tx.send_replace(snapshot.revision);
            }
        });

        let node = NodeInfo {
            region: args.region.clone(),
            zones: args.zones.clone(),
            address_pool: args.address_pool,
        };
        let mut actions = Actions::new(
            store.clone(),
            node,
            Arc::new(crate::health_source::LocalHealth(dataplane.clone())),
        )
        .wait_for_applied(applied_rx)
        .with_ddos(Arc::new(crate::ddos_source::LocalDdos(dataplane.clone())));
        if let Some(k) = &keys {
            actions = actions.with_key_vault(Arc::new(crate::keyserver::Vault(k.clone())));
        }
        let node_keys = crate::access_keys::NodeKeys::new(
            &credentials.access_key_id,
            &credentials.access_key_secret,
            &args.data_dir,
        )?;
        node_keys.watch();
        let app = slb_api_router(
            Arc::new(actions),
            node_keys,
            &args.region,
            args.api_rate_limit,
        )
        .merge(metrics::router(
            dataplane.clone(),
            store.clone(),
            keys.clone(),
        ));
        let listener = TcpListener::bind(args.api_addr)
            .await
            .with_context(|| format!("binding the API to {}", args.api_addr))?;
        let api_addr = listener.local_addr()?;
        // Tell scripts and tests which port `--api-addr ...:0` got.
        std::fs::write(args.data_dir.join("api.addr"), api_addr.to_string())?;
        tracing::info!(%api_addr, data_dir = %args.data_dir.display(), region = %args.region, "OpenSLB node started");
        let api_tls = match (&args.api_tls_cert, &args.api_tls_key) {
            (Some(cert), Some(key)) => Some(crate::api_tls::config(cert, key)?),
            _ => None,
        };
        let mut rx = shutdown_rx.clone();
        let dp = dataplane.clone();
        let task = tokio::spawn(async move {
            let stop = async move {
                let _ = rx.wait_for(|stop| *stop).await;
            };
            match api_tls {
                Some(config) => {
                    let tls = crate::api_tls::TlsListener::new(listener, config)?;
                    axum::serve(tls, app).with_graceful_shutdown(stop).await?;
                }
                None => {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(stop)
                        .await?
                }
            }
            dp.shutdown().await;
            if let Some(flush) = flush_log {
                flush();
            }
            if let Some(ks) = own_keyserver {
                ks.stop().await?;
            }
            Ok(())
        });
        Ok(Node {
            api_addr,
            credentials,
            shutdown,
            task,
        })
    }

    /// Stops accepting API requests and listeners, then waits for the node to finish.
    pub async fn stop(self) -> Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await?
    }
}

async fn reconcile_once(
    dataplane: &DataPlane,
    snapshot: &slb_store::Snapshot,
    cookie_key: [u8; 32],
    keys: Option<&Arc<slb_keyserver::KeyServerClient>>,
    defaults: &reconcile::NodeDefaults,
) {
    let tcp = reconcile::desired_listeners(&snapshot.state, defaults);
    let http = reconcile::desired_http_listeners(&snapshot.state, cookie_key, keys, defaults);
    let mut results = dataplane.apply(tcp).await;
    results.extend(dataplane.apply_http(http).await);
    for (key, result) in results {
        if let Err(e) = result {
            tracing::error!(listener = %key, revision = snapshot.revision, error = %e, "listener not applied; it keeps its last good configuration");
        }
    }
}

fn slb_api_router(
    actions: Arc<Actions>,
    keys: Arc<crate::access_keys::NodeKeys>,
    region: &str,
    rate_limit: u64,
) -> axum::Router {
    slb_api::router(Arc::new(
        slb_api::ApiContext::new(keys, actions, region).with_rate_limit(rate_limit),
    ))
}

/// How often the buffered access log reaches its file.
const ACCESS_LOG_FLUSH: std::time::Duration = std::time::Duration::from_secs(1);

/// A flush hook for the access log, run at shutdown so no entry is lost.
type Flush = Box<dyn Fn() + Send + Sync>;

/// The access log `--access-log` asks for: a file (appended), stdout, or none; buffered and
/// flushed every [`ACCESS_LOG_FLUSH`].
fn access_log(args: &ServeArgs) -> Result<Option<(Arc<dyn slb_dataplane::AccessLog>, Flush)>> {
    let target = args.access_log.clone().unwrap_or_else(|| {
        args.data_dir
            .join("access.log")
            .to_string_lossy()
            .into_owned()
    });
    fn wrap<W: std::io::Write + Send + 'static>(
        out: W,
    ) -> (Arc<dyn slb_dataplane::AccessLog>, Flush) {
        let log = slb_dataplane::JsonLinesAccessLog::buffered(out, ACCESS_LOG_FLUSH);
        let handle = log.clone();
        (
            log,
            Box::new(move || {
                let _ = handle.flush();
            }),
        )
    }
    Ok(match target.as_str() {
        "off" => None,
        "stdout" => Some(wrap(std::io::stdout())),
        path => {
            let file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .with_context(|| format!("opening the access log {path}"))?;
            Some(wrap(file))
        }
    })
}

/// `slb serve`: runs until SIGINT or SIGTERM.
pub async fn run(args: ServeArgs) -> Result<()> {
    if let Some(limit) = crate::fd_limit::raise_to_hard_limit() {
        tracing::info!(open_files = limit, "open-file limit");
    }
    let node = Node::start(args).await?;
    wait_for_signal().await?;
    tracing::info!("shutting down");
    node.stop().await
}

/// Resolves on SIGINT or SIGTERM.
pub async fn wait_for_signal() -> Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    Ok(())
}
