//! `gamsa-agent`: run as a service, try once on one box, or enrol.

use clap::{Parser, Subcommand, ValueEnum};
use gamsa_agent::{config::Config, load_config, output, probes, scheduler};
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "gamsa-agent",
    version,
    about = "gamsa agent: compliance evidence from this host"
)]
struct Cli {
    /// Agent configuration file (TOML); see deploy/agent.example.toml.
    #[arg(long, short, global = true, env = "GAMSA_AGENT_CONFIG")]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Json,
    Table,
}

#[derive(Subcommand)]
enum Command {
    /// Probe on schedule and stream evidence to the collector.
    Run,
    /// Run every enabled probe and print the evidence; no collector needed.
    Scan {
        /// Run each probe once and exit (otherwise keep scanning on schedule).
        #[arg(long)]
        once: bool,
        #[arg(long, value_enum, default_value = "json")]
        format: Format,
        /// Only these probes (by name); default all enabled.
        #[arg(long = "probe")]
        probes: Vec<String>,
    },
    /// Trade the enrolment token for a client certificate, then exit.
    Enrol,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match load_config(cli.config.as_deref()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gamsa-agent: {e:#}");
            return ExitCode::from(2);
        }
    };
    config.log.init();
    let result = match cli.command {
        Command::Run => run(config).await,
        Command::Scan {
            once,
            format,
            probes,
        } => scan(config, once, format, probes).await,
        Command::Enrol => {
            let id = gamsa_agent::resolve_agent_id(&config);
            gamsa_agent::enrol::ensure_credentials(&config, &id).await
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gamsa-agent: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    let (tx, rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = tx.send(true);
    });
    gamsa_agent::run(config, rx).await
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn scan(config: Config, once: bool, format: Format, only: Vec<String>) -> anyhow::Result<()> {
    let ctx = gamsa_agent::context(&config, gamsa_agent::resolve_agent_id(&config));
    let mut probes = probes::enabled(&config);
    if !only.is_empty() {
        for name in &only {
            if !probes.iter().any(|p| p.name() == name) {
                anyhow::bail!("--probe {name}: no such enabled probe");
            }
        }
        probes.retain(|p| only.iter().any(|n| n == p.name()));
    }
    loop {
        let names = probes.iter().map(|p| p.name()).collect();
        let progress = output::Progress::start(
            names,
            ctx.control.clone(),
            std::io::stderr().is_terminal(),
            std::io::stderr(),
        );
        let evidence = scheduler::run_once(&probes, &ctx, |name| progress.done(name)).await;
        progress.finish().await;
        let mut out = std::io::stdout().lock();
        match format {
            Format::Json => {
                for ev in &evidence {
                    writeln!(out, "{}", output::json_line(ev))?;
                }
            }
            Format::Table => output::write_table(&mut out, &evidence)?,
        }
        out.flush()?;
        if once {
            return Ok(());
        }
        let next = probes
            .iter()
            .map(|p| p.interval())
            .min()
            .unwrap_or_default();
        tokio::time::sleep(next).await;
    }
}
