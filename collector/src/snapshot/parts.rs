//! Each host's part of a snapshot: written, reused from the snapshot before,
//! and checked.
//!
//! Why a part is two files: a host's results (outcome, reason and detail on
//! some 200 rows, about 100 KB) seldom change, while the evidence they cite
//! is seen again every cycle and a run of unchanged observations takes a
//! new id each day. So the results cite evidence by position (in the order
//! they first cite it), not by id, and are an object of their own
//! ([`Results`], without the host's name: hosts with equal results share
//! one); the part proper is small: the results' hash and the cited
//! evidence (id, times, content hash).
//!
//! Why a snapshot is cheap when little changed: what the previous snapshot
//! of this collector wrote is remembered ([`Reuse`]): each host's results
//! by a SHA-256 digest of the results as evaluated (computed without
//! serializing them), each evidence content by the hash the store keeps it
//! under (`Store::evidence_stamps` reads it without the content). Known
//! ones are only marked used (`Objects::reuse`); only new results are
//! serialized and only new contents read from the store. Results equal
//! to those the snapshot before digested (mostly the same objects, kept by
//! the evaluation) are not even digested again ([`Seen`]). The memory is
//! what one snapshot named, replaced by each, and kept on disk in the data
//! directory ([`Reuse::save`]) for the collector's next run; without it
//! (another build, the snapshot it was kept for removed) everything is
//! computed again and files already there are reused. What it holds of
//! the evaluation's results ([`Seen`]) is not kept on disk.

use super::canonical;
use super::contents::{
    outcome_name, EvidenceRef, HostEntry, HostIndex, HostPart, IndexEntry, PartResult, PartResults,
    Results, HOST_FORMAT, HOST_FORMAT_1, INDEX_FORMAT, RESULTS_FORMAT,
};
use super::objects::{ObjectError, Objects, MARK_EVERY};
use crate::checklists::Stamps;
use crate::store::{EvidenceStamp, Store};
use crate::verdict::{HostResult, ItemResult};
use gamsa_proto::v1::Evidence;
use rustc_hash::{FxHashMap, FxHashSet};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::collections::{HashMap, HashSet};
use std::hash::Hash;
use std::path::Path;
use std::sync::Arc;
use std::time::SystemTime;

/// Hosts written a batch at a time: one store read for their evidence's
/// stamps.
const HOSTS_PER_BATCH: usize = 200;

/// Evidence contents read from the store at a time (some 60 hosts' worth
/// of a real host's evidence, 8 MB of JSON).
const CONTENTS_PER_READ: usize = 1_000;

/// Hosts one index names: some 130 KB, so that the manifest names ten
/// indexes for 10,000 hosts, and each index is a small file.
pub const HOSTS_PER_INDEX: usize = 1000;

/// What the previous snapshot wrote: results objects by the digest of the
/// results they hold, evidence contents by the store's hash of them.
#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Reuse {
    results: HashMap<[u8; 32], Known>,
    contents: HashMap<Vec<u8>, Known>,
    /// Parts by their own hash: an unchanged part is not marked again.
    parts: HashMap<String, Known>,
    /// Each host's results as this process last digested them: not kept
    /// on disk, since it holds the evaluation's own results.
    #[serde(skip)]
    hosts: HashMap<String, Seen>,
}

/// A host's results as a snapshot digested them. Why: digesting a host's
/// results (some 100 KB of outcomes, reasons and detail) was most of a
/// snapshot of a fleet whose results had not changed. Results equal to
/// these, at the same places, have the same digest and cite the same
/// evidence; and comparing is cheap, since the kept evaluation shares
/// every result that did not change with the one before
/// (`rules::evaluate::Judged`): most are the same objects, compared by
/// address (`Arc`'s `==` for an `Eq` type), and the rest (a fleet rule's,
/// judged again each time) are small.
#[derive(Debug)]
struct Seen {
    /// SHA-256 of the items' layout and the host's places in it.
    layout: [u8; 32],
    results: Vec<Arc<HostResult>>,
    /// The digest of the results (the key of `Reuse::results`).
    key: [u8; 32],
    /// The evidence the results cite, in the order they first cite it.
    cited: Vec<String>,
}

impl Reuse {
    /// Adds what `other` remembers.
    pub fn absorb(&mut self, other: Reuse) {
        self.results.extend(other.results);
        self.contents.extend(other.contents);
        self.parts.extend(other.parts);
        self.hosts.extend(other.hosts);
    }

    /// This without the hosts' results as digested ([`Seen`]), and those:
    /// what a process that takes one snapshot keeps of a range of hosts
    /// written, and what it frees.
    pub fn without_seen(mut self) -> (Self, impl Send + 'static) {
        let seen = std::mem::take(&mut self.hosts);
        (self, seen)
    }
}

/// [`Reuse`] as kept on disk: by which build and for which snapshot. The
/// file is this, then the SHA-256 of it: a torn or altered file could
/// otherwise name one content's object for another.
#[derive(Serialize)]
struct Saving<'a> {
    made_by: &'a str,
    snapshot: &'a str,
    reuse: &'a Reuse,
}

/// [`Saving`] read back.
#[derive(Deserialize)]
struct Saved {
    made_by: String,
    snapshot: String,
    reuse: Reuse,
}

/// The build and object formats a kept [`Reuse`] holds for: another build
/// may digest results or write contents otherwise, so it starts afresh.
fn made_by() -> String {
    format!(
        "gamsa {} {HOST_FORMAT} {RESULTS_FORMAT} {INDEX_FORMAT}",
        env!("CARGO_PKG_VERSION")
    )
}

/// Why on disk: without it, a collector's first snapshot after a restart
/// reads every cited content from the store and hashes it again (some
/// 40 s at 10,000 hosts), though the files are all there.
impl Reuse {
    /// Keeps this at `path` as what the snapshot `snapshot` wrote (a
    /// temporary file renamed, so a name never holds half of one).
    pub fn save(&self, path: &Path, snapshot: &str) -> std::io::Result<()> {
        use std::io::Write;
        let mut bytes = postcard::to_stdvec(&Saving {
            made_by: &made_by(),
            snapshot,
            reuse: self,
        })
        .map_err(std::io::Error::other)?;
        bytes.extend_from_slice(&Sha256::digest(&bytes));
        // A name of its own: the command line's `snapshot create` may save
        // beside a running collector.
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
        tmp.write_all(&bytes)?;
        tmp.persist(path).map(drop).map_err(|e| e.error)
    }

    /// What [`Reuse::save`] kept at `path`, if this build kept it for a
    /// snapshot `stored` still finds: an object it names was marked used
    /// within `MARK_EVERY` and no sweep removed it since, unless the
    /// snapshots were removed or replaced, which removes that snapshot too.
    /// Nothing at `path` is an empty `Reuse`; a file of no use is an error
    /// naming why (the caller starts afresh).
    pub fn load(path: &Path, stored: impl Fn(&str) -> bool) -> Result<Reuse, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Reuse::default()),
            Err(e) => return Err(format!("{}: cannot read: {e}", path.display())),
        };
        let not_ours =
            |why: String| format!("{}: not what a snapshot wrote: {why}", path.display());
        let (body, digest) = bytes
            .split_at_checked(bytes.len().saturating_sub(32))
            .filter(|(_, d)| d.len() == 32)
            .ok_or_else(|| not_ours("too short".into()))?;
        if Sha256::digest(body).as_slice() != digest {
            return Err(not_ours(
                "its SHA-256 does not match (torn or altered)".into(),
            ));
        }
        let saved: Saved = postcard::from_bytes(body).map_err(|e| not_ours(e.to_string()))?;
        if saved.made_by != made_by() {
            return Err(format!(
                "{}: kept by {:?}, not by this build ({:?})",
                path.display(),
                saved.made_by,
                made_by()
            ));
        }
        if !stored(&saved.snapshot) {
            return Err(format!(
                "{}: kept for snapshot {}, which is no longer stored",
                path.display(),
                saved.snapshot
            ));
        }
        Ok(saved.reuse)
    }
}

/// An object a snapshot named, and when it was last marked used.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Known {
    sha: String,
    marked: SystemTime,
}

/// The object `key` names, if this snapshot has named it already (`next`,
/// or `earlier`: what its earlier batches named) or the one before did and
/// it is still there: marked used again only when that was
/// `objects::MARK_EVERY` ago or more (marking is a write to the file
/// system, and a fleet's snapshot names hundreds of thousands).
fn recall<K: Eq + Hash + Clone>(
    key: &K,
    before: &HashMap<K, Known>,
    earlier: &HashMap<K, Known>,
    next: &mut HashMap<K, Known>,
    objects: &Objects,
) -> std::io::Result<Option<String>> {
    if let Some(k) = next.get(key).or_else(|| earlier.get(key)) {
        return Ok(Some(k.sha.clone()));
    }
    let Some(k) = before.get(key) else {
        return Ok(None);
    };
    let now = SystemTime::now();
    let since = now.duration_since(k.marked).unwrap_or_default();
    let marked = if since < MARK_EVERY {
        k.marked
    } else if objects.reuse(&k.sha)? {
        now
    } else {
        return Ok(None);
    };
    next.insert(
        key.clone(),
        Known {
            sha: k.sha.clone(),
            marked,
        },
    );
    Ok(Some(k.sha.clone()))
}

/// Remembers that this snapshot wrote (or marked used) `sha` for `key`.
fn remember<K: Eq + Hash>(key: K, sha: &str, next: &mut HashMap<K, Known>) {
    next.insert(
        key,
        Known {
            sha: sha.to_string(),
            marked: SystemTime::now(),
        },
    );
}

/// Where a host's results are in the evaluation: (item, row, result).
type Place = (u32, u32, u32);

pub(super) type Items = Arc<dyn AsRef<[ItemResult]> + Send + Sync>;

/// What [`write_hosts`] wrote.
pub struct Written {
    /// The hosts in name order (what the indexes name, `write_index`).
    pub hosts: Vec<HostEntry>,
    /// What was named, for the next snapshot.
    pub reuse: Reuse,
    /// Evidence contents read from the store: those no earlier writing
    /// had made an object of.
    pub contents_read: usize,
}

/// Writes every host's part into `objects`, a batch of hosts at a time,
/// reusing what `previous` knows. The caller syncs the objects before it
/// signs what names them.
pub async fn write_hosts(
    items: Items,
    evaluated: Arc<Stamps>,
    store: &dyn Store,
    objects: Objects,
    previous: Arc<Reuse>,
) -> anyhow::Result<Written> {
    let mut places: FxHashMap<&str, Vec<Place>> = FxHashMap::default();
    let mut layout = Sha256::new();
    for (i, item) in (*items).as_ref().iter().enumerate() {
        for (r, row) in item.rows.iter().enumerate() {
            for f in [&item.catalog, &item.id, &row.id] {
                field(&mut layout, f);
            }
            for (h, result) in row.hosts.iter().enumerate() {
                places
                    .entry(result.host.as_str())
                    .or_default()
                    .push((i as u32, r as u32, h as u32));
            }
        }
    }
    let layout: [u8; 32] = layout.finalize().into();
    let mut places: Vec<(String, Vec<Place>)> = places
        .into_iter()
        .map(|(host, ps)| (host.to_string(), ps))
        .collect();
    places.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let batches: Vec<&[(String, Vec<Place>)]> = places.chunks(HOSTS_PER_BATCH).collect();
    let mut entries = Vec::with_capacity(places.len());
    // The stamps of a batch's cited evidence: as the evaluation read them
    // where it did, else read from the store for the next batch while this
    // one is written, so that the store and the writing overlap.
    let stamps_of = |batch: Option<&&[(String, Vec<Place>)]>| {
        let cited: Option<(Vec<EvidenceStamp>, Vec<String>)> = batch.map(|batch| {
            let all = (*items).as_ref();
            let cited: FxHashSet<&String> = batch
                .iter()
                .flat_map(|(_, ps)| ps.iter())
                .flat_map(|p| result(all, *p).evidence.iter())
                .collect();
            let (mut known, mut unread) = (Vec::new(), Vec::new());
            for id in cited {
                match evaluated.get(id) {
                    Some(s) => known.push(EvidenceStamp::clone(s)),
                    None => unread.push(id.clone()),
                }
            }
            (known, unread)
        });
        async move {
            match cited {
                Some((mut known, unread)) if !unread.is_empty() => {
                    known.extend(store.evidence_stamps(unread).await?);
                    Ok::<_, crate::store::StoreError>(Some(known))
                }
                Some((known, _)) => Ok(Some(known)),
                None => Ok(None),
            }
        }
    };
    // Where the time goes, logged once: the first batch's stamps, the later
    // batches' stamps (read beside the writing), contents read from the
    // store, and the batches (written, the next stamps read).
    let started = std::time::Instant::now();
    let mut next = Reuse::default();
    let mut stamps = stamps_of(batches.first()).await?;
    let first_stamps = started.elapsed();
    let (mut contents_read, mut stamps_read) =
        (std::time::Duration::ZERO, std::time::Duration::ZERO);
    let mut contents = 0;
    for (k, batch) in batches.iter().enumerate() {
        let current = stamps.take().unwrap_or_default();
        let work = write_batch(
            &items,
            layout,
            batch,
            current,
            store,
            &objects,
            &previous,
            std::mem::take(&mut next),
        );
        let ahead = async {
            let t = std::time::Instant::now();
            (stamps_of(batches.get(k + 1)).await, t.elapsed())
        };
        let (done, (ahead, ahead_in)) = tokio::join!(work, ahead);
        let (written, after, read, read_in) = done?;
        next = after;
        entries.extend(written);
        contents += read;
        contents_read += read_in;
        stamps_read += ahead_in;
        stamps = ahead?;
    }
    tracing::info!(
        first_stamps_ms = first_stamps.as_millis() as u64,
        stamps_read_ms = stamps_read.as_millis() as u64,
        contents_read_ms = contents_read.as_millis() as u64,
        contents_read = contents,
        batches_ms = (started.elapsed() - first_stamps).as_millis() as u64,
        "snapshot host parts"
    );
    Ok(Written {
        hosts: entries,
        reuse: next,
        contents_read: contents,
    })
}

/// Writes the parts of one batch of hosts, whose cited evidence has
/// `stamps`: the contents not known yet are read from the store, then the
/// hosts' parts are written over every core. Returns the batch's entries,
/// what this snapshot has named so far (`taken`, with the batch's), and
/// how many contents were read and in what time.
#[allow(clippy::too_many_arguments)]
async fn write_batch(
    items: &Items,
    layout: [u8; 32],
    batch: &[(String, Vec<Place>)],
    stamps: Vec<EvidenceStamp>,
    store: &dyn Store,
    objects: &Objects,
    previous: &Arc<Reuse>,
    mut taken: Reuse,
) -> anyhow::Result<(Vec<HostEntry>, Reuse, usize, std::time::Duration)> {
    let (objects2, before) = (objects.clone(), previous.clone());
    let (mut refs, unknown, mut taken) = tokio::task::spawn_blocking(move || {
        let (refs, unknown) = known(stamps, &objects2, &before, &mut taken)?;
        Ok::<_, std::io::Error>((refs, unknown, taken))
    })
    .await??;
    let read = unknown.len();
    // Contents neither this snapshot nor the one before has seen, read
    // `CONTENTS_PER_READ` at a time, each read's objects written while the
    // next is read: a batch's contents (200 hosts' package lists, some 30 MB
    // of JSON and more decoded) are never all in memory at once.
    let mut reads = unknown.chunks(CONTENTS_PER_READ);
    let read_some = |chunk: Option<&[EvidenceStamp]>| {
        let chunk = chunk.map(<[EvidenceStamp]>::to_vec);
        async move {
            let Some(chunk) = chunk else {
                return Ok::<_, crate::store::StoreError>((None, std::time::Duration::ZERO));
            };
            let t = std::time::Instant::now();
            let ids = chunk.iter().map(|s| s.evidence.id.clone()).collect();
            let read = store.evidence_by_ids(ids).await?;
            Ok((Some((chunk, read)), t.elapsed()))
        }
    };
    let (mut next, mut read_in) = read_some(reads.next()).await?;
    while let Some((chunk, read)) = next.take() {
        let objects = objects.clone();
        let writing = tokio::task::spawn_blocking(move || {
            write_contents(chunk, read, &objects, &mut refs, &mut taken)?;
            Ok::<_, std::io::Error>((refs, taken))
        });
        let (written, ahead) = tokio::join!(writing, read_some(reads.next()));
        (refs, taken) = written??;
        let (ahead, ahead_in) = ahead?;
        (next, read_in) = (ahead, read_in + ahead_in);
    }
    let batch = batch.to_vec();
    let (items, objects, before) = (items.clone(), objects.clone(), previous.clone());
    let (written, taken) = tokio::task::spawn_blocking(move || {
        let all = (*items).as_ref();
        // Hosts' parts over every core, each part of the batch remembering
        // what it wrote apart, joined after.
        let parts = crate::rules::parallel::map_parts(&batch, |hosts| {
            let mut local = Reuse::default();
            let written = hosts
                .iter()
                .map(|(host, ps)| {
                    let at = Places {
                        items: all,
                        layout,
                        host,
                        places: ps,
                    };
                    write_host(&at, &refs, &objects, &before, &taken, &mut local)
                })
                .collect::<std::io::Result<Vec<HostEntry>>>();
            vec![(written, local)]
        });
        let mut written = Vec::with_capacity(batch.len());
        for (part, local) in parts {
            written.extend(part?);
            taken.absorb(local);
        }
        Ok::<_, std::io::Error>((written, taken))
    })
    .await??;
    Ok((written, taken, read, read_in))
}

/// Writes the contents of `read`, the evidence of `stamps` as read from the
/// store, as objects, and how the parts cite them into `refs`.
fn write_contents(
    stamps: Vec<EvidenceStamp>,
    read: Vec<Evidence>,
    objects: &Objects,
    refs: &mut HashMap<String, EvidenceRef>,
    taken: &mut Reuse,
) -> std::io::Result<()> {
    let mut read: HashMap<String, Evidence> = read.into_iter().map(|e| (e.id.clone(), e)).collect();
    for s in stamps {
        // Gone between the two reads (retention): cited, not held.
        let Some(ev) = read.remove(&s.evidence.id) else {
            continue;
        };
        let sha = content_object(&ev, objects)?;
        if let Some(h) = &s.content_hash {
            remember(h.clone(), &sha, &mut taken.contents);
        }
        refs.insert(s.evidence.id.clone(), evidence_ref(&s.evidence, sha));
    }
    Ok(())
}

fn result(items: &[ItemResult], (i, r, h): Place) -> &Arc<HostResult> {
    &items[i as usize].rows[r as usize].hosts[h as usize]
}

/// The references of the cited evidence whose content has an object
/// already (written by this snapshot, or by the one before and still
/// there, or in the stamp of a row stored whole), by id; and the stamps of
/// those whose content must be read.
fn known(
    stamps: Vec<EvidenceStamp>,
    objects: &Objects,
    before: &Reuse,
    next: &mut Reuse,
) -> std::io::Result<(HashMap<String, EvidenceRef>, Vec<EvidenceStamp>)> {
    let mut refs = HashMap::with_capacity(stamps.len());
    let mut unknown = Vec::new();
    for s in stamps {
        let sha = match &s.content_hash {
            None => content_object(&s.evidence, objects)?,
            Some(h) => match recall(
                h,
                &before.contents,
                &HashMap::new(),
                &mut next.contents,
                objects,
            )? {
                Some(sha) => sha,
                None => {
                    unknown.push(s);
                    continue;
                }
            },
        };
        refs.insert(s.evidence.id.clone(), evidence_ref(&s.evidence, sha));
    }
    Ok((refs, unknown))
}

/// How a part cites `ev` (its id and times) whose content is `content`.
fn evidence_ref(ev: &Evidence, content: String) -> EvidenceRef {
    let at = |t: Option<&gamsa_proto::Timestamp>| {
        t.and_then(|t| chrono::DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32))
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true))
            .unwrap_or_default()
    };
    EvidenceRef {
        id: ev.id.clone(),
        observed_at: at(ev.observed_at.as_ref()),
        first_observed_at: at(ev.first_observed_at.as_ref()),
        content,
    }
}

/// Keeps an evidence's content (all but its id and times) as an object.
fn content_object(ev: &Evidence, objects: &Objects) -> std::io::Result<String> {
    let content = Evidence {
        id: String::new(),
        observed_at: None,
        first_observed_at: None,
        ..ev.clone()
    };
    Ok(objects.put(&content)?.0)
}

/// Feeds one length-prefixed field to a digest, so that no two different
/// sequences of fields feed the same bytes.
fn field(d: &mut Sha256, s: &str) {
    d.update((s.len() as u64).to_le_bytes());
    d.update(s.as_bytes());
}

/// One host's results in an evaluation: where they are in `items`, whose
/// layout (each row's catalog, item and row id, in order) has the SHA-256
/// `layout`.
struct Places<'a> {
    items: &'a [ItemResult],
    layout: [u8; 32],
    host: &'a str,
    places: &'a [Place],
}

impl Places<'_> {
    fn result(&self, p: Place) -> &Arc<HostResult> {
        result(self.items, p)
    }

    /// SHA-256 of the items' layout and these places in it.
    fn layout(&self) -> [u8; 32] {
        let mut d = Sha256::new();
        d.update(self.layout);
        let bytes: Vec<u8> = self
            .places
            .iter()
            .flat_map(|p| [p.0, p.1, p.2])
            .flat_map(u32::to_le_bytes)
            .collect();
        d.update((self.places.len() as u64).to_le_bytes());
        d.update(bytes);
        d.finalize().into()
    }

    /// The digest of the results (the key of `Reuse::results`) and the
    /// evidence they cite, in the order they first cite it.
    fn digest(&self) -> ([u8; 32], Vec<String>) {
        let mut cited: Vec<String> = Vec::new();
        let mut position: FxHashMap<&str, u32> = FxHashMap::default();
        let mut digest = Sha256::new();
        field(&mut digest, RESULTS_FORMAT);
        for &p in self.places {
            let (item, row, r) = (
                &self.items[p.0 as usize],
                &self.items[p.0 as usize].rows[p.1 as usize],
                self.result(p),
            );
            for f in [&item.catalog, &item.id, &row.id] {
                field(&mut digest, f);
            }
            field(&mut digest, outcome_name(r.outcome));
            field(&mut digest, &r.reason);
            digest.update((r.detail.len() as u64).to_le_bytes());
            for d in &r.detail {
                field(&mut digest, d);
            }
            digest.update((r.evidence.len() as u64).to_le_bytes());
            for id in r.evidence.iter() {
                let at = *position.entry(id).or_insert_with(|| {
                    cited.push(id.clone());
                    cited.len() as u32 - 1
                });
                digest.update(at.to_le_bytes());
            }
        }
        (digest.finalize().into(), cited)
    }

    /// The results object of these results, whose evidence is `cited`.
    fn results(&self, cited: &[String]) -> Results {
        let position: FxHashMap<&str, u32> = cited
            .iter()
            .enumerate()
            .map(|(n, id)| (id.as_str(), n as u32))
            .collect();
        Results {
            format: RESULTS_FORMAT.into(),
            results: self
                .places
                .iter()
                .map(|&p| {
                    let (item, r) = (&self.items[p.0 as usize], self.result(p));
                    PartResult {
                        catalog: item.catalog.clone(),
                        item: item.id.clone(),
                        row: item.rows[p.1 as usize].id.clone(),
                        outcome: outcome_name(r.outcome).into(),
                        reason: r.reason.clone(),
                        detail: r.detail.clone(),
                        evidence: r.evidence.iter().map(|id| position[id.as_str()]).collect(),
                    }
                })
                .collect(),
        }
    }
}

/// Writes one host's part; its results object only when neither this
/// snapshot (`earlier` batches, `next` this part of the batch) nor the one
/// before has it. The results are digested only when they differ from
/// those the snapshot before digested ([`Seen`]).
fn write_host(
    at: &Places,
    refs: &HashMap<String, EvidenceRef>,
    objects: &Objects,
    before: &Reuse,
    earlier: &Reuse,
    next: &mut Reuse,
) -> std::io::Result<HostEntry> {
    let host = at.host;
    let results: Vec<Arc<HostResult>> = at.places.iter().map(|&p| at.result(p).clone()).collect();
    let layout = at.layout();
    let seen = before.hosts.get(host).filter(|s| {
        s.layout == layout
            && s.results.len() == results.len()
            && s.results.iter().zip(&results).all(|(a, b)| a == b)
    });
    let (key, cited) = match seen {
        Some(s) => (s.key, s.cited.clone()),
        None => at.digest(),
    };
    let results_sha = match recall(
        &key,
        &before.results,
        &earlier.results,
        &mut next.results,
        objects,
    )? {
        Some(sha) => sha,
        None => {
            let sha = objects.put(&at.results(&cited))?.0;
            remember(key, &sha, &mut next.results);
            sha
        }
    };
    let part = HostPart {
        format: HOST_FORMAT.into(),
        host: host.into(),
        results: PartResults::Object(results_sha),
        evidence: cited
            .iter()
            .map(|id| {
                refs.get(id).cloned().unwrap_or_else(|| EvidenceRef {
                    id: id.clone(),
                    observed_at: String::new(),
                    first_observed_at: String::new(),
                    content: String::new(),
                })
            })
            .collect(),
    };
    let bytes = canonical::to_vec(&part).map_err(std::io::Error::other)?;
    let sha256 = canonical::sha256_hex(&bytes);
    if recall(
        &sha256,
        &before.parts,
        &earlier.parts,
        &mut next.parts,
        objects,
    )?
    .is_none()
    {
        objects.put_canonical(&sha256, &bytes)?;
        remember(sha256.clone(), &sha256, &mut next.parts);
    }
    next.hosts.insert(
        host.to_string(),
        Seen {
            layout,
            results,
            key,
            cited,
        },
    );
    Ok(HostEntry {
        host: host.into(),
        sha256,
        bytes: bytes.len() as u64,
    })
}

/// The objects a part names besides itself: its results (format 2) and the
/// contents of the evidence it cites.
pub fn named_by(part: &HostPart) -> impl Iterator<Item = &str> {
    let results = match &part.results {
        PartResults::Object(sha) => Some(sha.as_str()),
        PartResults::Inline(_) => None,
    };
    results.into_iter().chain(
        part.evidence
            .iter()
            .map(|r| r.content.as_str())
            .filter(|c| !c.is_empty()),
    )
}

/// What checking a manifest's parts found.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct PartsChecked {
    pub hosts: usize,
    pub evidence: usize,
}

/// Writes the indexes of `entries` (in name order, as `write_hosts`
/// returns them), `HOSTS_PER_INDEX` at a time; returns what the manifest
/// names. An index whose hosts' parts did not change is the same file.
pub fn write_index(entries: &[HostEntry], objects: &Objects) -> std::io::Result<Vec<IndexEntry>> {
    entries
        .chunks(HOSTS_PER_INDEX)
        .map(|hosts| {
            let (sha256, bytes) = objects.put(&HostIndex {
                format: INDEX_FORMAT.into(),
                hosts: hosts.to_vec(),
            })?;
            Ok(IndexEntry {
                sha256,
                bytes,
                hosts: hosts.len() as u64,
            })
        })
        .collect()
}

/// The hosts a manifest names: in its indexes (format 3, each checked
/// against its name), or in the manifest itself (format 2); with the
/// indexes' hashes. The hosts are in strictly increasing name order, so
/// none is named twice.
pub fn host_entries(
    body: &serde_json::Value,
    objects: &Objects,
) -> Result<(Vec<HostEntry>, Vec<String>), ObjectError> {
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Hosts {
        #[serde(default)]
        hosts: Vec<HostEntry>,
        #[serde(default)]
        host_index: Vec<IndexEntry>,
    }
    let named = Hosts::deserialize(body).map_err(|e| ObjectError::Parse {
        path: objects.dir.clone(),
        what: "the manifest's hosts".into(),
        message: e.to_string(),
    })?;
    let mut hosts = named.hosts;
    let mut indexes = Vec::with_capacity(named.host_index.len());
    for (n, entry) in named.host_index.iter().enumerate() {
        let what = format!("host index {}", n + 1);
        let index: HostIndex = objects.get(&entry.sha256, &what)?;
        if index.format != INDEX_FORMAT || index.hosts.len() as u64 != entry.hosts {
            return Err(ObjectError::Parse {
                path: objects.path(&entry.sha256),
                what,
                message: format!(
                    "format {:?} naming {} hosts, where the manifest says {} hosts",
                    index.format,
                    index.hosts.len(),
                    entry.hosts
                ),
            });
        }
        hosts.extend(index.hosts);
        indexes.push(entry.sha256.clone());
    }
    if let Some(w) = hosts.windows(2).find(|w| w[0].host >= w[1].host) {
        return Err(ObjectError::Parse {
            path: objects.dir.clone(),
            what: "the manifest's hosts".into(),
            message: format!("host {:?} named after {:?}", w[1].host, w[0].host),
        });
    }
    Ok((hosts, indexes))
}

/// Checks that every host part the manifest `body` names (in its indexes,
/// each checked too, or itself), and every
/// results object and evidence content those parts name, is in `objects`,
/// unaltered, and says what it is named for; a results object cites no
/// position past its part's evidence. `checked` holds objects already
/// checked (a chain shares most of them; a results object is entered with
/// the number of evidence it was checked against); a format-1 body names
/// none.
pub fn check_parts(
    body: &serde_json::Value,
    objects: &Objects,
    checked: &mut HashSet<String>,
) -> Result<PartsChecked, ObjectError> {
    let (hosts, _) = host_entries(body, objects)?;
    let mut out = PartsChecked::default();
    for entry in &hosts {
        let what = format!("host {}", entry.host);
        if checked.contains(&entry.sha256) {
            out.hosts += 1;
            continue;
        }
        let part: HostPart = objects.get(&entry.sha256, &what)?;
        let bad = |message: String| ObjectError::Parse {
            path: objects.path(&entry.sha256),
            what: what.clone(),
            message,
        };
        let formats_agree = matches!(
            (part.format.as_str(), &part.results),
            (HOST_FORMAT, PartResults::Object(_)) | (HOST_FORMAT_1, PartResults::Inline(_))
        );
        if !formats_agree || part.host != entry.host {
            return Err(bad(format!(
                "it is the part of host {:?} in format {:?}",
                part.host, part.format
            )));
        }
        if let PartResults::Object(sha) = &part.results {
            let n = part.evidence.len();
            if !checked.contains(&format!("{sha}/{n}")) {
                let results: Results = objects.get(sha, &format!("the results of {what}"))?;
                let past = results
                    .results
                    .iter()
                    .flat_map(|r| r.evidence.iter())
                    .find(|at| **at as usize >= n);
                if results.format != RESULTS_FORMAT || past.is_some() {
                    return Err(ObjectError::Parse {
                        path: objects.path(sha),
                        what: format!("the results of {what}"),
                        message: format!(
                            "format {:?}, citing evidence {past:?} of the part's {n}",
                            results.format
                        ),
                    });
                }
                checked.insert(format!("{sha}/{n}"));
            }
        }
        for r in part.evidence.iter().filter(|r| !r.content.is_empty()) {
            if checked.insert(r.content.clone()) {
                objects.get::<serde_json::Value>(
                    &r.content,
                    &format!("evidence {} of host {}", r.id, entry.host),
                )?;
                out.evidence += 1;
            }
        }
        checked.insert(entry.sha256.clone());
        out.hosts += 1;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::sqlite::SqliteStore;
    use crate::verdict::{Outcome, RowResult, Verdict};
    use serde_json::json;

    fn evidence(id: &str, host: &str) -> Evidence {
        Evidence {
            id: id.into(),
            host: host.into(),
            probe: "tls".into(),
            subject: "0.0.0.0:443".into(),
            observed_at: Some(gamsa_proto::Timestamp {
                seconds: 1_700_000_000,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn failing(host: &str, evidence: &str) -> HostResult {
        HostResult {
            host: host.into(),
            outcome: Outcome::Fail,
            reason: "TLS 1.0 offered".into(),
            detail: vec!["0.0.0.0:443".into()],
            evidence: Arc::new(vec![evidence.into()]),
        }
    }

    fn items(hosts: Vec<HostResult>) -> Items {
        Arc::new(vec![item(hosts)])
    }

    fn item(hosts: Vec<HostResult>) -> ItemResult {
        let row = RowResult::of_rule("2.1-1", "tls", hosts);
        ItemResult {
            catalog: "c".into(),
            id: "2.1".into(),
            title_ko: String::new(),
            title_en: String::new(),
            verdict: Verdict::N,
            reason_en: String::new(),
            reason_ko: String::new(),
            hosts: Arc::default(),
            rows: vec![row],
            evidence: Arc::default(),
            evaluated_at: String::new(),
            na_mark: None,
        }
    }

    fn files(objects: &Objects) -> usize {
        walkdir(&objects.dir)
    }

    fn walkdir(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir)
            .map(|rd| {
                rd.flatten()
                    .map(|e| {
                        if e.path().is_dir() {
                            walkdir(&e.path())
                        } else {
                            1
                        }
                    })
                    .sum()
            })
            .unwrap_or(0)
    }

    fn manifest(entries: &[HostEntry]) -> serde_json::Value {
        json!({ "hosts": entries })
    }

    /// `write_hosts` with no stamps from an evaluation.
    async fn write(
        store: &SqliteStore,
        objects: &Objects,
        fleet: Items,
        reuse: Reuse,
    ) -> (Vec<HostEntry>, Reuse) {
        let w = write_hosts(
            fleet,
            Arc::default(),
            store,
            objects.clone(),
            Arc::new(reuse),
        )
        .await
        .unwrap();
        (w.hosts, w.reuse)
    }

    #[tokio::test]
    async fn hosts_of_several_batches_each_cite_their_own_evidence() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        let n = HOSTS_PER_BATCH * 2 + 3;
        let host = |i: usize| format!("h{i:04}");
        store
            .insert_batch(
                (0..n)
                    .map(|i| evidence(&format!("e{i}"), &host(i)))
                    .collect(),
            )
            .await
            .unwrap();
        let objects = Objects::of(&dir.path().join("snapshots"));
        let fleet = items(
            (0..n)
                .map(|i| failing(&host(i), &format!("e{i}")))
                .collect(),
        );
        let (entries, _) = write(&store, &objects, fleet, Reuse::default()).await;
        assert_eq!(entries.len(), n);
        for (i, e) in entries.iter().enumerate() {
            let part = objects.get::<HostPart>(&e.sha256, "x").unwrap();
            assert_eq!(part.host, host(i));
            assert_eq!(part.evidence.len(), 1);
            assert_eq!(part.evidence[0].id, format!("e{i}"));
            assert!(!part.evidence[0].content.is_empty(), "{i}");
        }
        let checked = check_parts(&manifest(&entries), &objects, &mut HashSet::new()).unwrap();
        assert_eq!(checked.hosts, n);
        assert_eq!(checked.evidence, n);
    }

    #[tokio::test]
    async fn evidence_the_evaluation_read_is_cited_as_it_read_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        store
            .insert_batch(vec![evidence("e1", "a"), evidence("e2", "b")])
            .await
            .unwrap();
        // The evaluation read e1 seen again at a later time; e2 it did not
        // read (its first reading): that one is read from the store.
        let mut e1 = store.evidence_stamps(vec!["e1".into()]).await.unwrap();
        let stored_at = e1[0].evidence.observed_at;
        let later = gamsa_proto::Timestamp::from_unix_millis(1_800_000_000_000);
        e1[0].evidence.first_observed_at = stored_at;
        e1[0].evidence.observed_at = Some(later);
        let evaluated = Arc::new(Stamps::from_iter([(
            "e1".to_string(),
            Arc::new(e1.remove(0)),
        )]));
        let objects = Objects::of(&dir.path().join("snapshots"));
        let fleet = items(vec![failing("a", "e1"), failing("b", "e2")]);
        let entries = write_hosts(fleet, evaluated, &store, objects.clone(), Arc::default())
            .await
            .unwrap()
            .hosts;
        let part = |e: &HostEntry| objects.get::<HostPart>(&e.sha256, "x").unwrap();
        let (a, b) = (part(&entries[0]), part(&entries[1]));
        assert_eq!(a.evidence[0].observed_at, "2027-01-15T08:00:00Z");
        assert!(!a.evidence[0].first_observed_at.is_empty());
        assert!(!a.evidence[0].content.is_empty(), "its content is written");
        assert_eq!(b.evidence[0].id, "e2");
        assert!(b.evidence[0].first_observed_at.is_empty());
        let checked = check_parts(&manifest(&entries), &objects, &mut HashSet::new()).unwrap();
        assert_eq!(checked.evidence, 2);
    }

    /// Hosts a and b, each failing on its own evidence (e1, e2), stored.
    async fn two_hosts() -> (tempfile::TempDir, SqliteStore, Objects, Items) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        store
            .insert_batch(vec![evidence("e1", "a"), evidence("e2", "b")])
            .await
            .unwrap();
        let objects = Objects::of(&dir.path().join("snapshots"));
        let fleet = items(vec![failing("a", "e1"), failing("b", "e2")]);
        (dir, store, objects, fleet)
    }

    #[tokio::test]
    async fn results_equal_to_those_digested_before_at_the_same_places_are_not_digested_again() {
        let (_dir, store, objects, _) = two_hosts().await;
        let judged = item(vec![failing("a", "e1"), failing("b", "e2")]);
        let fleet: Items = Arc::new(vec![judged.clone()]);
        let (first, mut reuse) = write(&store, &objects, fleet.clone(), Reuse::default()).await;
        assert_eq!(reuse.hosts.len(), 2);
        let part = |e: &HostEntry| objects.get::<HostPart>(&e.sha256, "x").unwrap();
        assert_eq!(part(&first[0]).evidence[0].id, "e1");
        // What the snapshot before made of a's results is taken while they
        // are the same objects: altered here, it shows in a's part.
        reuse.hosts.get_mut("a").unwrap().cited = vec!["e2".into()];
        let (second, reuse) = write(&store, &objects, fleet, reuse).await;
        assert_eq!(part(&second[0]).evidence[0].id, "e2");
        assert_eq!(second[1], first[1]);
        // Equal results judged again (other objects): not digested again.
        let judged = item(vec![failing("a", "e1"), failing("b", "e2")]);
        let (third, reuse) = write(&store, &objects, Arc::new(vec![judged]), reuse).await;
        assert_eq!(part(&third[0]).evidence[0].id, "e2");
        // Results that changed: digested again.
        let mut changed = failing("a", "e1");
        changed.reason = "TLS 1.1 offered".into();
        let judged = item(vec![changed, failing("b", "e2")]);
        let (fourth, mut reuse) =
            write(&store, &objects, Arc::new(vec![judged.clone()]), reuse).await;
        assert_eq!(part(&fourth[0]).evidence[0].id, "e1");
        assert_ne!(part(&fourth[0]).results, part(&first[0]).results);
        assert_eq!(fourth[1], first[1]);
        // The same results at another row: digested again.
        reuse.hosts.get_mut("a").unwrap().cited = vec!["e2".into()];
        let mut moved = judged.clone();
        moved.rows[0].id = "2.1-2".into();
        let (fifth, _) = write(&store, &objects, Arc::new(vec![moved]), reuse).await;
        assert_eq!(part(&fifth[0]).evidence[0].id, "e1");
        assert_ne!(part(&fifth[0]).results, part(&fourth[0]).results);
    }

    #[tokio::test]
    async fn equal_results_are_one_object_and_what_is_known_is_reused() {
        let (_dir, store, objects, fleet) = two_hosts().await;
        let (first, reuse) = write(&store, &objects, fleet.clone(), Reuse::default()).await;
        // Two parts, one results object both name, two contents (each
        // host's evidence names its host).
        assert_eq!(files(&objects), 5);
        let part = |e: &HostEntry| objects.get::<HostPart>(&e.sha256, "x").unwrap();
        let (a, b) = (part(&first[0]), part(&first[1]));
        assert_eq!(a.results, b.results);
        assert!(matches!(&a.results, PartResults::Object(_)));
        assert_eq!(a.evidence[0].id, "e1");
        assert_eq!(b.evidence[0].id, "e2");
        assert_ne!(a.evidence[0].content, b.evidence[0].content);
        let checked = check_parts(&manifest(&first), &objects, &mut HashSet::new()).unwrap();
        assert_eq!(
            checked,
            PartsChecked {
                hosts: 2,
                evidence: 2
            }
        );

        // Again with what the first wrote: the same parts, and the files
        // they name not marked again (written within `MARK_EVERY`).
        let PartResults::Object(results) = &a.results else {
            unreachable!()
        };
        let mtime = |sha: &str| {
            std::fs::metadata(objects.path(sha))
                .unwrap()
                .modified()
                .unwrap()
        };
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        filetime::set_file_mtime(objects.path(results), past.into()).unwrap();
        let (second, mut reuse) = write(&store, &objects, fleet.clone(), reuse).await;
        assert_eq!(second, first);
        assert_eq!(mtime(results), past);
        assert_eq!(
            (reuse.results.len(), reuse.contents.len(), reuse.parts.len()),
            (1, 2, 2)
        );
        // Marked longer ago: marked again, and written again if gone.
        for k in reuse
            .results
            .values_mut()
            .chain(reuse.contents.values_mut())
        {
            k.marked -= MARK_EVERY;
        }
        std::fs::remove_file(objects.path(results)).unwrap();
        let content = &a.evidence[0].content;
        filetime::set_file_mtime(objects.path(content), past.into()).unwrap();
        let (second, _) = write(&store, &objects, fleet.clone(), reuse).await;
        assert_eq!(second, first);
        assert!(mtime(content) > past);
        check_parts(&manifest(&second), &objects, &mut HashSet::new()).unwrap();
        // Without it (a restart): the same again.
        let (third, _) = write(&store, &objects, fleet, Reuse::default()).await;
        assert_eq!(third, first);
        assert_eq!(files(&objects), 5);
    }

    #[tokio::test]
    async fn what_a_snapshot_wrote_is_kept_for_the_next_run_of_this_build() {
        let (dir, store, objects, fleet) = two_hosts().await;
        let (first, wrote) = write(&store, &objects, fleet.clone(), Reuse::default()).await;
        let kept = dir.path().join("reuse.bin");
        wrote.save(&kept, "s1").unwrap();

        // Another run, the snapshot still stored: nothing read or marked.
        let loaded = Reuse::load(&kept, |id| id == "s1").unwrap();
        assert_eq!(
            (
                loaded.results.len(),
                loaded.contents.len(),
                loaded.parts.len()
            ),
            (1, 2, 2)
        );
        let content = objects
            .get::<HostPart>(&first[0].sha256, "x")
            .unwrap()
            .evidence[0]
            .content
            .clone();
        let mtime = || {
            std::fs::metadata(objects.path(&content))
                .unwrap()
                .modified()
                .unwrap()
        };
        let past = SystemTime::now() - std::time::Duration::from_secs(3600);
        filetime::set_file_mtime(objects.path(&content), past.into()).unwrap();
        let (second, _) = write(&store, &objects, fleet.clone(), loaded).await;
        assert_eq!(second, first);
        assert_eq!(mtime(), past, "the content was not read and put again");
        // Without it, the content is put again (and marked).
        let (third, _) = write(&store, &objects, fleet, Reuse::default()).await;
        assert_eq!(third, first);
        assert!(mtime() > past);

        // Of no use: its snapshot gone, another build's, not one at all.
        let err = Reuse::load(&kept, |_| false).unwrap_err();
        assert!(err.contains("s1, which is no longer stored"), "{err}");
        let other = postcard::to_stdvec(&Saving {
            made_by: "gamsa 0.0.1",
            snapshot: "s1",
            reuse: &wrote,
        })
        .unwrap();
        let with_digest = |mut b: Vec<u8>| {
            let d = Sha256::digest(&b);
            b.extend_from_slice(&d);
            b
        };
        std::fs::write(&kept, with_digest(other)).unwrap();
        let err = Reuse::load(&kept, |_| true).unwrap_err();
        assert!(err.contains("not by this build"), "{err}");
        std::fs::write(&kept, b"\xff\xff\xff").unwrap();
        let err = Reuse::load(&kept, |_| true).unwrap_err();
        assert!(
            err.contains("reuse.bin: not what a snapshot wrote: too short"),
            "{err}"
        );
        // One byte altered: refused, not read as another mapping.
        wrote.save(&kept, "s1").unwrap();
        let mut bytes = std::fs::read(&kept).unwrap();
        bytes[40] ^= 1;
        std::fs::write(&kept, &bytes).unwrap();
        let err = Reuse::load(&kept, |_| true).unwrap_err();
        assert!(err.contains("SHA-256 does not match"), "{err}");
        std::fs::write(&kept, with_digest(vec![0xff; 8])).unwrap();
        let err = Reuse::load(&kept, |_| true).unwrap_err();
        assert!(err.contains("not what a snapshot wrote"), "{err}");
        std::fs::remove_file(&kept).unwrap();
        let none = Reuse::load(&kept, |_| true).unwrap();
        assert!(none.contents.is_empty() && none.results.is_empty());
    }

    #[test]
    fn hosts_are_named_a_thousand_to_an_index_each_checked_against_its_name() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::of(dir.path());
        let entries: Vec<HostEntry> = (0..HOSTS_PER_INDEX * 2 + 5)
            .map(|i| HostEntry {
                host: format!("h{i:05}"),
                sha256: format!("{i:064x}"),
                bytes: 1,
            })
            .collect();
        let index = write_index(&entries, &objects).unwrap();
        let counts: Vec<u64> = index.iter().map(|i| i.hosts).collect();
        assert_eq!(counts, [1000, 1000, 5]);
        let body = json!({ "hostIndex": index });
        let (read, indexes) = host_entries(&body, &objects).unwrap();
        assert_eq!(read, entries);
        assert_eq!(indexes.len(), 3);
        assert_eq!(
            write_index(&entries, &objects).unwrap(),
            index,
            "the same hosts, the same files"
        );
        // The format-2 manifest names its hosts itself.
        let (read, indexes) = host_entries(&manifest(&entries[..3]), &objects).unwrap();
        assert_eq!((read.len(), indexes.len()), (3, 0));

        let mut wrong = index.clone();
        wrong[2].hosts = 4;
        let e = host_entries(&json!({ "hostIndex": wrong }), &objects).unwrap_err();
        assert!(
            e.to_string()
                .contains("naming 5 hosts, where the manifest says 4"),
            "{e}"
        );
        let twice = json!({ "hostIndex": [index[0].clone(), index[0].clone()] });
        let e = host_entries(&twice, &objects).unwrap_err().to_string();
        assert!(e.contains("host \"h00000\" named after \"h00999\""), "{e}");
        std::fs::write(objects.path(&index[1].sha256), "{}").unwrap();
        let e = host_entries(&body, &objects).unwrap_err().to_string();
        assert!(e.contains("altered") && e.contains("host index 2"), "{e}");
    }

    #[test]
    fn parts_of_either_format_are_checked_and_positions_stay_in_their_part() {
        let dir = tempfile::tempdir().unwrap();
        let objects = Objects::of(dir.path());
        let content = objects.put(&json!({"probe": "tls"})).unwrap().0;
        let cite = |id: &str| EvidenceRef {
            id: id.into(),
            observed_at: "2026-12-04T00:00:00Z".into(),
            first_observed_at: String::new(),
            content: content.clone(),
        };
        fn result<E>(evidence: Vec<E>) -> PartResult<E> {
            PartResult {
                catalog: "c".into(),
                item: "2.1".into(),
                row: "2.1-1".into(),
                outcome: "FAIL".into(),
                reason: "r".into(),
                detail: vec![],
                evidence,
            }
        }
        let entry = |part: &HostPart| {
            let (sha256, bytes) = objects.put(part).unwrap();
            HostEntry {
                host: part.host.clone(),
                sha256,
                bytes,
            }
        };
        let check =
            |part: &HostPart| check_parts(&manifest(&[entry(part)]), &objects, &mut HashSet::new());
        // Format 1: results inline, citing by id.
        let mut v1 = HostPart {
            format: HOST_FORMAT_1.into(),
            host: "a".into(),
            results: PartResults::Inline(vec![result(vec!["e1".to_string()])]),
            evidence: vec![cite("e1")],
        };
        assert_eq!(check(&v1).unwrap().hosts, 1);
        v1.format = HOST_FORMAT.into();
        assert!(check(&v1).unwrap_err().to_string().contains("format"));
        // Format 2: a position past the part's evidence is refused.
        let past = objects
            .put(&Results {
                format: RESULTS_FORMAT.into(),
                results: vec![result(vec![1])],
            })
            .unwrap()
            .0;
        let mut v2 = HostPart {
            format: HOST_FORMAT.into(),
            host: "a".into(),
            results: PartResults::Object(past),
            evidence: vec![cite("e1")],
        };
        let e = check(&v2).unwrap_err().to_string();
        assert!(e.contains("citing evidence Some(1) of the part's 1"), "{e}");
        v2.evidence.push(cite("e2"));
        assert_eq!(
            check(&v2).unwrap(),
            PartsChecked {
                hosts: 1,
                evidence: 1
            }
        );
    }
}
