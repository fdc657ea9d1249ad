//! Signed evidence snapshots.
//!
//! Verdicts change as the fleet changes; an audit asks what gamsa answered on
//! a given day and why. A snapshot freezes that answer with the evidence it
//! stands on (`contents`), in one canonical byte form (`canonical`), hashed,
//! chained to the previous snapshot and signed with the collector's Ed25519
//! key (`key`, `seal`), written once into `<data_dir>/snapshots/`
//! (`archive`), taken on a schedule (`schedule`) or on demand, and checked
//! offline with nothing but the public key (`seal::verify`, `chain`,
//! `offline`; each host's part by `parts`), and compared (`diff`): which items changed verdict between
//! two days. Until the first exists, what it will name is written ahead
//! (`ahead`), so that a fleet's first snapshot does not write everything.
//! As a collector stops, its last evaluation is prepared for the command
//! line to sign while nothing changes (`prepared`). The snapshots are also
//! the source of an item's verdict history, so the history an auditor
//! reads is exactly what was signed.

pub mod ahead;
pub mod archive;
pub mod canonical;
pub mod chain;
pub mod contents;
pub mod diff;
pub mod key;
pub mod objects;
pub mod offline;
pub mod parts;
pub mod prepared;
pub mod reports;
pub mod schedule;
pub mod seal;

use crate::by_hosts::{self, ByHosts};
use crate::checklists::Checklists;
use crate::evaluation::Kept;
use crate::export::body;
use crate::rules::hostwise::Whole;
use crate::store::Store;
use anyhow::Context;
use archive::{Archive, Entry};
use chrono::{DateTime, SecondsFormat, Utc};
use contents::{Body, CollectorIdentity};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

/// What the last snapshot taken here wrote, kept in the data directory
/// for the collector's next run (`parts::Reuse::save`).
pub const REUSE_FILE: &str = "snapshot-reuse.bin";

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
    /// Where snapshot files are kept; empty is `<data_dir>/snapshots`.
    /// Collector replicas share one directory (a shared volume), so that
    /// they extend one chain and every replica serves every snapshot.
    pub dir: PathBuf,
    /// Until the first snapshot exists, write what it will name this often,
    /// and sooner while the fleet grows (`ahead`); zero: never.
    #[serde(with = "humantime_serde")]
    pub write_ahead: Duration,
}

impl Default for SnapshotConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            schedule: "0 0 0 * * *".into(),
            timezone: "Asia/Seoul".into(),
            keep: 0,
            max_age: None,
            dir: PathBuf::new(),
            write_ahead: ahead::EVERY,
        }
    }
}

impl SnapshotConfig {
    pub fn validate(&self) -> Result<(), String> {
        if !self.write_ahead.is_zero() && self.write_ahead < Duration::from_secs(60) {
            return Err("snapshots.write_ahead: \"0s\" (never) or at least \"1m\"".into());
        }
        schedule::Schedule::parse(&self.schedule, &self.timezone).map(|_| ())
    }

    /// The snapshot directory of a collector whose data directory is `data_dir`.
    pub fn archive(&self, data_dir: &Path) -> Archive {
        if self.dir.as_os_str().is_empty() {
            Archive::new(data_dir.join("snapshots"))
        } else {
            Archive::new(self.dir.clone())
        }
    }
}

/// A snapshot just taken.
#[derive(Debug)]
pub struct Created {
    pub entry: Entry,
    pub sha256: String,
    /// Old snapshots removed by retention.
    pub removed: Vec<Entry>,
    /// Evidence contents read from the store to be written: those no
    /// earlier snapshot, nor writing ahead (`ahead`), had written.
    pub contents_read: usize,
    /// Whether it signed what a stopping collector prepared (`prepared`).
    pub prepared: Preparedness,
}

/// Whether a snapshot signed what a stopping collector prepared.
#[derive(Debug, Clone, PartialEq)]
pub enum Preparedness {
    /// An evaluator runs here: the snapshot freezes its kept evaluation.
    NotLooked,
    /// It signed the prepared body.
    Signed,
    /// It evaluated, and why the prepared body would not do.
    Evaluated(String),
}

impl std::fmt::Display for Preparedness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotLooked => f.write_str("the verdicts the collector keeps"),
            Self::Signed => f.write_str(
                "signed the verdicts the collector evaluated as it stopped: nothing changed since",
            ),
            Self::Evaluated(why) => {
                write!(
                    f,
                    "evaluated every catalog here: nothing prepared would do ({why})"
                )
            }
        }
    }
}

/// A snapshot's body but for what signing adds, and how it came by it.
struct Content {
    catalogs: Vec<contents::CatalogVersion>,
    items: Vec<serde_json::Value>,
    host_index: Vec<contents::IndexEntry>,
    documents: contents::DocumentEvidence,
    evaluated_at: Option<String>,
    /// What its parts wrote, kept for the next snapshot; none when prepared.
    wrote: Option<parts::Reuse>,
    contents_read: usize,
    prepared: Preparedness,
    /// How long freezing the verdicts and writing the parts took (none
    /// when prepared).
    frozen_in: Duration,
    parts_in: Duration,
}

/// What a collector's stop prepared (`Snapshots::prepare`).
#[derive(Debug)]
pub struct PreparedAtStop {
    pub hosts: u64,
    pub stands_until_ms: i64,
    pub took: Duration,
}

/// What `f` gives, and how long it took.
async fn timed<T>(f: impl std::future::Future<Output = T>) -> (T, Duration) {
    let t = std::time::Instant::now();
    (f.await, t.elapsed())
}

/// A stored snapshot as listed: its file and the hash it records.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Listed {
    pub id: String,
    pub sequence: u64,
    pub created_at: String,
    pub sha256: String,
    pub taken_by: String,
    pub bytes: u64,
    /// The name it is downloaded under: a tar with the files it names, or
    /// the JSON file alone for format 1.
    #[serde(skip)]
    pub download: String,
}

/// What the list shows of the snapshot file of `e`, read from it.
fn read_listed(e: Entry) -> Listed {
    let bytes = std::fs::read(&e.path).unwrap_or_default();
    #[derive(serde::Deserialize)]
    struct File {
        format: String,
        sha256: String,
        body: contents::Header,
    }
    let file: Option<File> = serde_json::from_slice(&bytes).ok();
    let tar = file.as_ref().is_none_or(|f| f.format != contents::FORMAT_1);
    Listed {
        download: format!("{}.{}", e.id, if tar { "tar" } else { "json" }),
        id: e.id,
        sequence: e.sequence,
        created_at: e.created.to_rfc3339_opts(SecondsFormat::Secs, true),
        sha256: file.as_ref().map(|f| f.sha256.clone()).unwrap_or_default(),
        taken_by: file.map(|f| f.body.taken_by).unwrap_or_default(),
        bytes: bytes.len() as u64,
    }
}

/// One point of an item's verdict history: what a snapshot froze for it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HistoryPoint {
    pub snapshot: String,
    pub sequence: u64,
    pub created_at: String,
    /// None when the item is not in that snapshot.
    pub verdict: Option<String>,
    /// Set when the snapshot could not be read or does not verify.
    pub error: Option<String>,
}

/// A stored snapshot and its verified verdicts.
pub struct Stored {
    pub snapshot: String,
    pub sequence: u64,
    pub created_at: String,
    pub verdicts: Result<Arc<diff::Verdicts>, String>,
}

/// Takes and finds this collector's snapshots.
pub struct Snapshots {
    pub data_dir: PathBuf,
    pub archive: Archive,
    config: SnapshotConfig,
    collector_id: String,
    checklists: Arc<Checklists>,
    store: Arc<dyn Store>,
    /// The collector's kept evaluation, which its snapshots freeze; none
    /// in the CLI, which evaluates.
    kept: Option<Arc<Kept>>,
    /// What the last snapshot taken here wrote, for the next (`parts`);
    /// held by the one snapshot being taken. None until the first snapshot
    /// of this run reads what the last run kept ([`REUSE_FILE`]).
    creating: tokio::sync::Mutex<Option<parts::Reuse>>,
    /// Verified verdicts by snapshot id. Files are never rewritten, so an
    /// entry stays true for as long as its file exists.
    verdicts: std::sync::Mutex<HashMap<String, Arc<diff::Verdicts>>>,
    /// What the list shows of each snapshot, by id, for the same reason:
    /// a file is read for it once, not on every listing (a fleet's
    /// snapshot is hundreds of megabytes).
    listed: std::sync::Mutex<HashMap<String, Listed>>,
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
            archive: config.archive(data_dir),
            config,
            collector_id,
            checklists,
            store,
            kept: None,
            creating: tokio::sync::Mutex::new(None),
            verdicts: Default::default(),
            listed: Default::default(),
        }
    }

    /// Snapshots freezing `kept`, the collector's kept evaluation.
    pub fn with_kept(self, kept: Arc<Kept>) -> Self {
        Self {
            kept: Some(kept),
            ..self
        }
    }

    pub fn config(&self) -> &SnapshotConfig {
        &self.config
    }

    pub fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// The public half of the signing key (made on first use), the file
    /// auditors verify with.
    pub fn public_key(&self) -> anyhow::Result<ed25519_dalek::VerifyingKey> {
        Ok(key::load_or_create(&self.data_dir)?.verifying_key())
    }

    fn key_name(&self) -> String {
        key::public_path(&self.data_dir).display().to_string()
    }

    /// The newest stored snapshot, checked with this collector's own key
    /// before a new one is chained onto it.
    fn head(&self, key: &ed25519_dalek::VerifyingKey) -> anyhow::Result<Option<seal::Verified>> {
        let Some(newest) = self.archive.list()?.pop() else {
            return Ok(None);
        };
        let bytes = std::fs::read(&newest.path)
            .with_context(|| format!("{}: cannot read", newest.path.display()))?;
        let v = seal::verify(&newest.path, &bytes, key, &self.key_name())
            .context("the newest snapshot does not verify; refusing to chain onto it")?;
        Ok(Some(v))
    }

    /// Freezes the current verdicts into a new signed snapshot, then applies
    /// retention. `taken_by` says who asked ("schedule", "cli:root",
    /// "dashboard:lee", "api:ci").
    pub async fn create(&self, taken_by: &str) -> anyhow::Result<Created> {
        self.create_with(taken_by, vec![]).await
    }

    /// As `create`, the snapshot also vouching for `reports` (files already
    /// written beside the snapshots, by their SHA-256).
    pub async fn create_with(
        &self,
        taken_by: &str,
        reports: Vec<contents::ReportDocument>,
    ) -> anyhow::Result<Created> {
        let mut reuse = self.creating.lock().await;
        let key = key::load_or_create(&self.data_dir)?;
        let head = self.head(&key.verifying_key())?;
        let started = std::time::Instant::now();
        // The snapshot is as of `now`, taken after the evaluation it
        // freezes (kept, or made here just before) and before anything else
        // is read or written.
        let (mut now, content) = match self.sign_prepared().await? {
            Ok(content) => (Utc::now(), content),
            Err(why) if self.kept.as_ref().is_none_or(|k| !k.evaluates()) => {
                // No evaluator here: the fleet a range of hosts at a time.
                match self.by_hosts(&mut reuse, &why).await? {
                    Ok(content) => (Utc::now(), content),
                    Err(whole) => {
                        tracing::info!(%whole, "snapshot: the fleet is evaluated whole");
                        if let Some(kept) = &self.kept {
                            kept.evaluate_now(&self.checklists, &self.store).await?;
                        }
                        (Utc::now(), self.evaluated(&mut reuse, why).await?)
                    }
                }
            }
            Err(why) => (Utc::now(), self.evaluated(&mut reuse, why).await?),
        };
        let body_hosts: u64 = content.host_index.iter().map(|i| i.hosts).sum();
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
            evaluated_at: content.evaluated_at,
            taken_by: taken_by.to_string(),
            collector: CollectorIdentity {
                id: self.collector_id.clone(),
                public_key: key::public_pem(&key.verifying_key()),
            },
            catalogs: content.catalogs,
            items: content.items,
            host_index: content.host_index,
            documents: content.documents,
            reports,
        };
        let (bytes, sha256) = tokio::task::spawn_blocking(move || seal::seal(&body, &key))
            .await
            .context("sealing the snapshot")??;
        let name = archive::file_name(sequence, now);
        let path = self.archive.write_new(&name, &bytes)?;
        let removed = self
            .archive
            .prune(self.config.keep, self.config.max_age, Utc::now())?;
        if !removed.is_empty() {
            // Objects not marked used since `MARK_EVERY` before the oldest
            // kept snapshot was taken are named by no kept snapshot (`objects`).
            if let Some(oldest) = self.archive.list()?.first() {
                let before = std::time::SystemTime::from(oldest.created)
                    .checked_sub(objects::MARK_EVERY + Duration::from_secs(1))
                    .unwrap_or(std::time::UNIX_EPOCH);
                let objects = objects::Objects::of(&self.archive.dir);
                let swept = objects.sweep(before).with_context(|| {
                    format!("removing unused objects from {}", objects.dir.display())
                })?;
                tracing::info!(swept, "snapshot objects no kept snapshot names removed");
            }
        }
        if let Ok(mut cache) = self.verdicts.lock() {
            for r in &removed {
                cache.remove(&r.id);
            }
        }
        let entry = archive::list_dir(&self.archive.dir)?
            .into_iter()
            .find(|e| e.path == path)
            .with_context(|| format!("{}: written but not found", path.display()))?;
        // Sealed here a moment ago: its verdicts are kept now, so that the
        // first page comparing with it does not read and verify it again.
        if let (Ok(v), Ok(mut cache)) = (diff::verdicts(&path, &bytes), self.verdicts.lock()) {
            cache.insert(entry.id.clone(), Arc::new(v));
        }
        if let Some(wrote) = content.wrote {
            *reuse = Some(self.keep_reuse(wrote, &entry.id).await);
        }
        tracing::info!(
            id = %entry.id,
            hosts = body_hosts,
            prepared = matches!(content.prepared, Preparedness::Signed),
            frozen_ms = content.frozen_in.as_millis() as u64,
            parts_ms = content.parts_in.as_millis() as u64,
            total_ms = started.elapsed().as_millis() as u64,
            "snapshot taken"
        );
        Ok(Created {
            entry,
            sha256,
            removed,
            contents_read: content.contents_read,
            prepared: content.prepared,
        })
    }

    /// The verdicts frozen (the kept evaluation, or without one an
    /// evaluation of its own), their host parts written and the summaries
    /// of their items.
    async fn evaluated(
        &self,
        reuse: &mut Option<parts::Reuse>,
        prepared: Preparedness,
    ) -> anyhow::Result<Content> {
        let started = std::time::Instant::now();
        let frozen =
            contents::freeze(&self.checklists, self.store.as_ref(), self.kept.as_deref()).await?;
        self.content(reuse, frozen, prepared, started).await
    }

    /// With no evaluator here: the fleet evaluated a range of hosts at a
    /// time (`by_hosts`), each range's host parts written as it comes, and
    /// the summaries of the items; or why it is to be evaluated whole.
    async fn by_hosts(
        &self,
        reuse: &mut Option<parts::Reuse>,
        prepared: &Preparedness,
    ) -> anyhow::Result<Result<Content, Whole>> {
        let store = self.store.as_ref();
        let hosts_per_range = by_hosts::HOSTS_PER_RANGE;
        let mut walk = match ByHosts::start(self.checklists.clone(), store, hosts_per_range).await?
        {
            Ok(walk) => walk,
            Err(why) => return Ok(Err(why)),
        };
        let objects = objects::Objects::of(&self.archive.dir);
        let previous = Arc::new(match reuse.take() {
            Some(known) => known,
            None => self.kept_reuse().await,
        });
        let (mut wrote, mut hosts, mut contents_read) = (parts::Reuse::default(), Vec::new(), 0);
        let (mut frozen_in, mut parts_in) = (Duration::ZERO, Duration::ZERO);
        // A range's parts are written while the next range is evaluated.
        let mut writing: Option<by_hosts::Range> = None;
        loop {
            let write = writing.take().map(|range| {
                let items: parts::Items = Arc::new(range.items);
                let stamps = Arc::new(range.stamps);
                parts::write_hosts(items, stamps, store, objects.clone(), previous.clone())
            });
            let ((next, took), written) = tokio::join!(timed(walk.next(store)), async {
                match write {
                    Some(w) => Some(timed(w).await),
                    None => None,
                }
            });
            frozen_in += took;
            if let Some((written, took)) = written {
                let written = written.with_context(|| {
                    format!("writing host parts into {}", objects.dir.display())
                })?;
                parts_in += took;
                hosts.extend(written.hosts);
                contents_read += written.contents_read;
                let (reuse, seen) = written.reuse.without_seen();
                wrote.absorb(reuse);
                crate::rules::free_in_background("a range of hosts' results", seen);
            }
            match next? {
                Some(range) => writing = Some(range),
                None => break,
            }
        }
        let evaluated = match walk.finish()? {
            Ok(evaluated) => evaluated,
            Err(why) => return Ok(Err(why)),
        };
        let host_index = self.write_index(objects, hosts).await?;
        let items = evaluated
            .items
            .iter()
            .zip(&evaluated.host_counts)
            .map(|(item, counts)| contents::item_summary_counted(item, counts))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Ok(Content {
            catalogs: contents::catalog_versions(&self.checklists),
            items,
            host_index,
            documents: contents::DocumentEvidence {
                attestations: evaluated.documents.attestations.clone(),
                na_marks: evaluated.documents.na_marks.clone(),
            },
            evaluated_at: Some(evaluated.as_of()),
            wrote: Some(wrote),
            contents_read,
            prepared: prepared.clone(),
            frozen_in,
            parts_in,
        }))
    }

    /// The host parts of `frozen` written and the summaries of its items;
    /// `started` when freezing began.
    async fn content(
        &self,
        reuse: &mut Option<parts::Reuse>,
        frozen: contents::Frozen,
        prepared: Preparedness,
        started: std::time::Instant,
    ) -> anyhow::Result<Content> {
        let frozen_in = started.elapsed();
        let (objects, written) = self
            .write_parts(reuse, frozen.items.clone(), frozen.stamps.clone())
            .await?;
        let host_index = self.write_index(objects, written.hosts).await?;
        let items = (*frozen.items)
            .as_ref()
            .iter()
            .map(contents::item_summary)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Content {
            catalogs: frozen.catalogs,
            items,
            host_index,
            documents: frozen.documents,
            evaluated_at: frozen.evaluated_at,
            wrote: Some(written.reuse),
            contents_read: written.contents_read,
            prepared,
            frozen_in,
            parts_in: started.elapsed() - frozen_in,
        })
    }

    /// Writes the indexes of `hosts` and flushes every object written.
    async fn write_index(
        &self,
        objects: objects::Objects,
        hosts: Vec<contents::HostEntry>,
    ) -> anyhow::Result<Vec<contents::IndexEntry>> {
        let dir = objects.dir.clone();
        tokio::task::spawn_blocking(move || {
            let index = parts::write_index(&hosts, &objects)?;
            objects.sync()?;
            Ok::<_, std::io::Error>(index)
        })
        .await?
        .with_context(|| format!("writing host indexes into {}", dir.display()))
    }

    /// In a process with no evaluator (the command line), the body a
    /// stopping collector prepared, if it is what an evaluation would give
    /// now (`prepared::why_not`) and every file it names is there; else
    /// why not.
    async fn sign_prepared(&self) -> anyhow::Result<Result<Content, Preparedness>> {
        if self.kept.as_ref().is_some_and(|k| k.evaluates()) {
            return Ok(Err(Preparedness::NotLooked));
        }
        let path = self.data_dir.join(prepared::FILE);
        let p = match prepared::Prepared::read(&path) {
            Ok(Some(p)) => p,
            Ok(None) => {
                return Ok(Err(Preparedness::Evaluated(
                    "no collector prepared one as it stopped".into(),
                )))
            }
            Err(e) => return Ok(Err(Preparedness::Evaluated(e))),
        };
        let judge = match self.judge().await {
            Ok(judge) => judge,
            Err(e) => {
                return Ok(Err(Preparedness::Evaluated(format!(
                    "this program's executable is unreadable: {e:#}"
                ))))
            }
        };
        let now = prepared::Now {
            collector: &self.collector_id,
            judge: &judge,
            counter: self.store.change_counter().await?,
            ms: crate::clock::now_ms(),
        };
        if let Some(why) = prepared::why_not(&p, &now) {
            return Ok(Err(Preparedness::Evaluated(why)));
        }
        let objects = objects::Objects::of(&self.archive.dir);
        let manifest = serde_json::json!({ "hostIndex": p.host_index });
        let there = tokio::task::spawn_blocking(move || {
            let (hosts, _) = parts::host_entries(&manifest, &objects).map_err(|e| e.to_string())?;
            for h in &hosts {
                // Marked used now, as a snapshot marks what it names.
                if !objects.reuse(&h.sha256).map_err(|e| e.to_string())? {
                    return Err(format!("the part of host {} is gone", h.host));
                }
            }
            Ok(())
        })
        .await?;
        if let Err(why) = there {
            return Ok(Err(Preparedness::Evaluated(why)));
        }
        Ok(Ok(Content {
            catalogs: p.catalogs,
            items: p.items,
            host_index: p.host_index,
            documents: p.documents,
            evaluated_at: Some(p.evaluated_at),
            wrote: None,
            contents_read: 0,
            prepared: Preparedness::Signed,
            frozen_in: Duration::ZERO,
            parts_in: Duration::ZERO,
        }))
    }

    /// As the collector stops: evaluates once more (from what the last
    /// evaluation left), writes that evaluation's host parts and leaves the
    /// rest of a snapshot's body unsigned for the command line
    /// ([`prepared`]). None without a kept evaluation, or when the store
    /// changed while it evaluated (another collector writes).
    pub async fn prepare(&self) -> anyhow::Result<Option<PreparedAtStop>> {
        let Some(kept) = &self.kept else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let path = self.data_dir.join(prepared::FILE);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                return Err(e).with_context(|| format!("{}: cannot remove", path.display()))
            }
            _ => {}
        }
        let mut reuse = self.creating.lock().await;
        let e = kept.evaluate_now(&self.checklists, &self.store).await?;
        if self.store.change_counter().await? != e.counter {
            return Ok(None);
        }
        let stands_until_ms = kept.stands_until(&e);
        let (counter, catalogs) = (e.counter, contents::catalog_versions(&self.checklists));
        let frozen = contents::Frozen::of(e, catalogs);
        let c = self
            .content(&mut reuse, frozen, Preparedness::NotLooked, started)
            .await?;
        *reuse = c.wrote;
        let p = prepared::Prepared {
            format: prepared::FORMAT.into(),
            collector: self.collector_id.clone(),
            judge: self.judge().await?,
            counter,
            evaluated_at: c.evaluated_at.unwrap_or_default(),
            stands_until_ms,
            catalogs: c.catalogs,
            items: c.items,
            host_index: c.host_index,
            documents: c.documents,
        };
        let hosts = p.host_index.iter().map(|i| i.hosts).sum();
        tokio::task::spawn_blocking(move || {
            p.write(&path)
                .with_context(|| format!("{}: cannot write", path.display()))
        })
        .await??;
        Ok(Some(PreparedAtStop {
            hosts,
            stands_until_ms,
            took: started.elapsed(),
        }))
    }

    /// [`prepared::judge`] of this program and these checklists.
    async fn judge(&self) -> anyhow::Result<String> {
        let checklists = self.checklists.clone();
        tokio::task::spawn_blocking(move || prepared::judge(&checklists))
            .await?
            .context("reading this program's executable")
    }

    /// Writes the host parts of `items` and the contents they cite into
    /// `objects/`, reusing what was written before (held in `reuse`, else
    /// what the last run kept): what a snapshot and writing ahead share.
    async fn write_parts(
        &self,
        reuse: &mut Option<parts::Reuse>,
        items: parts::Items,
        stamps: Arc<crate::checklists::Stamps>,
    ) -> anyhow::Result<(objects::Objects, parts::Written)> {
        let objects = objects::Objects::of(&self.archive.dir);
        let known = match reuse.take() {
            Some(known) => known,
            None => self.kept_reuse().await,
        };
        let written = parts::write_hosts(
            items,
            stamps,
            self.store.as_ref(),
            objects.clone(),
            Arc::new(known),
        )
        .await
        .with_context(|| format!("writing host parts into {}", objects.dir.display()))?;
        Ok((objects, written))
    }

    /// What the last run's last snapshot wrote ([`REUSE_FILE`]), if it
    /// is of use; else nothing, and the next snapshot writes afresh.
    async fn kept_reuse(&self) -> parts::Reuse {
        let (path, archive) = (self.data_dir.join(REUSE_FILE), self.archive.clone());
        let loaded = tokio::task::spawn_blocking(move || {
            parts::Reuse::load(&path, |id| matches!(archive.find(id), Ok(Some(_))))
        })
        .await
        .unwrap_or_else(|e| Err(format!("reading {REUSE_FILE}: {e}")));
        loaded.unwrap_or_else(|error| {
            tracing::warn!(%error, "snapshot: what the last run wrote is not reused");
            parts::Reuse::default()
        })
    }

    /// Keeps `wrote`, what the snapshot `id` wrote, for the next run
    /// ([`REUSE_FILE`]) and returns it. Not kept is only slower.
    async fn keep_reuse(&self, wrote: parts::Reuse, id: &str) -> parts::Reuse {
        let (path, id) = (self.data_dir.join(REUSE_FILE), id.to_string());
        let kept = tokio::task::spawn_blocking(move || {
            let saved = wrote.save(&path, &id);
            (wrote, saved.map_err(|e| format!("{}: {e}", path.display())))
        })
        .await;
        let (wrote, saved) = kept.unwrap_or_else(|e| (Default::default(), Err(e.to_string())));
        if let Err(error) = saved {
            tracing::warn!(%error, "snapshot: what it wrote is not kept for the next run");
        }
        wrote
    }

    /// The snapshot `id` (file stem or sequence number) and its bytes.
    pub fn read(&self, id: &str) -> anyhow::Result<Option<(Entry, Vec<u8>)>> {
        let Some(entry) = self.archive.find(id)? else {
            return Ok(None);
        };
        let bytes = std::fs::read(&entry.path)
            .with_context(|| format!("{}: cannot read", entry.path.display()))?;
        Ok(Some((entry, bytes)))
    }

    /// The object `sha256` a snapshot names (an index, a host part, its
    /// results, an evidence content), checked against its name; None when
    /// there is none by that name.
    pub fn object(&self, sha256: &str) -> anyhow::Result<Option<Vec<u8>>> {
        match objects::Objects::of(&self.archive.dir).bytes(sha256, "asked for by name") {
            Ok(bytes) => Ok(Some(bytes)),
            Err(objects::ObjectError::Missing { .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// The snapshot `id` as it is handed out: a tar of the signed file and
    /// the host parts and evidence files it names (`objects/…`), which
    /// `snapshot verify` checks as it is; a format-1 snapshot, which names
    /// no files, as its JSON file alone. Returns the entry, the bytes (a
    /// fleet's tar [`body::streamed`], made while it is sent) and whether
    /// they are a tar. Call from within the Tokio runtime.
    pub fn bundle(&self, id: &str) -> anyhow::Result<Option<(Entry, body::Body, bool)>> {
        let Some((entry, bytes)) = self.read(id)? else {
            return Ok(None);
        };
        #[derive(Deserialize)]
        struct File {
            format: String,
            body: serde_json::Value,
        }
        let file: File = serde_json::from_slice(&bytes)
            .with_context(|| format!("{}: not a snapshot", entry.path.display()))?;
        if file.format == contents::FORMAT_1 {
            return Ok(Some((entry, bytes.into(), false)));
        }
        let objects = objects::Objects::of(&self.archive.dir);
        let tar_of = entry.clone();
        let tar = body::streamed(format!("snapshot {}", entry.id), move |out| {
            write_tar(out, &tar_of, &bytes, &file.body, &objects).map_err(|e| {
                match e.downcast_ref::<std::io::Error>().map(|e| e.kind()) {
                    // The client left: not a failure to report.
                    Some(kind @ std::io::ErrorKind::BrokenPipe) => kind.into(),
                    _ => std::io::Error::other(format!("{e:#}")),
                }
            })
        });
        Ok(Some((entry, tar, true)))
    }

    /// Stored snapshots, newest first, with the hash and author each records.
    pub async fn list(&self) -> anyhow::Result<Vec<Listed>> {
        let entries = self.archive.list()?;
        let known = self.listed.lock().map(|c| c.clone()).unwrap_or_default();
        let mut out = tokio::task::spawn_blocking(move || {
            entries
                .into_iter()
                .map(|e| match known.get(&e.id) {
                    Some(l) if l.sequence == e.sequence => l.clone(),
                    _ => read_listed(e),
                })
                .collect::<Vec<Listed>>()
        })
        .await
        .context("listing snapshots")?;
        // Only the snapshots there now (pruned ones leave the cache), and
        // only those read whole: a file that could not be read is tried again.
        if let Ok(mut cache) = self.listed.lock() {
            *cache = out
                .iter()
                .filter(|l| !l.sha256.is_empty())
                .map(|l| (l.id.clone(), l.clone()))
                .collect();
        }
        out.reverse();
        Ok(out)
    }

    /// The verdicts of snapshot `entry`, verified with this collector's key.
    fn verified_verdicts(&self, entry: &Entry) -> Result<Arc<diff::Verdicts>, String> {
        if let Some(v) = self
            .verdicts
            .lock()
            .ok()
            .and_then(|c| c.get(&entry.id).cloned())
        {
            return Ok(v);
        }
        let key = self.public_key().map_err(|e| format!("{e:#}"))?;
        let bytes = std::fs::read(&entry.path)
            .map_err(|e| format!("{}: cannot read: {e}", entry.path.display()))?;
        seal::verify(&entry.path, &bytes, &key, &self.key_name()).map_err(|e| e.to_string())?;
        let v = Arc::new(diff::verdicts(&entry.path, &bytes).map_err(|e| e.to_string())?);
        if let Ok(mut cache) = self.verdicts.lock() {
            cache.insert(entry.id.clone(), v.clone());
        }
        Ok(v)
    }

    /// Compares two stored snapshots (ids or sequence numbers), both verified.
    pub async fn diff(self: &Arc<Self>, from: &str, to: &str) -> anyhow::Result<diff::Diff> {
        let this = self.clone();
        let (from, to) = (from.to_string(), to.to_string());
        tokio::task::spawn_blocking(move || {
            let side = |id: &str| -> anyhow::Result<Arc<diff::Verdicts>> {
                let entry = this
                    .archive
                    .find(id)?
                    .with_context(|| format!("no snapshot {id}"))?;
                this.verified_verdicts(&entry).map_err(anyhow::Error::msg)
            };
            let (a, b) = (side(&from)?, side(&to)?);
            Ok(diff::diff(&a, &b))
        })
        .await
        .context("comparing snapshots")?
    }

    /// Every stored snapshot with its verified verdicts (or why they
    /// cannot be read), oldest first: the source of verdict histories,
    /// trends and "what changed since the last snapshot".
    pub async fn stored(self: &Arc<Self>) -> Vec<Stored> {
        let this = self.clone();
        tokio::task::spawn_blocking(move || {
            let entries = match this.archive.list() {
                Ok(e) => e,
                Err(e) => {
                    tracing::warn!(error = %e, "cannot list snapshots for the verdict history");
                    return vec![];
                }
            };
            entries
                .into_iter()
                .map(|e| Stored {
                    verdicts: this.verified_verdicts(&e),
                    snapshot: e.id,
                    sequence: e.sequence,
                    created_at: e.created.to_rfc3339_opts(SecondsFormat::Secs, true),
                })
                .collect()
        })
        .await
        .unwrap_or_default()
    }

    /// Verifies every stored snapshot once, as the first page comparing
    /// with them would (a year of daily ones: 365 files), so that a
    /// collector just started answers that page from what it verified here.
    /// One that does not verify is logged, naming it.
    pub async fn verify_stored(self: &Arc<Self>) {
        let stored = self.stored().await;
        let mut failed = 0;
        for s in &stored {
            if let Err(error) = &s.verdicts {
                failed += 1;
                tracing::warn!(snapshot = %s.snapshot, %error, "a stored snapshot does not verify");
            }
        }
        tracing::info!(
            snapshots = stored.len(),
            failed,
            "stored snapshots verified"
        );
    }

    /// The verdict of `catalog`/`item` in every stored snapshot, oldest first.
    pub async fn history(self: &Arc<Self>, catalog: &str, item: &str) -> Vec<HistoryPoint> {
        let key = (catalog.to_string(), item.to_string());
        self.stored()
            .await
            .into_iter()
            .map(|s| HistoryPoint {
                verdict: s
                    .verdicts
                    .as_ref()
                    .ok()
                    .and_then(|v| v.items.get(&key).map(|i| i.verdict.clone())),
                error: s.verdicts.err(),
                snapshot: s.snapshot,
                sequence: s.sequence,
                created_at: s.created_at,
            })
            .collect()
    }
}

/// The tar of snapshot `entry`: its signed file (`bytes`, whose body is
/// `body`), then each file it names, once.
fn write_tar(
    out: &mut dyn std::io::Write,
    entry: &Entry,
    bytes: &[u8],
    body: &serde_json::Value,
    objects: &objects::Objects,
) -> anyhow::Result<()> {
    let mut tar = tar::Builder::new(out);
    let mut add = |name: &str, data: &[u8]| -> std::io::Result<()> {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o600);
        header.set_mtime(entry.created.timestamp().max(0) as u64);
        header.set_cksum();
        tar.append_data(&mut header, name, data)
    };
    add(&format!("{}.json", entry.id), bytes)?;
    let mut named = std::collections::HashSet::new();
    let read = |sha: &str| {
        let path = objects.path(sha);
        std::fs::read(&path).with_context(|| format!("{}: cannot read", path.display()))
    };
    let relative = |sha: &str| format!("objects/{}/{sha}.json", &sha[..2.min(sha.len())]);
    let (hosts, indexes) = parts::host_entries(body, objects)
        .with_context(|| format!("{}: its hosts", entry.path.display()))?;
    for sha in &indexes {
        if named.insert(sha.clone()) {
            add(&relative(sha), &read(sha)?)?;
        }
    }
    for h in hosts {
        if !named.insert(h.sha256.clone()) {
            continue;
        }
        let part_bytes = read(&h.sha256)?;
        add(&relative(&h.sha256), &part_bytes)?;
        let part: contents::HostPart = serde_json::from_slice(&part_bytes)
            .with_context(|| format!("{}: host part", objects.path(&h.sha256).display()))?;
        for sha in parts::named_by(&part) {
            if named.insert(sha.to_string()) {
                add(&relative(sha), &read(sha)?)?;
            }
        }
    }
    tar.finish()?;
    Ok(())
}
