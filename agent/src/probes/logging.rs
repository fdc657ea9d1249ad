//! `logging`: where the host's logs go and how long they are kept (U-66,
//! U-67; seed 003's one-year retention of VM and application logs).
//!
//! The syslog daemons' rules (`rsyslog.rs`, `syslog_ng.rs`) say which
//! messages go to which local file or remote collector; journald's settings
//! (`journald.rs`) whether the journal persists and for how long; logrotate
//! (`logrotate.rs`) how many rotated copies of each log are kept, from which
//! a retention in days is counted per log file. Each local log a rule
//! writes, and the main logs the guide names, is reported with its owner
//! and mode. All of it is read from files under the host root, bounded
//! (`config_files`); what cannot be read is a notice naming it.

mod journald;
mod logrotate;
mod rsyslog;
mod syslog_ng;

use super::config_files::{HostFiles, MAX_FILES};
use super::files::{stat, Names};
use super::{Probe, ProbeContext};
use gamsa_proto::v1::{evidence::Payload, Evidence, LogFile, Logging};
use std::path::Path;
use std::time::Duration;

/// The main logs the guide names, reported when they exist.
const MAIN_LOGS: &[&str] = &[
    "/var/log/messages",
    "/var/log/secure",
    "/var/log/syslog",
    "/var/log/auth.log",
];

/// `[probes.logging]`: its schedule alone.
pub type Config = super::Scheduled<LoggingProbe>;

impl super::Every for LoggingProbe {}

impl From<Config> for LoggingProbe {
    fn from(config: Config) -> Self {
        Self { config }
    }
}

pub struct LoggingProbe {
    config: Config,
}

/// The logging evidence of the host under `root`.
pub fn observe(root: &Path) -> Logging {
    let mut f = HostFiles::new(root);
    let mut l = Logging::default();
    if let Some(rules) = rsyslog::rules(&mut f) {
        l.daemons.push("rsyslog".into());
        l.rules.extend(rules);
    }
    if let Some(rules) = syslog_ng::rules(&mut f) {
        l.daemons.push("syslog-ng".into());
        l.rules.extend(rules);
    }
    l.journald = Some(journald::settings(&mut f));
    let (defaults, rotations) = logrotate::read(&mut f);
    l.logrotate_defaults = defaults.into_iter().collect();

    let names = Names::of_or_empty(root);
    let mut logs: Vec<(String, String)> = Vec::new();
    // Devices (/dev/console) are not logs kept.
    for r in l
        .rules
        .iter()
        .filter(|r| r.kind == "file" && !r.target.starts_with("/dev/"))
    {
        if !logs.iter().any(|(p, _)| *p == r.target) {
            logs.push((
                r.target.clone(),
                format!("{} {}:{}", r.daemon, r.file, r.line),
            ));
        }
    }
    for p in MAIN_LOGS {
        if f.exists(p) && !logs.iter().any(|(x, _)| x == p) {
            logs.push((p.to_string(), "guide".into()));
        }
    }
    if logs.len() > MAX_FILES {
        f.notices.push(format!(
            "{} log files named, the first {MAX_FILES} reported",
            logs.len()
        ));
        logs.truncate(MAX_FILES);
    }
    l.files = logs
        .into_iter()
        .map(|(path, source)| {
            let (rotation, retention_days) = match logrotate::find(&rotations, &path) {
                Some(e) => (
                    format!("{}:{} {}", e.file, e.line, e.policy.describe()),
                    e.policy.retention_days(),
                ),
                None => (String::new(), -1),
            };
            LogFile {
                file: Some(stat(root, &path, &names)),
                source,
                rotation,
                retention_days,
            }
        })
        .collect();
    l.log_dir = Some(stat(root, "/var/log", &names));
    l.config_files = f.read;
    l.notices = f.notices;
    l
}

#[async_trait::async_trait]
impl Probe for LoggingProbe {
    fn name(&self) -> &'static str {
        "logging"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let root = ctx.host_root.clone();
        vec![
            match tokio::task::spawn_blocking(move || observe(&root)).await {
                Ok(l) => ctx.observed("logging", &ctx.host, Payload::Logging(l)),
                Err(e) => ctx.error("logging", &ctx.host, format!("probe task failed: {e}")),
            },
        ]
    }
}
