//! The agent's command line: `scan --once` output forms and bad input.

use std::process::{Command, Output};

fn agent(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_gamsa-agent"))
        .args(args)
        .env_remove("GAMSA_AGENT_CONFIG")
        .output()
        .unwrap()
}

#[test]
fn scan_once_prints_one_canonical_json_evidence_per_line() {
    let o = agent(&["scan", "--once", "--probe", "host", "--probe", "ports"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{text}");
    for ev in &lines {
        assert_eq!(ev["status"], "STATUS_OBSERVED", "{ev}");
        assert!(ev["observedAt"].as_str().unwrap().ends_with('Z'));
    }
    let host = lines.iter().find(|e| e["probe"] == "host").unwrap();
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    assert_eq!(host["hostInfo"]["kernelVersion"], kernel.trim());
}

#[test]
fn scan_once_table_has_a_row_per_evidence() {
    let o = agent(&["scan", "--once", "--format", "table", "--probe", "ports"]);
    assert!(o.status.success());
    let text = String::from_utf8(o.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines[0].starts_with("PROBE"), "{text}");
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[1].starts_with("ports") && lines[1].contains("listening"),
        "{text}"
    );
}

#[test]
fn bad_config_and_unknown_probe_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(&cfg, "[probes.ports]\nenabled = \"yes\"\n").unwrap();
    let o = agent(&["scan", "--once", "--config", cfg.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("agent.toml: line 2"), "{err}");
    let o = agent(&["scan", "--once", "--probe", "nonesuch"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("--probe nonesuch"));
}

#[test]
fn run_without_credentials_says_which_file_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("agent.toml");
    std::fs::write(
        &cfg,
        format!(
            "[collector]\ncert = \"{}/none.crt\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let o = agent(&["run", "--config", cfg.to_str().unwrap()]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("none.crt: missing"));
}
