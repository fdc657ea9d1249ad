//! `cronjob` sources: a Kubernetes CronJob (batch/v1) that runs backups; its
//! `status.lastSuccessfulTime` is the last success.

use super::{rfc3339, timestamp, BackupSource, Found};
use crate::probes::kube::KubeClient;
use serde::Deserialize;

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
pub(super) async fn last_success(kube: &KubeClient, s: &BackupSource) -> Result<Found, String> {
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
