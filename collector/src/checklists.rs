//! Catalogs and rules loaded together, and evaluated against the store:
//! "for every item of every catalog, is it met, on which hosts, by which
//! evidence, as of when".

use crate::catalog::{self, Catalog, Group};
use crate::expectations::{Expectation, Expectations};
use crate::records::Documents;
use crate::rules::evaluate::{Evaluator, Judged};
use crate::rules::input::{self, Converted, HostFacts};
use crate::rules::{self, Rule};
use crate::store::{
    AgentRecord, EvidenceStamp, LatestKey, LatestMark, LatestPages, LatestStamp, Store,
};
use crate::verdict::ItemResult;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Latest evidence read from the store at a time (`read_latest`).
const LATEST_PAGE: u32 = 2_000;

/// How a read of the latest evidence came by it (`read_latest_reusing`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LatestRead {
    /// Rows of the latest set read from the store: those changed since the
    /// reading before, or every row for a first reading.
    pub changed: usize,
    /// Taken from the reading before: unchanged, or the same evidence seen
    /// again.
    pub reused: usize,
    /// Read whole and converted.
    pub converted: usize,
}

/// The stamps of a reading's evidence whose content is stored by its hash,
/// by id: what a snapshot of it cites. A persistent map, so that each
/// evaluation keeps its own while sharing all that did not change with the
/// one before: a copy costs nothing and an update a few small nodes, where
/// copying 170,000 stamps every evaluation took a third of a second.
pub type Stamps = imbl::HashMap<String, Arc<EvidenceStamp>>;

/// A reading of the latest evidence, kept for the next one
/// (`Checklists::read_latest_reusing`).
#[derive(Default)]
pub struct Reading {
    /// Every latest evidence converted, in key order (host, probe,
    /// subject, bytewise, as the store orders them).
    pub latest: Vec<Converted>,
    /// The stamps of those whose content is stored by its hash, by id.
    pub stamps: Arc<Stamps>,
    /// Where the store's latest set stood when read; None: nothing read.
    pub mark: Option<LatestMark>,
}

impl Reading {
    /// Puts `latest` back in key order after evidence was taken out of it
    /// and put back at the end (`counted`).
    pub fn in_key_order(mut self) -> Self {
        if !self.latest.is_sorted_by(|a, b| key_of(a) <= key_of(b)) {
            self.latest.sort_by(|a, b| key_of(a).cmp(&key_of(b)));
        }
        self
    }
}

/// A converted evidence's key in the latest set.
fn key_of(c: &Converted) -> (&str, &str, &str) {
    let e = &c.evidence;
    (&e.host, &e.probe, &e.subject)
}

fn latest_key(k: &LatestKey) -> (&str, &str, &str) {
    (&k.host, &k.probe, &k.subject)
}

/// `earlier` brought up to date by `changes`, the new
/// evidence among them in `converted`: a change to the evidence read
/// before is that evidence seen again; any other takes its key's place.
/// In place: a reading is a large vector (an evidence without its payload
/// still takes over a kilobyte), which only a new key makes it move.
fn merged(
    earlier: Reading,
    changes: Vec<LatestStamp>,
    converted: Vec<Converted>,
    mark: LatestMark,
) -> anyhow::Result<(Reading, LatestRead)> {
    let Reading {
        mut latest, stamps, ..
    } = earlier;
    let mut read = LatestRead {
        changed: changes.len(),
        converted: converted.len(),
        reused: 0,
    };
    let mut fresh: HashMap<String, Converted> = converted
        .into_iter()
        .map(|c| (c.evidence.id.clone(), c))
        .collect();
    let mut take = |id: &str| {
        fresh.remove(id).ok_or_else(|| {
            anyhow::anyhow!(
                "evidence {id} of the latest set was not found when read by id (removed while read); the next read reads it again"
            )
        })
    };
    let mut stamps = Arc::unwrap_or_clone(stamps);
    let (mut added, mut gone) = (Vec::new(), Vec::new());
    for change in changes {
        let ev = change.stamp.evidence;
        let at = latest.binary_search_by(|c| key_of(c).cmp(&latest_key(&change.key)));
        match at {
            Ok(i) if latest[i].evidence.id == ev.id => latest[i].seen_again(&ev),
            Ok(i) => {
                let prior = std::mem::replace(&mut latest[i], take(&ev.id)?);
                stamps.remove(&prior.evidence.id);
                gone.push(prior);
            }
            Err(_) => added.push(take(&ev.id)?),
        }
        if let Some(hash) = change.stamp.content_hash {
            let stamp = EvidenceStamp {
                evidence: ev,
                content_hash: Some(hash),
            };
            stamps.insert(stamp.evidence.id.clone(), Arc::new(stamp));
        }
    }
    if !added.is_empty() {
        // Two runs in key order: the sort merges them.
        latest.append(&mut added);
        latest.sort_by(|a, b| key_of(a).cmp(&key_of(b)));
    }
    read.reused = latest.len().saturating_sub(read.converted);
    // On the background thread it runs on: never a request's.
    drop(gone);
    let stamps = Arc::new(stamps);
    let mark = Some(mark);
    Ok((
        Reading {
            latest,
            stamps,
            mark,
        },
        read,
    ))
}

/// A catalog or applicant group a request names that does not exist.
#[derive(Debug, thiserror::Error)]
pub enum UnknownChoice {
    #[error("catalog {id}: unknown (known: {known})")]
    Catalog { id: String, known: String },
    #[error("group {group}: {catalog} has no such applicant group (known: {known})")]
    Group {
        group: String,
        catalog: String,
        known: String,
    },
}

pub struct Checklists {
    pub catalogs: Vec<Catalog>,
    pub rules: BTreeMap<String, Arc<Rule>>,
    /// Which hosts each rule is about (`[[expectations]]`).
    pub expectations: Expectations,
    /// Payloads converted for the readings of the latest evidence, each
    /// once for every host that reported it (`input::Payloads`).
    pub payloads: Arc<input::Payloads>,
}

impl Checklists {
    /// Built-in catalogs and rules, plus catalogs from `extra_dirs`.
    pub fn load(extra_dirs: &[PathBuf]) -> anyhow::Result<Self> {
        let rules = rules::built_in()?;
        let catalogs = catalog::load_all(extra_dirs, &rules::reach(&rules))?;
        let expectations = Expectations::new(rules::expectation_defaults(&rules), &[])
            .map_err(anyhow::Error::msg)?;
        Ok(Self {
            catalogs,
            rules,
            expectations,
            payloads: Arc::default(),
        })
    }

    /// These checklists with the configured expectations.
    pub fn expecting(mut self, configured: &[Expectation]) -> anyhow::Result<Self> {
        self.expectations = Expectations::new(rules::expectation_defaults(&self.rules), configured)
            .map_err(anyhow::Error::msg)?;
        Ok(self)
    }

    pub fn catalog(&self, id: &str) -> Option<&Catalog> {
        self.catalogs.iter().find(|c| c.catalog.id == id)
    }

    /// The catalog `id` and, when `group` is given, that applicant group
    /// of it; an error lists what there is.
    pub fn choose(
        &self,
        id: &str,
        group: Option<&str>,
    ) -> Result<(&Catalog, Option<&Group>), UnknownChoice> {
        let list = |ids: Vec<&str>| {
            if ids.is_empty() {
                "none".to_string()
            } else {
                ids.join(", ")
            }
        };
        let catalog = self.catalog(id).ok_or_else(|| UnknownChoice::Catalog {
            id: id.into(),
            known: list(
                self.catalogs
                    .iter()
                    .map(|c| c.catalog.id.as_str())
                    .collect(),
            ),
        })?;
        let group = group
            .map(|g| {
                catalog.group(g).ok_or_else(|| UnknownChoice::Group {
                    group: g.into(),
                    catalog: id.into(),
                    known: list(catalog.groups.iter().map(|g| g.id.as_str()).collect()),
                })
            })
            .transpose()?;
        Ok((catalog, group))
    }

    /// Evaluates `catalog_ids` (all when empty) against the store now.
    /// Pages and the API read the kept evaluation (`evaluation.rs`)
    /// instead; this is for what must be exact as of its own moment
    /// (snapshots, exports, the command line).
    pub async fn evaluate(
        &self,
        store: &dyn Store,
        catalog_ids: &[&str],
        group: Option<&str>,
    ) -> anyhow::Result<Vec<ItemResult>> {
        let agents = store.list_agents().await?;
        let mut latest = self.read_latest(store).await?;
        counted(&mut latest, &agents);
        let documents = store.documents().await?;
        let now = crate::clock::now_ms();
        let chosen = (catalog_ids, group);
        let none = Judged::default();
        Ok(self
            .evaluate_with(&latest, &agents, &documents, now, chosen, &none)
            .0)
    }

    /// The latest evidence of every (host, probe, subject) as the rules
    /// read it (`input::Converted`): read and converted a page at a time,
    /// so that the fleet's evidence bodies (about 1.4 GB of JSON for 10,000
    /// real hosts) are never held at once.
    pub async fn read_latest(&self, store: &dyn Store) -> anyhow::Result<Vec<Converted>> {
        self.read_latest_into(store, None).await
    }

    /// `read_latest`, keeping in `stamps` (if given) the stamp of each
    /// evidence whose content is stored by its hash, by id.
    async fn read_latest_into(
        &self,
        store: &dyn Store,
        mut stamps: Option<&mut Stamps>,
    ) -> anyhow::Result<Vec<Converted>> {
        let keep = Arc::new(input::kept_fields(self.rules.values()));
        let mut out = Vec::new();
        let mut pages = LatestPages::new(LATEST_PAGE);
        while let Some(page) = pages.next(store).await? {
            let mut evidence = Vec::with_capacity(page.len());
            for s in page {
                if let Some(stamps) = stamps.as_deref_mut() {
                    if s.stamp.content_hash.is_some() {
                        stamps.insert(s.evidence.id.clone(), Arc::new(s.stamp));
                    }
                }
                evidence.push((s.evidence, s.payload));
            }
            let (keep, payloads) = (keep.clone(), self.payloads.clone());
            out.extend(
                crate::rules::in_background(move || {
                    input::convert_split(&evidence, Some(&keep), &payloads)
                })
                .await
                .ok_or_else(|| anyhow::anyhow!("converting evidence failed"))?
                .map_err(|e| anyhow::anyhow!("reading the latest evidence: {e}"))?,
            );
        }
        self.payloads.forget_unused();
        Ok(out)
    }

    /// As `read_latest`, from `earlier` (the reading before, kept): only
    /// the rows of the latest set that changed since it (`Store::
    /// latest_changes`) are read, and of those only new evidence is read
    /// whole and converted. Most of a fleet's observations are the same
    /// evidence seen again (a run, `store/runs.rs`), which only moves its
    /// times; the rest of the fleet did not change at all. So a read under
    /// ingest reads the stamps of what was observed since and the few
    /// changed bodies, not every host's 17 rows and package list. The
    /// reading carries the stamps (`EvidenceStamp`, with the hash the
    /// content is stored under), by id: what a snapshot of it cites
    /// without reading them again. The first read (nothing `earlier`)
    /// walks the whole latest set.
    pub async fn read_latest_reusing(
        &self,
        store: &dyn Store,
        earlier: Reading,
    ) -> anyhow::Result<(Reading, LatestRead)> {
        let Some(since) = earlier.mark else {
            // Marked before the walk: what it misses, the next read gets.
            let mark = store.latest_mark().await?;
            let mut stamps = Stamps::new();
            let latest = self.read_latest_into(store, Some(&mut stamps)).await?;
            let read = LatestRead {
                changed: latest.len(),
                reused: 0,
                converted: latest.len(),
            };
            let stamps = Arc::new(stamps);
            let mark = Some(mark);
            return Ok((
                Reading {
                    latest,
                    stamps,
                    mark,
                },
                read,
            ));
        };
        let started = std::time::Instant::now();
        let (changes, mark) = store.latest_changes(since).await?;
        let queried = started.elapsed();
        // The changes whose evidence is not the one read before: read whole
        // (a row stored whole before deduplication has it in its stamp).
        let (mut wanted, mut whole) = (Vec::new(), Vec::new());
        for c in &changes {
            let before = earlier
                .latest
                .binary_search_by(|e| key_of(e).cmp(&latest_key(&c.key)))
                .ok()
                .map(|i| earlier.latest[i].evidence.id.as_str());
            if before != Some(c.stamp.evidence.id.as_str()) {
                match c.stamp.content_hash {
                    Some(_) => wanted.push(c.stamp.evidence.id.clone()),
                    None => whole.push(c.stamp.evidence.clone()),
                }
            }
        }
        let mut fresh = store.evidence_by_ids(wanted).await?;
        fresh.extend(whole);
        let fetched = started.elapsed();
        let keep = input::kept_fields(self.rules.values());
        let payloads = self.payloads.clone();
        let (reading, read) = crate::rules::in_background(move || {
            let converted = input::convert(&fresh, Some(&keep), &payloads);
            drop(fresh);
            merged(earlier, changes, converted, mark)
        })
        .await
        .ok_or_else(|| anyhow::anyhow!("converting evidence failed"))??;
        self.payloads.forget_unused();
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::debug!(
            changed = read.changed,
            converted = read.converted,
            changes_ms = ms(queried),
            bodies_ms = ms(fetched - queried),
            merge_ms = ms(started.elapsed() - fetched),
            "latest changes read"
        );
        Ok((reading, read))
    }

    /// Evaluates the catalogs `chosen` (their ids, all when none, and an
    /// applicant group) at `now_ms` on what was read from the store: the
    /// latest evidence that counts (`counted`), the agents and the
    /// documents. Host results are taken from `previous` where nothing they
    /// read changed (`Judged`); returns the items and what this
    /// evaluation's host rules gave, for the next.
    pub fn evaluate_with(
        &self,
        latest: &[Converted],
        agents: &[AgentRecord],
        documents: &Documents,
        now_ms: i64,
        (catalog_ids, group): (&[&str], Option<&str>),
        previous: &Judged,
    ) -> (Vec<ItemResult>, Judged) {
        let known = known_hosts(agents);
        let mut eval = Evaluator::new(
            &self.rules,
            &self.expectations,
            latest,
            &known,
            documents,
            now_ms,
            previous,
        );
        let items = self
            .catalogs
            .iter()
            .filter(|c| catalog_ids.is_empty() || catalog_ids.contains(&c.catalog.id.as_str()))
            .flat_map(|c| eval.catalog(c, group))
            .collect();
        (items, eval.into_judged())
    }

    /// Every freshness window an evaluation judges evidence by: each
    /// catalog's, each item's and each rule's own.
    pub fn freshness_windows(&self) -> BTreeSet<Duration> {
        let catalogs = self.catalogs.iter().flat_map(|c| {
            std::iter::once(c.catalog.freshness).chain(c.items.iter().filter_map(|i| i.freshness))
        });
        let rules = self.rules.values().filter_map(|r| r.def.freshness);
        catalogs.chain(rules).collect()
    }
}

/// Leaves out of `latest` the evidence of revoked agents: it stops counting
/// from the revocation on, and stays in the store, for history and for
/// snapshots taken before. Returns what it left out.
pub fn counted(latest: &mut Vec<Converted>, agents: &[AgentRecord]) -> Vec<Converted> {
    let revoked: HashSet<&str> = agents
        .iter()
        .filter(|a| a.revoked)
        .map(|a| a.agent_id.as_str())
        .collect();
    latest
        .extract_if(.., |c| revoked.contains(c.evidence.agent_id.as_str()))
        .collect()
}

/// The hosts of the agents that count (not revoked, with a host name).
pub(crate) fn known_hosts(agents: &[AgentRecord]) -> BTreeMap<String, HostFacts> {
    agents
        .iter()
        .filter(|a| !a.revoked && !a.host.is_empty())
        .map(|a| {
            (
                a.host.clone(),
                HostFacts {
                    agent_id: a.agent_id.clone(),
                    labels: a.labels.clone(),
                },
            )
        })
        .collect()
}
