//! Signed evidence snapshots.
//!
//! Verdicts change as the fleet changes; an audit asks what gamsa answered on
//! a given day and why. A snapshot freezes that answer with the evidence it
//! stands on (`contents`), in one canonical byte form (`canonical`), hashed,
//! chained to the previous snapshot and signed with the collector's Ed25519
//! key (`key`, `seal`), written once into `<data_dir>/snapshots/`
//! (`archive`), taken on a schedule (`schedule`) or on demand, and checked
//! offline with nothing but the public key (`seal::verify`, `chain`).

pub mod archive;
pub mod canonical;
pub mod chain;
pub mod contents;
pub mod key;
pub mod schedule;
pub mod seal;

use crate::checklists::Checklists;
use crate::store::Store;
use anyhow::Context;
use archive::{Archive, Entry};
use chrono::{DateTime, SecondsFormat, Utc};
use contents::{Body, CollectorIdentity};
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// `[snapshots]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SnapshotConfig {
    /// Take snapshots on the schedule while serving.
    pub enabled: bool,
    /// Cron expression with seconds: "sec min hour day month weekday".
    pub schedule: String,
    /// IANA time zone the schedule is read in.
    pub timezone: String,
    /// Keep at most this many newest snapshots; 0 keeps all.
    pub keep: usize,
    /// Remove snapshots older than this (e.g. "400d"); none keeps all.
    #[serde(with = "humantime_serde")]
    pub max_age: Option<Duration>,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: "0 0 0 * * *".into(),
            timezone: "Asia/Seoul".into(),
            keep: 0,
            max_age: None,
        }
    }
}

impl SnapshotConfig {
    pub fn validate(&self) -> Result<(), String> {
        schedule::Schedule::parse(&self.schedule, &self.timezone).map(|_| ())
    }
}

/// A snapshot just taken.
#[derive(Debug)]
pub struct Created {
    pub entry: Entry,
    pub sha256: String,
    /// Old snapshots removed by retention.
    pub removed: Vec<Entry>,
}

/// Takes and finds this collector's snapshots.
pub struct Snapshots {
    pub data_dir: PathBuf,
    pub archive: Archive,
    config: SnapshotConfig,
    collector_id: String,
    checklists: Arc<Checklists>,
    store: Arc<dyn Store>,
    creating: tokio::sync::Mutex<()>,
}

impl Snapshots {
    pub fn new(
        data_dir: &Path,
        config: SnapshotConfig,
        collector_id: String,
        checklists: Arc<Checklists>,
        store: Arc<dyn Store>,
    ) -> Self {
        Self {
            data_dir: data_dir.to_path_buf(),
            archive: Archive::new(data_dir),
            config,
            collector_id,
            checklists,
            store,
            creating: tokio::sync::Mutex::new(()),
        }
    }

    /// The newest stored snapshot, checked with this collector's own key
    /// before a new one is chained onto it.
    fn head(&self, key: &ed25519_dalek::VerifyingKey) -> anyhow::Result<Option<seal::Verified>> {
        let Some(newest) = self.archive.list()?.pop() else {
            return Ok(None);
        };
        let bytes = std::fs::read(&newest.path)
            .with_context(|| format!("{}: cannot read", newest.path.display()))?;
        let name = key::public_path(&self.data_dir).display().to_string();
        let v = seal::verify(&newest.path, &bytes, key, &name)
            .context("the newest snapshot does not verify; refusing to chain onto it")?;
        Ok(Some(v))
    }

    /// Freezes the current verdicts into a new signed snapshot, then applies
    /// retention.
    pub async fn create(&self) -> anyhow::Result<Created> {
        let _one_at_a_time = self.creating.lock().await;
        let key = key::load_or_create(&self.data_dir)?;
        let head = self.head(&key.verifying_key())?;
        let frozen = contents::freeze(&self.checklists, self.store.as_ref()).await?;
        let mut now = Utc::now();
        if let Some(h) = &head {
            // Never date a snapshot before its predecessor (clock stepped back).
            if let Ok(t) = DateTime::parse_from_rfc3339(&h.header.created_at) {
                now = now.max(t.to_utc());
            }
        }
        let sequence = head.as_ref().map_or(1, |h| h.header.sequence + 1);
        let body = Body {
            sequence,
            previous: head.map(|h| h.sha256),
            created_at: now.to_rfc3339_opts(SecondsFormat::Millis, true),
            collector: CollectorIdentity {
                id: self.collector_id.clone(),
                public_key: key::public_pem(&key.verifying_key()),
            },
            catalogs: frozen.catalogs,
            items: frozen.items,
            evidence: frozen.evidence,
            documents: frozen.documents,
        };
        let (bytes, sha256) = tokio::task::spawn_blocking(move || seal::seal(&body, &key))
            .await
            .context("sealing the snapshot")??;
        let name = archive::file_name(sequence, now);
        let path = self.archive.write_new(&name, &bytes)?;
        let removed = self
            .archive
            .prune(self.config.keep, self.config.max_age, Utc::now())?;
        let entry = archive::list_dir(&self.archive.dir)?
            .into_iter()
            .find(|e| e.path == path)
            .with_context(|| format!("{}: written but not found", path.display()))?;
        Ok(Created {
            entry,
            sha256,
            removed,
        })
    }
}
