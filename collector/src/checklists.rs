//! Catalogs and rules loaded together, and evaluated against the store:
//! "for every item of every catalog, is it met, on which hosts, by which
//! evidence, as of when".

use crate::catalog::{self, Catalog, Group};
use crate::expectations::{Expectation, Expectations};
use crate::records::Documents;
use crate::rules::evaluate::Evaluator;
use crate::rules::input::{self, Converted, HostFacts};
use crate::rules::{self, Rule};
use crate::store::{AgentRecord, LatestPages, Store};
use crate::verdict::ItemResult;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Latest evidence read from the store at a time (`read_latest`).
const LATEST_PAGE: u32 = 2_000;

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
        Ok(self.evaluate_with(&latest, &agents, &documents, catalog_ids, group, now))
    }

    /// The latest evidence of every (host, probe, subject) as the rules
    /// read it (`input::Converted`): read and converted a page at a time,
    /// so that the fleet's evidence bodies (about 1.4 GB of JSON for 10,000
    /// real hosts) are never held at once.
    pub async fn read_latest(&self, store: &dyn Store) -> anyhow::Result<Vec<Converted>> {
        let keep = Arc::new(input::kept_fields(self.rules.values()));
        let mut out = Vec::new();
        let mut pages = LatestPages::new(LATEST_PAGE);
        while let Some(page) = pages.next(store).await? {
            let keep = keep.clone();
            out.extend(
                crate::rules::in_background(move || input::convert(&page, Some(&keep)))
                    .await
                    .ok_or_else(|| anyhow::anyhow!("converting evidence failed"))?,
            );
        }
        Ok(out)
    }

    /// Evaluates `catalog_ids` (all when empty) at `now_ms` on what was
    /// read from the store: the latest evidence that counts (`counted`),
    /// the agents and the documents.
    pub fn evaluate_with(
        &self,
        latest: &[Converted],
        agents: &[AgentRecord],
        documents: &Documents,
        catalog_ids: &[&str],
        group: Option<&str>,
        now_ms: i64,
    ) -> Vec<ItemResult> {
        let known: BTreeMap<String, HostFacts> = agents
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
            .collect();
        let mut eval = Evaluator::new(
            &self.rules,
            &self.expectations,
            latest,
            &known,
            documents,
            now_ms,
        );
        let mut out = Vec::new();
        for c in &self.catalogs {
            if catalog_ids.is_empty() || catalog_ids.contains(&c.catalog.id.as_str()) {
                out.extend(eval.catalog(c, group));
            }
        }
        out
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
/// snapshots taken before.
pub fn counted(latest: &mut Vec<Converted>, agents: &[AgentRecord]) {
    let revoked: HashSet<&str> = agents
        .iter()
        .filter(|a| a.revoked)
        .map(|a| a.agent_id.as_str())
        .collect();
    latest.retain(|c| !revoked.contains(c.evidence.agent_id.as_str()));
}
