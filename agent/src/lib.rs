//! gamsa agent: gathers compliance evidence on one host and streams it to the
//! collector.
//!
//! Module map: `config` (TOML), `probes` (one file per kind of evidence),
//! `scheduler` (intervals, jitter, timeouts), `spool` (evidence on disk until acked),
//! `transport` (gRPC stream over mutual TLS), `enrol` (token → certificate),
//! `output` (NDJSON and table), `evidence` (envelope construction).

pub mod config;
pub mod enrol;
pub mod evidence;
pub mod output;
pub mod probes;
pub mod scheduler;
pub mod spool;
pub mod tls;
pub mod transport;

use anyhow::Context;
use config::Config;
use gamsa_proto::v1::Hello;
use probes::{ControlState, ProbeContext};
use std::sync::Arc;
use tokio::sync::{mpsc, watch};

/// The probe context for this host, before any identity is known.
pub fn context(config: &Config, agent_id: String) -> ProbeContext {
    ProbeContext {
        agent_id,
        host: config.resolved_host(),
        host_root: config.host_root.clone(),
        labels: config.labels.clone(),
        control: Arc::new(ControlState::default()),
    }
}

/// The agent identity: configured, else the certificate's name, else the host.
pub fn resolve_agent_id(config: &Config) -> String {
    if !config.agent_id.is_empty() {
        return config.agent_id.clone();
    }
    std::fs::read_to_string(&config.collector.cert)
        .ok()
        .and_then(|pem| tls::common_name(&pem))
        .unwrap_or_else(|| config.resolved_host())
}

/// Runs the agent until `shutdown` turns true: enrol if needed, then probe on
/// schedule and stream to the collector.
pub async fn run(config: Config, shutdown: watch::Receiver<bool>) -> anyhow::Result<()> {
    let agent_id = resolve_agent_id(&config);
    enrol::ensure_credentials(&config, &agent_id).await?;
    let c = &config.collector;
    let credentials = transport::Credentials {
        ca_pem: tls::read(&c.ca)?,
        cert_pem: tls::read(&c.cert)?,
        key_pem: tls::read(&c.key)?,
    };
    if let Some(cn) = tls::common_name(&credentials.cert_pem) {
        if cn != agent_id {
            anyhow::bail!(
                "agent_id {agent_id:?} differs from the certificate identity {cn:?} in {}",
                c.cert.display()
            );
        }
    }
    let spool_dir = config.state_dir.join("spool");
    let spool = spool::Spool::open(&spool_dir, config.spool_max_bytes)
        .with_context(|| "state_dir: the spool must be writable".to_string())?;
    let ctx = context(&config, agent_id.clone());
    let probes = probes::enabled(&config);
    let hello = Hello {
        agent_id,
        agent_version: env!("CARGO_PKG_VERSION").into(),
        host: ctx.host.clone(),
        os: sysinfo::System::long_os_version().unwrap_or_default(),
        kernel: sysinfo::System::kernel_version().unwrap_or_default(),
        capabilities: probes.iter().map(|p| p.name().to_string()).collect(),
        sent_at: None,
        labels: config.labels.clone().into_iter().collect(),
    };
    let (tx, rx) = mpsc::channel(1024);
    let tasks = scheduler::spawn(probes, ctx.clone(), tx, shutdown.clone());
    let transport = transport::Transport {
        config: config.collector.clone(),
        credentials,
        ctx,
        hello,
        lost: Default::default(),
    };
    transport.run(spool, rx, shutdown).await;
    for t in tasks {
        t.abort();
    }
    Ok(())
}

/// Loads the config file, or the defaults when none is given.
pub fn load_config(path: Option<&std::path::Path>) -> anyhow::Result<Config> {
    match path {
        Some(p) => Config::load(p).context("invalid agent configuration"),
        None => Ok(Config::default()),
    }
}
