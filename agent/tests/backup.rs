//! backup against real backups: files in a host-root tree, a real restic
//! repository, a real PostgreSQL backed up by real pgBackRest, and a
//! Kubernetes API stand-in answering with Velero BackupList and CronJob
//! objects in their real shapes.

mod common;

use axum::routing::get;
use axum::Router;
use chrono::{Duration as Age, SecondsFormat, Utc};
use gamsa_agent::config::Config;
use gamsa_agent::probes::backup::{self, BackupProbe};
use gamsa_agent::probes::kube::KubernetesConfig;
use gamsa_agent::probes::Probe;
use gamsa_proto::v1::{evidence::Payload, BackupArtifact, Evidence};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime};

/// Sources parsed from TOML exactly as an operator writes them.
fn sources(toml: &str) -> backup::Config {
    let config = Config::parse(toml, "test.toml").unwrap_or_else(|e| panic!("{e}"));
    config.probes.backup
}

async fn run(config: backup::Config, kube: KubernetesConfig, root: &Path) -> Vec<Evidence> {
    BackupProbe::new(config, kube).run(&common::ctx(root)).await
}

fn artifact(ev: &Evidence) -> &BackupArtifact {
    assert!(!common::is_error(ev), "{}: {}", ev.subject, ev.error);
    match ev.payload.as_ref() {
        Some(Payload::BackupArtifact(b)) => b,
        other => panic!("wrong payload {other:?}"),
    }
}

fn tool(name: &str, debian: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {name}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "{name} is required for this test (Debian package: {debian})"
    );
}

fn set_mtime(path: &Path, ago: Duration) {
    let f = std::fs::File::options().write(true).open(path).unwrap();
    f.set_modified(SystemTime::now() - ago).unwrap();
}

fn sha256sum(path: &Path) -> String {
    let out = Command::new("sha256sum")
        .arg(path)
        .output()
        .expect("sha256sum (coreutils)");
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn files_newest_age_hash_and_missing_directories() {
    let root = tempfile::tempdir().unwrap();
    let r = root.path();
    common::write(r, "backup/pg/db-1.sql.gz", "old dump");
    common::write(r, "backup/pg/db-2.sql.gz", "newest dump, the one to hash");
    common::write(r, "backup/pg/db-3.sql.gz", "middle dump");
    std::fs::create_dir_all(r.join("backup/pg/dir.sql.gz")).unwrap(); // not a file
    common::write(r, "backup/pg/notes.txt", "not matched");
    set_mtime(
        &r.join("backup/pg/db-1.sql.gz"),
        Duration::from_secs(72 * 3600),
    );
    set_mtime(&r.join("backup/pg/db-2.sql.gz"), Duration::from_secs(3600));
    set_mtime(
        &r.join("backup/pg/db-3.sql.gz"),
        Duration::from_secs(30 * 3600),
    );
    std::fs::create_dir_all(r.join("backup/empty")).unwrap();
    let config = sources(
        r#"
[[probes.backup.sources]]
name = "daily"
kind = "files"
max_age = "26h"
path = "/backup/pg/*.sql.gz"
location = "NAS IDC-2"
region = "ap-northeast-2"

[[probes.backup.sources]]
name = "strict"
kind = "files"
max_age = "30m"
path = "/backup/pg/*.sql.gz"
hash_limit = 4

[[probes.backup.sources]]
name = "empty"
kind = "files"
max_age = "26h"
path = "/backup/empty/*.tar"

[[probes.backup.sources]]
name = "gone"
kind = "files"
max_age = "26h"
path = "/mnt/unmounted-nas/*.tar"
"#,
    );
    let ev = run(config, KubernetesConfig::default(), r).await;
    assert_eq!(ev.len(), 4);
    let subjects: Vec<&str> = ev.iter().map(|e| e.subject.as_str()).collect();
    assert_eq!(
        subjects,
        [
            "backup:daily",
            "backup:strict",
            "backup:empty",
            "backup:gone"
        ]
    );

    let daily = artifact(&ev[0]);
    assert_eq!(
        daily.newest, "/backup/pg/db-2.sql.gz",
        "shown as on the host"
    );
    assert_eq!(daily.count, 3);
    assert_eq!(
        daily.size_bytes,
        "newest dump, the one to hash".len() as u64
    );
    assert_eq!(daily.sha256, sha256sum(&r.join("backup/pg/db-2.sql.gz")));
    assert!(
        (3590..3700).contains(&daily.age_seconds),
        "{}",
        daily.age_seconds
    );
    assert!(daily.fresh);
    assert_eq!(daily.max_age_seconds, 26 * 3600);
    assert_eq!(daily.last_success_at, daily.newest_modified);
    assert_eq!(
        (daily.location.as_str(), daily.country.as_str()),
        ("NAS IDC-2", "KR")
    );

    let strict = artifact(&ev[1]);
    assert!(!strict.fresh, "an hour old is older than 30m");
    assert!(strict.sha256.is_empty(), "above hash_limit: not hashed");

    let empty = artifact(&ev[2]);
    assert_eq!(
        (empty.count, empty.fresh, empty.age_seconds),
        (0, false, -1)
    );
    assert!(empty.last_success_at.is_none());

    assert!(common::is_error(&ev[3]));
    assert!(ev[3].error.contains("unmounted-nas"), "{}", ev[3].error);
}

fn restic(repo: &Path, args: &[&str]) -> String {
    let out = Command::new("restic")
        .arg("-r")
        .arg(repo)
        .args(args)
        .env("RESTIC_PASSWORD", "correct horse")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "restic {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test]
async fn restic_repository_by_command_and_by_file() {
    tool("restic", "restic");
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    restic(&repo, &["init", "-q"]);
    let data = dir.path().join("data");
    std::fs::write(&data, "patient records").unwrap();
    let repo_s = repo.display().to_string();
    let toml = |extra: &str| {
        format!(
            r#"
[[probes.backup.sources]]
name = "offsite"
kind = "restic"
max_age = "1h"
command = ["restic", "-r", "{repo_s}", "snapshots", "--json"]
env = {{ RESTIC_PASSWORD = "{extra}" }}
"#
        )
    };
    // An initialised repository without snapshots: no backup yet.
    let ev = run(
        sources(&toml("correct horse")),
        KubernetesConfig::default(),
        Path::new("/"),
    )
    .await;
    let none = artifact(&ev[0]);
    assert_eq!((none.count, none.fresh), (0, false));

    restic(&repo, &["backup", "-q", &data.display().to_string()]);
    restic(&repo, &["backup", "-q", &data.display().to_string()]);
    let listed = restic(&repo, &["snapshots", "--json"]);
    let snaps: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let newest_id = snaps.as_array().unwrap().last().unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let ev = run(
        sources(&toml("correct horse")),
        KubernetesConfig::default(),
        Path::new("/"),
    )
    .await;
    let b = artifact(&ev[0]);
    assert_eq!(b.kind, "restic");
    assert_eq!(b.count, 2);
    assert_eq!(b.newest, newest_id);
    assert!(b.fresh && (0..120).contains(&b.age_seconds), "{b:?}");

    // The same output kept in a file by the backup job.
    let root = tempfile::tempdir().unwrap();
    common::write(root.path(), "var/lib/gamsa/restic.json", &listed);
    let from_file = sources(
        "[[probes.backup.sources]]\nname = \"f\"\nkind = \"restic\"\nmax_age = \"1h\"\npath = \"/var/lib/gamsa/restic.json\"\n",
    );
    let ev = run(from_file, KubernetesConfig::default(), root.path()).await;
    assert_eq!(artifact(&ev[0]).newest, newest_id);

    // A wrong password: restic fails, so the source cannot be read.
    let ev = run(
        sources(&toml("wrong")),
        KubernetesConfig::default(),
        Path::new("/"),
    )
    .await;
    assert!(common::is_error(&ev[0]));
    assert!(ev[0].error.contains("exit status"), "{}", ev[0].error);
}

/// `restic backup --time`: a snapshot as if taken `ago` before now (restic
/// reads the time in local time).
fn restic_at(repo: &Path, data: &Path, ago: Age) {
    let at = (chrono::Local::now() - ago)
        .format("%Y-%m-%d %H:%M:%S")
        .to_string();
    restic(
        repo,
        &["backup", "-q", "--time", &at, &data.display().to_string()],
    );
}

#[tokio::test]
async fn restic_history_second_repository_cap_and_restore_check() {
    tool("restic", "restic");
    let dir = tempfile::tempdir().unwrap();
    let (repo, repo2) = (dir.path().join("repo"), dir.path().join("repo-dr"));
    restic(&repo, &["init", "-q"]);
    restic(&repo2, &["init", "-q"]);
    let data = dir.path().join("data");
    std::fs::write(&data, "patient records").unwrap();
    let made = Utc::now().timestamp();
    // Daily: 4 days ago, 3, (2 days ago missed), 1 and an hour ago; one copy
    // in the second repository, made two days ago.
    for ago in [Age::days(4), Age::days(3), Age::days(1), Age::hours(1)] {
        restic_at(&repo, &data, ago);
    }
    restic_at(&repo2, &data, Age::days(2));
    let restored = dir.path().join("restored");
    let (r1, r2, out) = (
        repo.display().to_string(),
        repo2.display().to_string(),
        restored.display().to_string(),
    );
    let config = |max_runs: usize, wrong: &str| {
        sources(&format!(
            r#"
[probes.backup]
max_runs = {max_runs}

[[probes.backup.sources]]
name = "db"
kind = "restic"
max_age = "26h"
every = "24h"
retention = "3d"
command = ["restic", "-r", "{r1}", "snapshots", "--json"]
env = {{ RESTIC_PASSWORD = "correct horse" }}
location = "NAS IDC-1"
copies = [{{ location = "NAS IDC-2", command = ["restic", "-r", "{r2}", "snapshots", "--json"], env = {{ RESTIC_PASSWORD = "{wrong}" }} }}]
restore_check = {{ command = ["restic", "-r", "{r1}", "restore", "latest", "--target", "{out}"], env = {{ RESTIC_PASSWORD = "correct horse" }} }}

[[probes.backup.sources]]
name = "broken-check"
kind = "restic"
max_age = "26h"
command = ["restic", "-r", "{r1}", "snapshots", "--json"]
env = {{ RESTIC_PASSWORD = "correct horse" }}
restore_check = {{ command = ["sh", "-c", "echo restored files differ >&2; exit 3"] }}

[[probes.backup.sources]]
name = "slow-check"
kind = "restic"
max_age = "26h"
command = ["restic", "-r", "{r1}", "snapshots", "--json"]
env = {{ RESTIC_PASSWORD = "correct horse" }}
restore_check = {{ command = ["sleep", "300"], timeout = "1s" }}
"#
        ))
    };
    let probe = BackupProbe::new(config(100, "correct horse"), KubernetesConfig::default());
    let ctx = common::ctx(Path::new("/"));
    let start = Instant::now();
    let ev = probe.run(&ctx).await;
    // The slow check's `sleep 300` is not waited for: the whole run (the
    // restic commands take some 15 s alone, more beside other tests) ends
    // long before it would.
    assert!(
        start.elapsed() < Duration::from_secs(150),
        "{:?}",
        start.elapsed()
    );

    let b = artifact(&ev[0]);
    assert_eq!((b.count, b.runs_succeeded, b.runs_failed), (4, 4, 0));
    assert_eq!(b.period_days, 31);
    assert_eq!(b.schedule, "every 1day");
    assert_eq!(b.schedule_interval_seconds, 86_400);
    // Slots due 4, 3, 2 and 1 days ago have ended, the one due now holds
    // the run of an hour ago: 4 of 5, the missed day counted.
    assert_eq!((b.runs_expected, b.runs_on_schedule), (5, 4), "{b:#?}");
    assert!((b.success_rate - 0.8).abs() < 1e-9);
    let since = b.counted_since.as_ref().unwrap().seconds;
    let four_days = 4 * 86_400;
    assert!(
        (made - four_days - 2..=Utc::now().timestamp() - four_days).contains(&since),
        "the oldest snapshot"
    );
    assert!(b.runs.iter().all(|r| r.ok) && b.runs.len() == 4);
    assert!(b.runs[0].started_at > b.runs[1].started_at, "newest first");
    assert!(!b.runs_capped);
    // Kept 4 days against 3 declared.
    assert_eq!(b.retention_seconds, 3 * 86_400);
    assert!((4 * 86_400 - 2..4 * 86_400 + 60).contains(&b.oldest_kept_age_seconds));
    // Two locations, the second one's copy two days old.
    let places: Vec<(&str, u64)> = b
        .copies
        .iter()
        .map(|c| (c.location.as_str(), c.count))
        .collect();
    assert_eq!(places, [("NAS IDC-1", 4), ("NAS IDC-2", 1)]);
    assert!((2 * 86_400 - 2..2 * 86_400 + 60).contains(&b.copies[1].age_seconds));
    // The restore check restored the newest snapshot for real.
    let t = &b.restore_tests[0];
    assert!(t.ok && t.via == "command" && t.duration_ms >= 0, "{t:?}");
    assert_eq!(b.last_restore_ok_at, t.finished_at);
    let back = std::fs::read_to_string(restored.join(data.strip_prefix("/").unwrap())).unwrap();
    assert_eq!(back, "patient records");

    let broken = artifact(&ev[1]);
    assert_eq!(broken.schedule, "", "no schedule declared");
    assert_eq!((broken.runs_expected, broken.success_rate), (0, -1.0));
    let t = &broken.restore_tests[0];
    assert!(
        !t.ok && t.detail.contains("exit status: 3") && t.detail.contains("restored files differ"),
        "{t:?}"
    );
    assert!(broken.last_restore_ok_at.is_none());
    let slow = artifact(&ev[2]);
    assert!(
        slow.restore_tests[0]
            .detail
            .contains("did not finish within 1s"),
        "{slow:?}"
    );

    // Not due again for 7 days: the same result, not a new run.
    std::fs::remove_dir_all(&restored).unwrap();
    let again = probe.run(&ctx).await;
    assert_eq!(
        artifact(&again[0]).restore_tests[0].finished_at,
        b.restore_tests[0].finished_at
    );
    assert!(!restored.exists(), "the check did not run again");

    // The cap: only the newest 2 snapshots read, said so. The second
    // repository unreadable: that location carries the error.
    let ev = run(
        config(2, "wrong"),
        KubernetesConfig::default(),
        Path::new("/"),
    )
    .await;
    let b = artifact(&ev[0]);
    assert!(b.runs_capped);
    assert_eq!(b.runs.len(), 2);
    assert_eq!(b.count, 4, "all snapshots still counted");
    assert!(
        b.copies[1].error.contains("exit status"),
        "{:?}",
        b.copies[1]
    );
    assert_eq!(b.copies[1].age_seconds, -1);
}

#[tokio::test]
async fn commands_are_bounded_in_time_and_output() {
    let slow = sources(
        "[probes.backup]\ntimeout = \"300ms\"\n[[probes.backup.sources]]\nname = \"slow\"\nkind = \"restic\"\nmax_age = \"1h\"\ncommand = [\"sleep\", \"30\"]\n",
    );
    let start = Instant::now();
    let ev = run(slow, KubernetesConfig::default(), Path::new("/")).await;
    assert!(
        start.elapsed() < Duration::from_secs(3),
        "{:?}",
        start.elapsed()
    );
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("did not finish within 300ms"),
        "{}",
        ev[0].error
    );

    let endless = sources(
        "[[probes.backup.sources]]\nname = \"yes\"\nkind = \"restic\"\nmax_age = \"1h\"\ncommand = [\"yes\"]\n",
    );
    let ev = run(endless, KubernetesConfig::default(), Path::new("/")).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("output larger than"),
        "{}",
        ev[0].error
    );

    let missing = sources(
        "[[probes.backup.sources]]\nname = \"m\"\nkind = \"pgbackrest\"\nmax_age = \"1h\"\ncommand = [\"/nonexistent/pgbackrest\"]\n",
    );
    let ev = run(missing, KubernetesConfig::default(), Path::new("/")).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("/nonexistent/pgbackrest"),
        "{}",
        ev[0].error
    );
}

/// A real PostgreSQL 15 cluster in `dir`, backed up once by pgBackRest into
/// each of two repositories, then restored into a scratch directory once
/// successfully and once refused (the target is not empty), run as the
/// `postgres` user (PostgreSQL refuses root).
fn pgbackrest_cluster(dir: &Path) -> String {
    tool("pgbackrest", "pgbackrest");
    tool("runuser", "util-linux");
    let bin = Path::new("/usr/lib/postgresql/15/bin");
    assert!(
        bin.join("initdb").exists(),
        "PostgreSQL 15 is required (Debian package: postgresql-15)"
    );
    let d = dir.display();
    let script = format!(
        r#"set -e
B={bin}
D={d}
$B/initdb -D $D/data -A trust -U postgres >/dev/null
cat > $D/pgbackrest.conf <<C
[global]
repo1-path=$D/repo
repo1-retention-full=2
repo2-path=$D/repo2
repo2-retention-full=2
log-level-console=error
log-path=$D
lock-path=$D
start-fast=y
[demo]
pg1-path=$D/data
pg1-socket-path=$D
pg1-port=54329
C
cat >> $D/data/postgresql.conf <<C
port=54329
listen_addresses=''
unix_socket_directories='$D'
archive_mode=on
archive_command='pgbackrest --config=$D/pgbackrest.conf --stanza=demo archive-push %p'
wal_level=replica
C
$B/pg_ctl -D $D/data -l $D/pg.log -w start >/dev/null
trap '$B/pg_ctl -D $D/data -w stop -m immediate >/dev/null' EXIT
pgbackrest --config=$D/pgbackrest.conf --stanza=demo stanza-create
pgbackrest --config=$D/pgbackrest.conf --stanza=demo --type=full backup
pgbackrest --config=$D/pgbackrest.conf --stanza=demo --repo=2 --type=full backup
pgbackrest --config=$D/pgbackrest.conf --stanza=demo --pg1-path=$D/scratch restore
mkdir -p $D/occupied && touch $D/occupied/PG_VERSION
pgbackrest --config=$D/pgbackrest.conf --stanza=demo --pg1-path=$D/occupied restore && exit 1
true
"#,
        bin = bin.display()
    );
    std::fs::write(dir.join("setup.sh"), script).unwrap();
    Command::new("chown")
        .args(["-R", "postgres"])
        .arg(dir)
        .status()
        .unwrap();
    let out = Command::new("runuser")
        .args(["-u", "postgres", "--", "bash"])
        .arg(dir.join("setup.sh"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pgBackRest setup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    dir.join("pgbackrest.conf").display().to_string()
}

#[tokio::test]
async fn pgbackrest_real_backup_missing_stanza_and_no_backups() {
    let dir = tempfile::tempdir().unwrap();
    let started = Utc::now();
    let conf = pgbackrest_cluster(dir.path());
    let log = dir.path().join("demo-restore.log").display().to_string();
    let source = |stanza: &str| {
        sources(&format!(
            r#"
[[probes.backup.sources]]
name = "pg"
kind = "pgbackrest"
max_age = "26h"
command = ["pgbackrest", "--config={conf}", "--log-level-console=off", "--log-level-stderr=error", "info", "--output=json"]
stanza = "{stanza}"
restore_log = "{log}"
"#
        ))
    };
    let ev = run(source("demo"), KubernetesConfig::default(), Path::new("/")).await;
    let b = artifact(&ev[0]);
    assert_eq!(b.count, 2, "one full backup in each repository");
    assert!(b.newest.ends_with('F'), "a full backup label: {}", b.newest);
    assert!(b.fresh && b.size_bytes > 1_000_000, "{b:?}");
    let stop = b.last_success_at.as_ref().unwrap().seconds;
    assert!((started.timestamp() - 120..=Utc::now().timestamp()).contains(&stop));
    // Both runs, each in its own repository: two locations of copies.
    assert_eq!((b.runs_succeeded, b.runs_failed), (2, 0));
    assert!(
        b.runs.iter().all(|r| r.detail.starts_with("full repo")),
        "{:?}",
        b.runs
    );
    let repos: Vec<(&str, u64, &str)> = b
        .copies
        .iter()
        .map(|c| (c.location.as_str(), c.count, c.error.as_str()))
        .collect();
    assert_eq!(repos, [("repo1", 1, ""), ("repo2", 1, "")]);
    // pgBackRest's restore log (log-path is the cluster directory): the
    // refused restore is the newest test, the completed one before it.
    assert_eq!(b.restore_tests.len(), 2, "{:?}", b.restore_tests);
    let (refused, restored) = (&b.restore_tests[0], &b.restore_tests[1]);
    assert!(
        !refused.ok && refused.detail.contains("aborted with exception [040]"),
        "{refused:?}"
    );
    assert!(
        restored.ok && restored.via == "pgbackrest" && restored.name.starts_with("restore of "),
        "{restored:?}"
    );
    assert!(restored.duration_ms >= 0);
    assert_eq!(b.last_restore_ok_at, restored.finished_at);
    assert!(
        dir.path().join("scratch/PG_VERSION").exists(),
        "restored for real"
    );

    let ev = run(source("other"), KubernetesConfig::default(), Path::new("/")).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("no stanza \"other\""),
        "{}",
        ev[0].error
    );

    // pgBackRest's own answer for a stanza whose repository path is missing.
    let missing = sources(&format!(
        r#"
[[probes.backup.sources]]
name = "pg"
kind = "pgbackrest"
max_age = "26h"
command = ["pgbackrest", "--repo1-path={}/none", "--stanza=demo", "--log-level-console=off", "--log-level-stderr=off", "--lock-path={}", "--log-path={}", "info", "--output=json"]
"#,
        dir.path().display(),
        dir.path().display(),
        dir.path().display()
    ));
    let ev = run(missing, KubernetesConfig::default(), Path::new("/")).await;
    assert!(common::is_error(&ev[0]));
    assert!(
        ev[0].error.contains("missing stanza path"),
        "{}",
        ev[0].error
    );

    // A stanza with no valid backup, as pgBackRest reports it: a finding.
    let root = tempfile::tempdir().unwrap();
    common::write(
        root.path(),
        "var/lib/gamsa/pgbackrest.json",
        r#"[{"archive":[],"backup":[],"cipher":"none","db":[{"id":1,"repo-key":1,"system-id":7711017487341066115,"version":"15"}],"name":"demo","repo":[{"cipher":"none","key":1,"status":{"code":2,"message":"no valid backups"}}],"status":{"code":2,"lock":{"backup":{"held":false}},"message":"no valid backups"}}]"#,
    );
    let ev = run(
        sources("[[probes.backup.sources]]\nname = \"pg\"\nkind = \"pgbackrest\"\nmax_age = \"26h\"\npath = \"/var/lib/gamsa/pgbackrest.json\"\n"),
        KubernetesConfig::default(),
        root.path(),
    )
    .await;
    let b = artifact(&ev[0]);
    assert_eq!((b.count, b.fresh, b.age_seconds), (0, false, -1));
}

fn rfc(ago_hours: i64) -> String {
    (Utc::now() - Age::hours(ago_hours)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

fn velero_backup(name: &str, phase: &str, done_hours_ago: Option<i64>) -> String {
    velero_backup_in(name, phase, done_hours_ago, "kr-object-storage")
}

fn velero_backup_in(
    name: &str,
    phase: &str,
    done_hours_ago: Option<i64>,
    location: &str,
) -> String {
    let completion = done_hours_ago
        .map(|h| format!(r#","completionTimestamp":"{}""#, rfc(h)))
        .unwrap_or_default();
    format!(
        r#"{{"apiVersion":"velero.io/v1","kind":"Backup","metadata":{{"name":"{name}","namespace":"velero","uid":"b7c1e3a2-0d5e-4c1a-9a8e-1f2d3c4b5a69","resourceVersion":"912345","generation":7,"creationTimestamp":"{created}","labels":{{"velero.io/schedule-name":"daily","velero.io/storage-location":"default"}}}},"spec":{{"csiSnapshotTimeout":"10m0s","defaultVolumesToFsBackup":false,"hooks":{{}},"includedNamespaces":["*"],"itemOperationTimeout":"4h0m0s","metadata":{{}},"storageLocation":"{location}","ttl":"720h0m0s","volumeSnapshotLocations":["default"]}},"status":{{"expiration":"{expires}","formatVersion":"1.1.0","phase":"{phase}","progress":{{"itemsBackedUp":412,"totalItems":412}},"startTimestamp":"{created}","version":1{completion}}}}}"#,
        created = rfc(done_hours_ago.unwrap_or(0) + 1),
        expires = rfc(-720),
    )
}

#[tokio::test]
async fn velero_backups_and_cronjobs_from_the_kubernetes_api() {
    let list = format!(
        r#"{{"apiVersion":"velero.io/v1","items":[{},{},{},{},{}],"kind":"BackupList","metadata":{{"continue":"","resourceVersion":"912400"}}}}"#,
        velero_backup("daily-20250105020000", "Completed", Some(50)),
        velero_backup("daily-20250106020000", "Completed", Some(20)),
        velero_backup("daily-20250107020000", "PartiallyFailed", Some(2)),
        velero_backup("daily-20250107030000", "InProgress", None),
        velero_backup_in("daily-20250106020001", "Completed", Some(30), "dr-busan"),
    );
    // A Restore as `velero restore create --from-backup` makes it, and one
    // of another schedule's backup.
    let restore = |name: &str, backup: &str, phase: &str, done: i64| {
        format!(
            r#"{{"apiVersion":"velero.io/v1","kind":"Restore","metadata":{{"name":"{name}","namespace":"velero","uid":"5e1f2a3b-4c5d-6e7f-8091-a2b3c4d5e6f7","resourceVersion":"912500","creationTimestamp":"{created}"}},"spec":{{"backupName":"{backup}","excludedResources":["nodes","events","events.events.k8s.io","backups.velero.io","restores.velero.io","resticrepositories.velero.io","csinodes.storage.k8s.io","volumeattachments.storage.k8s.io","backuprepositories.velero.io"],"includedNamespaces":["emr"],"namespaceMapping":{{"emr":"emr-restore-test"}},"itemOperationTimeout":"4h0m0s"}},"status":{{"phase":"{phase}","startTimestamp":"{created}","completionTimestamp":"{done}","progress":{{"itemsRestored":120,"totalItems":120}},"warnings":2}}}}"#,
            created = rfc(done + 1),
            done = rfc(done),
        )
    };
    let restores = format!(
        r#"{{"apiVersion":"velero.io/v1","items":[{},{},{}],"kind":"RestoreList","metadata":{{"continue":"","resourceVersion":"912600"}}}}"#,
        restore("drill-2025-01", "daily-20250105020000", "Completed", 40),
        restore(
            "drill-2025-01b",
            "daily-20250106020000",
            "PartiallyFailed",
            10
        ),
        restore("other-team", "weekly-20250101000000", "Completed", 5),
    );
    let schedule = r#"{"apiVersion":"velero.io/v1","kind":"Schedule","metadata":{"name":"daily","namespace":"velero"},"spec":{"schedule":"0 2 * * *","template":{"includedNamespaces":["*"],"storageLocation":"kr-object-storage","ttl":"720h0m0s"},"useOwnerReferencesInBackup":false},"status":{"lastBackup":"2025-01-07T02:00:00Z","phase":"Enabled"}}"#;
    let locations = r#"{"apiVersion":"velero.io/v1","items":[{"apiVersion":"velero.io/v1","kind":"BackupStorageLocation","metadata":{"name":"kr-object-storage","namespace":"velero"},"spec":{"default":true,"objectStorage":{"bucket":"emr-backups"},"provider":"aws"},"status":{"lastValidationTime":"2025-01-07T02:59:00Z","phase":"Available"}},{"apiVersion":"velero.io/v1","kind":"BackupStorageLocation","metadata":{"name":"dr-busan","namespace":"velero"},"spec":{"objectStorage":{"bucket":"emr-dr"},"provider":"aws"},"status":{"lastValidationTime":"2025-01-07T02:59:00Z","phase":"Unavailable"}}],"kind":"BackupStorageLocationList","metadata":{"continue":""}}"#;
    // Jobs of the etcd-backup CronJob (one completed, one failed, one
    // running) and of another CronJob.
    let job = |name: &str, owner: &str, condition: Option<&str>, started: i64| {
        let (cond, completion) = match condition {
            Some("Complete") => (
                format!(
                    r#"[{{"type":"Complete","status":"True","lastTransitionTime":"{}"}}]"#,
                    rfc(started - 1)
                ),
                format!(r#","completionTime":"{}""#, rfc(started - 1)),
            ),
            Some(other) => (
                format!(
                    r#"[{{"type":"{other}","status":"True","reason":"BackoffLimitExceeded","lastTransitionTime":"{}"}}]"#,
                    rfc(started - 1)
                ),
                String::new(),
            ),
            None => ("[]".to_string(), String::new()),
        };
        format!(
            r#"{{"apiVersion":"batch/v1","kind":"Job","metadata":{{"name":"{name}","namespace":"kube-system","ownerReferences":[{{"apiVersion":"batch/v1","kind":"CronJob","name":"{owner}","uid":"0b6f1c8e-2f3a-4d5b-8c7e-9a1b2c3d4e5f","controller":true,"blockOwnerDeletion":true}}]}},"spec":{{"backoffLimit":6}},"status":{{"startTime":"{}","conditions":{cond}{completion}}}}}"#,
            rfc(started)
        )
    };
    let jobs = format!(
        r#"{{"apiVersion":"batch/v1","items":[{},{},{},{}],"kind":"JobList","metadata":{{"continue":""}}}}"#,
        job("etcd-backup-28934520", "etcd-backup", Some("Complete"), 27),
        job("etcd-backup-28935960", "etcd-backup", Some("Failed"), 51),
        job("etcd-backup-28937400", "etcd-backup", None, 0),
        job("logs-backup-28937400", "logs-backup", Some("Failed"), 3),
    );
    let cron = |last: &str| {
        format!(
            r#"{{"apiVersion":"batch/v1","kind":"CronJob","metadata":{{"name":"etcd-backup","namespace":"kube-system","uid":"0b6f1c8e-2f3a-4d5b-8c7e-9a1b2c3d4e5f","resourceVersion":"88231","generation":1,"creationTimestamp":"2025-01-01T00:00:00Z"}},"spec":{{"schedule":"0 2 * * *","concurrencyPolicy":"Forbid","suspend":false,"successfulJobsHistoryLimit":3,"failedJobsHistoryLimit":1,"jobTemplate":{{"spec":{{"template":{{"spec":{{"containers":[{{"name":"backup","image":"registry.k8s.io/etcd:3.5.16-0"}}],"restartPolicy":"OnFailure"}}}}}}}}}},"status":{{"lastScheduleTime":"{}"{last}}}}}"#,
            rfc(3)
        )
    };
    let with_success = cron(&format!(r#","lastSuccessfulTime":"{}""#, rfc(3)));
    let never = cron("");
    let api = common::kube_api(
        "velero-reader",
        Router::new()
            .route(
                "/apis/velero.io/v1/namespaces/velero/backups",
                get(move |q: axum::extract::RawQuery| {
                    let list = list.clone();
                    async move {
                        // The schedule filter must reach the API as a label
                        // selector, the page size as `limit`.
                        let q = q.0.unwrap_or_default();
                        assert!(q.contains("limit=500"), "{q}");
                        if !q.split('&').any(|p| p == "labelSelector=velero.io%2Fschedule-name%3Ddaily") {
                            return r#"{"apiVersion":"velero.io/v1","items":[],"kind":"BackupList","metadata":{}}"#.to_string();
                        }
                        list
                    }
                }),
            )
            .route(
                "/apis/velero.io/v1/namespaces/velero/restores",
                get(move || async move { restores }),
            )
            .route(
                "/apis/velero.io/v1/namespaces/velero/schedules/daily",
                get(move || async move { schedule }),
            )
            .route(
                "/apis/velero.io/v1/namespaces/velero/backupstoragelocations",
                get(move || async move { locations }),
            )
            .route(
                "/apis/batch/v1/namespaces/kube-system/jobs",
                get(move || async move { jobs }),
            )
            .route(
                "/apis/batch/v1/namespaces/kube-system/cronjobs/etcd-backup",
                get(move || async move { with_success }),
            )
            .route(
                "/apis/batch/v1/namespaces/kube-system/cronjobs/new-backup",
                get(move || async move { never }),
            ),
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "velero-reader").unwrap();
    let kube = KubernetesConfig {
        api_url: common::serve(api).await,
        token_file: dir.path().join("token"),
        ..KubernetesConfig::default()
    };
    let config = sources(
        r#"
[[probes.backup.sources]]
name = "cluster"
kind = "velero"
max_age = "26h"
schedule = "daily"
region = "koreacentral"

[[probes.backup.sources]]
name = "other-schedule"
kind = "velero"
max_age = "26h"
schedule = "weekly"

[[probes.backup.sources]]
name = "etcd"
kind = "cronjob"
max_age = "26h"
namespace = "kube-system"
cronjob = "etcd-backup"

[[probes.backup.sources]]
name = "never-ran"
kind = "cronjob"
max_age = "26h"
namespace = "kube-system"
cronjob = "new-backup"

[[probes.backup.sources]]
name = "typo"
kind = "cronjob"
max_age = "26h"
namespace = "kube-system"
cronjob = "etcd-bakup"
"#,
    );
    let ev = run(config.clone(), kube.clone(), Path::new("/")).await;

    let v = artifact(&ev[0]);
    assert_eq!(
        v.newest, "daily-20250106020000",
        "newest Completed, not PartiallyFailed"
    );
    assert_eq!(v.count, 5);
    assert!(
        v.fresh && (20 * 3600 - 60..20 * 3600 + 60).contains(&v.age_seconds),
        "{v:?}"
    );
    assert_eq!(
        (v.location.as_str(), v.country.as_str()),
        ("kr-object-storage", "KR")
    );

    // Completed backups are runs, PartiallyFailed a failed run, InProgress
    // not yet a run; the Schedule's cron gives the schedule.
    assert_eq!((v.runs_succeeded, v.runs_failed), (3, 1), "{:?}", v.runs);
    assert_eq!(v.schedule, "cron 0 2 * * * (UTC)");
    assert!(v.runs_expected >= 2 && v.success_rate >= 0.0, "{v:#?}");
    // Copies in two storage locations; dr-busan's location is Unavailable.
    let places: Vec<(&str, u64, &str)> = v
        .copies
        .iter()
        .map(|c| (c.location.as_str(), c.count, c.error.as_str()))
        .collect();
    assert_eq!(
        places,
        [
            ("kr-object-storage", 2, ""),
            ("dr-busan", 1, "BackupStorageLocation phase Unavailable")
        ]
    );
    // The restores of this schedule's backups: the newest PartiallyFailed.
    let tests: Vec<(&str, bool)> = v
        .restore_tests
        .iter()
        .map(|t| (t.name.as_str(), t.ok))
        .collect();
    assert_eq!(tests, [("drill-2025-01b", false), ("drill-2025-01", true)]);
    assert_eq!(v.restore_tests[1].duration_ms, 3_600_000);
    assert_eq!(v.last_restore_ok_at, v.restore_tests[1].finished_at);

    let other = artifact(&ev[1]);
    assert_eq!((other.count, other.fresh), (0, false));

    let etcd = artifact(&ev[2]);
    assert!(etcd.fresh && (3 * 3600 - 60..3 * 3600 + 60).contains(&etcd.age_seconds));
    assert_eq!(etcd.newest, "kube-system/etcd-backup");
    // Its own Jobs: one completed, one failed (the running one and the
    // other CronJob's left out), against the CronJob's schedule.
    assert_eq!(
        (etcd.runs_succeeded, etcd.runs_failed),
        (1, 1),
        "{:?}",
        etcd.runs
    );
    assert!(etcd
        .runs
        .iter()
        .any(|r| r.detail == "Failed: BackoffLimitExceeded"));
    assert_eq!(etcd.schedule, "cron 0 2 * * * (UTC)");

    let never = artifact(&ev[3]);
    assert_eq!((never.fresh, never.age_seconds), (false, -1));

    assert!(common::is_error(&ev[4]));
    assert!(ev[4].error.contains("404"), "{}", ev[4].error);

    // Without the service-account token the API refuses: every source errors.
    std::fs::write(dir.path().join("token"), "expired").unwrap();
    let ev = run(config.clone(), kube, Path::new("/")).await;
    assert!(ev.iter().all(common::is_error), "{ev:?}");
    // Outside a cluster, Kubernetes sources cannot be read.
    let ev = run(config, KubernetesConfig::default(), Path::new("/")).await;
    assert!(
        ev[0].error.contains("not running in Kubernetes"),
        "{}",
        ev[0].error
    );
}

#[test]
fn invalid_sources_are_config_errors_naming_the_source() {
    for (toml, expect) in [
        ("name = \"a\"\nkind = \"files\"\nmax_age = \"1h\"\n", "\"a\" (kind files): needs `path`"),
        (
            "name = \"r\"\nkind = \"restic\"\nmax_age = \"1h\"\npath = \"/x\"\ncommand = [\"restic\"]\n",
            "exactly one of `command` or `path`",
        ),
        ("name = \"c\"\nkind = \"cronjob\"\nmax_age = \"1h\"\nnamespace = \"x\"\n", "needs `namespace` and `cronjob`"),
        ("name = \"t\"\nkind = \"tape\"\nmax_age = \"1h\"\n", "unknown variant `tape`"),
        ("name = \"f\"\nkind = \"files\"\npath = \"/b/*\"\n", "missing field `max_age`"),
        (
            "name = \"e\"\nkind = \"files\"\nmax_age = \"1h\"\npath = \"/b/*\"\nevery = \"1d\"\ncron = \"0 2 * * *\"\n",
            "\"e\": set one of `every` or `cron`",
        ),
        (
            "name = \"c\"\nkind = \"files\"\nmax_age = \"1h\"\npath = \"/b/*\"\ncron = \"0 2 * *\"\n",
            "\"c\": cron \"0 2 * *\"",
        ),
        (
            "name = \"z\"\nkind = \"files\"\nmax_age = \"1h\"\npath = \"/b/*\"\ncron = \"0 2 * * *\"\ncron_timezone = \"Seoul\"\n",
            "cron_timezone \"Seoul\" is not an IANA time zone",
        ),
        (
            "name = \"v\"\nkind = \"velero\"\nmax_age = \"1h\"\ncopies = [{ location = \"x\", path = \"/x\" }]\n",
            "\"v\": copies are read for restic, pgbackrest and files sources",
        ),
        (
            "name = \"r\"\nkind = \"restic\"\nmax_age = \"1h\"\npath = \"/x\"\ncopies = [{ location = \"dr\" }]\n",
            "copies \"dr\": needs exactly one of `command` or `path`",
        ),
        (
            "name = \"t\"\nkind = \"restic\"\nmax_age = \"1h\"\npath = \"/x\"\nrestore_check = { command = [\"true\"], timeout = \"10m\" }\n",
            "restore_check.timeout must be within 1s and 4m",
        ),
    ] {
        let err = Config::parse(&format!("[[probes.backup.sources]]\n{toml}"), "a.toml")
            .unwrap_err()
            .to_string();
        assert!(err.contains(expect), "{err}");
    }
    let twice = "[[probes.backup.sources]]\nname = \"x\"\nkind = \"files\"\nmax_age = \"1h\"\npath = \"/a/*\"\n";
    let err = Config::parse(&format!("{twice}{twice}"), "a.toml")
        .unwrap_err()
        .to_string();
    assert!(err.contains("used twice"), "{err}");
}
