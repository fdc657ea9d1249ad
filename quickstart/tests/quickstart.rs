//! The README's first command: `gamsa-quickstart` starts a collector and an
//! agent, and prints the first scan and the emr-s014 verdicts.
//!
//! It runs in a fresh network namespace holding only loopback (`unshare
//! --net`, needs root), so the agent's probes (the region probe asks cloud
//! metadata services) send nothing beyond it.

use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn quickstart_prints_the_first_scan_and_the_verdicts() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let started = Instant::now();
    let out = Command::new("unshare")
        .args([
            "--net",
            "sh",
            "-c",
            "ip link set lo up && exec \"$@\"",
            "sh",
        ])
        .arg(env!("CARGO_BIN_EXE_gamsa-quickstart"))
        .arg("--data-dir")
        .arg(&data)
        .args([
            "--grpc-listen",
            "127.0.0.1:0",
            "--http-listen",
            "127.0.0.1:0",
        ])
        .arg("--once")
        .output()
        .expect("unshare (util-linux) runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "quickstart failed (needs root for unshare --net): {stderr}\n{stdout}"
    );
    for expected in [
        "created a CA in",
        "API token: gamsa",
        "dashboard: http://127.0.0.1:",
        "== first scan ==",
        "== emr-s014 (EMR external storage), automated items ==",
        "stopped",
    ] {
        assert!(stdout.contains(expected), "{expected:?} missing:\n{stdout}");
    }
    // Every probe the agent runs by default reported before the deadline,
    // each with its one-line summary.
    for probe in [
        "host",
        "ports",
        "tls",
        "port_scan",
        "encryption",
        "region",
        "redundancy",
        "time_sync",
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(&format!("{probe} "))),
            "no {probe} evidence:\n{stdout}"
        );
    }
    // The namespace has no TLS listener but the collector's own gRPC port,
    // which is not a finding about the host.
    assert!(
        stdout.lines().any(|l| l.trim_start().starts_with("tls ")
            && l.contains(" nothing to report: no TLS endpoint found")),
        "the collector's own port was probed as a TLS endpoint:\n{stdout}"
    );
    assert!(
        stdout.contains(" closed · "),
        "no port scan summary:\n{stdout}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}: the first scan did not finish before the deadline",
        started.elapsed()
    );
    assert!(data.join("pki").is_dir() && data.join("api-token").is_file());
}
