//! `velero` sources: Velero `Backup` objects (velero.io/v1) read from the
//! Kubernetes API; the newest with phase Completed is the last success, and
//! its storage location says where backups live. Backups that ended Failed,
//! PartiallyFailed or FailedValidation are failed runs; each storage
//! location holding Completed backups is a location of copies (with the
//! `BackupStorageLocation`s, when readable, that hold none or are
//! unavailable); the `Schedule` named by the source gives the schedule; and
//! `Restore` objects of the source's backups are its restore tests.

use super::history::{Run, Schedule};
use super::{kube_list, rfc3339, timestamp, BackupSource, Copy, Found};
use crate::probes::kube::{self, KubeClient};
use chrono::{DateTime, Utc};
use gamsa_proto::v1::RestoreTest;
use serde::Deserialize;
use std::collections::BTreeSet;

#[derive(Debug, Deserialize)]
struct VeleroBackup {
    metadata: kube::ObjectMeta,
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
    start_timestamp: String,
    completion_timestamp: String,
}

#[derive(Debug, Deserialize)]
struct VeleroSchedule {
    #[serde(default)]
    spec: ScheduleSpec,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct ScheduleSpec {
    schedule: String,
}

#[derive(Debug, Deserialize)]
struct VeleroRestore {
    metadata: kube::ObjectMeta,
    #[serde(default)]
    spec: RestoreSpec,
    #[serde(default)]
    status: VeleroStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct RestoreSpec {
    backup_name: String,
    schedule_name: String,
}

#[derive(Debug, Deserialize)]
struct StorageLocation {
    metadata: kube::ObjectMeta,
    #[serde(default)]
    status: StorageStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct StorageStatus {
    phase: String,
}

/// Phases of a backup or restore that ended without success.
const FAILED: [&str; 3] = ["Failed", "PartiallyFailed", "FailedValidation"];

fn namespace(s: &BackupSource) -> &str {
    if s.namespace.is_empty() {
        "velero"
    } else {
        &s.namespace
    }
}

/// Velero `Backup` objects (velero.io/v1): the newest with phase Completed,
/// every finished one as a run, and where the Completed ones are kept.
pub(super) async fn backups(
    kube: &KubeClient,
    s: &BackupSource,
    max_runs: usize,
) -> Result<Found, String> {
    let ns = namespace(s);
    let mut path = format!("/apis/velero.io/v1/namespaces/{ns}/backups");
    if !s.schedule.is_empty() {
        path.push_str(&format!(
            "?labelSelector=velero.io%2Fschedule-name%3D{}",
            s.schedule
        ));
    }
    let (items, capped) = kube_list::<VeleroBackup>(kube, &path, max_runs).await?;
    let mut found = Found {
        count: items.len() as u64,
        capped,
        ..Found::default()
    };
    for b in &items {
        let ok = b.status.phase == "Completed";
        if !ok && !FAILED.contains(&b.status.phase.as_str()) {
            continue; // New, InProgress, Finalizing...: not a finished run
        }
        let done = rfc3339(&b.status.completion_timestamp);
        let Some(started) = rfc3339(&b.status.start_timestamp).or(done) else {
            continue;
        };
        found.runs.push(Run {
            name: b.metadata.name.clone(),
            started,
            finished: done,
            ok,
            detail: b.status.phase.clone(),
        });
        let (true, Some(done)) = (ok, done) else {
            continue;
        };
        let at = b.spec.storage_location.clone();
        match found.copies.iter_mut().find(|c| c.location == at) {
            Some(c) => c.add(done),
            None => {
                let mut c = Copy {
                    location: at,
                    ..Copy::default()
                };
                c.add(done);
                found.copies.push(c);
            }
        }
        if found.last_success.is_none_or(|t| done > t) {
            found.last_success = Some(done);
            found.newest_modified = Some(timestamp(done));
            found.newest = b.metadata.name.clone();
            found.location = b.spec.storage_location.clone();
        }
    }
    // The source's own location first.
    let own = found.location.clone();
    found
        .copies
        .sort_by_key(|c| (c.location != own, c.location.clone()));
    storage_locations(kube, ns, &mut found.copies).await;
    if !s.schedule.is_empty() {
        let path = format!(
            "/apis/velero.io/v1/namespaces/{ns}/schedules/{}",
            s.schedule
        );
        // A Schedule that is gone or unreadable leaves the schedule
        // unknown (no success rate), as a source without one.
        if let Ok(schedule) = kube.get::<VeleroSchedule>(&path).await {
            found.schedule = Schedule::from_tool(&schedule.spec.schedule, None).ok();
        }
    }
    let names: BTreeSet<&str> = items.iter().map(|b| b.metadata.name.as_str()).collect();
    match restores(kube, s, &names, max_runs).await {
        Ok(r) => found.restores = r,
        Err(e) => found.restore_error = format!("Velero restores: {e}"),
    }
    Ok(found)
}

/// BackupStorageLocations holding none of the source's copies are
/// locations without a copy; unavailable ones carry their phase. Reading
/// them needs its own RBAC rule: when refused, the copies found in the
/// backups stand alone.
async fn storage_locations(kube: &KubeClient, ns: &str, copies: &mut Vec<Copy>) {
    let path = format!("/apis/velero.io/v1/namespaces/{ns}/backupstoragelocations");
    let Ok((bsls, _)) = kube_list::<StorageLocation>(kube, &path, 100).await else {
        return;
    };
    for l in bsls {
        let error = if l.status.phase == "Unavailable" {
            "BackupStorageLocation phase Unavailable".to_string()
        } else {
            String::new()
        };
        match copies.iter_mut().find(|c| c.location == l.metadata.name) {
            Some(c) => c.error = error,
            None => copies.push(Copy {
                location: l.metadata.name,
                error,
                ..Copy::default()
            }),
        }
    }
}

/// Restores of the source's backups (by backup name, or by schedule name
/// for a schedule's source) that ended: Completed is a restore test passed.
async fn restores(
    kube: &KubeClient,
    s: &BackupSource,
    backups: &BTreeSet<&str>,
    max_runs: usize,
) -> Result<Vec<RestoreTest>, String> {
    let path = format!("/apis/velero.io/v1/namespaces/{}/restores", namespace(s));
    let (items, _) = kube_list::<VeleroRestore>(kube, &path, max_runs).await?;
    let ended = |r: &&VeleroRestore| {
        r.status.phase == "Completed" || FAILED.contains(&r.status.phase.as_str())
    };
    let ours = |r: &&VeleroRestore| {
        backups.contains(r.spec.backup_name.as_str())
            || (!s.schedule.is_empty() && r.spec.schedule_name == s.schedule)
    };
    Ok(items
        .iter()
        .filter(ended)
        .filter(ours)
        .map(|r| {
            let start = rfc3339(&r.status.start_timestamp);
            let done = rfc3339(&r.status.completion_timestamp);
            RestoreTest {
                via: "velero".into(),
                name: r.metadata.name.clone(),
                finished_at: done.map(timestamp),
                ok: r.status.phase == "Completed",
                duration_ms: duration_ms(start, done),
                detail: format!("{} from backup {}", r.status.phase, r.spec.backup_name),
            }
        })
        .collect())
}

fn duration_ms(start: Option<DateTime<Utc>>, end: Option<DateTime<Utc>>) -> i64 {
    match (start, end) {
        (Some(s), Some(e)) => (e - s).num_milliseconds(),
        _ => -1,
    }
}
