//! `velero` sources: Velero `Backup` objects (velero.io/v1) read from the
//! Kubernetes API; the newest with phase Completed is the last success, and
//! its storage location says where backups live.

use super::{rfc3339, timestamp, BackupSource, Found};
use crate::probes::kube::{self, KubeClient};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
struct List<T> {
    items: Vec<T>,
}

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
    completion_timestamp: String,
}

/// Velero `Backup` objects (velero.io/v1): the newest with phase Completed.
pub(super) async fn backups(kube: &KubeClient, s: &BackupSource) -> Result<Found, String> {
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
