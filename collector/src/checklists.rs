//! Catalogs and rules loaded together, and evaluated against the store:
//! "for every item of every catalog, is it met, on which hosts, by which
//! evidence, as of when".

use crate::catalog::{self, Catalog, Group};
use crate::expectations::{Expectation, Expectations};
use crate::records::Documents;
use crate::rules::evaluate::{Evaluator, Judged};
use crate::rules::input::{self, Converted, HostFacts};
use crate::rules::{self, Rule};
use crate::store::{AgentRecord, EvidenceStamp, LatestPages, Store};
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
    /// Taken from the earlier read: the same evidence, seen again.
    pub reused: usize,
    /// Read whole and converted.
    pub converted: usize,
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
        mut stamps: Option<&mut HashMap<String, EvidenceStamp>>,
    ) -> anyhow::Result<Vec<Converted>> {
        let keep = Arc::new(input::kept_fields(self.rules.values()));
        let mut out = Vec::new();
        let mut pages = LatestPages::new(LATEST_PAGE);
        while let Some(page) = pages.next(store).await? {
            let mut evidence = Vec::with_capacity(page.len());
            for s in page {
                if let Some(stamps) = stamps.as_deref_mut() {
                    if s.stamp.content_hash.is_some() {
                        stamps.insert(s.evidence.id.clone(), s.stamp);
                    }
                }
                evidence.push(s.evidence);
            }
            let (keep, payloads) = (keep.clone(), self.payloads.clone());
            out.extend(
                crate::rules::in_background(move || {
                    input::convert(&evidence, Some(&keep), &payloads)
                })
                .await
                .ok_or_else(|| anyhow::anyhow!("converting evidence failed"))?,
            );
        }
        self.payloads.forget_unused();
        Ok(out)
    }

    /// As `read_latest`, taking from `earlier` (the latest evidence an
    /// earlier read converted, by id) every evidence it converted: only
    /// what is new since is read whole and converted. Most of a fleet's
    /// observations are the same evidence seen again (a run, `store/runs.rs`),
    /// so a read under ingest reads the few changed bodies, not every
    /// host's package list. The latest set is walked as stamps (ids and
    /// times, `Store::latest_stamps_page`) instead.
    ///
    /// Also returns the stamps it walked (`EvidenceStamp`, with the hash
    /// the content is stored under), by id: what a snapshot of this reading
    /// cites without reading them again. The first read (nothing `earlier`)
    /// reads whole, with the stamps beside.
    pub async fn read_latest_reusing(
        &self,
        store: &dyn Store,
        mut earlier: HashMap<String, Converted>,
    ) -> anyhow::Result<(Vec<Converted>, HashMap<String, EvidenceStamp>, LatestRead)> {
        let mut stamps = HashMap::new();
        if earlier.is_empty() {
            let out = self.read_latest_into(store, Some(&mut stamps)).await?;
            let read = LatestRead {
                reused: 0,
                converted: out.len(),
            };
            return Ok((out, stamps, read));
        }
        let keep = Arc::new(input::kept_fields(self.rules.values()));
        let mut out = Vec::new();
        let mut read = LatestRead::default();
        let mut pages = LatestPages::new(LATEST_PAGE);
        while let Some(page) = pages.next_stamps(store).await? {
            let mut slots: Vec<Option<Converted>> = Vec::with_capacity(page.len());
            // Evidence not read before: by id, where its slot is.
            let mut new: HashMap<String, usize> = HashMap::new();
            let mut whole = Vec::new();
            for s in page {
                let EvidenceStamp {
                    evidence: ev,
                    content_hash,
                } = s.stamp;
                match earlier.remove(&ev.id) {
                    Some(mut c) => {
                        c.seen_again(&ev);
                        slots.push(Some(c));
                    }
                    None => {
                        new.insert(ev.id.clone(), slots.len());
                        slots.push(None);
                    }
                }
                match content_hash {
                    Some(hash) => {
                        let id = ev.id.clone();
                        stamps.insert(
                            id,
                            EvidenceStamp {
                                evidence: ev,
                                content_hash: Some(hash),
                            },
                        );
                    }
                    // A row stored whole before deduplication has its
                    // content in its stamp.
                    None if new.contains_key(&ev.id) => whole.push(ev),
                    None => {}
                }
            }
            read.reused += slots.len() - new.len();
            if !new.is_empty() {
                let held: HashSet<&str> = whole.iter().map(|e| e.id.as_str()).collect();
                let wanted: Vec<String> = new
                    .keys()
                    .filter(|id| !held.contains(id.as_str()))
                    .cloned()
                    .collect();
                let mut fresh = store.evidence_by_ids(wanted).await?;
                fresh.extend(whole);
                let (keep, payloads) = (keep.clone(), self.payloads.clone());
                let converted = crate::rules::in_background(move || {
                    input::convert(&fresh, Some(&keep), &payloads)
                })
                .await
                .ok_or_else(|| anyhow::anyhow!("converting evidence failed"))?;
                read.converted += converted.len();
                for c in converted {
                    if let Some(&slot) = new.get(&c.evidence.id) {
                        slots[slot] = Some(c);
                    }
                }
            }
            for (slot, c) in slots.into_iter().enumerate() {
                out.push(c.ok_or_else(|| {
                    let id = new.iter().find(|(_, s)| **s == slot).map(|(id, _)| id);
                    anyhow::anyhow!(
                        "evidence {} of the latest set was not found when read by id (removed while read); the next read reads it again",
                        id.map_or("?", |id| id.as_str())
                    )
                })?);
            }
        }
        // What the earlier reading held and this one did not take.
        crate::rules::free_in_background("evidence no longer latest", earlier);
        self.payloads.forget_unused();
        Ok((out, stamps, read))
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
fn known_hosts(agents: &[AgentRecord]) -> BTreeMap<String, HostFacts> {
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
