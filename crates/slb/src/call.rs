//! `slb call ACTION --Param value ...`: one signed API call, printed as JSON.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::Args;
use slb_api::client::Client;

use crate::credentials::Credentials;

/// Where the node is and which key signs the requests.
#[derive(Args, Debug, Clone)]
pub struct ClientArgs {
    /// Base URL of the node's API.
    #[arg(long, env = "SLB_ENDPOINT", default_value = "http://127.0.0.1:8780")]
    pub endpoint: String,
    /// The node's data directory, for its generated credentials (unless the
    /// SLB_ACCESS_KEY_ID/SLB_ACCESS_KEY_SECRET environment variables are set).
    #[arg(long, default_value_os_t = crate::default_data_dir())]
    pub data_dir: PathBuf,
}

impl ClientArgs {
    /// A client signing with the environment's key or the data directory's.
    pub fn client(&self) -> Result<Client> {
        let creds = match Credentials::from_env()? {
            Some(c) => c,
            None => Credentials::read(&self.data_dir.join("credentials")).context(
                "no credentials: set SLB_ACCESS_KEY_ID/SLB_ACCESS_KEY_SECRET or pass the node's --data-dir",
            )?,
        };
        let endpoint = if self.endpoint.contains("://") {
            self.endpoint.clone()
        } else {
            format!("http://{}", self.endpoint)
        };
        Ok(Client::new(
            &endpoint,
            &creds.access_key_id,
            &creds.access_key_secret,
        ))
    }
}

/// An action and its parameters.
#[derive(Args, Debug)]
pub struct CallArgs {
    #[command(flatten)]
    pub client: ClientArgs,
    /// The API action, e.g. DescribeLoadBalancers.
    pub action: String,
    /// Parameters as `--Name value` pairs (or `--Name=value`).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub params: Vec<String>,
}

/// Turns `--Name value` / `--Name=value` words into pairs.
pub fn parse_params(words: &[String]) -> Result<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut it = words.iter();
    while let Some(w) = it.next() {
        let Some(name) = w.strip_prefix("--") else {
            bail!("expected --Name before {w:?}");
        };
        match name.split_once('=') {
            Some((k, v)) => out.push((k.to_string(), v.to_string())),
            None => {
                let v = it
                    .next()
                    .with_context(|| format!("--{name} needs a value"))?;
                out.push((name.to_string(), v.clone()));
            }
        }
    }
    Ok(out)
}

pub async fn run(args: CallArgs) -> Result<()> {
    let client = args.client.client()?;
    let params = parse_params(&args.params)?;
    let borrowed: Vec<(&str, &str)> = params
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    match client.call(&args.action, &borrowed).await {
        Ok(body) => {
            println!("{}", serde_json::to_string_pretty(&body)?);
            Ok(())
        }
        Err(e) if e.status > 0 => {
            println!("{}", serde_json::to_string_pretty(&e.body)?);
            std::process::exit(1);
        }
        Err(e) => bail!("cannot reach {}: {}", args.client.endpoint, e.message),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_in_both_forms() {
        let words: Vec<String> = ["--A", "1", "--B=x=y", "--C", "-1"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = parse_params(&words).unwrap();
        assert_eq!(p[1], ("B".into(), "x=y".into()));
        assert_eq!(p[2], ("C".into(), "-1".into()));
        assert!(parse_params(&["x".to_string()]).is_err());
        assert!(parse_params(&["--A".to_string()]).is_err());
    }
}
