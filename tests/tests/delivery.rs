//! No evidence lost, none duplicated: real processes killed with SIGKILL at
//! awkward moments.

use gamsa_proto::v1::{
    agent_message, collector_message, ingest_client::IngestClient, AgentMessage, Batch, Evidence,
    Hello, Status,
};
use gamsa_tests::{agent_config, spooled, unaccounted, wait_for, Collector};
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

fn stored_ids(c: &Collector, host: &str) -> Vec<String> {
    c.evidence(&format!("host={host}"))
        .iter()
        .filter_map(|e| e["id"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn collector_outage_and_agent_kill_lose_and_duplicate_nothing() {
    let mut collector = Collector::start().unwrap();
    let creds = collector.issue("node-d").unwrap();
    let extra = "[probes.host]\ninterval = \"1s\"\n[probes.ports]\ninterval = \"1s\"\n";
    let cfg = agent_config(collector.dir.path(), "node-d", &collector, &creds, "").unwrap();
    let text = std::fs::read_to_string(&cfg).unwrap().replace(
        "[probes.host]\ninterval = \"2s\"\n[probes.ports]\ninterval = \"2s\"\n",
        extra,
    );
    std::fs::write(&cfg, text).unwrap();
    let agent_log = collector.dir.path().join("agent-d.log");
    let start = |log: &std::path::Path| {
        let mut cmd = std::process::Command::new(gamsa_tests::binary("gamsa-agent"));
        cmd.arg("run")
            .arg("--config")
            .arg(&cfg)
            .env("GAMSA_LOG", "info,gamsa_agent::transport=debug");
        gamsa_tests::Proc::spawn(cmd, log.to_path_buf()).unwrap()
    };
    let mut agent = start(&agent_log);
    wait_for("first evidence", Duration::from_secs(30), || {
        (stored_ids(&collector, "node-d").len() >= 2).then_some(())
    });

    // The collector dies; the agent keeps producing into its spool.
    collector.proc.as_mut().unwrap().kill();
    std::thread::sleep(Duration::from_secs(4));
    collector.restart().unwrap();

    // The agent dies mid-flight, then comes back with the same spool.
    std::thread::sleep(Duration::from_millis(700));
    agent.kill();
    let produced = spooled(&std::fs::read_to_string(&agent_log).unwrap());
    let _agent = start(&collector.dir.path().join("agent-d2.log"));
    assert!(
        produced.len() >= 8,
        "agent produced {} evidence",
        produced.len()
    );

    // Stored by its id, or seen again in a run of unchanged evidence.
    wait_for(
        "every produced evidence stored",
        Duration::from_secs(60),
        || {
            unaccounted(&produced, &collector.evidence("host=node-d"))
                .is_empty()
                .then_some(())
        },
    );
    let stored = stored_ids(&collector, "node-d");
    let unique: BTreeSet<&String> = stored.iter().collect();
    assert_eq!(unique.len(), stored.len(), "no evidence stored twice");
}

async fn client(
    c: &Collector,
    creds: &std::path::Path,
) -> Option<IngestClient<tonic::transport::Channel>> {
    use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
    let read = |p: &str| std::fs::read_to_string(creds.join(p)).unwrap();
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(read("ca.crt")))
        .identity(Identity::from_pem(read("agent.crt"), read("agent.key")));
    let ch = Endpoint::from_shared(format!("https://127.0.0.1:{}", c.grpc))
        .ok()?
        .tls_config(tls)
        .ok()?
        .connect()
        .await
        .ok()?;
    Some(IngestClient::new(ch).max_encoding_message_size(16 << 20))
}

fn evidence(agent: &str, batch: u64, i: u64) -> Evidence {
    Evidence {
        id: format!("{agent}-{batch:06}-{i:04}"),
        agent_id: agent.into(),
        host: agent.into(),
        probe: "host".into(),
        subject: agent.into(),
        status: Status::Error as i32,
        // Content of its own: no evidence is a run seen again.
        error: format!("synthetic load {batch}-{i}"),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(
            1_763_000_000_000 + (batch * 1000 + i) as i64,
        )),
        first_observed_at: None,
        payload: None,
    }
}

/// Evidence per batch; 2,000 batches stay within one API page (10,000).
const PER_BATCH: u64 = 5;

/// Streams batches until the stream breaks or all are acked; returns the
/// acked batch numbers. `on_ack` sees the count of acks so far.
async fn stream_until_broken(
    c: &Collector,
    creds: &std::path::Path,
    first: u64,
    batches: u64,
    mut on_ack: impl FnMut(usize),
) -> BTreeSet<u64> {
    let mut acked = BTreeSet::new();
    let Some(mut client) = client(c, creds).await else {
        return acked;
    };
    let (tx, rx) = tokio::sync::mpsc::channel(8);
    let hello = AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            agent_id: "node-l".into(),
            host: "node-l".into(),
            ..Default::default()
        })),
    };
    tx.send(hello).await.unwrap();
    let Ok(resp) = client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
    else {
        return acked;
    };
    let mut inbound = resp.into_inner();
    let sender = tokio::spawn(async move {
        for b in first..first + batches {
            let evs = (0..PER_BATCH).map(|i| evidence("node-l", b, i)).collect();
            let msg = AgentMessage {
                msg: Some(agent_message::Msg::Batch(Batch {
                    seq: b,
                    evidence: evs,
                })),
            };
            if tx.send(msg).await.is_err() {
                break;
            }
        }
    });
    while let Ok(Some(m)) = inbound.message().await {
        if let Some(collector_message::Msg::Ack(a)) = m.msg {
            acked.insert(a.seq);
            on_ack(acked.len());
            if acked.len() as u64 == batches {
                break;
            }
        }
    }
    sender.abort();
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn collector_killed_during_heavy_ingest_keeps_every_acked_batch() {
    let mut collector = Collector::start().unwrap();
    let creds = collector.issue("node-l").unwrap();
    let pid = collector.proc.as_ref().unwrap().child.id();
    // Kill the collector while batches are in flight: after the 300th ack,
    // with the sender still far from done, whatever the machine's speed.
    let mut killed = false;
    let kill = |n: usize| {
        if n == 300 && !killed {
            killed = true;
            let _ = std::process::Command::new("kill")
                .args(["-9", &pid.to_string()])
                .status();
        }
    };
    let acked = stream_until_broken(&collector, &creds, 1, 2000, kill).await;
    assert!(!acked.is_empty(), "some batches were acked before the kill");
    assert!((acked.len() as u64) < 2000, "the kill landed mid-ingest");

    collector.restart().unwrap();
    let stored = collector.evidence("host=node-l");
    let mut per_batch: HashMap<u64, usize> = HashMap::new();
    let mut ids = BTreeSet::new();
    for e in &stored {
        let id = e["id"].as_str().unwrap().to_string();
        let batch: u64 = id.split('-').nth(2).unwrap().parse().unwrap();
        *per_batch.entry(batch).or_default() += 1;
        assert!(ids.insert(id), "duplicate evidence");
    }
    for b in &acked {
        assert_eq!(
            per_batch.get(b),
            Some(&(PER_BATCH as usize)),
            "acked batch {b} must be stored whole"
        );
    }
    // Whatever was committed but not acked is whole too: batches are atomic.
    assert!(
        per_batch.values().all(|n| *n == PER_BATCH as usize),
        "no partial batch"
    );

    // Replaying everything after the restart stores nothing twice.
    let replay = stream_until_broken(&collector, &creds, 1, 50, |_| {}).await;
    assert_eq!(replay.len(), 50);
    let again = collector.evidence("host=node-l");
    assert_eq!(
        again.len(),
        stored.len().max(50 * PER_BATCH as usize),
        "replays of stored batches add nothing"
    );
}
