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

use super::kube::KubeClient;
use super::kube::KubernetesConfig;
use super::{Probe, ProbeContext, Section};
use chrono::{DateTime, Utc};
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, Evidence};
use gamsa_proto::Timestamp;
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// Most files a glob may match before the walk stops.
const MAX_MATCHES: usize = 100_000;
/// Most bytes of command output or JSON file read.
const OUTPUT_LIMIT: usize = 64 * 1024 * 1024;

fn timestamp(t: DateTime<Utc>) -> Timestamp {
    Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }
}

fn rfc3339(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// The directory before the glob's first wildcard: it must exist, or the
/// source cannot be read (as opposed to holding no backup).
fn literal_dir(pattern: &Path) -> std::path::PathBuf {
    let mut dir = std::path::PathBuf::new();
    for c in pattern.parent().unwrap_or(Path::new("/")).components() {
        if c.as_os_str().to_string_lossy().contains(['*', '?', '[']) {
            break;
        }
        dir.push(c);
    }
    dir
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hex::encode(hasher.finalize()))
}

fn files(ctx: &ProbeContext, s: &BackupSource) -> Result<Found, String> {
    let root = ctx.host_root.to_string_lossy();
    let pattern = format!(
        "{}/{}",
        glob::Pattern::escape(root.trim_end_matches('/')),
        s.path.trim_start_matches('/')
    );
    let dir = literal_dir(&ctx.host_path(&s.path));
    std::fs::read_dir(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let matches = glob::glob(&pattern).map_err(|e| format!("path {:?}: {e}", s.path))?;
    let mut found = Found::default();
    let mut newest: Option<(SystemTime, std::path::PathBuf, u64)> = None;
    for entry in matches.take(MAX_MATCHES) {
        let path = entry.map_err(|e| e.to_string())?;
        let meta = match std::fs::metadata(&path) {
            Ok(m) if m.is_file() => m,
            Ok(_) => continue,
            // Removed between listing and reading (rotation): not an error.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(format!("{}: {e}", path.display())),
        };
        found.count += 1;
        let modified = meta
            .modified()
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if newest.as_ref().is_none_or(|(t, _, _)| modified > *t) {
            newest = Some((modified, path, meta.len()));
        }
    }
    if let Some((modified, path, size)) = newest {
        if size <= s.hash_limit {
            found.sha256 = sha256_file(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        let shown = path.strip_prefix(&ctx.host_root).unwrap_or(&path);
        found.newest = Path::new("/").join(shown).display().to_string();
        found.newest_modified = Some(crate::evidence::timestamp(modified));
        found.last_success = Some(DateTime::<Utc>::from(modified));
        found.size_bytes = size;
    }
    Ok(found)
}

/// Runs `argv` (no shell); its stdout, at most OUTPUT_LIMIT bytes. The
/// caller bounds the time: dropping the future kills the process.
async fn run_command(argv: &[String], env: &BTreeMap<String, String>) -> Result<Vec<u8>, String> {
    use std::process::Stdio;
    use tokio::io::AsyncReadExt;
    let shown = argv.join(" ");
    let mut child = tokio::process::Command::new(&argv[0])
        .args(&argv[1..])
        .envs(env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("`{shown}`: {e}"))?;
    let (Some(stdout), Some(stderr)) = (child.stdout.take(), child.stderr.take()) else {
        return Err(format!("`{shown}`: no output pipes"));
    };
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let (mut stdout, mut stderr) = (stdout.take(OUTPUT_LIMIT as u64 + 1), stderr.take(64 * 1024));
    let read_out = async {
        let failed = |e| format!("`{shown}`: reading output: {e}");
        stdout.read_to_end(&mut out).await.map_err(failed)?;
        // Over the limit: stop now (the process is killed when dropped).
        if out.len() > OUTPUT_LIMIT {
            return Err(format!(
                "`{shown}`: output larger than {OUTPUT_LIMIT} bytes"
            ));
        }
        Ok(())
    };
    let read_err = async {
        stderr
            .read_to_end(&mut err)
            .await
            .map_err(|e| format!("`{shown}`: reading errors: {e}"))
    };
    tokio::try_join!(read_out, read_err)?;
    let status = child.wait().await.map_err(|e| format!("`{shown}`: {e}"))?;
    if !status.success() {
        let err = String::from_utf8_lossy(&err);
        let err = err.trim();
        let start = err.char_indices().rev().nth(499).map_or(0, |(i, _)| i);
        return Err(format!("`{shown}` {status}: {}", &err[start..]));
    }
    Ok(out)
}

/// The JSON a restic or pgbackrest source prints or keeps in a file.
async fn tool_output(ctx: &ProbeContext, s: &BackupSource) -> Result<Vec<u8>, String> {
    if !s.command.is_empty() {
        return run_command(&s.command, &s.env).await;
    }
    let path = ctx.host_path(&s.path);
    super::read_bounded(&path, OUTPUT_LIMIT as u64)
        .map(String::into_bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[derive(Debug, Deserialize)]
struct ResticSnapshot {
    time: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    summary: Option<ResticSummary>,
}

/// Present from restic 0.17 on.
#[derive(Debug, Deserialize)]
struct ResticSummary {
    #[serde(default)]
    total_bytes_processed: u64,
}

/// `restic snapshots --json`: every snapshot is a finished backup.
fn restic(json: &[u8]) -> Result<Found, String> {
    let snapshots: Vec<ResticSnapshot> =
        serde_json::from_slice(json).map_err(|e| format!("restic snapshots JSON: {e}"))?;
    let mut found = Found {
        count: snapshots.len() as u64,
        ..Found::default()
    };
    for snap in &snapshots {
        let time = rfc3339(&snap.time)
            .ok_or_else(|| format!("restic snapshot {}: time {:?}", snap.id, snap.time))?;
        if found.last_success.is_none_or(|t| time > t) {
            found.last_success = Some(time);
            found.newest_modified = Some(timestamp(time));
            found.newest = snap.id.clone();
            found.size_bytes = snap.summary.as_ref().map_or(0, |s| s.total_bytes_processed);
        }
    }
    Ok(found)
}

#[derive(Debug, Deserialize)]
struct PgStanza {
    name: String,
    status: PgStatus,
    #[serde(default)]
    backup: Vec<PgBackup>,
}

#[derive(Debug, Deserialize)]
struct PgStatus {
    code: i64,
    #[serde(default)]
    message: String,
}

#[derive(Debug, Deserialize)]
struct PgBackup {
    label: String,
    /// True when the backup found page checksum errors (pgBackRest ≥ 2.36).
    #[serde(default)]
    error: Option<bool>,
    timestamp: PgTimes,
    #[serde(default)]
    info: Option<PgInfo>,
}

#[derive(Debug, Deserialize)]
struct PgTimes {
    stop: i64,
}

#[derive(Debug, Deserialize)]
struct PgInfo {
    /// Size of the database the backup restores.
    #[serde(default)]
    size: u64,
}

/// pgBackRest stanza status "no valid backups": the stanza exists, empty.
const PG_NO_BACKUPS: i64 = 2;

/// `pgbackrest info --output=json`: the stanza's newest backup without
/// errors. Status "ok" or "no valid backups" is observed; any other status
/// (missing stanza, repository unreadable, ...) means it cannot be read.
fn pgbackrest(json: &[u8], stanza: &str) -> Result<Found, String> {
    let stanzas: Vec<PgStanza> =
        serde_json::from_slice(json).map_err(|e| format!("pgbackrest info JSON: {e}"))?;
    let names: Vec<&str> = stanzas.iter().map(|s| s.name.as_str()).collect();
    let st = match (stanza, stanzas.as_slice()) {
        ("", [only]) => only,
        ("", _) => {
            return Err(format!(
                "pgbackrest reports stanzas {names:?}: set `stanza`"
            ))
        }
        (want, all) => all
            .iter()
            .find(|s| s.name == want)
            .ok_or_else(|| format!("pgbackrest has no stanza {want:?} (has {names:?})"))?,
    };
    if st.status.code != 0 && st.status.code != PG_NO_BACKUPS {
        return Err(format!(
            "pgbackrest stanza {}: status {} {}",
            st.name, st.status.code, st.status.message
        ));
    }
    let mut found = Found {
        count: st.backup.len() as u64,
        ..Found::default()
    };
    for b in st.backup.iter().filter(|b| b.error != Some(true)) {
        let Some(stop) = DateTime::<Utc>::from_timestamp(b.timestamp.stop, 0) else {
            return Err(format!(
                "pgbackrest backup {}: stop time {}",
                b.label, b.timestamp.stop
            ));
        };
        if found.last_success.is_none_or(|t| stop >= t) {
            found.last_success = Some(stop);
            found.newest_modified = Some(timestamp(stop));
            found.newest = b.label.clone();
            found.size_bytes = b.info.as_ref().map_or(0, |i| i.size);
        }
    }
    Ok(found)
}

#[derive(Debug, Deserialize)]
struct List<T> {
    items: Vec<T>,
}

#[derive(Debug, Deserialize)]
struct VeleroBackup {
    metadata: super::kube::ObjectMeta,
    #[serde(default)]
    spec: VeleroSpec,
    #[serde(default)]
    status: VeleroStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VeleroSpec {
    storage_location: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct VeleroStatus {
    phase: String,
    completion_timestamp: String,
}

/// Velero `Backup` objects (velero.io/v1): the newest with phase Completed.
async fn velero(kube: &KubeClient, s: &BackupSource) -> Result<Found, String> {
    let ns = if s.namespace.is_empty() {
        "velero"
    } else {
        &s.namespace
    };
    let mut path = format!("/apis/velero.io/v1/namespaces/{ns}/backups");
    if !s.schedule.is_empty() {
        path.push_str(&format!(
            "?labelSelector=velero.io%2Fschedule-name%3D{}",
            s.schedule
        ));
    }
    let list: List<VeleroBackup> = kube.get(&path).await.map_err(|e| e.to_string())?;
    let mut found = Found {
        count: list.items.len() as u64,
        ..Found::default()
    };
    for b in list.items.iter().filter(|b| b.status.phase == "Completed") {
        let Some(done) = rfc3339(&b.status.completion_timestamp) else {
            continue;
        };
        if found.last_success.is_none_or(|t| done > t) {
            found.last_success = Some(done);
            found.newest_modified = Some(timestamp(done));
            found.newest = b.metadata.name.clone();
            found.location = b.spec.storage_location.clone();
        }
    }
    Ok(found)
}

#[derive(Debug, Deserialize)]
struct CronJob {
    #[serde(default)]
    status: CronJobStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CronJobStatus {
    last_successful_time: String,
}

/// A CronJob (batch/v1) that runs backups: its last successful run.
async fn cronjob(kube: &KubeClient, s: &BackupSource) -> Result<Found, String> {
    let path = format!(
        "/apis/batch/v1/namespaces/{}/cronjobs/{}",
        s.namespace, s.cronjob
    );
    let job: CronJob = kube.get(&path).await.map_err(|e| e.to_string())?;
    let mut found = Found {
        newest: format!("{}/{}", s.namespace, s.cronjob),
        ..Found::default()
    };
    if !job.status.last_successful_time.is_empty() {
        let t = rfc3339(&job.status.last_successful_time)
            .ok_or_else(|| format!("lastSuccessfulTime {:?}", job.status.last_successful_time))?;
        found.last_success = Some(t);
        found.newest_modified = Some(timestamp(t));
        found.count = 1;
    }
    Ok(found)
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
                    tokio::task::spawn_blocking(move || files(&c, &s))
                        .await
                        .map_err(|e| format!("file walk failed: {e}"))?
                }
                BackupKind::Restic => restic(&tool_output(ctx, s).await?),
                BackupKind::Pgbackrest => pgbackrest(&tool_output(ctx, s).await?, &s.stanza),
                BackupKind::Velero => velero(&kube()?, s).await,
                BackupKind::Cronjob => cronjob(&kube()?, s).await,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dir_stops_at_the_first_wildcard() {
        assert_eq!(
            literal_dir(Path::new("/backup/db/*.sql.gz")),
            Path::new("/backup/db")
        );
        assert_eq!(
            literal_dir(Path::new("/backup/2025-*/full/*.tar")),
            Path::new("/backup")
        );
        assert_eq!(
            literal_dir(Path::new("/srv/b/dump.sql")),
            Path::new("/srv/b")
        );
    }

    #[test]
    fn unparseable_tool_output_is_an_error_not_an_empty_source() {
        assert!(restic(b"not json").is_err());
        assert!(restic(br#"[{"time":"yesterday","id":"x"}]"#).is_err());
        assert!(pgbackrest(b"{}", "").is_err());
        assert_eq!(restic(b"[]").unwrap().count, 0);
    }
}
