//! Catalogs and rules loaded together, and evaluated against the store:
//! "for every item of every catalog, is it met, on which hosts, by which
//! evidence, as of when".

use crate::catalog::{self, Catalog, Group};
use crate::rules::evaluate::Evaluator;
use crate::rules::input::HostFacts;
use crate::rules::{self, Rule};
use crate::store::Store;
use crate::verdict::ItemResult;
use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

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
}

impl Checklists {
    /// Built-in catalogs and rules, plus catalogs from `extra_dirs`.
    pub fn load(extra_dirs: &[PathBuf]) -> anyhow::Result<Self> {
        let rules = rules::built_in()?;
        let names: HashSet<String> = rules.keys().cloned().collect();
        let catalogs = catalog::load_all(extra_dirs, &names)?;
        Ok(Self { catalogs, rules })
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
    pub async fn evaluate(
        &self,
        store: &dyn Store,
        catalog_ids: &[&str],
        group: Option<&str>,
    ) -> anyhow::Result<Vec<ItemResult>> {
        let agents = store.list_agents().await?;
        let mut latest = store.latest_evidence().await?;
        // A revoked agent's evidence stops counting from its revocation on;
        // it stays in the store, for history and for snapshots taken before.
        let revoked: HashSet<String> = agents
            .iter()
            .filter(|a| a.revoked)
            .map(|a| a.agent_id.clone())
            .collect();
        latest.retain(|e| !revoked.contains(&e.agent_id));
        let known: BTreeMap<String, HostFacts> = agents
            .into_iter()
            .filter(|a| !a.revoked && !a.host.is_empty())
            .map(|a| {
                (
                    a.host.clone(),
                    HostFacts {
                        agent_id: a.agent_id,
                        labels: a.labels,
                    },
                )
            })
            .collect();
        let documents = store.documents().await?;
        let now = crate::clock::now_ms();
        let mut eval = Evaluator::new(&self.rules, &latest, &known, &documents, now);
        let mut out = Vec::new();
        for c in &self.catalogs {
            if catalog_ids.is_empty() || catalog_ids.contains(&c.catalog.id.as_str()) {
                out.extend(eval.catalog(c, group));
            }
        }
        Ok(out)
    }
}
