//! The fleet evaluated from the store a range of hosts at a time
//! (`rules::hostwise`), for what has no kept evaluation to read and must
//! stay small: `snapshot create` with the collector stopped and nothing
//! prepared. Each range's hosts, with their results, are handed out to be
//! written and dropped; the verdicts come at the end. Memory is the fleet
//! rules' evaluation at the start (every host's input to them), then at
//! most three ranges (one read, one evaluated, one written) and the fleet
//! rules' results.

use crate::checklists::{known_hosts, Checklists, Stamps};
use crate::records::Documents;
use crate::rules::hostwise::{self, Hostwise, Setting, Whole};
use crate::rules::input::{self, Converted, HostFacts};
use crate::store::{EvidenceStamp, LatestPages, Stamped, Store};
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

/// A walk of the fleet by ranges of hosts. Each range is evaluated while
/// the next is read from the store.
pub struct ByHosts {
    checklists: Arc<Checklists>,
    documents: Arc<Documents>,
    now_ms: i64,
    reader: Reader,
    /// The next range, read.
    ahead: Option<Read>,
    /// Between ranges; taken while one is evaluated.
    state: Option<Hostwise>,
}

/// Reads the latest set a range of hosts at a time, in host order, each
/// page converted as it is read (so that the stored payloads of a page, not
/// of a range, are held at once).
struct Reader {
    checklists: Arc<Checklists>,
    keep: Arc<HashSet<String>>,
    known: Arc<BTreeMap<String, HostFacts>>,
    revoked: Arc<HashSet<String>>,
    hosts_per_range: usize,
    pages: LatestPages,
    /// Evidence read and not yet handed out, in host order, with the
    /// stamps of those stored by hash.
    held: Vec<(Converted, Option<Arc<EvidenceStamp>>)>,
    /// Where the next range starts (None: at the first host).
    from: Option<String>,
    done: bool,
}

/// One range of hosts as read: from `from` (the first host when None) up
/// to but not including `to` (to the last when None), its evidence
/// converted, the stamps of those stored by hash, and the hosts of it
/// known.
struct Read {
    from: Option<String>,
    to: Option<String>,
    evidence: Vec<Converted>,
    stamps: Stamps,
    known: BTreeMap<String, HostFacts>,
    took: std::time::Duration,
}

impl Reader {
    /// `page` without revoked agents' evidence, converted, each with its
    /// stamp where its content is stored by hash.
    async fn converted(
        &self,
        page: Vec<Stamped>,
    ) -> anyhow::Result<Vec<(Converted, Option<Arc<EvidenceStamp>>)>> {
        let (mut split, mut stamps) = (Vec::with_capacity(page.len()), Vec::new());
        for s in page {
            if self.revoked.contains(&s.evidence.agent_id) {
                continue;
            }
            stamps.push(s.stamp.content_hash.is_some().then(|| Arc::new(s.stamp)));
            split.push((s.evidence, s.payload));
        }
        let (c, keep) = (self.checklists.clone(), self.keep.clone());
        let converted = crate::rules::in_background(move || {
            let converted = input::convert_split(&split, Some(&keep), &c.payloads)?;
            Ok::<_, String>(converted.into_iter().map(unkept).zip(stamps).collect())
        })
        .await
        .context("converting evidence failed")?
        .map_err(|e| anyhow::anyhow!("reading the latest evidence: {e}"))?;
        Ok(converted)
    }

    /// The next range; None when every host was read.
    async fn read(&mut self, store: &dyn Store) -> anyhow::Result<Option<Read>> {
        if self.done {
            return Ok(None);
        }
        let started = std::time::Instant::now();
        // The evidence of the next `hosts_per_range` hosts, and where the
        // host after them starts (what is left waits for the next range).
        let (evidence, to) = loop {
            if let Some(at) = start_of_host(&self.held, self.hosts_per_range) {
                let rest = self.held.split_off(at);
                let to = rest[0].0.evidence.host.clone();
                break (std::mem::replace(&mut self.held, rest), Some(to));
            }
            match self.pages.next(store).await? {
                Some(page) => self.held.extend(self.converted(page).await?),
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
        let evidence = evidence
            .into_iter()
            .map(|(c, stamp)| {
                if let Some(stamp) = stamp {
                    stamps.insert(c.evidence.id.clone(), stamp);
                }
                c
            })
            .collect();
        Ok(Some(Read {
            from,
            to,
            evidence,
            stamps,
            known,
            took: started.elapsed(),
        }))
    }
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
    /// their probes' evidence (while the first range is read); or says why
    /// the fleet is to be evaluated whole.
    pub async fn start(
        checklists: Arc<Checklists>,
        store: &dyn Store,
        hosts_per_range: usize,
    ) -> anyhow::Result<Result<Self, Whole>> {
        let started = std::time::Instant::now();
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
        let mut reader = Reader {
            checklists: checklists.clone(),
            keep: keep.clone(),
            known: known.clone(),
            revoked: revoked.clone(),
            hosts_per_range: hosts_per_range.max(1),
            pages: LatestPages::new(PAGE),
            held: Vec::new(),
            from: None,
            done: false,
        };
        let fleet_rules = async {
            // A probe at a time: the evidence of one probe read whole, not
            // of them all, is held at once.
            let mut converted = Vec::new();
            for probe in hostwise::fleet_probes(&checklists.rules) {
                let mut read = store.latest_evidence_of_probes(vec![probe]).await?;
                read.retain(|e| !revoked.contains(&e.agent_id));
                let (c, kf) = (checklists.clone(), keep.clone());
                let more = crate::rules::in_background(move || {
                    let converted = input::convert(&read, Some(&kf), &c.payloads);
                    converted.into_iter().map(unkept).collect::<Vec<_>>()
                })
                .await
                .context("converting evidence failed")?;
                converted.extend(more);
            }
            let (c, d, k) = (checklists.clone(), documents.clone(), known.clone());
            crate::rules::in_background(move || {
                // In the store's key order, as the pages of every host.
                fn key(c: &Converted) -> (&str, &str, &str) {
                    let e = &c.evidence;
                    (&e.host, &e.probe, &e.subject)
                }
                converted.sort_by(|a, b| key(a).cmp(&key(b)));
                Hostwise::new(&setting(&c, &d, now_ms), &converted, &k)
            })
            .await
            .context("evaluating the fleet rules failed")
        };
        let (state, ahead) = tokio::join!(fleet_rules, reader.read(store));
        let (state, ahead) = (state?, ahead?);
        tracing::debug!(
            ms = started.elapsed().as_millis() as u64,
            "fleet rules evaluated over their probes' evidence"
        );
        let state = match state {
            Ok(state) => state,
            Err(whole) => return Ok(Err(whole)),
        };
        Ok(Ok(Self {
            checklists,
            documents,
            now_ms,
            reader,
            ahead,
            state: Some(state),
        }))
    }

    /// The next range of hosts, evaluated; None when every host was.
    pub async fn next(&mut self, store: &dyn Store) -> anyhow::Result<Option<Range>> {
        let Some(read) = self.ahead.take() else {
            return Ok(None);
        };
        let started = std::time::Instant::now();
        let mut state = self.state.take().context("an earlier range failed")?;
        let (c, d, now_ms) = (self.checklists.clone(), self.documents.clone(), self.now_ms);
        let (evidence, read_in) = (read.evidence.len(), read.took);
        let stamps = read.stamps;
        let (from, to, converted, known) = (read.from, read.to, read.evidence, read.known);
        let evaluating = crate::rules::in_background(move || {
            let range = (from.as_deref(), to.as_deref());
            let items = state.range(&setting(&c, &d, now_ms), &converted, &known, range);
            (items, state)
        });
        let (evaluated, ahead) = tokio::join!(evaluating, self.reader.read(store));
        let (items, state) = evaluated.context("evaluating a range of hosts failed")?;
        self.checklists.payloads.forget_unused();
        self.state = Some(state);
        self.ahead = ahead?;
        let ms = |d: std::time::Duration| d.as_millis() as u64;
        tracing::debug!(
            evidence,
            read_ms = ms(read_in),
            evaluated_ms = ms(started.elapsed()),
            "range of hosts evaluated, the next read"
        );
        Ok(Some(Range { items, stamps }))
    }

    /// The fleet's verdicts, once every range was evaluated; or why they
    /// are not the whole evaluation's.
    pub fn finish(self) -> anyhow::Result<Result<Evaluated, Whole>> {
        anyhow::ensure!(
            self.reader.done && self.ahead.is_none(),
            "the walk of the fleet's hosts is not done"
        );
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

/// `c` without the evidence whole it keeps for the pages of a kept
/// evaluation, which no rule reads.
fn unkept(mut c: Converted) -> Converted {
    c.whole = None;
    c
}

/// Where the host after the first `n` hosts of `evidence` (in host order)
/// starts, if there is one.
fn start_of_host<S>(evidence: &[(Converted, S)], n: usize) -> Option<usize> {
    let mut hosts = 0;
    for (i, (c, _)) in evidence.iter().enumerate() {
        if i == 0 || evidence[i - 1].0.evidence.host != c.evidence.host {
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
