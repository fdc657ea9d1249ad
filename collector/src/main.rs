//! `gamsa-collector`: serve, manage the CA, tokens, users, snapshots and
//! exports (`gamsa-quickstart` tries everything at once). Each subcommand
//! is one function that parses nothing further, calls the library and
//! prints; the rules live in the library.

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use gamsa_collector::actor::{Actor, Role};
use gamsa_collector::config::Config;
use gamsa_collector::export::Format;
use gamsa_collector::pki::{self, PkiPaths};
use gamsa_collector::snapshot::offline::{self, PublicKey};
use gamsa_collector::snapshot::Preparedness;
use gamsa_collector::store::Store;
use gamsa_collector::tokens::{self, NewToken};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

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

    async fn store(&self) -> anyhow::Result<Arc<dyn Store>> {
        Ok(gamsa_collector::store::open(&self.load()?.store_location()).await?)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Run the collector: gRPC ingest (mutual TLS) and the HTTP API.
    Serve(Common),
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
    Export(ExportArgs),
    /// The findings history: each host's findings compared with the previous
    /// assessment and a year earlier (new, recurring, fixed), as a table or
    /// JSON, or the findings report with remediation (csv, html, pdf).
    Findings(FindingsArgs),
    /// The host inventory: per host its OS and version, kernel, addresses,
    /// role, zone, anti-malware, packages, OS end of support and last
    /// contact, from each host's latest evidence (csv or json).
    Inventory(InventoryArgs),
    /// Evaluate a catalog against the stored evidence and print the verdicts
    /// (exit 0 even when items are N: it is a report); `report monthly`: the
    /// monthly operation report.
    Report(ReportArgs),
    /// Planned maintenance windows: down time inside one is a planned stop,
    /// not a failure, in the availability figures.
    #[command(subcommand)]
    Maintenance(MaintenanceCommand),
}

#[derive(Subcommand)]
enum MaintenanceCommand {
    /// Enter a window (recorded in the access log).
    Add {
        #[command(flatten)]
        common: Common,
        /// The service as the synthetic checks name it; every service
        /// when not given.
        #[arg(long, default_value = "")]
        service: String,
        /// RFC 3339, e.g. 2026-11-03T01:00:00+09:00.
        #[arg(long)]
        start: String,
        #[arg(long)]
        end: String,
        #[arg(long)]
        reason: String,
    },
    /// The windows of a month (YYYY-MM), or from a year ago on.
    List {
        #[command(flatten)]
        common: Common,
        #[arg(long)]
        month: Option<String>,
    },
    /// Delete a window by its id.
    Delete {
        #[command(flatten)]
        common: Common,
        id: i64,
    },
}

#[derive(Subcommand)]
enum ReportKind {
    /// The monthly operation report (월간 운영보고서) of a month and scope,
    /// HTML or PDF, from the stored evidence.
    Monthly(MonthlyArgs),
}

#[derive(Args)]
struct MonthlyArgs {
    #[command(flatten)]
    common: Common,
    /// YYYY-MM (UTC); default: last month.
    #[arg(long)]
    month: Option<String>,
    /// all, or the hosts of one label: role=web, zone=a.
    #[arg(long, default_value = "all")]
    scope: String,
    /// html or pdf.
    #[arg(long, value_parser = parse_format, default_value = "html")]
    format: Format,
    /// Write here (mode 0600) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct ExportArgs {
    #[command(flatten)]
    common: Common,
    #[arg(long)]
    catalog: String,
    /// Seed form id (emr-s014: 2A, 2B, 2-1, 2-4, 2-5; cloud-notice: 3);
    /// without it the whole checklist.
    #[arg(long)]
    form: Option<String>,
    /// html, pdf, csv, json, ndjson (the cited evidence) or ocsf (OCSF
    /// Compliance Findings, one per item and host).
    #[arg(long, value_parser = parse_format)]
    format: Format,
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
}

#[derive(Args)]
struct InventoryArgs {
    #[command(flatten)]
    common: Common,
    /// csv or json.
    #[arg(long, default_value = "csv")]
    format: String,
    /// Replace every IP address by a keyed label (as `export --redact-ips`).
    #[arg(long)]
    redact_ips: bool,
    /// Write here (mode 0600) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

#[derive(Args)]
struct FindingsArgs {
    #[command(flatten)]
    common: Common,
    /// Only this host's findings.
    #[arg(long)]
    host: Option<String>,
    /// Only this catalog's findings.
    #[arg(long)]
    catalog: Option<String>,
    /// Only findings still open.
    #[arg(long)]
    open: bool,
    /// table or json (the history), or csv, html or pdf (the report).
    #[arg(long, default_value = "table")]
    format: String,
    /// Encrypt the report to this age recipient (age1…); repeatable.
    #[arg(long = "encrypt-to")]
    encrypt_to: Vec<String>,
    /// Write here (mode 0600) instead of standard output.
    #[arg(long, short)]
    output: Option<PathBuf>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    s.parse()
}

#[derive(Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
struct ReportArgs {
    #[command(subcommand)]
    kind: Option<ReportKind>,
    #[command(flatten)]
    common: Common,
    #[arg(long, required = true)]
    catalog: Option<String>,
    /// Applicant group (emr-s014: I-1, I-2, II-1, II-2, II-3).
    #[arg(long)]
    group: Option<String>,
    #[arg(long, value_enum, default_value = "table")]
    format: ReportFormat,
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
    Create(TokenArgs),
    /// List API and enrolment tokens: id, kind, name, role, created,
    /// expiry, uses left, last used (never the secret).
    List(Common),
    /// Revoke an API or enrolment token by its id (at least 8 hex digits of
    /// what `token list` shows): refused from the next request on.
    Revoke {
        #[command(flatten)]
        common: Common,
        id: String,
    },
}

#[derive(Args)]
struct TokenArgs {
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
    /// List users and their roles.
    List(Common),
    /// Delete a user; its sessions end at once.
    Delete {
        #[command(flatten)]
        common: Common,
        name: String,
    },
    /// Change a user's role; its sessions end at once (it signs in again
    /// with the new role).
    Role {
        #[command(flatten)]
        common: Common,
        name: String,
        /// admin, operator or auditor (read-only).
        role: String,
    },
}

#[derive(Subcommand)]
enum SnapshotCommand {
    /// Take a snapshot now (into <data_dir>/snapshots): by the collector
    /// serving <data_dir> when one runs, else in this process.
    Create(Common),
    /// List the stored snapshots, newest first.
    List(Common),
    /// Check a snapshot offline: its bytes, hash and signature, the host
    /// parts and evidence files it names (in `objects/` beside it, or in the
    /// downloaded tar given instead of the file), and with --chain its place
    /// in an unbroken chain. Exits non-zero naming the file and what is wrong.
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
    /// Take back an agent revoked by mistake: its evidence counts again, its
    /// old certificate stays refused, and a one-use enrolment token bound to
    /// its name is printed for it to enrol anew.
    Reinstate {
        #[command(flatten)]
        common: Common,
        name: String,
        /// Lifetime of the enrolment token (default 24h).
        #[arg(long)]
        ttl: Option<humantime::Duration>,
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

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(common) => serve(common).await,
        Command::Ca(CaCommand::Init {
            common,
            server_names,
        }) => ca_init(common, server_names),
        Command::Ca(CaCommand::Issue {
            common,
            agent,
            host,
            out,
            days,
        }) => ca_issue(common, agent, host, out, days).await,
        Command::Token(TokenCommand::Create(args)) => token_create(args).await,
        Command::Token(TokenCommand::List(common)) => token_list(common).await,
        Command::Token(TokenCommand::Revoke { common, id }) => token_revoke(common, id).await,
        Command::Agent(AgentCommand::List(common)) => agent_list(common).await,
        Command::Agent(AgentCommand::Revoke { common, name }) => agent_revoke(common, name).await,
        Command::Agent(AgentCommand::Reinstate { common, name, ttl }) => {
            agent_reinstate(common, name, ttl).await
        }
        Command::Agent(AgentCommand::Bind { common, name, host }) => {
            agent_bind(common, name, host).await
        }
        Command::User(UserCommand::Add {
            common,
            name,
            role,
            password_file,
        }) => user_add(common, name, role, password_file).await,
        Command::User(UserCommand::List(common)) => user_list(common).await,
        Command::User(UserCommand::Delete { common, name }) => user_delete(common, name).await,
        Command::User(UserCommand::Role { common, name, role }) => {
            user_role(common, name, role).await
        }
        Command::Snapshot(SnapshotCommand::Create(common)) => snapshot_create(common).await,
        Command::Snapshot(SnapshotCommand::List(common)) => snapshot_list(common).await,
        Command::Snapshot(SnapshotCommand::Verify {
            file,
            public_key,
            chain,
            identity,
        }) => snapshot_verify(file, public_key, chain, identity),
        Command::Snapshot(SnapshotCommand::Diff {
            common,
            from,
            to,
            public_key,
            format,
        }) => snapshot_diff(common, from, to, public_key, format),
        Command::Export(args) => export(args).await,
        Command::Findings(args) => findings(args).await,
        Command::Inventory(args) => inventory(args).await,
        Command::Report(ReportArgs {
            kind: Some(ReportKind::Monthly(args)),
            ..
        }) => monthly_report(args).await,
        Command::Report(args) => report(args).await,
        Command::Maintenance(MaintenanceCommand::Add {
            common,
            service,
            start,
            end,
            reason,
        }) => {
            let new = gamsa_collector::operations::NewMaintenance {
                service,
                start,
                end,
                reason,
            };
            maintenance_add(common, new).await
        }
        Command::Maintenance(MaintenanceCommand::List { common, month }) => {
            maintenance_list(common, month).await
        }
        Command::Maintenance(MaintenanceCommand::Delete { common, id }) => {
            let store = common.store().await?;
            gamsa_collector::operations::delete_maintenance(store.as_ref(), &Actor::cli(), id)
                .await?;
            println!("maintenance window {id} deleted");
            Ok(())
        }
    }
}

async fn maintenance_add(
    common: Common,
    new: gamsa_collector::operations::NewMaintenance,
) -> anyhow::Result<()> {
    let store = common.store().await?;
    let w =
        gamsa_collector::operations::add_maintenance(store.as_ref(), &Actor::cli(), new).await?;
    println!(
        "maintenance window {} added: {} {} - {}",
        w.id,
        if w.service.is_empty() {
            "every service"
        } else {
            &w.service
        },
        w.start.to_rfc3339(),
        w.end.to_rfc3339()
    );
    Ok(())
}

async fn maintenance_list(common: Common, month: Option<String>) -> anyhow::Result<()> {
    let store = common.store().await?;
    let windows =
        gamsa_collector::operations::list_maintenance(store.as_ref(), month.as_deref()).await?;
    println!(
        "{:<6} {:<20} {:<25} {:<25} {:<16} reason",
        "id", "service", "start", "end", "by"
    );
    for w in windows {
        let service = if w.service.is_empty() {
            "*"
        } else {
            &w.service
        };
        let t =
            |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        println!(
            "{:<6} {:<20} {:<25} {:<25} {:<16} {}",
            w.id,
            service,
            t(w.start),
            t(w.end),
            w.by,
            w.reason
        );
    }
    Ok(())
}

async fn monthly_report(args: MonthlyArgs) -> anyhow::Result<()> {
    let config = args.common.load()?;
    let state = gamsa_collector::server::open_state(&config).await?;
    let month = match args.month {
        Some(m) => m,
        None => {
            // The month before this one.
            let (first, _) = gamsa_collector::availability::month_bounds(
                &gamsa_collector::availability::month_of(gamsa_collector::clock::now_ms()),
            )?;
            gamsa_collector::availability::month_of(first.timestamp_millis() - 1)
        }
    };
    let out = gamsa_collector::operations::monthly_report(
        &cli_source(&state),
        &config.availability,
        &Actor::cli(),
        &month,
        &args.scope,
        args.format,
    )
    .await?;
    write_out(
        args.output.as_deref(),
        out.body,
        &format!("monthly report {month} {}", args.scope),
    )
    .await
}

async fn serve(common: Common) -> anyhow::Result<()> {
    let config = common.load()?;
    config.log.init();
    let running = gamsa_collector::server::start(&config).await?;
    running.run_until(shutdown_signal()).await
}

fn ca_init(common: Common, server_names: Vec<String>) -> anyhow::Result<()> {
    let paths = gamsa_collector::server::init(&common.load()?, &server_names)?;
    println!(
        "CA, collector certificate, snapshot signing and redaction keys written to {}",
        paths.dir.display()
    );
    Ok(())
}

async fn ca_issue(
    common: Common,
    agent: String,
    host: Option<String>,
    out: PathBuf,
    days: i64,
) -> anyhow::Result<()> {
    let config = common.load()?;
    let creds = pki::issue_agent(&PkiPaths::new(&config.data_dir), &agent, days)?;
    let host = host.unwrap_or_else(|| agent.clone());
    let store = common.store().await?;
    gamsa_collector::grpc::enrol::bind(store.as_ref(), &agent, &host).await?;
    let certificate = gamsa_collector::grpc::enrol::certificate_sha256(&creds.cert_pem)
        .context("the certificate just issued does not parse")?;
    store.set_certificate(&agent, &certificate).await?;
    creds.write_to(&out)?;
    println!(
        "agent {agent} (host {host}): key, certificate and CA written to {}",
        out.display()
    );
    Ok(())
}

async fn token_create(args: TokenArgs) -> anyhow::Result<()> {
    let token = if args.api {
        let role: Role = args
            .role
            .parse()
            .with_context(|| format!("--role {}", args.role))?;
        NewToken::Api {
            name: args.name.unwrap_or_default(),
            role,
        }
    } else {
        NewToken::Enrol {
            agent: args.name,
            uses: args.uses,
        }
    };
    let store = args.common.store().await?;
    let secret = tokens::create(store.as_ref(), token, args.ttl.map(Into::into)).await?;
    println!("{secret}");
    Ok(())
}

async fn token_list(common: Common) -> anyhow::Result<()> {
    let store = common.store().await?;
    let tokens = gamsa_collector::operations::list_tokens(store.as_ref(), &Actor::cli()).await?;
    println!("id\tkind\tname\trole\tcreated\texpires\tuses left\tlast used");
    for t in tokens {
        let or_dash = |v: Option<String>| v.unwrap_or_else(|| "-".into());
        println!(
            "{}\t{}\t{}\t{}\t{}\t{}{}\t{}\t{}",
            t.id,
            t.kind,
            if t.name.is_empty() { "-" } else { &t.name },
            if t.role.is_empty() { "-" } else { &t.role },
            t.created,
            or_dash(t.expires),
            if t.expired { " (expired)" } else { "" },
            or_dash(t.uses_left.zip(t.max_uses).map(|(l, m)| format!("{l}/{m}"))),
            or_dash(t.last_used),
        );
    }
    Ok(())
}

async fn token_revoke(common: Common, id: String) -> anyhow::Result<()> {
    let store = common.store().await?;
    let t = gamsa_collector::operations::revoke_token(store.as_ref(), &Actor::cli(), &id).await?;
    println!("{} token {} ({}) revoked", t.kind, t.id, t.name);
    Ok(())
}

async fn agent_list(common: Common) -> anyhow::Result<()> {
    for a in common.store().await?.list_agents().await? {
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

async fn agent_revoke(common: Common, name: String) -> anyhow::Result<()> {
    let store = common.store().await?;
    gamsa_collector::operations::revoke_agent(store.as_ref(), &Actor::cli(), &name).await?;
    println!("agent {name} revoked; its streams are refused from now on");
    Ok(())
}

async fn agent_reinstate(
    common: Common,
    name: String,
    ttl: Option<humantime::Duration>,
) -> anyhow::Result<()> {
    let store = common.store().await?;
    let token = gamsa_collector::operations::reinstate_agent(
        store.as_ref(),
        &Actor::cli(),
        &name,
        ttl.map(Into::into),
    )
    .await?;
    eprintln!("agent {name} reinstated; its old certificate stays refused: enrol it again with this token");
    println!("{token}");
    Ok(())
}

async fn agent_bind(common: Common, name: String, host: String) -> anyhow::Result<()> {
    let store = common.store().await?;
    gamsa_collector::grpc::enrol::bind(store.as_ref(), &name, &host).await?;
    println!("host {host} bound to agent {name}");
    Ok(())
}

async fn user_add(
    common: Common,
    name: String,
    role: String,
    password_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let store = common.store().await?;
    let (password, generated) = match password_file {
        Some(f) => (
            std::fs::read_to_string(&f)
                .with_context(|| format!("{}", f.display()))?
                .trim_end_matches(['\n', '\r'])
                .to_string(),
            false,
        ),
        None => (tokens::generate("pw"), true),
    };
    gamsa_collector::dashboard::auth::add_user(store.as_ref(), &name, &role, &password).await?;
    if generated {
        println!("user {name} ({role}) password: {password}");
    } else {
        println!("user {name} ({role}) saved");
    }
    Ok(())
}

async fn user_list(common: Common) -> anyhow::Result<()> {
    let store = common.store().await?;
    for u in gamsa_collector::operations::list_users(store.as_ref(), &Actor::cli()).await? {
        println!("{}\t{}", u.name, u.role);
    }
    Ok(())
}

async fn user_delete(common: Common, name: String) -> anyhow::Result<()> {
    let store = common.store().await?;
    gamsa_collector::operations::delete_user(store.as_ref(), &Actor::cli(), &name).await?;
    println!("user {name} deleted; its sessions ended");
    Ok(())
}

async fn user_role(common: Common, name: String, role: String) -> anyhow::Result<()> {
    let role: Role = role.parse()?;
    let store = common.store().await?;
    gamsa_collector::operations::set_user_role(store.as_ref(), &Actor::cli(), &name, role).await?;
    println!("user {name} is now {role}; its sessions ended");
    Ok(())
}

/// Beside a serving collector, the snapshot is its: taken from its kept
/// evaluation. Without one, this process signs what the collector
/// prepared as it stopped, if nothing has changed since; else it evaluates
/// every catalog itself and snapshots that evaluation.
async fn snapshot_create(common: Common) -> anyhow::Result<()> {
    use gamsa_collector::control::{self, Reply, Request};
    let config = common.load()?;
    let login = Actor::cli().name().to_string();
    let (path, sha256, removed) =
        match control::ask(&config.data_dir, &Request::CreateSnapshot { login }).await? {
            Some(Reply::Snapshot {
                path,
                sha256,
                removed,
                pid,
            }) => {
                eprintln!(
                    "taken by the collector serving {} (pid {pid})",
                    config.data_dir.display()
                );
                (path, sha256, removed)
            }
            Some(Reply::Refused { error }) => anyhow::bail!(
                "the collector serving {} did not take the snapshot: {error}",
                config.data_dir.display()
            ),
            None => {
                eprintln!(
                    "no collector serves {}: the snapshot is taken here",
                    config.data_dir.display()
                );
                let state = gamsa_collector::server::open_state(&config).await?;
                // Signs what the collector prepared as it stopped while
                // that stands; else evaluates every catalog here.
                let c =
                    gamsa_collector::operations::create_snapshot(&state.snapshots, &Actor::cli())
                        .await?;
                if c.prepared != Preparedness::NotLooked {
                    eprintln!("{}", c.prepared);
                }
                let removed = c.removed.into_iter().map(|r| r.path).collect();
                (c.entry.path, c.sha256, removed)
            }
        };
    println!("{}\t{}", path.display(), sha256);
    for r in &removed {
        eprintln!("{}: removed by retention", r.display());
    }
    Ok(())
}

async fn snapshot_list(common: Common) -> anyhow::Result<()> {
    let state = gamsa_collector::server::open_state(&common.load()?).await?;
    for s in state.snapshots.list().await? {
        println!(
            "{}\t#{}\t{}\t{}\t{}\t{} bytes",
            s.id, s.sequence, s.created_at, s.taken_by, s.sha256, s.bytes
        );
    }
    Ok(())
}

fn snapshot_verify(
    file: PathBuf,
    public_key: PathBuf,
    chain: Option<PathBuf>,
    identity: Option<PathBuf>,
) -> anyhow::Result<()> {
    let key = PublicKey::read(&public_key)?;
    let checked = offline::verify_file(&file, &key, chain.as_deref(), identity.as_deref())?;
    let v = &checked.snapshot;
    println!(
        "{}: verified: snapshot #{} of collector {:?}, taken {} by {}, sha256 {}, signed by the key in {} (fingerprint {})",
        file.display(),
        v.header.sequence,
        v.header.collector.id,
        v.header.created_at,
        v.header.taken_by,
        v.sha256,
        key.name,
        gamsa_collector::snapshot::key::fingerprint(&key.key)
    );
    if checked.parts.hosts > 0 {
        println!(
            "{}: its {} host part(s) and {} evidence file(s) verified",
            file.display(),
            checked.parts.hosts,
            checked.parts.evidence
        );
    }
    if let Some(c) = checked.chain {
        println!("{}", c.summary());
    }
    Ok(())
}

fn snapshot_diff(
    common: Common,
    from: String,
    to: String,
    public_key: Option<PathBuf>,
    format: ReportFormat,
) -> anyhow::Result<()> {
    let config = common.load()?;
    let archive = config.snapshots.archive(&config.data_dir);
    let key_path =
        public_key.unwrap_or_else(|| gamsa_collector::snapshot::key::public_path(&config.data_dir));
    let key = PublicKey::read(&key_path).with_context(|| {
        "the snapshots are checked before they are compared: pass --public-key FILE"
    })?;
    let d = gamsa_collector::snapshot::diff::diff(
        &offline::verdicts(&from, &archive, &key)?,
        &offline::verdicts(&to, &archive, &key)?,
    );
    match format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&d)?),
        ReportFormat::Table => print!("{}", d.text()),
    }
    Ok(())
}

async fn export(args: ExportArgs) -> anyhow::Result<()> {
    let state = gamsa_collector::server::open_state(&args.common.load()?).await?;
    let req = gamsa_collector::export::Request {
        catalog: args.catalog,
        form: args.form,
        format: args.format,
        group: args.group,
        redact_ips: args.redact_ips,
        hosts: gamsa_collector::export::Hosts::All,
    };
    let (out, _) = gamsa_collector::operations::take_export(
        &cli_source(&state),
        &Actor::cli(),
        &req,
        &args.encrypt_to,
    )
    .await?;
    write_out(args.output.as_deref(), out.body, &req.describe()).await
}

/// What the command line's exports read: it runs no kept evaluation, so
/// each export evaluates for itself, and each report is made afresh.
fn cli_source(state: &gamsa_collector::state::AppState) -> gamsa_collector::export::Source<'_> {
    gamsa_collector::export::Source {
        kept: None,
        made: None,
        ..state.export_source()
    }
}

/// Writes `body` to `output` (owner-only: exports hold findings and IP
/// inventories) or to standard output, on a blocking thread (a streamed
/// body is read as it is made). A file left short by a failure is removed.
async fn write_out(
    output: Option<&std::path::Path>,
    body: gamsa_collector::export::body::Body,
    what: &str,
) -> anyhow::Result<()> {
    let output = output.map(std::path::Path::to_path_buf);
    let what = what.to_string();
    tokio::task::spawn_blocking(move || {
        let mut from = body.reader();
        match output {
            Some(path) => {
                let n = gamsa_collector::private::write_from(&path, &mut from).map_err(|e| {
                    let _ = std::fs::remove_file(&path);
                    anyhow::Error::new(e)
                        .context(format!("{}: cannot write; removed", path.display()))
                })?;
                eprintln!("{}: {what} ({n} bytes)", path.display());
            }
            None => {
                use std::io::Write;
                let mut stdout = std::io::stdout().lock();
                std::io::copy(&mut from, &mut stdout)
                    .and_then(|_| stdout.flush())
                    .context("standard output")?;
            }
        }
        Ok(())
    })
    .await?
}

async fn findings(args: FindingsArgs) -> anyhow::Result<()> {
    let state = gamsa_collector::server::open_state(&args.common.load()?).await?;
    let filter = gamsa_collector::assessment::Filter {
        host: args.host,
        catalog: args.catalog,
        open_only: args.open,
        page: None,
    };
    let actor = Actor::cli();
    let bytes = match args.format.as_str() {
        "table" | "json" => {
            let h = gamsa_collector::operations::read_findings(
                state.store.as_ref(),
                &state.checklists,
                &state.tallies,
                &actor,
                &filter,
            )
            .await?;
            if args.format == "json" {
                serde_json::to_vec_pretty(&h)?.into()
            } else {
                gamsa_collector::report::findings(&h).into_bytes().into()
            }
        }
        other => {
            let format: Format = other.parse().map_err(|_| {
                anyhow::anyhow!("--format {other}: expected table, json, csv, html or pdf")
            })?;
            gamsa_collector::operations::findings_report(
                &cli_source(&state),
                &actor,
                &filter,
                format,
                &args.encrypt_to,
            )
            .await?
            .body
        }
    };
    write_out(
        args.output.as_deref(),
        bytes,
        &format!("findings {}", filter.describe()),
    )
    .await
}

/// Every page of the inventory, read one page of hosts at a time (each
/// read recorded in the access log), then written whole: rows are small,
/// the evidence behind them is not kept.
async fn inventory(args: InventoryArgs) -> anyhow::Result<()> {
    if !matches!(args.format.as_str(), "csv" | "json") {
        anyhow::bail!("--format {}: expected csv or json", args.format);
    }
    let state = gamsa_collector::server::open_state(&args.common.load()?).await?;
    let mut request = gamsa_collector::inventory::Request {
        limit: gamsa_collector::inventory::MAX_PAGE,
        redact_ips: args.redact_ips,
        ..Default::default()
    };
    let mut rows = Vec::new();
    loop {
        let page = gamsa_collector::operations::read_inventory(
            state.store.as_ref(),
            &state.inventory,
            &Actor::cli(),
            &request,
            state.data_dir(),
        )
        .await?;
        rows.extend(page.hosts);
        match page.next {
            Some(next) => request.page = next,
            None => break,
        }
    }
    let bytes = if args.format == "json" {
        serde_json::to_vec_pretty(&serde_json::json!({ "hosts": rows }))?
    } else {
        gamsa_collector::inventory::csv(&rows)?
    };
    write_out(
        args.output.as_deref(),
        bytes.into(),
        &format!("inventory of {} hosts", rows.len()),
    )
    .await
}

async fn report(args: ReportArgs) -> anyhow::Result<()> {
    let config = args.common.load()?;
    let catalog = args.catalog.context("--catalog: which catalog to report")?;
    let store = gamsa_collector::store::open(&config.store_location()).await?;
    let checklists = gamsa_collector::checklists::Checklists::load(&config.catalog_dirs)?
        .expecting(&config.expectations)?;
    let (c, _) = checklists.choose(&catalog, args.group.as_deref())?;
    let items = checklists
        .evaluate(store.as_ref(), &[catalog.as_str()], args.group.as_deref())
        .await?;
    match args.format {
        ReportFormat::Json => println!("{}", serde_json::to_string_pretty(&items)?),
        ReportFormat::Table => {
            println!("{} — {}", c.catalog.id, c.catalog.title_ko);
            println!("{}\n", gamsa_collector::report::counts(&items));
            print!("{}", gamsa_collector::report::table(&items, false));
        }
    }
    Ok(())
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
