//! `gamsa-collector`: serve, manage the CA and tokens, or try everything at
//! once with `quickstart`.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gamsa_collector::config::Config;
use gamsa_collector::pki::{self, PkiPaths};
use gamsa_collector::store::{Store, TokenKind, TokenRecord};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

/// Evaluating a large fleet builds and frees millions of small values;
/// mimalloc does that in about half the time of glibc's allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser)]
#[command(
    name = "gamsa-collector",
    version,
    about = "gamsa collector: evidence in, checklist answers out"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Common {
    /// Collector configuration file (TOML); see deploy/collector.example.toml.
    #[arg(long, short, env = "GAMSA_COLLECTOR_CONFIG")]
    config: Option<PathBuf>,
    /// Data directory (overrides the config's data_dir).
    #[arg(long)]
    data_dir: Option<PathBuf>,
}

impl Common {
    fn load(&self) -> anyhow::Result<Config> {
        let mut config = match &self.config {
            Some(p) => Config::load(p)?,
            None => Config::default(),
        };
        if let Some(d) = &self.data_dir {
            config.data_dir = d.clone();
        }
        Ok(config)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector: gRPC ingest (mutual TLS) and the HTTP API.
    Serve(Common),
    /// Create a data directory, CA and local agent, run both, print a summary.
    Quickstart {
        #[arg(long, default_value = "./gamsa-data")]
        data_dir: PathBuf,
        #[arg(long, default_value = "127.0.0.1:7443")]
        grpc_listen: SocketAddr,
        #[arg(long, default_value = "127.0.0.1:7080")]
        http_listen: SocketAddr,
        /// Exit after the first summary instead of running until Ctrl-C.
        #[arg(long)]
        once: bool,
    },
    /// The collector's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Enrolment and API tokens.
    #[command(subcommand)]
    Token(TokenCommand),
    /// Registered agents.
    #[command(subcommand)]
    Agent(AgentCommand),
    /// Dashboard users.
    #[command(subcommand)]
    User(UserCommand),
    /// Signed evidence snapshots: take, list, verify offline, compare.
    #[command(subcommand)]
    Snapshot(SnapshotCommand),
    /// Fill a seed form (양식2A, 2B, 2-1, 2-4, 2-5, 3) or a whole checklist
    /// from the current verdicts.
    Export {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        catalog: String,
        /// Seed form id (emr-s014: 2A, 2B, 2-1, 2-4, 2-5; cloud-notice: 3);
        /// without it the whole checklist.
        #[arg(long)]
        form: Option<String>,
        /// html, pdf, csv, json or ndjson (the cited evidence).
        #[arg(long, value_parser = parse_format)]
        format: gamsa_collector::export::Format,
        /// Applicant group (emr-s014: I-1, I-2, II-1, II-2, II-3).
        #[arg(long)]
        group: Option<String>,
        /// Replace every IP address by a keyed label (for copies that leave
        /// the organisation).
        #[arg(long)]
        redact_ips: bool,
        /// Encrypt the export to this age recipient (age1…); repeatable.
        #[arg(long = "encrypt-to")]
        encrypt_to: Vec<String>,
        /// Write here (mode 0600) instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
    /// Evaluate a catalog against the stored evidence and print the verdicts
    /// (exit 0 even when items are N: it is a report).
    Report {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        catalog: String,
        /// Applicant group (emr-s014: I-1, I-2, II-1, II-2, II-3).
        #[arg(long)]
        group: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum ReportFormat {
    Table,
    Json,
}

#[derive(Subcommand)]
enum CaCommand {
    /// Create the CA and the collector's server certificate.
    Init {
        #[command(flatten)]
        common: Common,
        /// Extra names/addresses agents use to reach the collector.
        #[arg(long = "server-name")]
        server_names: Vec<String>,
    },
    /// Issue an agent key and certificate (when not enrolling by token).
    Issue {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        agent: String,
        /// The host this agent reports for (default: the agent name). Bound
        /// to the agent in the store: evidence of this host is accepted from
        /// this agent only, and this agent may report for no other host.
        #[arg(long)]
        host: Option<String>,
        /// Directory to write agent.key, agent.crt and ca.crt into.
        #[arg(long, default_value = ".")]
        out: PathBuf,
        #[arg(long, default_value_t = 365)]
        days: i64,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Create a token and print it once (only its hash is stored).
    Create {
        #[command(flatten)]
        common: Common,
        /// An API bearer token instead of an enrolment token.
        #[arg(long)]
        api: bool,
        /// Enrolment: bind the token to this agent name. API: the token's name.
        #[arg(long)]
        name: Option<String>,
        /// API token role: admin, operator or auditor.
        #[arg(long, default_value = "auditor")]
        role: String,
        /// Enrolment: how many agents may enrol with it (a DaemonSet: the node count).
        #[arg(long, default_value_t = 1)]
        uses: u32,
        /// Lifetime, e.g. 24h; default 24h for enrolment, none for API tokens.
        #[arg(long)]
        ttl: Option<humantime::Duration>,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Create a user (or reset its role and password).
    Add {
        #[command(flatten)]
        common: Common,
        name: String,
        /// admin, operator or auditor (read-only).
        #[arg(long)]
        role: String,
        /// Read the password from this file; without it one is generated and printed once.
        #[arg(long)]
        password_file: Option<PathBuf>,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Take a snapshot now (into <data_dir>/snapshots).
    Create(Common),
    /// List the stored snapshots, newest first.
    List(Common),
    /// Check a snapshot file offline: its bytes, hash and signature, and with
    /// --chain its place in an unbroken chain. Exits non-zero naming the
    /// file and what is wrong.
    Verify {
        file: PathBuf,
        /// The collector's public key (`snapshot-signing.pub`, SPKI PEM).
        #[arg(long)]
        public_key: PathBuf,
        /// A directory of snapshot files the file must belong to; every file
        /// in it is checked and the chain must have no gap.
        #[arg(long)]
        chain: Option<PathBuf>,
        /// age identity file, for a snapshot downloaded encrypted.
        #[arg(long)]
        identity: Option<PathBuf>,
    },
    /// Which items changed verdict between two snapshots (files, or ids of
    /// this collector's snapshots).
    Diff {
        #[command(flatten)]
        common: Common,
        from: String,
        to: String,
        /// The collector's public key; default <data_dir>/pki/snapshot-signing.pub.
        #[arg(long)]
        public_key: Option<PathBuf>,
        #[arg(long, value_enum, default_value = "table")]
        format: ReportFormat,
    },
}

fn parse_format(s: &str) -> Result<gamsa_collector::export::Format, String> {
    s.parse()
}

#[derive(Subcommand)]
enum AgentCommand {
    /// List agents.
    List(Common),
    /// Revoke an agent: its streams are refused from now on, without restart,
    /// and its evidence no longer counts in verdicts (it stays stored).
    Revoke {
        #[command(flatten)]
        common: Common,
        name: String,
    },
    /// Bind a host to an agent (as enrolment does): only this agent may
    /// report for the host, and it for no other. Refused while another agent
    /// that is not revoked holds the host.
    Bind {
        #[command(flatten)]
        common: Common,
        name: String,
        #[arg(long)]
        host: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gamsa-collector: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli.command)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gamsa-collector: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(config: &Config) -> anyhow::Result<std::sync::Arc<dyn Store>> {
    Ok(gamsa_collector::store::open(&config.store_location()).await?)
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(common) => {
            let config = common.load()?;
            gamsa_agent::logging::init(&config.log.format, &config.log.level);
            let running = gamsa_collector::server::start(&config).await?;
            running.run_until(shutdown_signal()).await
        }
        Command::Quickstart {
            data_dir,
            grpc_listen,
            http_listen,
            once,
        } => {
            gamsa_agent::logging::init("text", "warn");
            gamsa_collector::quickstart::run(gamsa_collector::quickstart::Options {
                data_dir,
                grpc_listen,
                http_listen,
                once,
            })
            .await
        }
        Command::Ca(CaCommand::Init {
            common,
            server_names,
        }) => {
            let config = common.load()?;
            let mut names = config.grpc.server_names.clone();
            names.extend(server_names);
            let paths = PkiPaths::new(&config.data_dir);
            pki::init_ca(&paths, &names)?;
            // The snapshot signing and IP redaction keys travel with the CA
            // (replicas share them; pki/ is a read-only Secret in Kubernetes).
            gamsa_collector::snapshot::key::load_or_create(&config.data_dir)?;
            gamsa_collector::export::redact::Redactor::load_or_create(&config.data_dir)?;
            println!(
                "CA, collector certificate, snapshot signing and redaction keys written to {}",
                paths.dir.display()
            );
            Ok(())
        }
        Command::Ca(CaCommand::Issue {
            common,
            agent,
            host,
            out,
            days,
        }) => {
            let config = common.load()?;
            let creds = pki::issue_agent(&PkiPaths::new(&config.data_dir), &agent, days)?;
            let host = host.unwrap_or_else(|| agent.clone());
            let store = open_store(&config).await?;
            gamsa_collector::grpc::enrol::bind(store.as_ref(), &agent, &host).await?;
            pki::write_private(&out.join("agent.key"), creds.key_pem.as_bytes())?;
            pki::write_private(&out.join("agent.crt"), creds.cert_pem.as_bytes())?;
            pki::write_private(&out.join("ca.crt"), creds.ca_pem.as_bytes())?;
            println!(
                "agent {agent} (host {host}): key, certificate and CA written to {}",
                out.display()
            );
            Ok(())
        }
        Command::Token(TokenCommand::Create {
            common,
            api,
            name,
            role,
            uses,
            ttl,
        }) => {
            let config = common.load()?;
            let store = open_store(&config).await?;
            let kind = if api {
                TokenKind::Api
            } else {
                TokenKind::Enrol
            };
            if api && !matches!(role.as_str(), "admin" | "operator" | "auditor") {
                anyhow::bail!("--role {role}: expected admin, operator or auditor");
            }
            if let (false, Some(n)) = (api, &name) {
                pki::validate_agent_name(n)?;
            }
            let ttl: Option<std::time::Duration> = match (ttl, kind) {
                (Some(t), _) => Some(t.into()),
                (None, TokenKind::Enrol) => Some(std::time::Duration::from_secs(24 * 3600)),
                (None, _) => None,
            };
            let token =
                gamsa_collector::tokens::generate(if api { "gamsa" } else { "gamsa-enrol" });
            store
                .create_token(
                    &gamsa_collector::tokens::hash(&token),
                    TokenRecord {
                        kind,
                        name: name.unwrap_or_default(),
                        role: if api { role } else { String::new() },
                        expires_at_ms: ttl
                            .map(|t| gamsa_collector::clock::now_ms() + t.as_millis() as i64),
                        max_uses: uses,
                    },
                )
                .await
                .context("storing the token")?;
            println!("{token}");
            Ok(())
        }
        Command::Report {
            common,
            catalog,
            group,
            format,
        } => {
            let config = common.load()?;
            let store = open_store(&config).await?;
            let checklists = gamsa_collector::checklists::Checklists::load(&config.catalog_dirs)?;
            let Some(c) = checklists.catalog(&catalog) else {
                let known: Vec<&str> = checklists
                    .catalogs
                    .iter()
                    .map(|c| c.catalog.id.as_str())
                    .collect();
                anyhow::bail!(
                    "--catalog {catalog}: unknown catalog (known: {})",
                    known.join(", ")
                );
            };
            if let Some(g) = &group {
                if c.group(g).is_none() {
                    let known: Vec<&str> = c.groups.iter().map(|g| g.id.as_str()).collect();
                    anyhow::bail!(
                        "--group {g}: {catalog} has no such applicant group (known: {})",
                        known.join(", ")
                    );
                }
            }
            let items = checklists
                .evaluate(store.as_ref(), &[catalog.as_str()], group.as_deref())
                .await?;
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&items)?),
                ReportFormat::Table => {
                    println!("{} — {}", c.catalog.id, c.catalog.title_ko);
                    println!("{}\n", gamsa_collector::report::counts(&items));
                    print!("{}", gamsa_collector::report::table(&items, false));
                }
            }
            Ok(())
        }
        Command::User(UserCommand::Add {
            common,
            name,
            role,
            password_file,
        }) => {
            let store = open_store(&common.load()?).await?;
            let (password, generated) = match password_file {
                Some(f) => (
                    std::fs::read_to_string(&f)
                        .with_context(|| format!("{}", f.display()))?
                        .trim_end_matches(['\n', '\r'])
                        .to_string(),
                    false,
                ),
                None => (gamsa_collector::tokens::generate("pw"), true),
            };
            gamsa_collector::dashboard::auth::add_user(store.as_ref(), &name, &role, &password)
                .await?;
            if generated {
                println!("user {name} ({role}) password: {password}");
            } else {
                println!("user {name} ({role}) saved");
            }
            Ok(())
        }
        Command::Snapshot(cmd) => snapshot(cmd).await,
        Command::Export {
            common,
            catalog,
            form,
            format,
            group,
            redact_ips,
            encrypt_to,
            output,
        } => {
            let state = gamsa_collector::server::open_state(&common.load()?).await?;
            let req = gamsa_collector::export::Request {
                catalog,
                form,
                format,
                group,
                redact_ips,
            };
            let out = gamsa_collector::export::deliver(
                &state.export_source(),
                &req,
                &encrypt_to,
                &gamsa_collector::access_log::cli_user(),
                "cli",
            )
            .await?;
            match output {
                Some(path) => {
                    // Exports hold IP inventories and findings: owner-only.
                    gamsa_collector::private::write(&path, &out.bytes)
                        .with_context(|| format!("{}: cannot write", path.display()))?;
                    eprintln!(
                        "{}: {} ({} bytes)",
                        path.display(),
                        req.describe(),
                        out.bytes.len()
                    );
                }
                None => {
                    use std::io::Write;
                    let mut stdout = std::io::stdout().lock();
                    stdout
                        .write_all(&out.bytes)
                        .and_then(|()| stdout.flush())
                        .context("standard output")?;
                }
            }
            Ok(())
        }
        Command::Agent(AgentCommand::List(common)) => {
            let store = open_store(&common.load()?).await?;
            for a in store.list_agents().await? {
                println!(
                    "{}\t{}\t{}\t{}",
                    a.agent_id,
                    a.host,
                    a.version,
                    if a.revoked { "revoked" } else { "active" }
                );
            }
            Ok(())
        }
        Command::Agent(AgentCommand::Revoke { common, name }) => {
            let store = open_store(&common.load()?).await?;
            store.set_revoked(&name, true).await?;
            println!("agent {name} revoked; its streams are refused from now on");
            Ok(())
        }
        Command::Agent(AgentCommand::Bind { common, name, host }) => {
            let store = open_store(&common.load()?).await?;
            gamsa_collector::grpc::enrol::bind(store.as_ref(), &name, &host).await?;
            println!("host {host} bound to agent {name}");
            Ok(())
        }
    }
}

async fn snapshot(cmd: SnapshotCommand) -> anyhow::Result<()> {
    use gamsa_collector::snapshot::{chain, diff, key, seal};
    match cmd {
        SnapshotCommand::Create(common) => {
            let state = gamsa_collector::server::open_state(&common.load()?).await?;
            let who = gamsa_collector::access_log::cli_user();
            let c = state.snapshots.create(&who).await?;
            gamsa_collector::access_log::record(
                state.store.as_ref(),
                &who,
                "cli",
                gamsa_collector::access_log::SNAPSHOT_CREATE,
                &c.entry.id,
            )
            .await?;
            println!("{}	{}", c.entry.path.display(), c.sha256);
            for r in &c.removed {
                eprintln!("{}: removed by retention", r.path.display());
            }
            Ok(())
        }
        SnapshotCommand::List(common) => {
            let state = gamsa_collector::server::open_state(&common.load()?).await?;
            for s in state.snapshots.list().await? {
                println!(
                    "{}	#{}	{}	{}	{}	{} bytes",
                    s.id, s.sequence, s.created_at, s.taken_by, s.sha256, s.bytes
                );
            }
            Ok(())
        }
        SnapshotCommand::Verify {
            file,
            public_key,
            chain: chain_dir,
            identity,
        } => {
            let key = key::read_public(&public_key)?;
            let key_name = public_key.display().to_string();
            let mut bytes =
                std::fs::read(&file).with_context(|| format!("{}: cannot read", file.display()))?;
            if gamsa_collector::export::encrypt::is_encrypted(&bytes) {
                let Some(id) = identity else {
                    anyhow::bail!(
                        "{}: is age-encrypted; pass --identity with the recipient's identity file",
                        file.display()
                    );
                };
                let id = gamsa_collector::export::encrypt::read_identity(&id)
                    .map_err(anyhow::Error::msg)?;
                bytes = gamsa_collector::export::encrypt::decrypt(&bytes, &id)
                    .map_err(|e| anyhow::anyhow!("{}: cannot decrypt: {e}", file.display()))?;
            }
            let v = seal::verify(&file, &bytes, &key, &key_name)?;
            println!(
                "{}: verified: snapshot #{} of collector {:?}, taken {} by {}, sha256 {}, signed by the key in {} (fingerprint {})",
                file.display(),
                v.header.sequence,
                v.header.collector.id,
                v.header.created_at,
                v.header.taken_by,
                v.sha256,
                key_name,
                key::fingerprint(&key)
            );
            if let Some(dir) = chain_dir {
                let c = chain::verify_chain(&dir, &key, &key_name)?;
                if c.contains(&v.sha256).is_none() {
                    return Err(seal::VerifyError::NotInChain {
                        file,
                        dir,
                        sha256: v.sha256,
                    }
                    .into());
                }
                println!("{}", c.summary());
            }
            Ok(())
        }
        SnapshotCommand::Diff {
            common,
            from,
            to,
            public_key,
            format,
        } => {
            let config = common.load()?;
            let archive = config.snapshots.archive(&config.data_dir);
            let key_path = public_key.unwrap_or_else(|| key::public_path(&config.data_dir));
            let key = key::read_public(&key_path).with_context(|| {
                "the snapshots are checked before they are compared: pass --public-key FILE"
            })?;
            let load = |arg: &str| -> anyhow::Result<diff::Verdicts> {
                let path = if std::path::Path::new(arg).is_file() {
                    PathBuf::from(arg)
                } else {
                    archive
                        .find(arg)?
                        .with_context(|| {
                            format!(
                                "{arg}: no such file, nor a snapshot id in {}",
                                archive.dir.display()
                            )
                        })?
                        .path
                };
                let bytes = std::fs::read(&path)
                    .with_context(|| format!("{}: cannot read", path.display()))?;
                seal::verify(&path, &bytes, &key, &key_path.display().to_string())?;
                Ok(diff::verdicts(&path, &bytes)?)
            };
            let d = diff::diff(&load(&from)?, &load(&to)?);
            match format {
                ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&d)?),
                ReportFormat::Table => print!("{}", d.text()),
            }
            Ok(())
        }
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
