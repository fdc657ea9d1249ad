//! `backup`: for each configured backup source, when the last successful
//! backup finished, whether that is recent enough, and where backups live.
//!
//! EMR items 1.1–1.4 and 4.3 ask for regular backups kept in a known place.
//! The probe reads what the backup tool itself records, never a schedule:
//! files matching a glob (newest modification time), `restic snapshots
//! --json`, `pgbackrest info --output=json`, Velero `Backup` objects and a
//! Kubernetes CronJob's `status.lastSuccessfulTime`.
//!
//! A source that exists but has no successful backup is a finding: observed
//! evidence with `fresh = false` (and `ageSeconds = -1`). A source that
//! cannot be read (missing directory, failing command, API unreachable or
//! refusing) is error evidence: "could not check" is never "no backup".
//! Commands run without a shell, with a timeout and bounded output; paths
//! are read under the host root.
//!
//! One file per kind of source reads what that tool records ([`files`],
//! [`restic`], [`pgbackrest`] with [`command`], [`velero`], [`cronjob`]);
//! this one holds the configuration, and makes the evidence from what a
//! source found.

mod command;
mod cronjob;
mod files;
mod pgbackrest;
mod restic;
mod velero;

use super::kube::KubeClient;
use super::kube::KubernetesConfig;
use super::{Probe, ProbeContext, Section};
use chrono::{DateTime, Utc};
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, Evidence};
use gamsa_proto::Timestamp;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub enabled: bool,
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Longest time one source may take (command, API call, file walk).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    pub sources: Vec<BackupSource>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(900),
            timeout: Duration::from_secs(60),
            sources: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum BackupKind {
    Files,
    Restic,
    Pgbackrest,
    Velero,
    Cronjob,
}

impl BackupKind {
    fn as_str(self) -> &'static str {
        match self {
            Self::Files => "files",
            Self::Restic => "restic",
            Self::Pgbackrest => "pgbackrest",
            Self::Velero => "velero",
            Self::Cronjob => "cronjob",
        }
    }
}

/// One backup source. Which fields apply depends on `kind`; `validate`
/// rejects a source missing what its kind needs.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSource {
    pub name: String,
    pub kind: BackupKind,
    /// Older than this, the newest successful backup is not fresh.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Where the backups live, as people call it ("NAS in IDC-2").
    #[serde(default)]
    pub location: String,
    #[serde(default)]
    pub region: String,
    /// ISO 3166-1 alpha-2; empty: looked up from `region`.
    #[serde(default)]
    pub country: String,
    /// files: a glob; restic, pgbackrest: a file holding the JSON output.
    #[serde(default)]
    pub path: String,
    /// restic, pgbackrest: the command printing the JSON (no shell).
    #[serde(default)]
    pub command: Vec<String>,
    /// Extra environment for `command` (e.g. RESTIC_PASSWORD_FILE).
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// pgbackrest: the stanza (needed when the output has several).
    #[serde(default)]
    pub stanza: String,
    /// velero, cronjob: the namespace (velero: default "velero").
    #[serde(default)]
    pub namespace: String,
    /// velero: only backups of this schedule.
    #[serde(default)]
    pub schedule: String,
    /// cronjob: its name.
    #[serde(default)]
    pub cronjob: String,
    /// files: hash the newest file only up to this size.
    #[serde(default = "default_hash_limit")]
    pub hash_limit: u64,
}

fn default_hash_limit() -> u64 {
    64 * 1024 * 1024
}

impl Section for Config {
    /// Without sources there is nothing to look at.
    fn enabled(&self) -> bool {
        self.enabled && !self.sources.is_empty()
    }

    fn validate(&self) -> Result<(), String> {
        let mut names = BTreeSet::new();
        for s in &self.sources {
            let at = format!("sources {:?}", s.name);
            if s.name.is_empty() {
                return Err("sources: every source needs a name".into());
            }
            if !names.insert(&s.name) {
                return Err(format!("{at}: the name is used twice"));
            }
            if !s.country.is_empty() && !super::region::is_country(&s.country) {
                return Err(format!(
                    "{at}: country {:?} is not an ISO 3166-1 alpha-2 code",
                    s.country
                ));
            }
            let problem = match s.kind {
                BackupKind::Files if !s.path.starts_with('/') => {
                    Some("needs `path`, an absolute glob")
                }
                BackupKind::Restic | BackupKind::Pgbackrest
                    if s.command.is_empty() == s.path.is_empty() =>
                {
                    Some("needs exactly one of `command` or `path`")
                }
                BackupKind::Cronjob if s.namespace.is_empty() || s.cronjob.is_empty() => {
                    Some("needs `namespace` and `cronjob`")
                }
                _ => None,
            };
            if let Some(p) = problem {
                return Err(format!("{at} (kind {}): {p}", s.kind.as_str()));
            }
        }
        Ok(())
    }

    fn build(&self, config: &crate::config::Config) -> Arc<dyn Probe> {
        Arc::new(BackupProbe::new(self.clone(), config.kubernetes.clone()))
    }
}

/// What a source says about its backups.
#[derive(Debug, Default)]
struct Found {
    newest: String,
    newest_modified: Option<Timestamp>,
    size_bytes: u64,
    count: u64,
    sha256: String,
    last_success: Option<DateTime<Utc>>,
    /// A location the source itself names (Velero storage location).
    location: String,
}

/// A UTC time as the evidence `Timestamp`.
fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

/// An RFC 3339 time, as the tools and the Kubernetes API write them.
fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn artifact(s: &BackupSource, found: Found, now: DateTime<Utc>) -> BackupArtifact {
    let max_age = s.max_age.as_secs() as i64;
    let age = found.last_success.map(|t| (now - t).num_seconds().max(0));
    let location = if s.location.is_empty() {
        found.location
    } else {
        s.location.clone()
    };
    let country = if s.country.is_empty() {
        super::region::country_of("", &s.region).unwrap_or_default()
    } else {
        s.country.clone()
    };
    BackupArtifact {
        source: s.name.clone(),
        kind: s.kind.as_str().into(),
        newest: found.newest,
        newest_modified: found.newest_modified,
        size_bytes: found.size_bytes,
        count: found.count,
        sha256: found.sha256,
        last_success_at: found.last_success.map(timestamp),
        age_seconds: age.unwrap_or(-1),
        max_age_seconds: max_age,
        fresh: age.is_some_and(|a| a <= max_age),
        location,
        region: s.region.clone(),
        country,
    }
}

pub struct BackupProbe {
    config: Config,
    kubernetes: KubernetesConfig,
}

impl BackupProbe {
    pub fn new(config: Config, kubernetes: KubernetesConfig) -> Self {
        Self { config, kubernetes }
    }

    async fn inspect(&self, ctx: &ProbeContext, s: &BackupSource) -> Result<Found, String> {
        let timeout = self.config.timeout;
        let kube = || -> Result<KubeClient, String> {
            KubeClient::new(&self.kubernetes)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not running in Kubernetes: set kubernetes.api_url".to_string())
        };
        let work = async {
            match s.kind {
                BackupKind::Files => {
                    let (c, s) = (ctx.clone(), s.clone());
                    tokio::task::spawn_blocking(move || files::newest(&c, &s))
                        .await
                        .map_err(|e| format!("file walk failed: {e}"))?
                }
                BackupKind::Restic => restic::snapshots(&command::tool_output(ctx, s).await?),
                BackupKind::Pgbackrest => {
                    pgbackrest::info(&command::tool_output(ctx, s).await?, &s.stanza)
                }
                BackupKind::Velero => velero::backups(&kube()?, s).await,
                BackupKind::Cronjob => cronjob::last_success(&kube()?, s).await,
            }
        };
        tokio::time::timeout(timeout, work).await.map_err(|_| {
            format!(
                "did not finish within {}",
                humantime::format_duration(timeout)
            )
        })?
    }
}

#[async_trait::async_trait]
impl Probe for BackupProbe {
    fn name(&self) -> &'static str {
        "backup"
    }

    fn interval(&self) -> Duration {
        self.config.interval
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let checks = self.config.sources.iter().map(|s| async move {
            let subject = format!("backup:{}", s.name);
            match self.inspect(ctx, s).await {
                Ok(found) => ctx.observed(
                    "backup",
                    &subject,
                    Payload::BackupArtifact(artifact(s, found, Utc::now())),
                ),
                Err(why) => ctx.error(
                    "backup",
                    &subject,
                    format!("{} source: {why}", s.kind.as_str()),
                ),
            }
        });
        futures::future::join_all(checks).await
    }
}
