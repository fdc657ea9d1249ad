//! `gamsa-quickstart`: everything a newcomer needs in one command.
//!
//! In one process: a data directory, a CA and certificates, the collector
//! on loopback, and a local agent scanning this machine over real mutual
//! TLS. After the first scan cycle it prints what was found.
//!
//! It is its own crate so that the production collector links no probe:
//! this is the one binary built from both the collector and the agent
//! libraries.

use anyhow::Context;
use clap::Parser;
use gamsa_collector::config::Config;
use gamsa_collector::pki::{self, PkiPaths};
use gamsa_collector::store::{EvidenceQuery, Store, TokenKind, TokenRecord};
use gamsa_proto::config::LogConfig;
use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

/// Create a data directory, CA and local agent, run both, print a summary.
#[derive(Parser)]
#[command(name = "gamsa-quickstart", version)]
struct Options {
    #[arg(long, default_value = "./gamsa-data")]
    data_dir: PathBuf,
    #[arg(long, default_value = "127.0.0.1:7443")]
    grpc_listen: SocketAddr,
    #[arg(long, default_value = "127.0.0.1:7080")]
    http_listen: SocketAddr,
    /// Exit after the first summary instead of running until Ctrl-C.
    #[arg(long)]
    once: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let opts = Options::parse();
    LogConfig {
        format: "text".into(),
        level: "warn".into(),
    }
    .init();
    match run(opts).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gamsa-quickstart: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// A certificate-safe agent name for this machine.
fn local_agent_name() -> String {
    let host = sysinfo::System::host_name().unwrap_or_else(|| "local".into());
    let name: String = host
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() {
        "local".into()
    } else {
        name
    }
}

/// The API token saved for quickstart, or a new one.
async fn api_token(store: &dyn Store, data_dir: &Path) -> anyhow::Result<String> {
    use gamsa_collector::tokens;
    let path = data_dir.join("api-token");
    if let Ok(t) = std::fs::read_to_string(&path) {
        let t = t.trim().to_string();
        if store
            .use_token(
                &tokens::hash(&t),
                TokenKind::Api,
                gamsa_collector::clock::now_ms(),
            )
            .await?
            .is_some()
        {
            return Ok(t);
        }
    }
    let token = tokens::generate("gamsa");
    store
        .create_token(
            &tokens::hash(&token),
            TokenRecord {
                kind: TokenKind::Api,
                name: "quickstart".into(),
                role: "admin".into(),
                expires_at_ms: None,
                max_uses: 0,
            },
        )
        .await?;
    pki::write_private(&path, token.as_bytes())?;
    Ok(token)
}

async fn run(opts: Options) -> anyhow::Result<()> {
    let mut config = Config {
        data_dir: opts.data_dir.clone(),
        ..Config::default()
    };
    config.grpc.listen = opts.grpc_listen;
    config.http.listen = opts.http_listen;
    gamsa_collector::private::create_dir_all(&config.data_dir).with_context(|| {
        format!(
            "{}: cannot create data directory",
            config.data_dir.display()
        )
    })?;
    let paths = PkiPaths::new(&config.data_dir);
    if !paths.ca_key().exists() {
        pki::init_ca(&paths, &[])?;
        println!("created a CA in {}", paths.dir.display());
    }
    let agent = local_agent_name();
    let agent_dir = config.data_dir.join("agents").join(&agent);
    let (cert, key) = (agent_dir.join("agent.crt"), agent_dir.join("agent.key"));
    if !cert.exists() || !key.exists() {
        let creds = pki::issue_agent(&paths, &agent, 365)?;
        pki::write_private(&key, creds.key_pem.as_bytes())?;
        pki::write_private(&cert, creds.cert_pem.as_bytes())?;
    }

    let running = gamsa_collector::server::start(&config).await?;
    let token = api_token(running.state.store.as_ref(), &config.data_dir).await?;
    // Off loopback the HTTP port serves HTTPS with the collector's own
    // certificate (`[http] tls = "auto"`).
    let (scheme, served) = if config.http.serves_tls() {
        ("https", "HTTPS")
    } else {
        ("http", "HTTP")
    };
    let api = format!("{scheme}://{}", running.http_addr);
    println!(
        "gamsa collector on {} (gRPC, mutual TLS) and {api} ({served})",
        running.grpc_addr
    );
    println!("API token: {token}");
    let password = gamsa_collector::tokens::generate("pw");
    gamsa_collector::dashboard::auth::add_user(
        running.state.store.as_ref(),
        "admin",
        "admin",
        &password,
    )
    .await?;
    println!("dashboard: {api}/  (user admin, password {password})");
    let trust = if scheme == "https" {
        format!("--cacert {} ", paths.ca_cert().display())
    } else {
        String::new()
    };
    println!("try:  curl {trust}-H 'Authorization: Bearer {token}' {api}/api/v1/evidence?limit=5");

    let mut agent_config = gamsa_agent::config::Config {
        agent_id: agent.clone(),
        ..Default::default()
    };
    agent_config.collector.endpoints = vec![format!("https://{}", running.grpc_addr)];
    agent_config.state_dir = agent_dir.join("state");
    // The active scan: this machine's loopback, well-known ports, quickly.
    let scan = &mut agent_config.probes.port_scan;
    scan.scan_log = agent_dir.join("state").join("scan.log");
    scan.ports = "1-1024".into();
    scan.max_rate = 5000;
    agent_config.collector.ca = paths.ca_cert();
    agent_config.collector.cert = cert;
    agent_config.collector.key = key;
    agent_config.collector.batch_interval = Duration::from_millis(200);
    // As `ca issue` would: the local agent reports for this machine.
    gamsa_collector::grpc::enrol::bind(
        running.state.store.as_ref(),
        &agent,
        &agent_config.resolved_host(),
    )
    .await?;
    let enabled: BTreeSet<String> = gamsa_agent::probes::enabled(&agent_config)
        .iter()
        .map(|p| p.name().to_string())
        .collect();
    let (stop_agent, agent_rx) = tokio::sync::watch::channel(false);
    let agent_task = tokio::spawn(gamsa_agent::run(agent_config, agent_rx));
    println!("agent {agent} is scanning this machine…");

    let store = running.state.store.clone();
    let summary = async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        let mut rest_reported: Option<tokio::time::Instant> = None;
        loop {
            let evidence = store
                .query_evidence(EvidenceQuery {
                    limit: 10_000,
                    ..Default::default()
                })
                .await?;
            let probes: BTreeSet<String> = evidence.iter().map(|e| e.probe.clone()).collect();
            let now = tokio::time::Instant::now();
            // A probe with nothing to observe (tls on a machine without TLS
            // listeners: the collector's own port is left out; cluster
            // outside Kubernetes) reports nothing; it gets a little longer than its handshake timeout
            // once every other probe has reported, not the whole deadline.
            let missing: Vec<&String> = enabled.difference(&probes).collect();
            if missing
                .iter()
                .all(|p| MAY_REPORT_NOTHING.iter().any(|(name, _)| name == p))
            {
                rest_reported.get_or_insert(now);
            }
            let quiet_waited = rest_reported.is_some_and(|t| now > t + Duration::from_secs(8));
            if missing.is_empty() || quiet_waited || now > deadline {
                print_summary(store.as_ref(), &evidence, &missing).await?;
                let items = running
                    .state
                    .checklists
                    .evaluate(store.as_ref(), &["emr-s014"], None)
                    .await?;
                println!("\n== emr-s014 (EMR external storage), automated items ==");
                println!("{}", gamsa_collector::report::counts(&items));
                print!("{}", gamsa_collector::report::table(&items, true));
                println!(
                    "(full report: gamsa-collector report --data-dir {} --catalog emr-s014)",
                    opts.data_dir.display()
                );
                return anyhow::Ok(());
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    };
    let result = tokio::select! {
        r = summary => r,
        _ = tokio::signal::ctrl_c() => Ok(()),
    };
    if result.is_ok() && !opts.once {
        println!("running; press Ctrl-C to stop");
        let _ = tokio::signal::ctrl_c().await;
    }
    let _ = stop_agent.send(true);
    let _ = tokio::time::timeout(Duration::from_secs(5), agent_task).await;
    running.stop().await?;
    println!("stopped");
    result
}

/// Probes that report nothing when there is nothing to observe, and what
/// that means here.
const MAY_REPORT_NOTHING: &[(&str, &str)] = &[
    (
        "tls",
        "nothing to report: no TLS endpoint found besides the collector's own",
    ),
    (
        "cluster",
        "nothing to report: not running in a Kubernetes cluster",
    ),
];

async fn print_summary(
    store: &dyn Store,
    evidence: &[gamsa_proto::v1::Evidence],
    missing: &[&String],
) -> anyhow::Result<()> {
    let agents = store.list_agents().await?;
    println!("\n== first scan ==");
    println!(
        "hosts: {}",
        agents
            .iter()
            .map(|a| format!("{} ({})", a.host, a.agent_id))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let mut by_probe: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for e in evidence {
        let entry = by_probe.entry(e.probe.as_str()).or_default();
        if e.status == gamsa_proto::v1::Status::Error as i32 {
            entry.1 += 1;
        } else {
            entry.0 += 1;
        }
    }
    // Columns as wide as the longest probe name.
    let w = gamsa_proto::probes::PROBES
        .iter()
        .map(|p| p.name.len())
        .max()
        .unwrap_or(12);
    println!("{:<w$} {:>8} {:>8}", "PROBE", "OBSERVED", "ERRORS");
    for (probe, (ok, err)) in &by_probe {
        println!("{probe:<w$} {ok:>8} {err:>8}");
    }
    // One line per probe and subject, the newest (evidence comes newest
    // first; a probe may report a subject twice in its first minute).
    let mut shown = BTreeSet::new();
    for e in evidence {
        if shown.insert((e.probe.as_str(), e.subject.as_str())) {
            println!("  {:<w$} {}", e.probe, gamsa_proto::summary::summary(e));
        }
    }
    for probe in missing {
        let why = MAY_REPORT_NOTHING
            .iter()
            .find(|(name, _)| *name == probe.as_str())
            .map_or("no evidence yet", |(_, why)| why);
        println!("  {probe:<w$} {why}");
    }
    Ok(())
}
