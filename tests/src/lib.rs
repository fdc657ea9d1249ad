//! Harness for end-to-end tests: real `gamsa-collector` and `gamsa-agent`
//! processes on loopback, talking mutual TLS, observed through the HTTP API
//! and their logs.
//!
//! The binaries are the ones `cargo test --workspace` builds next to the test
//! executables (`target/<profile>/`).

pub mod pg;
pub mod raw;

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/NAME`, built by `cargo test --workspace`.
pub fn binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    let dir = exe
        .parent()
        .and_then(|d| {
            if d.ends_with("deps") {
                d.parent()
            } else {
                Some(d)
            }
        })
        .expect("target directory");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} not found: run the suite with `cargo test --workspace` so the binaries are built",
        path.display()
    );
    path
}

/// A free loopback port (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Runs a command to completion, failing with its stderr when it fails.
pub fn run(cmd: &mut Command) -> Result<String> {
    let out = cmd.output().with_context(|| format!("{cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Polls `f` until it returns `Some`, or fails after `timeout`.
pub fn wait_for<T>(what: &str, timeout: Duration, f: impl FnMut() -> Option<T>) -> T {
    wait_for_or(what, timeout, f, String::new)
}

/// As `wait_for`, failing with what `context` says then (e.g. the logs of
/// the processes involved).
pub fn wait_for_or<T>(
    what: &str,
    timeout: Duration,
    mut f: impl FnMut() -> Option<T>,
    context: impl FnOnce() -> String,
) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        if start.elapsed() >= timeout {
            panic!("timed out waiting for {what}\n{}", context());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A child process killed when dropped, with its stderr in a file.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(mut cmd: Command, log: PathBuf) -> Result<Proc> {
        let file = std::fs::File::create(&log)?;
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .with_context(|| format!("{cmd:?}"))?;
        Ok(Proc { child, log })
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGKILL.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A collector in a temporary data directory.
pub struct Collector {
    pub dir: tempfile::TempDir,
    pub grpc: u16,
    pub http: u16,
    pub token: String,
    pub proc: Option<Proc>,
    /// `store.url`; `None` is the default SQLite file in the data directory.
    pub store_url: Option<String>,
    /// Extra configuration; replicas get the same.
    pub settings: Settings,
}

/// Configuration beyond ports, data directory and store.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// Lines for the `[grpc]` section.
    pub grpc: String,
    /// Lines for the `[http]` section.
    pub http: String,
    /// Lines for the `[log]` section; empty is `level = "info"`.
    pub log: String,
    /// Further sections, e.g. `[snapshots]`.
    pub sections: String,
}

impl Collector {
    /// Creates the CA and config, starts `gamsa-collector serve`, waits for
    /// readiness and creates an admin API token.
    pub fn start() -> Result<Collector> {
        Self::start_on(None)
    }

    /// As `start`, with the store at `store_url` (e.g. a PostgreSQL URL).
    pub fn start_on(store_url: Option<&str>) -> Result<Collector> {
        Self::start_configured(store_url, Settings::default())
    }

    /// As `start`, with extra lines for the `[grpc]` and `[http]` sections
    /// (limits and timeouts).
    pub fn start_with(grpc: &str, http: &str) -> Result<Collector> {
        let settings = Settings {
            grpc: grpc.into(),
            http: http.into(),
            ..Settings::default()
        };
        Self::start_configured(None, settings)
    }

    pub fn start_configured(store_url: Option<&str>, settings: Settings) -> Result<Collector> {
        let mut c = Self::prepare(store_url, settings)?;
        run(c.cmd().args(["ca", "init"]))?;
        c.restart()?;
        c.token = run(c.cmd().args([
            "token", "create", "--api", "--role", "admin", "--name", "e2e",
        ]))?
        .trim()
        .to_string();
        Ok(c)
    }

    /// Another collector on this one's store, with a copy of its CA and
    /// server key (as replicas share them in production): the same agents,
    /// tokens and evidence, its own ports.
    pub fn replica(&self) -> Result<Collector> {
        let mut c = Self::prepare(self.store_url.as_deref(), self.settings.clone())?;
        let (from, to) = (self.data().join("pki"), c.data().join("pki"));
        std::fs::create_dir_all(&to)?;
        for entry in std::fs::read_dir(&from).with_context(|| from.display().to_string())? {
            let entry = entry?;
            std::fs::copy(entry.path(), to.join(entry.file_name()))?;
        }
        c.restart()?;
        c.token = self.token.clone();
        Ok(c)
    }

    /// A temporary directory with a collector.toml on free ports.
    fn prepare(store_url: Option<&str>, settings: Settings) -> Result<Collector> {
        let dir = tempfile::tempdir()?;
        let (grpc, http) = (free_port(), free_port());
        let data = dir.path().join("data");
        let store = store_url
            .map(|u| format!("[store]\nurl = \"{u}\"\n"))
            .unwrap_or_default();
        std::fs::write(
            dir.path().join("collector.toml"),
            format!(
                "data_dir = \"{}\"\n[grpc]\nlisten = \"127.0.0.1:{grpc}\"\n{}\n[http]\nlisten = \"127.0.0.1:{http}\"\n{}\n{store}[log]\n{}\n{}\n",
                data.display(),
                settings.grpc,
                settings.http,
                if settings.log.is_empty() {
                    "level = \"info\""
                } else {
                    &settings.log
                },
                settings.sections,
            ),
        )?;
        Ok(Collector {
            dir,
            grpc,
            http,
            token: String::new(),
            proc: None,
            store_url: store_url.map(str::to_string),
            settings,
        })
    }

    pub fn config(&self) -> PathBuf {
        self.dir.path().join("collector.toml")
    }

    pub fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// `gamsa-collector` with `--config` set, for any subcommand.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(binary("gamsa-collector"));
        cmd.env("GAMSA_COLLECTOR_CONFIG", self.config());
        cmd
    }

    /// (Re)starts the server process and waits for `/readyz`.
    pub fn restart(&mut self) -> Result<()> {
        let mut cmd = self.cmd();
        cmd.arg("serve");
        let log = self.dir.path().join("collector.log");
        // Keep earlier logs: append a run marker instead of truncating.
        let previous = std::fs::read_to_string(&log).unwrap_or_default();
        std::fs::write(self.dir.path().join("collector.previous.log"), previous)?;
        self.proc = Some(Proc::spawn(cmd, log)?);
        let url = format!("http://127.0.0.1:{}/readyz", self.http);
        let start = Instant::now();
        while ureq::get(&url).call().is_err() {
            if start.elapsed() > Duration::from_secs(20) {
                bail!("collector not ready: {}", self.log());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    pub fn log(&self) -> String {
        self.proc.as_ref().map(Proc::log_text).unwrap_or_default()
    }

    /// GET an API path with the admin token.
    pub fn get(&self, path_and_query: &str) -> Result<Value> {
        let url = format!("http://127.0.0.1:{}{path_and_query}", self.http);
        Ok(ureq::get(&url)
            .set("Authorization", &format!("Bearer {}", self.token))
            .call()
            .with_context(|| url.clone())?
            .into_json()?)
    }

    /// Issues key, certificate and CA for `agent` into a new directory.
    pub fn issue(&self, agent: &str) -> Result<PathBuf> {
        let out = self.dir.path().join(format!("agent-{agent}"));
        std::fs::create_dir_all(&out)?;
        run(self
            .cmd()
            .args(["ca", "issue", "--agent", agent, "--out"])
            .arg(&out))?;
        Ok(out)
    }

    /// Evidence stored for `host`, newest first.
    /// Every stored evidence `query` matches, following the API's pages.
    pub fn evidence(&self, query: &str) -> Vec<Value> {
        let mut all = Vec::new();
        let mut offset = 0;
        while let Ok(page) = self.get(&format!(
            "/api/v1/evidence?limit=10000&offset={offset}&{query}"
        )) {
            all.extend(page["evidence"].as_array().cloned().unwrap_or_default());
            match page["nextOffset"].as_u64() {
                Some(next) => offset = next,
                None => break,
            }
        }
        all
    }
}

/// Test agents ask for cloud metadata on loopback, where nothing answers:
/// tests send no traffic beyond this machine (not even to 169.254.169.254).
pub const NO_METADATA: &str = "[probes.region]\naws_url = \"http://127.0.0.1:9\"\ngcp_url = \"http://127.0.0.1:9\"\nazure_url = \"http://127.0.0.1:9\"\nopenstack_url = \"http://127.0.0.1:9\"\n";

/// Test agents leave out the `files` probe's walk of the whole filesystem
/// (seconds of CPU per agent, and its own tests cover it).
pub const NO_WALK: &str = "[probes.files.walk]\nenabled = false\n";

/// Makes the agent config at `cfg` enrol with the token in `token_file`.
pub fn enrol_with(cfg: &Path, token_file: &Path) -> Result<()> {
    let text = std::fs::read_to_string(cfg)?.replace(
        "[collector]\n",
        &format!(
            "[collector]\nenrol_token_file = \"{}\"\n",
            token_file.display()
        ),
    );
    std::fs::write(cfg, text)?;
    Ok(())
}

/// Writes an agent config for `collector` using credentials in `creds`.
pub fn agent_config(
    dir: &Path,
    name: &str,
    collector: &Collector,
    creds: &Path,
    extra: &str,
) -> Result<PathBuf> {
    agent_config_for(dir, name, &[collector], creds, extra)
}

/// As `agent_config`, with every collector in `collectors` as an endpoint,
/// in that order (the agent fails over from one to the next).
pub fn agent_config_for(
    dir: &Path,
    name: &str,
    collectors: &[&Collector],
    creds: &Path,
    extra: &str,
) -> Result<PathBuf> {
    let endpoints: Vec<String> = collectors
        .iter()
        .map(|c| format!("\"https://127.0.0.1:{}\"", c.grpc))
        .collect();
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(
        &path,
        format!(
            "agent_id = \"{name}\"\nhost = \"{name}\"\nstate_dir = \"{}\"\n{extra}\n[collector]\nendpoints = [{}]\nca = \"{}\"\ncert = \"{}\"\nkey = \"{}\"\nbatch_interval = \"100ms\"\n[probes.host]\ninterval = \"2s\"\n[probes.ports]\ninterval = \"2s\"\n[probes.tls]\ndiscover_local = false\n[probes.scan]\nenabled = false\n{NO_WALK}{NO_METADATA}",
            dir.join(format!("{name}-state")).display(),
            endpoints.join(", "),
            creds.join("ca.crt").display(),
            creds.join("agent.crt").display(),
            creds.join("agent.key").display(),
        ),
    )?;
    Ok(path)
}

/// Evidence ids an agent wrote to its spool, from its log with
/// `gamsa_agent::transport=debug`.
pub fn spooled_ids(log: &str) -> std::collections::BTreeSet<String> {
    spooled(log).into_iter().map(|s| s.id).collect()
}

/// An evidence an agent spooled, as its debug log says.
#[derive(Debug, Clone, PartialEq)]
pub struct Spooled {
    pub id: String,
    pub probe: String,
    pub subject: String,
    pub observed_ms: i64,
}

/// Every evidence the agent's log (`gamsa_agent::transport=debug`) says it
/// spooled.
pub fn spooled(log: &str) -> Vec<Spooled> {
    let field = |line: &str, name: &str| -> Option<String> {
        let rest = line.split(&format!(" {name}=")).nth(1)?;
        match rest.strip_prefix('"') {
            // Debug-quoted: up to the closing quote (subjects have no quotes).
            Some(q) => q.split('"').next().map(str::to_string),
            None => rest.split_whitespace().next().map(str::to_string),
        }
    };
    log.lines()
        .filter(|l| l.contains("evidence spooled"))
        .filter_map(|l| {
            Some(Spooled {
                id: field(l, "id")?,
                probe: field(l, "probe")?,
                subject: field(l, "subject").unwrap_or_default(),
                observed_ms: field(l, "observed_ms")?.parse().ok()?,
            })
        })
        .collect()
}

/// The ids of the `produced` evidence that `stored` (evidence as the API
/// answers it) does not account for: each is stored by its id, or was seen
/// again within a stored run of the same probe and subject (between the
/// run's `firstObservedAt` and `observedAt`).
pub fn unaccounted(produced: &[Spooled], stored: &[serde_json::Value]) -> Vec<String> {
    let ms = |v: &serde_json::Value| {
        v.as_str()
            .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.timestamp_millis())
    };
    let ids: std::collections::BTreeSet<&str> =
        stored.iter().filter_map(|e| e["id"].as_str()).collect();
    let runs: Vec<(&str, &str, i64, i64)> = stored
        .iter()
        .filter_map(|e| {
            Some((
                e["probe"].as_str()?,
                e["subject"].as_str()?,
                ms(&e["firstObservedAt"])?,
                ms(&e["observedAt"])?,
            ))
        })
        .collect();
    produced
        .iter()
        .filter(|p| {
            !ids.contains(p.id.as_str())
                && !runs.iter().any(|(probe, subject, first, last)| {
                    *probe == p.probe
                        && *subject == p.subject
                        && (*first..=*last).contains(&p.observed_ms)
                })
        })
        .map(|p| p.id.clone())
        .collect()
}

/// Starts `gamsa-agent run` with `config`.
pub fn start_agent(config: &Path, log: PathBuf) -> Result<Proc> {
    let mut cmd = Command::new(binary("gamsa-agent"));
    cmd.arg("run").arg("--config").arg(config);
    Proc::spawn(cmd, log)
}
