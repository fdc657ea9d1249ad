//! The kept evaluation: every catalog evaluated in the background and the
//! result kept, so that no page or API answer evaluates.
//!
//! Evaluating every catalog reads every host's latest evidence and runs
//! every rule over it: seconds of CPU at 10,000 hosts. Done per request, a
//! few auditors clicking at once held every core and ingest waited behind
//! them, and each page loaded every evidence body. Instead one evaluator per
//! collector keeps the newest [`Evaluation`], and requests read it.
//!
//! How the kept result stays current, and says how current it is:
//! - **Writes.** The store's change counter (`Store::change_counter`) grows
//!   in the same transaction as every write that can change a verdict
//!   (evidence committed, attestations, NA marks, agents registered,
//!   enrolled, revoked or reinstated), whichever collector made it. The
//!   evaluator reads it every `verdicts.poll` (one small read) and evaluates
//!   again when it grew, so replicas sharing PostgreSQL follow one another's
//!   writes within a poll and an evaluation.
//! - **Time.** Evidence ages out of freshness windows and attestations
//!   expire with no write: each evaluation computes the next instant one of
//!   the latest evidence leaves a window it was in, or an attestation
//!   expires (`next_change_ms`), and the evaluator evaluates again then.
//!   Rules may also read `now` (a certificate's or a backup's age), which no
//!   instant can be computed for: those are re-evaluated at least every
//!   `verdicts.refresh`.
//! - **One evaluator.** Evaluations run one at a time, in a task of their
//!   own (the rules on threads of lower priority, `rules::in_background`,
//!   so that a fleet's evaluation under ingest does not take the cores from
//!   the requests and the ingest it serves). The counter is read before the
//!   store is, so whatever is written during an evaluation is picked up by
//!   the next one: a burst of writes costs at most the running evaluation
//!   and one more.
//! - **What is read and judged again.** An evaluation reads only the rows
//!   of the latest set that changed since the previous one's reading
//!   (`Store::latest_changes`), and of those reads whole only new evidence:
//!   the rest is the same evidence seen again, taken from the previous
//!   evaluation's reading with its new times, or unchanged
//!   (`Checklists::read_latest_reusing`). It runs a host
//!   rule only on the hosts whose input changed: a rule that reads neither
//!   `now` nor `observedAt` gives the same result for the same evidence,
//!   labels and `fleet`, so those hosts take the previous evaluation's
//!   result (`rules::evaluate::Judged`); rules that read the time run on
//!   every host. Under ingest most hosts' evidence between two evaluations
//!   was only seen again, and every evaluation's results share what did
//!   not change with the one before, so an evaluation allocates for what
//!   changed. The kept reading and results hold only what is latest now.
//! - **Never stale without saying so.** An evaluation carries when it was
//!   made (`as_of_ms`) and the counter it includes; [`Kept::pending`] says
//!   whether the store has changed since (a newer one is on its way). Pages
//!   show it, and API answers carry `asOf`, `changeCounter` and `pending`.
//! - **Requests never evaluate.** Only before the first evaluation after
//!   start does a request wait for it, at most `verdicts.first_wait`; a
//!   write made through this collector (attestation, NA mark, revocation)
//!   waits as long at most for the evaluation that includes it, so whoever
//!   made it sees it on the next page.
//! - Catalogs, rules and expectations are loaded at start: a change to
//!   them is a restart, whose first evaluation includes it.

use crate::catalog::Catalog;
use crate::checklists::{self, Checklists, LatestRead, Reading, Stamps};
use crate::records::Documents;
use crate::rules::evaluate::{HostResults, Judged};
use crate::store::{AgentRecord, Store};
use crate::verdict::{ItemResult, Outcome};
use gamsa_proto::v1::{Evidence, Status};
use serde::Deserialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{watch, Notify};

/// How long an answer that must include the writes made before it was
/// asked for (an export, a snapshot) waits for the kept evaluation to
/// include them; past it, or when an evaluation takes longer than the
/// answer may wait (`Kept::current`), it is made from the newest
/// evaluation and says so.
pub const CATCH_UP: Duration = Duration::from_secs(3);

/// How long an evaluation may take for an export to wait for one: a fleet
/// under ingest always has a newer write, so an export that waited for it
/// would take as long as an evaluation (a second at 10,000 hosts) where a
/// page takes milliseconds. Over it, an export answers from the newest
/// evaluation and says that the store has changed since. A snapshot, which
/// an audit freezes, waits whenever evaluations take up to `CATCH_UP`.
pub const EXPORT_WAITS_FOR: Duration = Duration::from_millis(250);

/// `[verdicts]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct VerdictsConfig {
    /// How often the store's change counter is read, and the least time
    /// between the end of one evaluation and the start of the next.
    #[serde(with = "humantime_serde")]
    pub poll: Duration,
    /// The longest a kept evaluation stands with nothing changed (for rules
    /// that read the time).
    #[serde(with = "humantime_serde")]
    pub refresh: Duration,
    /// How long a request waits for the first evaluation after start, and a
    /// write for the evaluation that includes it.
    #[serde(with = "humantime_serde")]
    pub first_wait: Duration,
}

impl Default for VerdictsConfig {
    fn default() -> Self {
        Self {
            poll: Duration::from_secs(1),
            refresh: Duration::from_secs(60),
            first_wait: Duration::from_secs(30),
        }
    }
}

impl VerdictsConfig {
    /// Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.poll < Duration::from_millis(100) {
            return Err("verdicts.poll: at least 100ms".into());
        }
        if self.refresh < self.poll {
            return Err("verdicts.refresh: at least verdicts.poll".into());
        }
        Ok(())
    }
}

/// One agent's probe as its latest evidence shows it: how many subjects,
/// which report errors, the newest and the oldest observation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProbeHealth {
    pub subjects: usize,
    pub errors: Vec<String>,
    pub newest_ms: i64,
    pub oldest_ms: i64,
}

/// Each agent's probes from the latest evidence, by agent id then probe.
pub fn probe_health<'e>(
    latest: impl IntoIterator<Item = &'e Evidence>,
) -> BTreeMap<String, BTreeMap<String, ProbeHealth>> {
    let mut probes: BTreeMap<String, BTreeMap<String, ProbeHealth>> = BTreeMap::new();
    for e in latest {
        let at = e.observed_at.map(|t| t.unix_millis()).unwrap_or(0);
        let h = probes
            .entry(e.agent_id.clone())
            .or_default()
            .entry(e.probe.clone())
            .or_default();
        h.oldest_ms = if h.subjects == 0 {
            at
        } else {
            h.oldest_ms.min(at)
        };
        h.subjects += 1;
        h.newest_ms = h.newest_ms.max(at);
        if e.status == Status::Error as i32 {
            h.errors.push(format!("{}: {}", e.subject, e.error));
        }
    }
    probes
}

/// A host across every item of every catalog: its worst outcome and how
/// many items it fails or leaves unknown (the host list's columns).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Standing {
    pub worst: Outcome,
    pub failing: usize,
    pub unknown: usize,
}

/// Each host's standing in `items`, computed once per evaluation rather
/// than per page (154 items × 10,000 hosts).
pub fn standings(items: &[ItemResult]) -> HashMap<String, Standing> {
    let mut out: HashMap<String, Standing> = HashMap::new();
    for i in items {
        for (host, &o) in i.hosts.iter() {
            let s = out.entry(host.clone()).or_insert(Standing {
                worst: o,
                failing: 0,
                unknown: 0,
            });
            if Outcome::rank(o) < Outcome::rank(s.worst) {
                s.worst = o;
            }
            match o {
                Outcome::Fail => s.failing += 1,
                Outcome::Unknown => s.unknown += 1,
                _ => {}
            }
        }
    }
    out
}

/// One evaluation of every catalog (no applicant group), kept.
#[derive(Debug)]
pub struct Evaluation {
    pub items: Vec<ItemResult>,
    /// When it was evaluated (the `now` of its freshness windows), Unix ms.
    pub as_of_ms: i64,
    /// The store's change counter read before anything else: every write
    /// counted up to it is in this evaluation.
    pub counter: i64,
    /// How long it took, reading the store included.
    pub took: Duration,
    /// How it came by the latest evidence: taken from the previous
    /// evaluation's reading, or read whole.
    pub read: LatestRead,
    /// How it came by its host results: from the previous evaluation where
    /// nothing they read changed, or by running the rules.
    pub host_results: HostResults,
    /// The stamps of the latest evidence it read, by id (ids, times and
    /// the hash each content is stored under): what a snapshot of it cites
    /// without reading them again (rows stored whole, before
    /// deduplication, are not among them).
    pub stamps: Arc<Stamps>,
    /// Each agent's probes, from the evidence this evaluation read (every
    /// agent's, revoked ones included).
    pub probes: BTreeMap<String, BTreeMap<String, ProbeHealth>>,
    /// Each host's standing across the items (`standings`).
    pub hosts: HashMap<String, Standing>,
    /// Every agent it read, revoked ones included, as of its time: what
    /// the host list shows beside the standings, without reading the
    /// whole fleet's agents from the store for each page.
    pub agents: Arc<Vec<AgentRecord>>,
    /// The latest evidence of the probes kept whole (`input::KEPT_WHOLE`),
    /// revoked agents' left out, in host, probe and subject order: what the
    /// evidence forms show beside these verdicts, without reading it again.
    pub shown: Vec<Arc<Evidence>>,
    /// The attestations and NA marks it read.
    pub documents: Documents,
    /// The next instant at which time alone changes what it read: a latest
    /// evidence leaving a freshness window, an attestation expiring.
    pub next_change_ms: Option<i64>,
}

impl Evaluation {
    /// The items of `catalog`, as `group` (an applicant group of it) answers
    /// them: items outside the group NA.
    pub fn items_of(&self, catalog: &Catalog, group: Option<&str>) -> Vec<ItemResult> {
        self.items
            .iter()
            .filter(|i| i.catalog == catalog.catalog.id)
            .map(|i| in_group(i, catalog, group))
            .collect()
    }

    /// Item `id` of `catalog`, as `group` answers it.
    pub fn item_of(&self, catalog: &Catalog, id: &str, group: Option<&str>) -> Option<ItemResult> {
        self.items
            .iter()
            .find(|i| i.catalog == catalog.catalog.id && i.id == id)
            .map(|i| in_group(i, catalog, group))
    }

    /// `as_of_ms` as RFC 3339 (UTC, milliseconds).
    pub fn as_of(&self) -> String {
        chrono::DateTime::from_timestamp_millis(self.as_of_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
    }
}

impl AsRef<[ItemResult]> for Evaluation {
    fn as_ref(&self) -> &[ItemResult] {
        &self.items
    }
}

/// `item` as the applicant group `group` of `catalog` answers it.
fn in_group(item: &ItemResult, catalog: &Catalog, group: Option<&str>) -> ItemResult {
    let mut item = item.clone();
    if group
        .and_then(|g| catalog.group(g))
        .is_some_and(|g| !g.items.contains(&item.id))
    {
        crate::rules::evaluate::outside_group(&mut item);
    }
    item
}

/// The first evaluation after start did not finish in time.
#[derive(Debug, thiserror::Error)]
#[error("verdicts are being evaluated for the first time since the collector started; try again shortly")]
pub struct NotYet;

/// The kept evaluation of one collector, shared by its servers.
pub struct Kept {
    config: VerdictsConfig,
    current: watch::Sender<Option<Arc<Evaluation>>>,
    /// Wakes the evaluator before its next poll (a write made here).
    wake: Notify,
    /// The highest change counter seen in the store.
    seen: AtomicI64,
    /// Whether an evaluator runs for it (`spawn`): in a process with none
    /// (the command line), nothing waits for an evaluation that never comes.
    evaluator: AtomicBool,
    /// What the last evaluation left for the next, held by the one
    /// evaluation running (the evaluator's, or `evaluate_now`).
    earlier: tokio::sync::Mutex<Earlier>,
    /// Evaluations replaced while a request still held them
    /// ([`Kept::retire`]).
    retired: std::sync::Mutex<Vec<Arc<Evaluation>>>,
}

impl Kept {
    pub fn new(config: VerdictsConfig) -> Arc<Self> {
        Arc::new(Self {
            config,
            current: watch::channel(None).0,
            wake: Notify::new(),
            seen: AtomicI64::new(i64::MIN),
            evaluator: AtomicBool::new(false),
            earlier: Default::default(),
            retired: Default::default(),
        })
    }

    /// The newest evaluation, if there is one yet; never waits.
    pub fn latest(&self) -> Option<Arc<Evaluation>> {
        self.current.borrow().clone()
    }

    /// The newest evaluation; before the first, waits for it (at most
    /// `first_wait`) if an evaluator runs.
    pub async fn get(&self) -> Result<Arc<Evaluation>, NotYet> {
        if let Some(e) = self.latest() {
            return Ok(e);
        }
        if !self.evaluator.load(Ordering::Relaxed) {
            return Err(NotYet);
        }
        let mut rx = self.current.subscribe();
        let first = tokio::time::timeout(self.config.first_wait, rx.wait_for(Option::is_some));
        let first = match first.await {
            Ok(Ok(e)) => e.clone(),
            _ => None,
        };
        first.ok_or(NotYet)
    }

    /// Whether an evaluator runs for it (`spawn`).
    pub fn evaluates(&self) -> bool {
        self.evaluator.load(Ordering::Relaxed)
    }

    /// Until when `e` stands with no write: the next instant time alone
    /// changes what it read, and at most `refresh` after it was made (rules
    /// that read the time). The evaluator evaluates again then.
    pub fn stands_until(&self, e: &Evaluation) -> i64 {
        let refreshed = e.as_of_ms + self.config.refresh.as_millis() as i64;
        e.next_change_ms.map_or(refreshed, |t| t.min(refreshed))
    }

    /// Whether the store has changed since `e` was evaluated: a newer
    /// evaluation is pending.
    pub fn pending(&self, e: &Evaluation) -> bool {
        self.seen.load(Ordering::Relaxed) > e.counter
    }

    /// After a write through this collector: wakes the evaluator and waits
    /// (at most `first_wait`) for an evaluation that includes the write.
    pub async fn include_writes(&self, store: &dyn Store) {
        if let Some(counter) = self.caught_up(store, self.config.first_wait).await {
            tracing::warn!(
                counter,
                "the evaluation including a write did not finish in time; pages say so until it does"
            );
        }
    }

    /// The evaluation that includes every write made so far, waiting at
    /// most `wait` for it (an export asked for now); after that, or at once
    /// when the last evaluation took longer than `longest` (a large fleet:
    /// waiting would only delay the answer), the newest there is, and
    /// `false`: it is older than the store.
    pub async fn current(
        &self,
        store: &dyn Store,
        wait: Duration,
        longest: Duration,
    ) -> Result<(Arc<Evaluation>, bool), NotYet> {
        let e = self.get().await?;
        let wait = if e.took > longest {
            Duration::ZERO
        } else {
            wait
        };
        let behind = self.caught_up(store, wait).await;
        let e = self.get().await?;
        let includes = behind.is_none_or(|counter| e.counter >= counter);
        Ok((e, includes))
    }

    /// Reads the store's change counter, wakes the evaluator and waits at
    /// most `wait` for an evaluation that includes it (with no wait, does
    /// not wake it); the counter when none did in time.
    async fn caught_up(&self, store: &dyn Store, wait: Duration) -> Option<i64> {
        let counter = match store.change_counter().await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "change counter unreadable; writes show with the next evaluation");
                return Some(i64::MAX);
            }
        };
        self.seen.fetch_max(counter, Ordering::Relaxed);
        if wait.is_zero() || !self.evaluator.load(Ordering::Relaxed) {
            // Not waiting for it: the evaluator keeps its pace, or none runs.
            let included = (self.current.borrow().as_ref()).is_some_and(|e| e.counter >= counter);
            return (!included).then_some(counter);
        }
        self.wake.notify_one();
        let mut rx = self.current.subscribe();
        let included = rx.wait_for(|e| e.as_ref().is_some_and(|e| e.counter >= counter));
        let late = tokio::time::timeout(wait, included).await.is_err();
        late.then_some(counter)
    }

    /// Evaluates every catalog once, now, in this process, from what the
    /// last evaluation left (nothing in a process that runs no evaluator),
    /// and keeps the result: for the command line taking a snapshot with no
    /// collector serving, and for a collector's last evaluation as it stops
    /// (`Snapshots::prepare`). What it keeps is an evaluation as the
    /// evaluator makes it, with the stamps of the evidence it read, so a
    /// snapshot of it does not read them again.
    pub async fn evaluate_now(
        &self,
        checklists: &Arc<Checklists>,
        store: &Arc<dyn Store>,
    ) -> anyhow::Result<Arc<Evaluation>> {
        let mut earlier = self.earlier.lock().await;
        let (e, left) = evaluate(checklists, store, std::mem::take(&mut *earlier)).await?;
        if self.evaluates() {
            *earlier = left;
        } else {
            // No evaluation follows (the command line): freed before the
            // snapshot writes its parts.
            drop(left);
        }
        self.seen.fetch_max(e.counter, Ordering::Relaxed);
        let e = Arc::new(e);
        let replaced = self.current.send_replace(Some(e.clone()));
        self.retire(replaced);
        Ok(e)
    }

    /// Frees `replaced`, and the evaluations replaced before it that no
    /// request holds any more, on a background thread. Why: an evaluation of
    /// 10,000 hosts is millions of allocations (the stamps of every latest
    /// evidence, the items, the shown evidence), and freeing them takes
    /// about a tenth of a second (up to 0.2 s in the fleet benchmark).
    /// Freed where its last holder let go, that was an async worker (the
    /// evaluator's task) or a request's handler, and a page waited behind
    /// it. The evaluator keeps those still held (a request, a snapshot, a
    /// download) until a later evaluation finds them let go, so the last
    /// holder is always this list; it holds no more than their holders do.
    fn retire(&self, replaced: Option<Arc<Evaluation>>) {
        let free: Vec<Arc<Evaluation>> = {
            let mut retired = self.retired.lock().unwrap_or_else(|e| e.into_inner());
            retired.extend(replaced);
            let (free, held) = std::mem::take(&mut *retired)
                .into_iter()
                .partition(|e| Arc::strong_count(e) == 1);
            *retired = held;
            free
        };
        if !free.is_empty() {
            crate::rules::free_in_background("replaced evaluations", free);
        }
    }

    /// Starts the evaluator, ending when `stop` turns true.
    pub fn spawn(
        self: &Arc<Self>,
        checklists: Arc<Checklists>,
        store: Arc<dyn Store>,
        stop: watch::Receiver<bool>,
    ) -> anyhow::Result<()> {
        self.config.validate().map_err(anyhow::Error::msg)?;
        self.evaluator.store(true, Ordering::Relaxed);
        tokio::spawn(self.clone().run(checklists, store, stop));
        Ok(())
    }

    async fn run(
        self: Arc<Self>,
        checklists: Arc<Checklists>,
        store: Arc<dyn Store>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let started = tokio::time::Instant::now();
            let (counter, due) = match self.evaluate_now(&checklists, &store).await {
                Ok(e) => (Some(e.counter), self.stands_until(&e)),
                Err(e) => {
                    tracing::warn!(error = %format!("{e:#}"), "evaluation failed; the kept verdicts stay as they were");
                    (None, 0)
                }
            };
            // Changes made elsewhere (ingest, other collectors) wait until
            // the evaluator has rested as long as the evaluation took: under
            // ingest that never stops, it holds a core about half of the
            // time, and pages and ingest keep the rest. A write made here
            // wakes it at once; time (`due`) is not delayed.
            let rested = tokio::time::Instant::now() + started.elapsed();
            let mut woken = false;
            // Wait for a reason to evaluate again: a change in the store,
            // a write here, or time.
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(self.config.poll) => {}
                    _ = self.wake.notified() => woken = true,
                    _ = stop.wait_for(|v| *v) => return,
                }
                if crate::clock::now_ms() >= due {
                    break;
                }
                // Read while resting too: pages say a newer evaluation is
                // pending as soon as the store has changed.
                match store.change_counter().await {
                    Ok(c) => {
                        self.seen.fetch_max(c, Ordering::Relaxed);
                        let rest_over = woken || tokio::time::Instant::now() >= rested;
                        if Some(c) != counter && rest_over {
                            break;
                        }
                    }
                    Err(e) => tracing::debug!(error = %e, "change counter unreadable"),
                }
                woken = false;
            }
        }
    }
}

/// Reads the store and evaluates every catalog (the rules in the background,
/// `rules::in_background`: an evaluation of a large fleet takes seconds of
/// CPU, which requests and ingest come before).
///
/// What one evaluation leaves for the next. After a failed evaluation the
/// next starts from nothing: it reads and judges everything.
#[derive(Default)]
struct Earlier {
    /// The latest evidence it read: what is still latest is taken from it,
    /// not read and converted again (`Checklists::read_latest_reusing`).
    read: Reading,
    /// What its host rules gave: a host whose evidence was only seen again
    /// is not judged again by a rule that does not read the time.
    judged: Judged,
}

/// Returns the evaluation and what it leaves for the next one.
async fn evaluate(
    checklists: &Arc<Checklists>,
    store: &Arc<dyn Store>,
    earlier: Earlier,
) -> anyhow::Result<(Evaluation, Earlier)> {
    let started = Instant::now();
    let counter = store.change_counter().await?;
    let agents = store.list_agents().await?;
    let agents_took = started.elapsed();
    let (reading, read) = checklists
        .read_latest_reusing(store.as_ref(), earlier.read)
        .await?;
    let Reading {
        mut latest,
        stamps,
        mark,
    } = reading;
    let read_took = started.elapsed();
    let documents = store.documents().await?;
    let checklists = checklists.clone();
    crate::rules::in_background(move || {
        let probes = probe_health(latest.iter().map(|c| &c.evidence));
        let set_aside = checklists::counted(&mut latest, &agents);
        let mut shown: Vec<Arc<Evidence>> = latest.iter().filter_map(|c| c.whole.clone()).collect();
        shown.sort_by(|a, b| (&a.host, &a.probe, &a.subject).cmp(&(&b.host, &b.probe, &b.subject)));
        let now = crate::clock::now_ms();
        let (items, judged) = checklists.evaluate_with(
            &latest,
            &agents,
            &documents,
            now,
            (&[], None),
            &earlier.judged,
        );
        drop(earlier.judged);
        let windows: Vec<i64> = checklists
            .freshness_windows()
            .into_iter()
            .map(|w| w.as_millis() as i64)
            .collect();
        let ageing = latest
            .iter()
            .flat_map(|c| windows.iter().map(move |w| c.observed_ms + w));
        let expiring = documents.attestations.iter().filter_map(|a| a.expires_ms);
        let next_change_ms = ageing.chain(expiring).filter(|t| *t > now).min();
        let evaluation = Evaluation {
            hosts: standings(&items),
            items,
            as_of_ms: now,
            counter,
            took: started.elapsed(),
            read,
            host_results: judged.counts,
            stamps: stamps.clone(),
            probes,
            next_change_ms,
            shown,
            documents,
            agents: Arc::new(agents),
        };
        crate::metrics::evaluated(
            evaluation.took.as_secs_f64(),
            read_took.as_secs_f64(),
            (read.changed, read.reused, read.converted),
            judged.counts.reused,
            judged.counts.judged,
        );
        tracing::debug!(
            counter,
            took_ms = evaluation.took.as_millis() as u64,
            read_ms = read_took.as_millis() as u64,
            agents_ms = agents_took.as_millis() as u64,
            changed = read.changed,
            reused = read.reused,
            converted = read.converted,
            hosts_judged = judged.counts.judged,
            hosts_reused = judged.counts.reused,
            items = evaluation.items.len(),
            "verdicts evaluated"
        );
        latest.extend(set_aside);
        let read = Reading {
            latest,
            stamps,
            mark,
        }
        .in_key_order();
        (evaluation, Earlier { read, judged })
    })
    .await
    .ok_or_else(|| anyhow::anyhow!("evaluation failed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn with_no_evaluator_nothing_waits_for_a_first_evaluation() {
        let kept = Kept::new(VerdictsConfig {
            first_wait: Duration::from_secs(3600),
            ..VerdictsConfig::default()
        });
        // An hour's `first_wait` would hold this far past the guard.
        let got = tokio::time::timeout(Duration::from_secs(60), kept.get()).await;
        assert!(
            matches!(got, Ok(Err(NotYet))),
            "returned at once: none comes"
        );
    }

    fn evaluation(counter: i64) -> Arc<Evaluation> {
        Arc::new(Evaluation {
            items: vec![],
            as_of_ms: 0,
            counter,
            took: Duration::ZERO,
            read: LatestRead::default(),
            host_results: HostResults::default(),
            stamps: Arc::default(),
            probes: BTreeMap::new(),
            hosts: HashMap::new(),
            agents: Arc::default(),
            shown: vec![],
            documents: Documents::default(),
            next_change_ms: None,
        })
    }

    /// An export waits for the evaluation including the store's writes
    /// only where evaluations are quick; a snapshot waits up to `CATCH_UP`
    /// whenever they take no longer.
    #[tokio::test]
    async fn an_export_waits_for_writes_only_where_evaluations_are_quick() {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::sqlite::SqliteStore::open(&dir.path().join("gamsa.db")).unwrap();
        let counter = store.change_counter().await.unwrap();
        let kept = Kept::new(VerdictsConfig::default());
        // An evaluator runs, and has not yet included the latest write.
        kept.evaluator.store(true, Ordering::Relaxed);
        let wait = Duration::from_millis(600);
        for (took, longest, waits) in [
            (Duration::from_secs(1), EXPORT_WAITS_FOR, false),
            (Duration::from_secs(1), CATCH_UP, true),
            (Duration::from_millis(10), EXPORT_WAITS_FOR, true),
        ] {
            let mut e = evaluation(counter - 1);
            Arc::get_mut(&mut e).unwrap().took = took;
            kept.current.send_replace(Some(e));
            let start = Instant::now();
            let (got, includes) = kept.current(&store, wait, longest).await.unwrap();
            let waited = start.elapsed() >= wait;
            assert_eq!(waited, waits, "took {took:?}, longest {longest:?}");
            assert!(!includes, "behind the store, and says so");
            assert_eq!(got.counter, counter - 1);
        }
    }

    /// Waits (at most 10 s) until nothing holds what `weak` points to.
    async fn freed(weak: &std::sync::Weak<Evaluation>) -> bool {
        let deadline = Instant::now() + Duration::from_secs(10);
        while weak.strong_count() > 0 {
            if Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        true
    }

    #[tokio::test]
    async fn a_replaced_evaluation_is_freed_by_the_evaluator_never_by_a_request() {
        let kept = Kept::new(VerdictsConfig::default());
        let first = evaluation(1);
        let (request, first_weak) = (first.clone(), Arc::downgrade(&first));
        kept.retire(Some(first));
        // The request ends after the replacement: it lets go, but is not
        // the last holder.
        drop(request);
        assert_eq!(first_weak.strong_count(), 1, "kept by the evaluator");
        let second = evaluation(2);
        let second_weak = Arc::downgrade(&second);
        kept.retire(Some(second));
        assert!(freed(&first_weak).await, "freed at the next replacement");
        assert!(freed(&second_weak).await, "held by none: freed at once");
        assert!(kept.retired.lock().unwrap().is_empty());
    }

    #[test]
    fn standings_take_each_hosts_worst_outcome_and_count_fails_and_unknowns() {
        let item = |id: &str, hosts: &[(&str, Outcome)]| ItemResult {
            catalog: "c".into(),
            id: id.into(),
            title_ko: String::new(),
            title_en: String::new(),
            verdict: crate::verdict::Verdict::P,
            reason_en: String::new(),
            reason_ko: String::new(),
            hosts: Arc::new(hosts.iter().map(|(h, o)| (h.to_string(), *o)).collect()),
            rows: vec![],
            evidence: Arc::new(vec![]),
            evaluated_at: String::new(),
            na_mark: None,
        };
        let items = [
            item("1", &[("a", Outcome::Pass), ("b", Outcome::Unknown)]),
            item("2", &[("a", Outcome::Fail), ("b", Outcome::Na)]),
            item("3", &[("a", Outcome::Fail), ("b", Outcome::Unknown)]),
        ];
        let s = standings(&items);
        assert_eq!(
            s["a"],
            Standing {
                worst: Outcome::Fail,
                failing: 2,
                unknown: 0
            }
        );
        assert_eq!(
            s["b"],
            Standing {
                worst: Outcome::Unknown,
                failing: 0,
                unknown: 2
            }
        );
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn probe_health_counts_subjects_errors_and_ages() {
        let ev = |subject: &str, at: i64, error: &str| Evidence {
            agent_id: "a".into(),
            probe: "tls".into(),
            subject: subject.into(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(at)),
            status: if error.is_empty() {
                Status::Observed
            } else {
                Status::Error
            } as i32,
            error: error.into(),
            ..Default::default()
        };
        let got = probe_health(&[
            ev("x:443", 20, ""),
            ev("y:443", 10, "refused"),
            ev("z:443", 30, ""),
        ]);
        assert_eq!(
            got["a"]["tls"],
            ProbeHealth {
                subjects: 3,
                errors: vec!["y:443: refused".into()],
                newest_ms: 30,
                oldest_ms: 10,
            }
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = VerdictsConfig {
            poll: Duration::from_millis(10),
            ..Default::default()
        };
        assert!(c.validate().unwrap_err().starts_with("verdicts.poll"));
        c.poll = Duration::from_secs(5);
        c.refresh = Duration::from_secs(1);
        assert!(c.validate().unwrap_err().starts_with("verdicts.refresh"));
    }
}
