//! The pipeline end to end: real collector and agent processes on loopback,
//! mutual TLS, evidence read back through the HTTP API.

use gamsa_tests::{agent_config, start_agent, wait_for, Collector};
use std::time::Duration;

#[test]
fn agent_evidence_reaches_the_api_over_mutual_tls() {
    let collector = Collector::start().unwrap();
    let creds = collector.issue("node-a").unwrap();
    let cfg = agent_config(collector.dir.path(), "node-a", &collector, &creds, "").unwrap();
    let agent = start_agent(&cfg, collector.dir.path().join("agent.log")).unwrap();

    let evidence = wait_for("host and ports evidence", Duration::from_secs(30), || {
        let ev = collector.evidence("host=node-a");
        let probes: Vec<&str> = ev.iter().filter_map(|e| e["probe"].as_str()).collect();
        (probes.contains(&"host") && probes.contains(&"ports")).then_some(ev)
    });
    for ev in &evidence {
        assert_eq!(ev["agentId"], "node-a", "{ev}");
        assert!(ev["id"].as_str().is_some_and(|id| id.len() == 36), "{ev}");
        assert!(
            ev["observedAt"].as_str().is_some_and(|t| t.ends_with("Z")),
            "{ev}"
        );
    }
    let host = evidence.iter().find(|e| e["probe"] == "host").unwrap();
    assert_eq!(host["status"], "STATUS_OBSERVED", "{host}");
    assert!(host["hostInfo"]["kernelVersion"]
        .as_str()
        .is_some_and(|k| !k.is_empty()));
    let ports = evidence.iter().find(|e| e["probe"] == "ports").unwrap();
    let sockets = ports["listeningSockets"]["sockets"].as_array().unwrap();
    // The collector's own gRPC listener is one of this machine's sockets.
    assert!(
        sockets
            .iter()
            .any(|s| s["port"] == collector.grpc && s["protocol"] == "tcp"),
        "collector port {} missing from {ports}",
        collector.grpc
    );

    let agents = collector.get("/api/v1/agents").unwrap();
    let a = &agents["agents"][0];
    assert_eq!(a["agentId"], "node-a");
    assert_eq!(a["connected"], true);
    assert!(a["capabilities"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c == "ports"));

    // Filters: by probe, and `since` in the future finds nothing.
    assert!(collector
        .evidence("probe=ports")
        .iter()
        .all(|e| e["probe"] == "ports"));
    assert!(collector.evidence("since=2999-01-01T00:00:00Z").is_empty());
    assert!(
        collector.log().contains("agent connected"),
        "{}",
        collector.log()
    );
    drop(agent);

    // Evidence and keys at rest are the collector user's alone, and the
    // admin token never reaches the log.
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    let data = collector.data();
    for dir in [data.clone(), data.join("pki")] {
        assert_eq!(mode(&dir), 0o700, "{}", dir.display());
    }
    for file in [
        "gamsa.db",
        "gamsa.db-wal",
        "gamsa.db-shm",
        "pki/ca.key",
        "pki/collector.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    assert!(!collector.log().contains(&collector.token));
}

#[test]
fn api_requires_a_valid_bearer_token() {
    let collector = Collector::start().unwrap();
    let url = format!("http://127.0.0.1:{}/api/v1/agents", collector.http);
    let no_token = ureq::get(&url).call();
    assert!(
        matches!(no_token, Err(ureq::Error::Status(401, _))),
        "{no_token:?}"
    );
    let bad = ureq::get(&url)
        .set("Authorization", "Bearer gamsa_nope")
        .call();
    assert!(matches!(bad, Err(ureq::Error::Status(401, _))), "{bad:?}");
    let metrics = ureq::get(&format!("http://127.0.0.1:{}/metrics", collector.http))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(
        metrics.contains("gamsa_collector_refusals_total{reason=\"api_bad_token\"} 1"),
        "{metrics}"
    );
}

#[test]
fn agent_enrols_with_a_token_once() {
    let collector = Collector::start().unwrap();
    let token = gamsa_tests::run(collector.cmd().args(["token", "create", "--uses", "1"]))
        .unwrap()
        .trim()
        .to_string();
    let dir = collector.dir.path();
    let token_file = dir.join("token");
    std::fs::write(&token_file, &token).unwrap();
    let creds = dir.join("enrolled");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::copy(collector.data().join("pki/ca.crt"), creds.join("ca.crt")).unwrap();
    let extra = "# enrol";
    let cfg = agent_config(dir, "node-e", &collector, &creds, extra).unwrap();
    gamsa_tests::enrol_with(&cfg, &token_file).unwrap();
    let _agent = start_agent(&cfg, dir.join("agent-e.log")).unwrap();
    wait_for("enrolled agent evidence", Duration::from_secs(30), || {
        (!collector.evidence("host=node-e").is_empty()).then_some(())
    });
    let key_mode = std::fs::metadata(creds.join("agent.key")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(key_mode.permissions().mode() & 0o777, 0o600);

    // The same token a second time: refused, and said so in the log.
    let creds2 = dir.join("enrolled2");
    std::fs::create_dir_all(&creds2).unwrap();
    std::fs::copy(collector.data().join("pki/ca.crt"), creds2.join("ca.crt")).unwrap();
    let cfg2 = agent_config(dir, "node-f", &collector, &creds2, "").unwrap();
    gamsa_tests::enrol_with(&cfg2, &token_file).unwrap();
    let out = std::process::Command::new(gamsa_tests::binary("gamsa-agent"))
        .args(["enrol", "--config"])
        .arg(&cfg2)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("enrolment refused"),
        "{out:?}"
    );
    assert!(!creds2.join("agent.crt").exists());
    assert!(
        collector.log().contains("refused enrolment"),
        "{}",
        collector.log()
    );
}
