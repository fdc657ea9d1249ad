//! High availability: two `gamsa-collector serve` processes on one
//! PostgreSQL database (a scratch schema), sharing the CA and server key as
//! replicas do; real agents that know both. The collector an agent streams
//! to dies with SIGKILL: the agent fails over to the other and every
//! evidence it produced is stored exactly once. An agent revoked through one
//! collector is refused by the other. A verdict changed through one
//! collector is what the other answers next.

use gamsa_tests::pg::Scratch;
use gamsa_tests::{
    agent_config_for, binary, spooled, unaccounted, wait_for, wait_for_or, Collector, Proc,
};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// Whether `collector` has an open ingest stream from `agent`.
fn connected(collector: &Collector, agent: &str) -> bool {
    collector
        .get("/api/v1/agents")
        .ok()
        .and_then(|v| v["agents"].as_array().cloned())
        .unwrap_or_default()
        .iter()
        .any(|a| a["agentId"] == agent && a["connected"] == true)
}

/// Every evidence id stored for `host`, as the collector's API lists them.
fn stored_ids(collector: &Collector, host: &str) -> Vec<String> {
    collector
        .evidence(&format!("host={host}"))
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

/// The collector's log lines refusing `agent`, with why.
fn refusals(collector: &Collector, agent: &str) -> Vec<String> {
    collector
        .log()
        .lines()
        .filter(|l| l.contains("refused agent") && l.contains(&format!("agent_id={agent}")))
        .map(str::to_string)
        .collect()
}

fn start_agent(config: &Path, log: &Path) -> Proc {
    let mut cmd = std::process::Command::new(binary("gamsa-agent"));
    cmd.arg("run")
        .arg("--config")
        .arg(config)
        .env("GAMSA_LOG", "info,gamsa_agent::transport=debug");
    Proc::spawn(cmd, log.to_path_buf()).unwrap()
}

#[test]
fn agents_fail_over_between_collectors_sharing_postgres() {
    let scratch = Scratch::create("gamsa_ha");
    let mut one = Collector::start_on(Some(&scratch.url)).unwrap();
    let two = one.replica().unwrap();
    let dir = tempfile::tempdir().unwrap();
    // node-a prefers collector one, node-b collector two.
    let creds_a = one.issue("node-a").unwrap();
    let creds_b = one.issue("node-b").unwrap();
    let cfg_a = agent_config_for(dir.path(), "node-a", &[&one, &two], &creds_a, "").unwrap();
    let cfg_b = agent_config_for(dir.path(), "node-b", &[&two, &one], &creds_b, "").unwrap();
    let log_a = dir.path().join("node-a.log");
    let _agent_a = start_agent(&cfg_a, &log_a);
    let _agent_b = start_agent(&cfg_b, &dir.path().join("node-b.log"));

    wait_for("node-a streaming to collector one", WAIT, || {
        connected(&one, "node-a").then_some(())
    });
    wait_for("node-b streaming to collector two", WAIT, || {
        connected(&two, "node-b").then_some(())
    });
    // One database: what node-a sent to collector one, collector two serves.
    wait_for("node-a's evidence through collector two", WAIT, || {
        (stored_ids(&two, "node-a").len() >= 4).then_some(())
    });

    // Collector one dies mid-stream; node-a moves to collector two.
    one.proc.as_mut().unwrap().kill();
    wait_for("node-a failed over to collector two", WAIT, || {
        connected(&two, "node-a").then_some(())
    });
    let before = stored_ids(&two, "node-a").len();
    wait_for("node-a's evidence after the failover", WAIT, || {
        (stored_ids(&two, "node-a").len() >= before + 4).then_some(())
    });

    // Everything node-a spooled so far, before and after the kill, arrives;
    // batches replayed to collector two after the kill are stored once.
    let produced = spooled(&std::fs::read_to_string(&log_a).unwrap());
    assert!(produced.len() >= 8, "node-a produced {}", produced.len());
    wait_for("every evidence node-a spooled stored", WAIT, || {
        unaccounted(&produced, &two.evidence("host=node-a"))
            .is_empty()
            .then_some(())
    });
    let stored = stored_ids(&two, "node-a");
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no evidence stored twice");
    let log = std::fs::read_to_string(&log_a).unwrap();
    assert!(
        log.contains(&format!("127.0.0.1:{}", two.grpc)) && log.contains("streaming to collector"),
        "node-a's log shows the failover: {log}"
    );

    // node-b streams to collector two; it is revoked through collector one
    // (restarted), and collector two cuts its stream and refuses it.
    one.restart().unwrap();
    assert!(connected(&two, "node-b"), "node-b still on collector two");
    gamsa_tests::run(one.cmd().args(["agent", "revoke", "node-b"])).unwrap();
    wait_for("collector two cutting node-b's stream", WAIT, || {
        refusals(&two, "node-b")
            .iter()
            .any(|l| l.contains("agent was revoked"))
            .then_some(())
    });
    wait_for("node-b refused when it reconnects", WAIT, || {
        [&one, &two]
            .iter()
            .any(|c| {
                refusals(c, "node-b")
                    .iter()
                    .any(|l| l.contains("agent is revoked"))
            })
            .then_some(())
    });
    assert!(!connected(&two, "node-b") && !connected(&one, "node-b"));
    // node-a, not revoked, keeps streaming.
    assert!(connected(&two, "node-a") || connected(&one, "node-a"));
    assert!(refusals(&one, "node-a").is_empty() && refusals(&two, "node-a").is_empty());
}

/// Snapshot files in `dir`, by name.
fn snapshot_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.ends_with(".json") && !n.starts_with('.'))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn replicas_take_each_scheduled_snapshot_once_into_one_chain() {
    let scratch = Scratch::create("gamsa_ha_snap");
    let shared = tempfile::tempdir().unwrap();
    let settings = gamsa_tests::Settings {
        // Every two seconds, into a directory both replicas mount.
        sections: format!(
            "[snapshots]\nschedule = \"*/2 * * * * *\"\ndir = \"{}\"\n",
            shared.path().display()
        ),
        ..Default::default()
    };
    let one = Collector::start_configured(Some(&scratch.url), settings).unwrap();
    let two = one.replica().unwrap();
    // The first replica may have taken slots alone while the second started;
    // five more slots hold at least four that both saw.
    let before_both = snapshot_files(shared.path()).len();
    let files = wait_for("five more scheduled snapshots", WAIT, || {
        let f = snapshot_files(shared.path());
        (f.len() >= before_both + 5).then_some(f)
    });
    // One per slot: sequence numbers 1, 2, 3 … without gaps or repeats, and
    // no two files for the same scheduled second.
    let sequences: Vec<u64> = files.iter().map(|f| f[..8].parse().unwrap()).collect();
    assert_eq!(
        sequences,
        (1..=sequences.len() as u64).collect::<Vec<_>>(),
        "{files:?}"
    );
    let slots: BTreeSet<&str> = files.iter().map(|f| &f[9..]).collect();
    assert_eq!(
        slots.len(),
        files.len(),
        "two snapshots of one slot: {files:?}"
    );
    // Both replicas took part or stood aside, and said so.
    let taken = |c: &Collector| {
        c.log()
            .matches("scheduled snapshot taken by another collector")
            .count()
    };
    // The replica standing aside may log a moment after the file appears.
    wait_for_or(
        "four slots one replica left to the other",
        WAIT,
        || (taken(&one) + taken(&two) >= 4).then_some(()),
        || format!("{}\n{}", one.log(), two.log()),
    );
    // The chain verifies offline with the shared public key.
    let out = gamsa_tests::run(
        one.cmd()
            .args(["snapshot", "verify", "--public-key"])
            .arg(one.data().join("pki/snapshot-signing.pub"))
            .arg("--chain")
            .arg(shared.path())
            .arg(shared.path().join(files.last().unwrap())),
    )
    .unwrap();
    assert!(out.contains("verified"), "{out}");
    // Either replica lists every snapshot.
    let listed = two.get("/api/v1/snapshots").unwrap();
    assert!(
        listed["snapshots"].as_array().is_some_and(|s| s.len() >= 5),
        "{listed}"
    );
}

/// Marks `catalog/item` NA through `collector`'s API.
fn mark_na(collector: &Collector, catalog: &str, item: &str) {
    let url = format!(
        "http://127.0.0.1:{}/api/v1/catalogs/{catalog}/items/{item}/na",
        collector.http
    );
    ureq::post(&url)
        .set("Authorization", &format!("Bearer {}", collector.token))
        .send_json(serde_json::json!({ "justification": "not run by us" }))
        .unwrap_or_else(|e| panic!("{url}: {e}\n{}", collector.log()));
}

/// An item's verdict and the store change its collector's kept evaluation
/// includes.
fn verdict(collector: &Collector, catalog: &str, item: &str) -> (String, i64) {
    let v = collector
        .get(&format!("/api/v1/catalogs/{catalog}/items/{item}"))
        .unwrap_or_else(|e| panic!("{e:#}\n{}", collector.log()));
    assert!(v["asOf"].is_string() && v["pending"].is_boolean(), "{v}");
    (
        v["result"]["verdict"].as_str().unwrap().to_string(),
        v["changeCounter"].as_i64().unwrap(),
    )
}

#[test]
fn replicas_see_the_verdicts_changed_through_each_other() {
    let scratch = Scratch::create("gamsa_ha_verdicts");
    let one = Collector::start_on(Some(&scratch.url)).unwrap();
    let two = one.replica().unwrap();
    let (before, _) = verdict(&two, "emr-s014", "4.3");
    assert_ne!(before, "NA");
    // Through one: one's next answer has it (the write waited for it), and
    // two's follows from the store's change counter, with no request to
    // two asking for it.
    mark_na(&one, "emr-s014", "4.3");
    let (now_one, counter_one) = verdict(&one, "emr-s014", "4.3");
    assert_eq!(now_one, "NA");
    let counter_two = wait_for("collector two seeing the NA mark", WAIT, || {
        let (v, counter) = verdict(&two, "emr-s014", "4.3");
        (v == "NA").then_some(counter)
    });
    assert!(counter_two >= counter_one, "{counter_two} < {counter_one}");
    // And the other way round.
    assert_ne!(verdict(&one, "emr-s014", "5.1").0, "NA");
    mark_na(&two, "emr-s014", "5.1");
    wait_for("collector one seeing the NA mark", WAIT, || {
        (verdict(&one, "emr-s014", "5.1").0 == "NA").then_some(())
    });
}
