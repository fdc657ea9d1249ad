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
mod history;
mod pgbackrest;
mod restic;
mod restore;
mod velero;

use super::kube::KubeClient;
use super::kube::KubernetesConfig;
use super::{Probe, ProbeContext, Section};
use chrono::{DateTime, Utc};
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, BackupCopy, Evidence, RestoreTest};
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
    /// The period run history, success rate and restore tests are
    /// reported over.
    #[serde(with = "humantime_serde")]
    pub history: Duration,
    /// Most records (snapshots, backups, jobs, files, restores) read per
    /// source; more are reported as `runsCapped`.
    pub max_runs: usize,
    pub sources: Vec<BackupSource>,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            enabled: true,
            interval: Duration::from_secs(900),
            timeout: Duration::from_secs(60),
            history: Duration::from_secs(31 * 86_400),
            max_runs: 5_000,
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
    /// How often the source is meant to run (one of `every` or `cron`);
    /// CronJob and Velero schedule sources read their own schedule.
    #[serde(default, with = "humantime_serde")]
    pub every: Option<Duration>,
    /// A cron expression (5 fields, or 6 with seconds) of the runs.
    #[serde(default)]
    pub cron: String,
    /// The time zone of `cron` (IANA name).
    #[serde(default = "default_timezone")]
    pub cron_timezone: String,
    /// How long copies are meant to be kept.
    #[serde(default, with = "humantime_serde")]
    pub retention: Option<Duration>,
    /// restic, pgbackrest, files: the same backups kept elsewhere, each
    /// read as the source is (another repository, another glob).
    #[serde(default)]
    pub copies: Vec<CopySource>,
    /// pgbackrest: pgBackRest's restore log (default
    /// /var/log/pgbackrest/<stanza>-restore.log).
    #[serde(default)]
    pub restore_log: String,
    /// A command that restores a backup and checks it; its exit status is
    /// the restore test.
    #[serde(default)]
    pub restore_check: Option<RestoreCheck>,
}

/// A further location of a source's copies, read as the source is.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CopySource {
    pub location: String,
    #[serde(default)]
    pub path: String,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
}

/// A restore test the agent runs: a command (no shell) that restores a
/// backup somewhere harmless and checks it, exiting 0 when it succeeded.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RestoreCheck {
    pub command: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    /// How often it runs; between runs the last result is reported.
    #[serde(default = "default_restore_every", with = "humantime_serde")]
    pub every: Duration,
    /// Longest time it may take (at most 4 minutes: the probe's own bound).
    #[serde(default = "default_restore_timeout", with = "humantime_serde")]
    pub timeout: Duration,
}

fn default_timezone() -> String {
    "UTC".into()
}

fn default_restore_every() -> Duration {
    Duration::from_secs(7 * 86_400)
}

fn default_restore_timeout() -> Duration {
    Duration::from_secs(120)
}

/// Longest restore check: the scheduler ends any run after 5 minutes.
const MAX_RESTORE_TIMEOUT: Duration = Duration::from_secs(240);

fn default_hash_limit() -> u64 {
    64 * 1024 * 1024
}

impl Section for Config {
    /// Without sources there is nothing to look at.
    fn enabled(&self) -> bool {
        self.enabled && !self.sources.is_empty()
    }

    fn validate(&self) -> Result<(), String> {
        if self.history < Duration::from_secs(86_400) {
            return Err("history must be at least 1d".into());
        }
        if self.max_runs == 0 {
            return Err("max_runs must be at least 1".into());
        }
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
            if s.every.is_some() && !s.cron.is_empty() {
                return Err(format!("{at}: set one of `every` or `cron`, not both"));
            }
            if s.every.is_some_and(|e| e.is_zero()) {
                return Err(format!("{at}: every must be longer than 0s"));
            }
            if !s.cron.is_empty() {
                history::Schedule::cron(&s.cron, &s.cron_timezone)
                    .map_err(|e| format!("{at}: {e}"))?;
            }
            if !s.copies.is_empty()
                && !matches!(
                    s.kind,
                    BackupKind::Restic | BackupKind::Pgbackrest | BackupKind::Files
                )
            {
                return Err(format!(
                    "{at}: copies are read for restic, pgbackrest and files sources; {} reports its own locations",
                    s.kind.as_str()
                ));
            }
            for c in &s.copies {
                let bad = if c.location.is_empty() {
                    Some("needs a `location`")
                } else if s.kind == BackupKind::Files && !c.path.starts_with('/') {
                    Some("needs `path`, an absolute glob")
                } else if s.kind != BackupKind::Files && c.command.is_empty() == c.path.is_empty() {
                    Some("needs exactly one of `command` or `path`")
                } else {
                    None
                };
                if let Some(b) = bad {
                    return Err(format!("{at}: copies {:?}: {b}", c.location));
                }
            }
            if let Some(r) = &s.restore_check {
                if r.command.is_empty() {
                    return Err(format!("{at}: restore_check needs a `command`"));
                }
                if r.timeout > MAX_RESTORE_TIMEOUT || r.timeout.is_zero() {
                    return Err(format!(
                        "{at}: restore_check.timeout must be within 1s and 4m"
                    ));
                }
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
    /// Every record read: successes and, where the tool keeps them,
    /// failures.
    runs: Vec<history::Run>,
    /// The tool held more records than `max_runs`.
    capped: bool,
    /// The runs could not be read (the last success may still stand).
    history_error: String,
    /// Where the tool itself keeps copies (pgBackRest repositories, Velero
    /// storage locations); empty: the source's own location only.
    copies: Vec<Copy>,
    /// The schedule the tool states (CronJob, Velero Schedule).
    schedule: Option<history::Schedule>,
    /// Restore tests the tool recorded.
    restores: Vec<RestoreTest>,
    restore_error: String,
}

/// Successful copies kept in one location.
#[derive(Debug, Default)]
struct Copy {
    location: String,
    count: u64,
    newest: Option<DateTime<Utc>>,
    error: String,
}

impl Copy {
    fn add(&mut self, at: DateTime<Utc>) {
        self.count += 1;
        self.newest = self.newest.max(Some(at));
    }

    /// The successful copies a source read found.
    fn of(location: &str, found: &Found) -> Self {
        let mut c = Copy {
            location: location.to_string(),
            ..Copy::default()
        };
        found
            .runs
            .iter()
            .filter(|r| r.ok)
            .for_each(|r| c.add(r.done()));
        c.newest = c.newest.max(found.last_success);
        c
    }
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

#[derive(Debug, Deserialize)]
struct KubeList<T> {
    items: Vec<T>,
    #[serde(default)]
    metadata: KubeListMeta,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct KubeListMeta {
    #[serde(rename = "continue")]
    next: String,
}

/// Up to `max` objects of a Kubernetes list, a page (`limit`, `continue`)
/// at a time; true when the API holds more.
async fn kube_list<T: serde::de::DeserializeOwned>(
    kube: &KubeClient,
    path: &str,
    max: usize,
) -> Result<(Vec<T>, bool), String> {
    let mut out = Vec::new();
    let mut next = String::new();
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let mut url = format!("{path}{sep}limit={}", (max - out.len()).min(500));
        if !next.is_empty() {
            url.push_str("&continue=");
            url.extend(next.bytes().map(|b| match b {
                b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                    (b as char).to_string()
                }
                _ => format!("%{b:02X}"),
            }));
        }
        let page: KubeList<T> = kube.get(&url).await.map_err(|e| e.to_string())?;
        out.extend(page.items);
        if out.len() > max {
            out.truncate(max);
            return Ok((out, true));
        }
        if page.metadata.next.is_empty() {
            return Ok((out, false));
        }
        if out.len() == max {
            return Ok((out, true));
        }
        next = page.metadata.next;
    }
}

fn artifact(
    s: &BackupSource,
    found: Found,
    period: Duration,
    now: DateTime<Utc>,
) -> BackupArtifact {
    let max_age = s.max_age.as_secs() as i64;
    let age = found.last_success.map(|t| (now - t).num_seconds().max(0));
    let location = if s.location.is_empty() {
        found.location.clone()
    } else {
        s.location.clone()
    };
    let country = if s.country.is_empty() {
        super::region::country_of("", &s.region).unwrap_or_default()
    } else {
        s.country.clone()
    };
    // The configured schedule wins over the tool's own.
    let configured = match (s.every, s.cron.as_str()) {
        (Some(every), _) => Some(history::Schedule::Every(every)),
        (None, "") => None,
        (None, cron) => history::Schedule::cron(cron, &s.cron_timezone).ok(),
    };
    let schedule = configured.or(found.schedule.clone());
    let mut h = history::summarise(&found.runs, schedule.as_ref(), period, now);
    if !found.history_error.is_empty() {
        (h.runs_expected, h.runs_on_schedule, h.success_rate) = (0, 0, -1.0);
    }
    let mut restores = found.restores;
    restores
        .sort_by_key(|t| std::cmp::Reverse(t.finished_at.as_ref().map(|f| (f.seconds, f.nanos))));
    let last_restore_ok_at = restores.iter().find(|t| t.ok).and_then(|t| t.finished_at);
    restores.truncate(20);
    let age_of = |t: DateTime<Utc>| (now - t).num_seconds().max(0);
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
        period_days: (period.as_secs() / 86_400) as u32,
        counted_since: h.counted_since.map(timestamp),
        runs_succeeded: h.runs_succeeded,
        runs_failed: h.runs_failed,
        runs_expected: h.runs_expected,
        runs_on_schedule: h.runs_on_schedule,
        success_rate: h.success_rate,
        schedule: h.schedule,
        schedule_interval_seconds: h.schedule_interval_seconds,
        runs: h.runs,
        runs_capped: found.capped,
        oldest_kept_at: h.oldest_kept.map(timestamp),
        oldest_kept_age_seconds: h.oldest_kept.map_or(-1, age_of),
        retention_seconds: s.retention.map_or(0, |r| r.as_secs() as i64),
        copies: found
            .copies
            .into_iter()
            .map(|c| BackupCopy {
                location: c.location,
                count: c.count,
                newest_at: c.newest.map(timestamp),
                age_seconds: c.newest.map_or(-1, age_of),
                error: c.error,
            })
            .collect(),
        restore_tests: restores,
        last_restore_ok_at,
        restore_error: found.restore_error,
        history_error: found.history_error,
    }
}

pub struct BackupProbe {
    config: Config,
    kubernetes: KubernetesConfig,
    checks: restore::Checks,
}

impl BackupProbe {
    pub fn new(config: Config, kubernetes: KubernetesConfig) -> Self {
        Self {
            config,
            kubernetes,
            checks: restore::Checks::default(),
        }
    }

    /// What the tool of a restic, pgbackrest or files source (or of one of
    /// its copies, read alike) records.
    async fn read(
        &self,
        ctx: &ProbeContext,
        s: &BackupSource,
        command: &[String],
        path: &str,
        env: &BTreeMap<String, String>,
    ) -> Result<Found, String> {
        let max = self.config.max_runs;
        match s.kind {
            BackupKind::Files => {
                let (c, s) = (
                    ctx.clone(),
                    BackupSource {
                        path: path.to_string(),
                        ..s.clone()
                    },
                );
                tokio::task::spawn_blocking(move || files::newest(&c, &s, max))
                    .await
                    .map_err(|e| format!("file walk failed: {e}"))?
            }
            BackupKind::Restic => {
                restic::snapshots(&command::tool_output(ctx, command, path, env).await?, max)
            }
            _ => pgbackrest::info(
                &command::tool_output(ctx, command, path, env).await?,
                &s.stanza,
                max,
            ),
        }
    }

    async fn inspect(&self, ctx: &ProbeContext, s: &BackupSource) -> Result<Found, String> {
        let timeout = self.config.timeout;
        let max = self.config.max_runs;
        let kube = || -> Result<KubeClient, String> {
            KubeClient::new(&self.kubernetes)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| "not running in Kubernetes: set kubernetes.api_url".to_string())
        };
        let work = async {
            let mut found = match s.kind {
                BackupKind::Velero => velero::backups(&kube()?, s, max).await?,
                BackupKind::Cronjob => cronjob::last_success(&kube()?, s, max).await?,
                _ => self.read(ctx, s, &s.command, &s.path, &s.env).await?,
            };
            if found.copies.is_empty() {
                let here = if s.location.is_empty() {
                    &found.location
                } else {
                    &s.location
                };
                found.copies.push(Copy::of(here, &found));
            }
            for c in &s.copies {
                found
                    .copies
                    .push(match self.read(ctx, s, &c.command, &c.path, &c.env).await {
                        Ok(copy) => Copy::of(&c.location, &copy),
                        Err(error) => Copy {
                            location: c.location.clone(),
                            error,
                            ..Copy::default()
                        },
                    });
            }
            if s.kind == BackupKind::Pgbackrest {
                match restore::pgbackrest_log(ctx, s) {
                    Ok(tests) => found.restores.extend(tests),
                    Err(e) => found.restore_error = e,
                }
            }
            Ok(found)
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

    /// A run reads every source at once (each within `timeout`) and runs
    /// the restore checks that are due (each within its own timeout).
    fn timeout(&self) -> Duration {
        let checks = self
            .config
            .sources
            .iter()
            .filter_map(|s| s.restore_check.as_ref());
        let longest = checks.map(|c| c.timeout).max().unwrap_or_default();
        (self.config.timeout.max(longest) + Duration::from_secs(5))
            .min(crate::scheduler::MAX_PROBE_TIME)
    }

    async fn run(&self, ctx: &ProbeContext) -> Vec<Evidence> {
        let period = self.config.history;
        let checks = self.config.sources.iter().map(|s| async move {
            let subject = format!("backup:{}", s.name);
            let check = async {
                match &s.restore_check {
                    Some(c) => Some(self.checks.result(&s.name, c).await),
                    None => None,
                }
            };
            let (found, check) = futures::join!(self.inspect(ctx, s), check);
            match found {
                Ok(mut found) => {
                    found.restores.extend(check);
                    ctx.observed(
                        "backup",
                        &subject,
                        Payload::BackupArtifact(artifact(s, found, period, Utc::now())),
                    )
                }
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
