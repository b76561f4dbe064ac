//! API hardening through the daemon: extra keys made with `slb keys` (admin or read-only)
//! are picked up while the node runs, read-only keys cannot change state, a deleted key
//! is refused, and a key over its request rate gets `Throttling`.

use std::process::Command;
use std::time::Duration;

use slb_api::client::Client;

use crate::kit::*;

fn keys(d: &Daemon, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_slb"))
        .arg("keys")
        .args(args)
        .arg("--data-dir")
        .arg(&d.dir)
        .output()
        .expect("slb keys");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn field<'a>(text: &'a str, name: &str) -> &'a str {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(" = "))
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_keys_throttling_and_key_rotation() {
    let d = Daemon::start_with("127.61.89.0/24", &["--api-rate-limit", "20"]).await;
    let made = keys(&d, &["add", "--read-only"]);
    let (id, secret) = (
        field(&made, "access_key_id"),
        field(&made, "access_key_secret"),
    );
    assert!(keys(&d, &["list"]).contains(&format!("{id} readonly")));
    let reader = Client::new(&format!("http://{}", d.api), id, secret);
    let picked_up = eventually(Duration::from_secs(5), || async {
        reader.call("DescribeLoadBalancers", &[]).await.is_ok()
    })
    .await;
    assert!(picked_up.is_some(), "the running node loads the new key");
    let e = reader
        .call("CreateLoadBalancer", &[("LoadBalancerName", "x")])
        .await
        .unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "Forbidden.RAM"));
    // The secret never reaches the database file.
    let db = std::fs::read(d.dir.join("slb.redb")).unwrap();
    assert!(!db.windows(secret.len()).any(|w| w == secret.as_bytes()));

    // Over 20 requests per second: Throttling.
    let mut throttled = 0;
    for _ in 0..40 {
        if let Err(e) = d.client.call("DescribeRegions", &[]).await {
            assert_eq!(e.code, "Throttling");
            throttled += 1;
        }
    }
    assert!(throttled > 0, "no request was throttled");

    keys(&d, &["delete", id]);
    let refused = eventually(Duration::from_secs(5), || async {
        matches!(
            reader.call("DescribeLoadBalancers", &[]).await,
            Err(e) if e.code == "InvalidAccessKeyId.NotFound"
        )
    })
    .await;
    assert!(refused.is_some(), "a deleted key is refused");
}
