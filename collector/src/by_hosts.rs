//! The fleet evaluated from the store a range of hosts at a time
//! (`rules::hostwise`), for what has no kept evaluation to read and must
//! stay small: `snapshot create` with the collector stopped and nothing
//! prepared. Each range's hosts, with their results, are handed out to be
//! written and dropped; the verdicts come at the end. Memory is one
//! range's evidence and results, and the fleet rules' results.

use crate::checklists::{known_hosts, Checklists, Stamps};
use crate::records::Documents;
use crate::rules::hostwise::{self, Hostwise, Setting, Whole};
use crate::rules::input::{self, HostFacts};
use crate::store::{LatestPages, Stamped, Store};
use crate::verdict::{HostCounts, ItemResult};
use anyhow::Context;
use std::collections::{BTreeMap, HashSet};
use std::ops::Bound;
use std::sync::Arc;

/// Latest evidence read from the store at a time.
const PAGE: u32 = 2_000;

/// Hosts evaluated at a time: about 8,500 evidence of real hosts and
/// 50,000 host results.
pub const HOSTS_PER_RANGE: usize = 500;

/// A walk of the fleet by ranges of hosts.
pub struct ByHosts {
    checklists: Arc<Checklists>,
    documents: Arc<Documents>,
    known: Arc<BTreeMap<String, HostFacts>>,
    revoked: Arc<HashSet<String>>,
    keep: Arc<HashSet<String>>,
    now_ms: i64,
    hosts_per_range: usize,
    pages: LatestPages,
    /// Evidence read and not yet evaluated, in host order.
    held: Vec<Stamped>,
    /// Where the next range starts (None: at the first host).
    from: Option<String>,
    /// Between ranges; taken while one is evaluated.
    state: Option<Hostwise>,
    done: bool,
}

/// One range of hosts: the items with these hosts' results (not the
/// fleet's verdicts), and the stamps of their evidence stored by hash.
pub struct Range {
    pub items: Vec<ItemResult>,
    pub stamps: Stamps,
}

/// The walk's end: the fleet's items without host results, how many of
/// each item's hosts had each outcome, and the documents the verdicts read.
pub struct Evaluated {
    pub items: Vec<ItemResult>,
    pub host_counts: Vec<HostCounts>,
    pub documents: Arc<Documents>,
    /// The time it was evaluated at.
    pub now_ms: i64,
}

impl Evaluated {
    /// When it was evaluated, as a snapshot says it.
    pub fn as_of(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.now_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl ByHosts {
    /// Reads the agents and documents and evaluates the fleet rules over
    /// their probes' evidence; or says why the fleet is to be evaluated
    /// whole.
    pub async fn start(
        checklists: Arc<Checklists>,
        store: &dyn Store,
        hosts_per_range: usize,
    ) -> anyhow::Result<Result<Self, Whole>> {
        let agents = store.list_agents().await?;
        let documents = Arc::new(store.documents().await?);
        let now_ms = crate::clock::now_ms();
        let known = Arc::new(known_hosts(&agents));
        let revoked: Arc<HashSet<String>> = Arc::new(
            agents
                .iter()
                .filter(|a| a.revoked)
                .map(|a| a.agent_id.clone())
                .collect(),
        );
        let keep = Arc::new(input::kept_fields(checklists.rules.values()));
        let mut fleet = store
            .latest_evidence_of_probes(hostwise::fleet_probes(&checklists.rules))
            .await?;
        fleet.retain(|e| !revoked.contains(&e.agent_id));
        let (c, d, k, kf) = (
            checklists.clone(),
            documents.clone(),
            known.clone(),
            keep.clone(),
        );
        let state = crate::rules::in_background(move || {
            let converted = input::convert(&fleet, Some(&kf), &c.payloads);
            drop(fleet);
            Hostwise::new(&setting(&c, &d, now_ms), &converted, &k)
        })
        .await
        .context("evaluating the fleet rules failed")?;
        checklists.payloads.forget_unused();
        let state = match state {
            Ok(state) => state,
            Err(whole) => return Ok(Err(whole)),
        };
        Ok(Ok(Self {
            checklists,
            documents,
            known,
            revoked,
            keep,
            now_ms,
            hosts_per_range: hosts_per_range.max(1),
            pages: LatestPages::new(PAGE),
            held: Vec::new(),
            from: None,
            state: Some(state),
            done: false,
        }))
    }

    /// The next range of hosts, evaluated; None when every host was.
    pub async fn next(&mut self, store: &dyn Store) -> anyhow::Result<Option<Range>> {
        if self.done {
            return Ok(None);
        }
        // The evidence of the next `hosts_per_range` hosts, and where the
        // host after them starts (what is left waits for the next range).
        let (evidence, to) = loop {
            if let Some(at) = start_of_host(&self.held, self.hosts_per_range) {
                let rest = self.held.split_off(at);
                let to = rest[0].evidence.host.clone();
                break (std::mem::replace(&mut self.held, rest), Some(to));
            }
            match self.pages.next(store).await? {
                Some(page) => self.held.extend(page),
                None => {
                    self.done = true;
                    break (std::mem::take(&mut self.held), None);
                }
            }
        };
        let from = std::mem::replace(&mut self.from, to.clone());
        let bounds = (
            from.clone().map_or(Bound::Unbounded, Bound::Included),
            to.clone().map_or(Bound::Unbounded, Bound::Excluded),
        );
        let known: BTreeMap<String, HostFacts> = self
            .known
            .range::<String, _>(bounds)
            .map(|(h, f)| (h.clone(), f.clone()))
            .collect();
        if self.done && evidence.is_empty() && known.is_empty() {
            return Ok(None);
        }
        let mut stamps = Stamps::new();
        let mut split = Vec::with_capacity(evidence.len());
        for s in evidence {
            if self.revoked.contains(&s.evidence.agent_id) {
                continue;
            }
            if s.stamp.content_hash.is_some() {
                stamps.insert(s.evidence.id.clone(), Arc::new(s.stamp));
            }
            split.push((s.evidence, s.payload));
        }
        let mut state = self.state.take().context("an earlier range failed")?;
        let (c, d, keep, now_ms) = (
            self.checklists.clone(),
            self.documents.clone(),
            self.keep.clone(),
            self.now_ms,
        );
        let evaluated = crate::rules::in_background(move || {
            let converted = input::convert_split(&split, Some(&keep), &c.payloads)?;
            drop(split);
            let range = (from.as_deref(), to.as_deref());
            let items = state.range(&setting(&c, &d, now_ms), &converted, &known, range);
            Ok::<_, String>((items, state))
        })
        .await
        .context("evaluating a range of hosts failed")?;
        self.checklists.payloads.forget_unused();
        let (items, state) =
            evaluated.map_err(|e| anyhow::anyhow!("reading the latest evidence: {e}"))?;
        self.state = Some(state);
        Ok(Some(Range { items, stamps }))
    }

    /// The fleet's verdicts, once every range was evaluated; or why they
    /// are not the whole evaluation's.
    pub fn finish(self) -> anyhow::Result<Result<Evaluated, Whole>> {
        anyhow::ensure!(self.done, "the walk of the fleet's hosts is not done");
        let state = self.state.context("an earlier range failed")?;
        let setting = setting(&self.checklists, &self.documents, self.now_ms);
        Ok(state
            .finish(&setting)
            .map(|(items, host_counts)| Evaluated {
                items,
                host_counts,
                documents: self.documents.clone(),
                now_ms: self.now_ms,
            }))
    }
}

/// Where the host after the first `n` hosts of `evidence` (in host order)
/// starts, if there is one.
fn start_of_host(evidence: &[Stamped], n: usize) -> Option<usize> {
    let mut hosts = 0;
    for (i, s) in evidence.iter().enumerate() {
        if i == 0 || evidence[i - 1].evidence.host != s.evidence.host {
            if hosts == n {
                return Some(i);
            }
            hosts += 1;
        }
    }
    None
}

fn setting<'a>(c: &'a Checklists, documents: &'a Documents, now_ms: i64) -> Setting<'a> {
    Setting {
        rules: &c.rules,
        expectations: &c.expectations,
        catalogs: &c.catalogs,
        documents,
        now_ms,
    }
}
