//! `slb demo`: the quickstart. A node on its embedded defaults, two demo HTTP backends
//! labelled with two zones, and a load balancer in front, configured through the API
//! exactly as a user would.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::Args;
use slb_api::client::Client;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::serve::{wait_for_signal, Node, ServeArgs};

/// Options of the quickstart.
#[derive(Args, Debug)]
pub struct DemoArgs {
    /// Port of the demo's TCP listener.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Address of the management API.
    #[arg(long, default_value = "127.0.0.1:8780")]
    pub api_addr: SocketAddr,
    /// Keep state here instead of a temporary directory removed on exit.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// The node's data-plane worker threads (from the global `--workers`).
    #[arg(skip)]
    pub workers: slb_dataplane::Workers,
}

/// `slb serve`'s options as its command line would give them, every default from one
/// place: the demo's data directory and API address, the loopback pool and both zones.
fn serve_args(data_dir: &std::path::Path, api_addr: SocketAddr) -> Result<ServeArgs> {
    #[derive(clap::Parser)]
    struct Serve {
        #[command(flatten)]
        args: ServeArgs,
    }
    let argv: [std::ffi::OsString; 5] = [
        "serve".into(),
        "--data-dir".into(),
        data_dir.into(),
        "--api-addr".into(),
        api_addr.to_string().into(),
    ];
    Ok(<Serve as clap::Parser>::try_parse_from(argv)?.args)
}

pub async fn run(args: DemoArgs) -> Result<()> {
    let temp = tempfile::tempdir()?;
    let data_dir = args
        .data_dir
        .clone()
        .unwrap_or_else(|| temp.path().to_path_buf());
    let zones = ["local-a", "local-b"];
    let mut backends = Vec::new();
    for (i, zone) in zones.iter().enumerate() {
        backends.push(spawn_backend(i + 1, zone).await?);
    }
    let mut serve = serve_args(&data_dir, args.api_addr)?;
    serve.workers = args.workers.clone();
    let node = Node::start(serve).await?;
    let client = Client::new(
        &format!("http://{}", node.api_addr),
        &node.credentials.access_key_id,
        &node.credentials.access_key_secret,
    );
    let (lb, address) = configure(&client, args.port, &backends, &zones).await?;
    let url = format!("http://{address}:{}/", args.port);
    println!(
        "\nOpenSLB demo is running.\n\
         \n  load balancer {lb} at {address} (zones local-a / local-b)\
         \n  TCP listener :{port} -> backend 1 at {b1} (local-a), backend 2 at {b2} (local-b), round robin\
         \n\nSee traffic alternate between the two backends:\
         \n  for i in 1 2 3 4; do curl -s {url}; done\
         \n\nLook at it through the API (Alibaba SLB 2014-05-15) and the metrics:\
         \n  cargo run -q -p slb -- status --endpoint http://{api} --data-dir {dir}\
         \n  cargo run -q -p slb -- call --endpoint http://{api} --data-dir {dir} DescribeHealthStatus --LoadBalancerId {lb}\
         \n  curl -s http://{api}/metrics\
         \n\nPress Ctrl-C to stop.",
        port = args.port,
        b1 = backends[0],
        b2 = backends[1],
        api = node.api_addr,
        dir = data_dir.display(),
    );
    wait_for_signal().await?;
    node.stop().await?;
    drop(temp);
    Ok(())
}

/// Creates the instance, a VServer group with both backends and a started TCP listener.
async fn configure(
    client: &Client,
    port: u16,
    backends: &[SocketAddr],
    zones: &[&str],
) -> Result<(String, String)> {
    let created = client
        .call(
            "CreateLoadBalancer",
            &[
                ("LoadBalancerName", "demo"),
                ("MasterZoneId", zones[0]),
                ("SlaveZoneId", zones[1]),
                ("AddressType", "intranet"),
            ],
        )
        .await
        .context("CreateLoadBalancer")?;
    let lb = created["LoadBalancerId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let address = created["Address"].as_str().unwrap_or_default().to_string();
    let members: Vec<serde_json::Value> = backends
        .iter()
        .enumerate()
        .map(|(i, b)| {
            serde_json::json!({
                "ServerId": b.ip().to_string(), "Type": "ip", "Port": b.port(),
                "Weight": 100, "Description": format!("demo backend {} ({})", i + 1, zones[i]),
            })
        })
        .collect();
    let group = client
        .call(
            "CreateVServerGroup",
            &[
                ("LoadBalancerId", lb.as_str()),
                ("VServerGroupName", "demo-backends"),
                ("BackendServers", &serde_json::to_string(&members)?),
            ],
        )
        .await
        .context("CreateVServerGroup")?;
    let group = group["VServerGroupId"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let port = port.to_string();
    client
        .call(
            "CreateLoadBalancerTCPListener",
            &[
                ("LoadBalancerId", lb.as_str()),
                ("ListenerPort", port.as_str()),
                ("VServerGroupId", group.as_str()),
                ("Scheduler", "rr"),
                ("Bandwidth", "-1"),
                ("HealthCheckInterval", "2"),
            ],
        )
        .await
        .context("CreateLoadBalancerTCPListener")?;
    client
        .call(
            "StartLoadBalancerListener",
            &[
                ("LoadBalancerId", lb.as_str()),
                ("ListenerPort", port.as_str()),
            ],
        )
        .await
        .context("StartLoadBalancerListener (is the port free?)")?;
    Ok((lb, address))
}

/// A tiny HTTP/1.1 server on 127.0.0.1 that names itself in every answer.
async fn spawn_backend(n: usize, zone: &str) -> Result<SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let body = format!("Hello from demo backend {n} (zone {zone}) at {addr}\n");
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = listener.accept().await {
            let body = body.clone();
            tokio::spawn(async move {
                let mut buf = vec![0u8; 8192];
                let mut read = 0;
                // Read the request head (bounded), then answer and close.
                while read < buf.len() {
                    match conn.read(&mut buf[read..]).await {
                        Ok(0) | Err(_) => break,
                        Ok(k) => read += k,
                    }
                    if buf[..read].windows(4).any(|w| w == b"\r\n\r\n") {
                        break;
                    }
                }
                let response = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = conn.write_all(response.as_bytes()).await;
                let _ = conn.shutdown().await;
            });
        }
    });
    Ok(addr)
}
