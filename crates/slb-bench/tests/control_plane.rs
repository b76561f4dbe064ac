//! Runs `slb-bench control-plane` with small numbers against the debug `slb` binary and
//! checks that every row is there with plausible figures.
//!
//! The `slb` binary belongs to another crate, so Cargo does not build it for these tests:
//! build it first (`cargo build -p slb`, as scripts/test.sh does). It is looked up beside
//! this crate's own binary, so a custom target directory works too.

use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn slb_bin() -> PathBuf {
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_slb-bench")).with_file_name("slb");
    assert!(
        bin.is_file(),
        "{} is missing: run `cargo build -p slb` before `cargo test -p slb-bench`",
        bin.display()
    );
    bin
}

/// The cells of the table row whose first cell is `label`, as text.
fn row(report: &str, label: &str) -> Vec<String> {
    let line = report
        .lines()
        .find(|l| l.starts_with(&format!("| {label} |")))
        .unwrap_or_else(|| panic!("no row {label:?} in:\n{report}"));
    line.trim_matches('|')
        .split('|')
        .map(|c| c.trim().to_string())
        .collect()
}

fn num(cell: &str) -> f64 {
    cell.parse()
        .unwrap_or_else(|_| panic!("{cell:?} is not a number"))
}

#[test]
fn control_plane_reports_every_row() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("report.md");
    let mut child = Command::new(env!("CARGO_BIN_EXE_slb-bench"))
        .arg("control-plane")
        .arg("--slb-bin")
        .arg(slb_bin())
        .args(["--changes", "5", "--instances", "20", "--duration", "1"])
        .args(["--address-pool", "127.79.0.0/24"])
        .arg("--work-dir")
        .arg(dir.path())
        .arg("--out")
        .arg(&out)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("slb-bench control-plane did not finish within 60 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "slb-bench control-plane failed: {status}");
    let report = std::fs::read_to_string(&out).unwrap();

    for label in [
        "HTTP listener, switch backend",
        "TCP listener, switch backend",
        "new TCP listener",
    ] {
        let r = row(&report, label);
        assert_eq!(r[1], "5", "{label}: every change attempted");
        assert_eq!(r[2], "0", "{label}: no change failed");
        assert_eq!(
            r[3], "0",
            "{label}: a stale answer after the API answered means it answered before the data plane applied the change"
        );
        for (i, cell) in r.iter().enumerate().skip(5) {
            let ms = num(cell);
            assert!(
                ms > 0.0 && ms < 5000.0,
                "{label}: column {i} = {ms} ms is implausible"
            );
        }
    }
    let create = row(&report, "CreateLoadBalancer");
    assert_eq!((create[1].as_str(), create[2].as_str()), ("20", "0"));
    assert!(num(&create[3]) > 0.0);
    for (label, items) in [
        ("DescribeLoadBalancers, no PageSize", None),
        ("DescribeLoadBalancers, PageSize=10", Some("10 of 21")),
        ("DescribeLoadBalancers, PageSize=100", Some("21 of 21")),
    ] {
        let r = row(&report, label);
        assert!(num(&r[1]) > 0.0, "{label}: some calls answered");
        assert_eq!(r[2], "0", "{label}: no call failed");
        assert!(num(&r[3]) > 0.0, "{label}: calls/s > 0");
        assert!(num(&r[4]) > 0.0 && num(&r[5]) >= num(&r[4]));
        if let Some(items) = items {
            assert_eq!(r[7], items, "{label}: page contents");
        }
    }
    assert!(
        report.contains("node exit: exit status: 0"),
        "the node stopped cleanly on SIGTERM:\n{report}"
    );
    // The scratch data directory went away with the node.
    let left: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with("slb-bench-"))
        .collect();
    assert!(left.is_empty(), "scratch directories left: {left:?}");
}
