//! The fleet evaluated a range of hosts at a time, to the verdicts the
//! whole evaluation gives.
//!
//! Why: evaluating 10,000 hosts at once holds every host's converted
//! evidence and a million host results (gigabytes), where a snapshot with
//! no kept evaluation to freeze needs each host's results only while its
//! part is written, and of each item its verdict and how many hosts had
//! each outcome. So:
//!
//! - A host rule's answer reads only a tally of its results (`Tally`), and
//!   the tallies of consecutive ranges of hosts add up to the whole one.
//! - A fleet rule reads every host at once. The fleet rules are evaluated
//!   first ([`Hostwise::new`]) over the evidence of the probes they read
//!   ([`fleet_probes`]) from every host, and each range takes its hosts'
//!   results from there (`evaluate::Given::Fleet`).
//! - What that first evaluation's `fleet` said (host count, zones by role)
//!   must be what the ranges add up to, and each range's hosts must have
//!   the evidence the fleet rules' results cite; else (a host with no agent
//!   and none of those probes' evidence, evidence that changed between the
//!   reads) [`Hostwise::finish`] says why, and the caller evaluates whole.
//!   So does [`Hostwise::new`] where a host rule reads `fleet`, or a fleet
//!   rule the times evidence was observed at (which move between reads).

use super::evaluate::{row_window, Evaluator, Given, Judged, RuleResult, Tally};
use super::input::{Converted, FleetFacts, HostFacts};
use super::{Rule, Scope};
use crate::catalog::Catalog;
use crate::expectations::Expectations;
use crate::records::Documents;
use crate::verdict::{HostCounts, ItemResult};
use gamsa_proto::probes::PROBES;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

/// What an evaluation reads besides the evidence and the hosts.
pub struct Setting<'a> {
    pub rules: &'a BTreeMap<String, Arc<Rule>>,
    pub expectations: &'a Expectations,
    pub catalogs: &'a [Catalog],
    pub documents: &'a Documents,
    pub now_ms: i64,
}

impl Setting<'_> {
    /// Every (rule, window asked for) the catalogs' rows name.
    fn windows(&self) -> BTreeSet<(String, i64)> {
        let mut out = BTreeSet::new();
        for catalog in self.catalogs {
            for item in &catalog.items {
                for rule in item.rows.iter().filter_map(|r| r.rule.as_ref()) {
                    let since = row_window(self.rules, self.now_ms, catalog, item, rule);
                    out.insert((rule.clone(), since));
                }
            }
        }
        out
    }

    fn scope_of(&self, rule_id: &str) -> Option<Scope> {
        self.rules.get(rule_id).map(|r| r.def.scope)
    }
}

/// Why the fleet is to be evaluated whole instead.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Whole {
    #[error("the host rule {0} reads `fleet`, which only every host tells")]
    ReadsFleet(String),
    #[error(
        "the fleet rule {0} reads the times evidence was observed at, which move between reads"
    )]
    ReadsTimes(String),
    #[error("`fleet` of the window from {since_ms} ms differs between the fleet rules' evidence ({first:?}) and every host's ({all:?})")]
    FleetDiffers {
        since_ms: i64,
        first: FleetFacts,
        all: FleetFacts,
    },
    #[error("{0}")]
    EvidenceDiffers(String),
}

/// The probes whose evidence the fleet rules read: those they need, those
/// their expressions select, and those a host's zone is read from.
pub fn fleet_probes(rules: &BTreeMap<String, Arc<Rule>>) -> Vec<String> {
    let mut probes: BTreeSet<&str> = ["region", "redundancy"].into();
    for rule in rules.values().filter(|r| r.def.scope == Scope::Fleet) {
        probes.extend(rule.def.needs.iter().map(String::as_str));
        probes.extend(
            PROBES
                .iter()
                .map(|p| p.name)
                .filter(|p| rule.selects.contains(*p)),
        );
    }
    probes.into_iter().map(str::to_string).collect()
}

/// An evaluation by ranges of hosts, between them.
pub struct Hostwise {
    /// Each fleet rule's results over every host, by (rule, window asked for).
    fleet: HashMap<(String, i64), RuleResult>,
    /// What `fleet` said there, by window asked for.
    expected: HashMap<i64, FleetFacts>,
    /// What the ranges said of `fleet`, added up.
    seen: HashMap<i64, FleetFacts>,
    /// The host rules' tallies, added up in host order.
    tallies: HashMap<(String, i64), Tally>,
    /// Each item's hosts by outcome, in the items' order.
    counts: Vec<HostCounts>,
    /// Why the ranges do not add up to the whole evaluation, if they do not.
    differs: Option<String>,
}

impl Hostwise {
    /// The fleet rules evaluated over `fleet_evidence` (of [`fleet_probes`],
    /// from every host) and the hosts `known`.
    pub fn new(
        setting: &Setting,
        fleet_evidence: &[Converted],
        known: &BTreeMap<String, HostFacts>,
    ) -> Result<Self, Whole> {
        for rule in setting.rules.values() {
            let texts = || {
                [&rule.def.detail, &rule.def.offender]
                    .into_iter()
                    .flatten()
                    .chain([&rule.def.pass])
            };
            match rule.def.scope {
                Scope::Host if texts().any(|t| t.contains("fleet")) => {
                    return Err(Whole::ReadsFleet(rule.def.id.clone()))
                }
                Scope::Fleet if rule.reads_observed_at => {
                    return Err(Whole::ReadsTimes(rule.def.id.clone()))
                }
                _ => {}
            }
        }
        let none = Judged::default();
        let mut eval = Evaluator::new(
            setting.rules,
            setting.expectations,
            fleet_evidence,
            known,
            setting.documents,
            setting.now_ms,
            &none,
        );
        let (mut fleet, mut expected) = (HashMap::new(), HashMap::new());
        for (rule, since) in setting.windows() {
            if setting.scope_of(&rule) == Some(Scope::Fleet) {
                let (result, facts) = eval.fleet_rule(&rule, since);
                expected.insert(since, facts);
                fleet.insert((rule, since), result);
            }
        }
        Ok(Self {
            fleet,
            expected,
            seen: HashMap::new(),
            tallies: HashMap::new(),
            counts: Vec::new(),
            differs: None,
        })
    }

    /// Evaluates the hosts from `from` (the first when None) up to but not
    /// including `to` (to the last when None): their `evidence` and those
    /// of them `known`. Ranges come in host order. Returns the items with
    /// these hosts' results; their verdicts are not the fleet's
    /// ([`Hostwise::finish`] gives those).
    pub fn range(
        &mut self,
        setting: &Setting,
        evidence: &[Converted],
        known: &BTreeMap<String, HostFacts>,
        (from, to): (Option<&str>, Option<&str>),
    ) -> Vec<ItemResult> {
        let none = Judged::default();
        let mut eval = Evaluator::new(
            setting.rules,
            setting.expectations,
            evidence,
            known,
            setting.documents,
            setting.now_ms,
            &none,
        )
        .given(Given::Fleet {
            results: &self.fleet,
            from,
            to,
        });
        let items: Vec<ItemResult> = setting
            .catalogs
            .iter()
            .flat_map(|c| eval.catalog(c, None))
            .collect();
        let (tallies, seen, differs) = eval.into_tallies();
        for (key, tally) in tallies {
            self.tallies.entry(key).or_default().add(&tally);
        }
        for (since, facts) in seen {
            self.seen.entry(since).or_default().add(&facts);
        }
        if self.differs.is_none() {
            self.differs = differs;
        }
        self.counts.resize_with(items.len(), HostCounts::default);
        for (counts, item) in self.counts.iter_mut().zip(&items) {
            counts.add(&HostCounts::of(item));
        }
        items
    }

    /// The items as the whole evaluation answers them, without host
    /// results, and how many of each item's hosts had each outcome; or why
    /// the ranges do not add up to it.
    pub fn finish(self, setting: &Setting) -> Result<(Vec<ItemResult>, Vec<HostCounts>), Whole> {
        if let Some(why) = self.differs {
            return Err(Whole::EvidenceDiffers(why));
        }
        for (since, first) in &self.expected {
            let all = self.seen.get(since).cloned().unwrap_or_default();
            if &all != first {
                return Err(Whole::FleetDiffers {
                    since_ms: *since,
                    first: first.clone(),
                    all,
                });
            }
        }
        let (none, nobody) = (Judged::default(), BTreeMap::new());
        let answering = Evaluator::new(
            setting.rules,
            setting.expectations,
            &[],
            &nobody,
            setting.documents,
            setting.now_ms,
            &none,
        );
        let mut answers = HashMap::new();
        for key in setting.windows() {
            let answer = match self.fleet.get(&key) {
                Some(r) => r.without_hosts(),
                None => {
                    let tally = self.tallies.get(&key).cloned().unwrap_or_default();
                    answering.tallied(&key.0, &tally)
                }
            };
            answers.insert(key, answer);
        }
        let mut eval = answering.given(Given::Answers(&answers));
        let items: Vec<ItemResult> = setting
            .catalogs
            .iter()
            .flat_map(|c| eval.catalog(c, None))
            .collect();
        let mut counts = self.counts;
        counts.resize_with(items.len(), HostCounts::default);
        Ok((items, counts))
    }
}
