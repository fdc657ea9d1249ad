//! `cronjob` sources: a Kubernetes CronJob (batch/v1) that runs backups; its
//! `status.lastSuccessfulTime` is the last success, its `spec.schedule` (in
//! `spec.timeZone`) the schedule, and the Jobs it owns that finished are its
//! runs: as many as its `successfulJobsHistoryLimit` and
//! `failedJobsHistoryLimit` keep (3 and 1 by default), so the span counted
//! is short unless those are raised.

use super::history::{Run, Schedule};
use super::{kube_list, rfc3339, timestamp, BackupSource, Found};
use crate::probes::kube::KubeClient;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct CronJob {
    #[serde(default)]
    spec: CronJobSpec,
    #[serde(default)]
    status: CronJobStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CronJobSpec {
    schedule: String,
    time_zone: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct CronJobStatus {
    last_successful_time: String,
}

#[derive(Debug, Deserialize)]
struct Job {
    #[serde(default)]
    metadata: JobMeta,
    #[serde(default)]
    status: JobStatus,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JobMeta {
    name: String,
    owner_references: Vec<Owner>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct Owner {
    kind: String,
    name: String,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JobStatus {
    start_time: String,
    completion_time: String,
    conditions: Vec<JobCondition>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
struct JobCondition {
    #[serde(rename = "type")]
    kind: String,
    status: String,
    last_transition_time: String,
    reason: String,
}

/// A CronJob (batch/v1) that runs backups: its last successful run, its
/// schedule and the finished Jobs it owns.
pub(super) async fn last_success(
    kube: &KubeClient,
    s: &BackupSource,
    max_runs: usize,
) -> Result<Found, String> {
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
    found.schedule = Some(
        Schedule::from_tool(&job.spec.schedule, job.spec.time_zone.as_deref())
            .map_err(|e| format!("CronJob {}: {e}", s.cronjob))?,
    );
    let jobs_path = format!("/apis/batch/v1/namespaces/{}/jobs", s.namespace);
    // Reading Jobs needs its own RBAC rule: refused, the last success
    // still stands and the history is unknown.
    let (jobs, capped) = match kube_list::<Job>(kube, &jobs_path, max_runs).await {
        Ok(listed) => listed,
        Err(e) => {
            found.history_error = format!("jobs: {e}");
            return Ok(found);
        }
    };
    found.capped = capped;
    let owned = jobs.iter().filter(|j| {
        j.metadata
            .owner_references
            .iter()
            .any(|o| o.kind == "CronJob" && o.name == s.cronjob)
    });
    for j in owned {
        let ended = j
            .status
            .conditions
            .iter()
            .find(|c| c.status == "True" && (c.kind == "Complete" || c.kind == "Failed"));
        let Some(ended) = ended else {
            continue; // still running
        };
        let finished = rfc3339(&j.status.completion_time).or(rfc3339(&ended.last_transition_time));
        let Some(started) = rfc3339(&j.status.start_time).or(finished) else {
            continue;
        };
        found.runs.push(Run {
            name: j.metadata.name.clone(),
            started,
            finished,
            ok: ended.kind == "Complete",
            detail: if ended.reason.is_empty() {
                ended.kind.clone()
            } else {
                format!("{}: {}", ended.kind, ended.reason)
            },
        });
    }
    Ok(found)
}
