//! `slb status`: instances, listeners and backend health as plain-text tables.

use anyhow::{Context, Result};
use serde_json::Value;
use slb_api::client::Client;

use crate::call::ClientArgs;

pub async fn run(args: ClientArgs) -> Result<()> {
    let client = args.client()?;
    print!("{}", render(&client).await?);
    Ok(())
}

/// The whole report, so tests and the demo can print or check it.
pub async fn render(client: &Client) -> Result<String> {
    let lbs = client
        .call("DescribeLoadBalancers", &[])
        .await
        .context("DescribeLoadBalancers")?;
    let lbs = list(&lbs["LoadBalancers"]["LoadBalancer"]);
    let mut out = String::new();
    let mut rows = vec![row(&[
        "INSTANCE",
        "NAME",
        "ADDRESS",
        "STATUS",
        "ZONES",
        "ANTI-DDOS",
    ])];
    for lb in &lbs {
        let id = s(&lb["LoadBalancerId"]);
        // "normal", "scrubbing", "blackholed" or "disabled", with the last second's rates.
        let ddos = match client
            .call(
                "DescribeLoadBalancerDdosStatus",
                &[("LoadBalancerId", id.as_str())],
            )
            .await
        {
            Ok(v) if s(&v["Status"]) == "disabled" => "disabled".to_string(),
            Ok(v) => format!(
                "{} ({} bps, {} pps, {} cps)",
                s(&v["Status"]),
                s(&v["CurrentRates"]["Bps"]),
                s(&v["CurrentRates"]["Pps"]),
                s(&v["CurrentRates"]["Cps"])
            ),
            Err(_) => "-".to_string(),
        };
        rows.push(vec![
            id,
            s(&lb["LoadBalancerName"]),
            s(&lb["Address"]),
            s(&lb["LoadBalancerStatus"]),
            format!("{}/{}", s(&lb["MasterZoneId"]), s(&lb["SlaveZoneId"])),
            ddos,
        ]);
    }
    out.push_str(&table(&rows));

    let mut listeners = vec![row(&[
        "INSTANCE",
        "LISTENER",
        "STATUS",
        "SCHEDULER",
        "BACKENDS",
    ])];
    let mut health = vec![row(&[
        "INSTANCE", "LISTENER", "SERVER", "ADDRESS", "HEALTH",
    ])];
    for lb in &lbs {
        let id = s(&lb["LoadBalancerId"]);
        let mut token = String::new();
        loop {
            let mut params = vec![("LoadBalancerId", id.as_str()), ("MaxResults", "100")];
            if !token.is_empty() {
                params.push(("NextToken", token.as_str()));
            }
            let page = client
                .call("DescribeLoadBalancerListeners", &params)
                .await?;
            for l in list(&page["Listeners"]) {
                let backends = match l.get("VServerGroupId").and_then(Value::as_str) {
                    Some(g) => format!("group {g}"),
                    None => format!("default group, port {}", s(&l["BackendServerPort"])),
                };
                listeners.push(vec![
                    id.clone(),
                    format!("{}:{}", s(&l["ListenerProtocol"]), s(&l["ListenerPort"])),
                    s(&l["Status"]),
                    s(&l["Scheduler"]),
                    backends,
                ]);
            }
            token = s(&page["NextToken"]);
            if token.is_empty() {
                break;
            }
        }
        let h = client
            .call("DescribeHealthStatus", &[("LoadBalancerId", id.as_str())])
            .await?;
        for b in list(&h["BackendServers"]["BackendServer"]) {
            health.push(vec![
                id.clone(),
                format!("{}:{}", s(&b["Protocol"]), s(&b["ListenerPort"])),
                s(&b["ServerId"]),
                format!("{}:{}", s(&b["ServerIp"]), s(&b["Port"])),
                s(&b["ServerHealthStatus"]),
            ]);
        }
    }
    out.push('\n');
    out.push_str(&table(&listeners));
    out.push('\n');
    out.push_str(&table(&health));
    Ok(out)
}

fn list(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

fn s(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| c.to_string()).collect()
}

/// Left-aligned columns separated by two spaces.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|x| x.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let line: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, cell)| format!("{cell:<w$}", w = widths[i]))
            .collect();
        out.push_str(line.join("  ").trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let t = super::table(&[super::row(&["A", "BB"]), super::row(&["CCC", "D"])]);
        assert_eq!(t, "A    BB\nCCC  D\n");
    }
}
