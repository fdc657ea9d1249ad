//! What leaves the collector from the kept evaluation (`evaluation.rs`):
//! the compliance gauges of `/metrics`, verdict changes sent to SIEMs
//! (`[[findings.sinks]]`: syslog, webhooks), and the assessment history
//! (`history`): each host's findings, when first and last seen and when
//! fixed.
//!
//! Once per `findings.interval` the newest kept evaluation is read (never
//! evaluated again here, nor per scrape). A change is an item whose verdict
//! differs from the one read the previous time. Every replica sets its own
//! gauges (each serves its own `/metrics`), but collectors sharing a store
//! send changes once for the fleet: only the holder of the store lease
//! `findings` sends. The first evaluation read after start sets the
//! baseline and sends nothing; a lease moving to another replica repeats or
//! misses at most the changes of one interval. The lease holder also records
//! each evaluation read as an assessment in the findings history, so
//! replicas record it once.

pub mod history;
mod sink;
mod syslog;
mod webhook;

use crate::catalog::CatalogInfo;
use crate::checklists::Checklists;
use crate::evaluation::{Evaluation, Kept, ProbeHealth};
use crate::store::Store;
use crate::verdict::{ItemResult, Outcome, Verdict};
use serde::Deserialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::Duration;

pub use sink::SinkConfig;

/// `[findings]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct FindingsConfig {
    /// How often every catalog is evaluated for the compliance gauges and
    /// verdict changes.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// An agent not heard from for this long counts in `agents_silent`.
    #[serde(with = "humantime_serde")]
    pub silent_after: Duration,
    /// Changes waiting per sink; when full, new changes are dropped (and
    /// counted), so a slow receiver never holds up the collector.
    pub queue: usize,
    /// Attempts per change (1 s, 2 s, 4 s … apart, at most a minute) before
    /// it is counted failed.
    pub attempts: u32,
    pub sinks: Vec<SinkConfig>,
}

impl Default for FindingsConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(300),
            silent_after: Duration::from_secs(15 * 60),
            queue: 1000,
            attempts: 5,
            sinks: vec![],
        }
    }
}

impl FindingsConfig {
    /// Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.interval < Duration::from_secs(1) {
            return Err("findings.interval: at least 1s".into());
        }
        if self.queue == 0 {
            return Err("findings.queue: at least 1".into());
        }
        if self.attempts == 0 {
            return Err("findings.attempts: at least 1".into());
        }
        for (i, s) in self.sinks.iter().enumerate() {
            s.target()
                .map_err(|e| format!("findings.sinks[{i}].url: {e}"))?;
        }
        Ok(())
    }
}

/// One item whose verdict changed between two evaluations.
#[derive(Debug, Clone)]
pub struct Change {
    pub catalog: CatalogInfo,
    pub item: ItemResult,
    /// None for an item the previous evaluation did not have.
    pub before: Option<Verdict>,
    pub at_ms: i64,
}

/// The items of `now` whose verdict differs from `before`'s.
fn changes<'a>(
    before: &HashMap<(String, String), Verdict>,
    now: &'a [ItemResult],
) -> Vec<(Option<Verdict>, &'a ItemResult)> {
    now.iter()
        .filter_map(|i| {
            let was = before.get(&(i.catalog.clone(), i.id.clone())).copied();
            (was != Some(i.verdict)).then_some((was, i))
        })
        .collect()
}

/// The gauges' figures from one evaluation.
fn figures(
    checklists: &Checklists,
    evaluation: &Evaluation,
    agents: &[crate::store::AgentRecord],
    silent_after: Duration,
    now_ms: i64,
) -> crate::metrics::Compliance {
    const VERDICTS: [Verdict; 5] = [
        Verdict::Y,
        Verdict::P,
        Verdict::N,
        Verdict::Na,
        Verdict::Unknown,
    ];
    let mut counts: BTreeMap<(&str, Verdict), i64> = BTreeMap::new();
    for c in &checklists.catalogs {
        for v in VERDICTS {
            counts.insert((c.catalog.id.as_str(), v), 0);
        }
    }
    let mut failing: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in &evaluation.items {
        *counts.entry((i.catalog.as_str(), i.verdict)).or_default() += 1;
        for r in &i.rows {
            if let Some(rule) = &r.rule {
                let set = failing.entry(rule.as_str()).or_default();
                set.extend(
                    r.hosts
                        .iter()
                        .filter(|h| h.outcome == Outcome::Fail)
                        .map(|h| h.host.as_str()),
                );
            }
        }
    }
    let revoked: BTreeSet<&str> = agents
        .iter()
        .filter(|a| a.revoked)
        .map(|a| a.agent_id.as_str())
        .collect();
    let mut oldest: BTreeMap<&str, i64> = BTreeMap::new();
    let probes = evaluation
        .probes
        .iter()
        .filter(|(agent, _)| !revoked.contains(agent.as_str()))
        .flat_map(|(_, probes)| probes.iter());
    for (probe, health) in probes {
        let ProbeHealth { oldest_ms: at, .. } = *health;
        let o = oldest.entry(probe.as_str()).or_insert(at);
        *o = (*o).min(at);
    }
    let silent_ms = silent_after.as_millis() as i64;
    crate::metrics::Compliance {
        items: counts
            .into_iter()
            .map(|((c, v), n)| (c.to_string(), v.as_str(), n))
            .collect(),
        hosts_failing: failing
            .into_iter()
            .map(|(r, h)| (r.to_string(), h.len() as i64))
            .collect(),
        evidence_age: oldest
            .into_iter()
            .map(|(p, at)| (p.to_string(), (now_ms - at).max(0) as f64 / 1000.0))
            .collect(),
        agents_silent: agents
            .iter()
            .filter(|a| !a.revoked && now_ms - a.last_seen_ms > silent_ms)
            .count() as i64,
        evaluated_at_seconds: evaluation.as_of_ms as f64 / 1000.0,
        evaluation_seconds: evaluation.took.as_secs_f64(),
    }
}

/// Reads the kept evaluation every `config.interval` until `stop` turns
/// true: sets the gauges and, while this collector holds the `findings`
/// lease, records the assessment and hands verdict changes to the sinks.
async fn run(
    config: FindingsConfig,
    sinks: Vec<sink::Queue>,
    checklists: Arc<Checklists>,
    kept: Arc<Kept>,
    store: Arc<dyn Store>,
    holder: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut previous: Option<HashMap<(String, String), Verdict>> = None;
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let read = async {
            let evaluation = kept.get().await?;
            let agents = store.list_agents().await?;
            anyhow::Ok((evaluation, agents))
        }
        .await;
        let (evaluation, agents) = match read {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "no evaluation to read; compliance gauges keep the last one");
                continue;
            }
        };
        let now = crate::clock::now_ms();
        let f = figures(&checklists, &evaluation, &agents, config.silent_after, now);
        crate::metrics::set_compliance(f);
        let items = &evaluation.items;
        let leader = holds_lease(store.as_ref(), &holder, config.interval).await;
        if leader {
            if let Err(e) = history::record(store.as_ref(), items, now).await {
                tracing::warn!(error = %e, "the findings history missed this assessment");
            }
        }
        if let Some(before) = &previous {
            if leader && !sinks.is_empty() {
                for (was, item) in changes(before, items) {
                    let Some(c) = checklists.catalog(&item.catalog) else {
                        continue;
                    };
                    let change = Arc::new(Change {
                        catalog: c.catalog.clone(),
                        item: item.clone(),
                        before: was,
                        at_ms: now,
                    });
                    for s in &sinks {
                        s.offer(change.clone());
                    }
                }
            }
        }
        previous = Some(
            items
                .iter()
                .map(|i| ((i.catalog.clone(), i.id.clone()), i.verdict))
                .collect(),
        );
    }
}

/// Takes or renews the fleet-wide `findings` lease for three intervals.
async fn holds_lease(store: &dyn Store, holder: &str, interval: Duration) -> bool {
    match store
        .try_lease("findings", holder, interval * 3, crate::clock::now_ms())
        .await
    {
        Ok(held) => held,
        Err(e) => {
            tracing::warn!(error = %e, "verdict changes not sent and the findings history not recorded: the store did not grant the findings lease");
            false
        }
    }
}

/// Starts the periodic evaluation as a background task ending when `stop`
/// turns true. `holder` names this process among replicas.
pub fn spawn(
    config: &FindingsConfig,
    checklists: Arc<Checklists>,
    kept: Arc<Kept>,
    store: Arc<dyn Store>,
    holder: String,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    let sinks = config
        .sinks
        .iter()
        .enumerate()
        .map(|(i, s)| {
            sink::Queue::start(s, config.queue, config.attempts)
                .map_err(|e| anyhow::anyhow!("findings.sinks[{i}].url: {e}"))
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    tokio::spawn(run(
        config.clone(),
        sinks,
        checklists,
        kept,
        store,
        holder,
        stop,
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(super) fn item(catalog: &str, id: &str, verdict: Verdict) -> ItemResult {
        ItemResult {
            catalog: catalog.into(),
            id: id.into(),
            title_ko: String::new(),
            title_en: String::new(),
            verdict,
            reason_en: String::new(),
            reason_ko: String::new(),
            hosts: Arc::default(),
            rows: vec![],
            evidence: Arc::default(),
            evaluated_at: String::new(),
            na_mark: None,
        }
    }

    #[test]
    fn only_items_whose_verdict_differs_are_changes() {
        let before: HashMap<_, _> = [
            (("c".to_string(), "1".to_string()), Verdict::Y),
            (("c".to_string(), "2".to_string()), Verdict::Unknown),
        ]
        .into();
        let now = [
            item("c", "1", Verdict::Y),
            item("c", "2", Verdict::N),
            item("c", "3", Verdict::P),
        ];
        let got: Vec<(Option<Verdict>, String)> = changes(&before, &now)
            .into_iter()
            .map(|(b, i)| (b, i.id.clone()))
            .collect();
        assert_eq!(
            got,
            vec![
                (Some(Verdict::Unknown), "2".to_string()),
                (None, "3".to_string())
            ]
        );
    }

    #[test]
    fn validation_names_the_field() {
        let mut c = FindingsConfig::default();
        c.sinks.push(toml::from_str("url = \"ftp://x:1\"").unwrap());
        let e = c.validate().unwrap_err();
        assert!(e.starts_with("findings.sinks[0].url: "), "{e}");
        c.sinks.clear();
        c.interval = Duration::ZERO;
        assert!(c.validate().unwrap_err().starts_with("findings.interval"));
    }
}
