//! Ingest throughput: N simulated agents, each with its own certificate and
//! mutual-TLS stream, send synthetic evidence to one collector (SQLite,
//! `synchronous=FULL`, or PostgreSQL). Reports evidence/s and batch ack
//! latency.
//!
//! `cargo bench -p gamsa-collector --bench ingest`
//! Environment: GAMSA_BENCH_AGENTS (1000), GAMSA_BENCH_EVIDENCE (1000000),
//! GAMSA_BENCH_BATCH (500), GAMSA_BENCH_WINDOW (4), GAMSA_BENCH_PG_URL
//! (unset: SQLite in a temporary directory; set: a scratch schema on that
//! PostgreSQL server, dropped afterwards).

use gamsa_collector::{config::Config, pki, server};
use gamsa_proto::v1::{
    agent_message, collector_message, evidence::Payload, ingest_client::IngestClient, AgentMessage,
    Batch, Evidence, Hello, Status, TimeSync,
};
use std::time::{Duration, Instant};
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// The collector binary's allocator, so that the figures are the binary's.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn evidence(agent: &str, n: u64) -> Evidence {
    Evidence {
        id: format!("{agent}-{n:012}"),
        agent_id: agent.into(),
        host: agent.into(),
        observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(
            1_763_000_000_000 + n as i64,
        )),
        first_observed_at: None,
        probe: "time_sync".into(),
        subject: agent.into(),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(Payload::TimeSync(TimeSync {
            synchronised: true,
            estimated_error_us: 1200,
            // Two contents in turn: every observation is a change, a row
            // of its own (unchanged evidence would extend one run), and
            // the bodies are shared.
            offset_us: -35 - (n % 2) as i64,
            daemon: "chrony".into(),
            collector_offset_ms: 2,
            collector_offset_known: true,
            ..Default::default()
        })),
    }
}

async fn agent(
    url: String,
    tls: ClientTlsConfig,
    name: String,
    count: u64,
    batch: usize,
    window: usize,
) -> Vec<Duration> {
    let channel = Endpoint::from_shared(url)
        .unwrap()
        .tls_config(tls)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let mut client = IngestClient::new(channel).max_encoding_message_size(16 << 20);
    let (tx, rx) = tokio::sync::mpsc::channel(window + 2);
    tx.send(AgentMessage {
        msg: Some(agent_message::Msg::Hello(Hello {
            agent_id: name.clone(),
            host: name.clone(),
            ..Default::default()
        })),
    })
    .await
    .unwrap();
    let mut inbound = client
        .stream(tokio_stream::wrappers::ReceiverStream::new(rx))
        .await
        .unwrap()
        .into_inner();
    let batches = count.div_ceil(batch as u64);
    let mut sent_at = std::collections::HashMap::new();
    let mut latencies = Vec::with_capacity(batches as usize);
    let (mut next, mut acked, mut n) = (1u64, 0u64, 0u64);
    while acked < batches {
        while next <= batches && sent_at.len() < window {
            let mut evs = Vec::with_capacity(batch);
            while evs.len() < batch && n < count {
                n += 1;
                evs.push(evidence(&name, n));
            }
            sent_at.insert(next, Instant::now());
            tx.send(AgentMessage {
                msg: Some(agent_message::Msg::Batch(Batch {
                    seq: next,
                    evidence: evs,
                })),
            })
            .await
            .unwrap();
            next += 1;
        }
        match inbound.message().await.unwrap() {
            Some(m) => {
                if let Some(collector_message::Msg::Ack(a)) = m.msg {
                    latencies.push(sent_at.remove(&a.seq).unwrap().elapsed());
                    acked += 1;
                }
            }
            None => panic!("stream closed"),
        }
    }
    latencies
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn main() {
    let agents = env("GAMSA_BENCH_AGENTS", 1000);
    let total = env("GAMSA_BENCH_EVIDENCE", 1_000_000) as u64;
    let batch = env("GAMSA_BENCH_BATCH", 500);
    let window = env("GAMSA_BENCH_WINDOW", 4);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config {
        data_dir: dir.path().to_path_buf(),
        ..Default::default()
    };
    let scratch = std::env::var("GAMSA_BENCH_PG_URL")
        .ok()
        .map(|url| gamsa_tests::pg::Scratch::create_on(&url, "gamsa_bench"));
    if let Some(s) = &scratch {
        config.store.url = s.url.clone();
    }
    let store = if scratch.is_some() {
        "postgres"
    } else {
        "sqlite"
    };
    config.grpc.listen = "127.0.0.1:0".parse().unwrap();
    // The store's capacity is measured, not the per-agent rate limit.
    config.grpc.agent_rate = 10_000_000;
    config.http.listen = "127.0.0.1:0".parse().unwrap();
    let paths = pki::PkiPaths::new(dir.path());
    pki::init_ca(&paths, &[]).unwrap();
    let ca = std::fs::read_to_string(paths.ca_cert()).unwrap();
    let creds: Vec<_> = (0..agents)
        .map(|i| {
            let name = format!("bench-{i:05}");
            let c = pki::issue_agent(&paths, &name, 1).unwrap();
            (name, c)
        })
        .collect();
    rt.block_on(async {
        let running = server::start(&config).await.unwrap();
        for (name, _) in &creds {
            let store = running.state.store.as_ref();
            gamsa_collector::grpc::enrol::bind(store, name, name).await.unwrap();
        }
        let url = format!("https://{}", running.grpc_addr);
        let per_agent = total / agents as u64;
        let started = Instant::now();
        let tasks: Vec<_> = creds
            .into_iter()
            .map(|(name, c)| {
                let tls = ClientTlsConfig::new()
                    .ca_certificate(Certificate::from_pem(&ca))
                    .identity(Identity::from_pem(&c.cert_pem, &c.key_pem));
                tokio::spawn(agent(url.clone(), tls, name, per_agent, batch, window))
            })
            .collect();
        let mut latencies = Vec::new();
        for t in tasks {
            latencies.extend(t.await.unwrap());
        }
        let elapsed = started.elapsed();
        let stored = running.state.store.count_evidence().await.unwrap();
        latencies.sort();
        let sent = per_agent * agents as u64;
        assert_eq!(stored, sent, "every evidence stored exactly once");
        println!(
            "store={store} agents={agents} evidence={sent} batch={batch} window={window} elapsed={:.2}s \
             rate={:.0} evidence/s ack_latency p50={:.1}ms p99={:.1}ms max={:.1}ms",
            elapsed.as_secs_f64(),
            sent as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 0.5).as_secs_f64() * 1e3,
            percentile(&latencies, 0.99).as_secs_f64() * 1e3,
            latencies.last().unwrap().as_secs_f64() * 1e3,
        );
        running.stop().await.unwrap();
    });
}
