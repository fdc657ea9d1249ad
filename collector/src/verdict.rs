//! What gamsa answers: a verdict per item (Y / P / N / NA / UNKNOWN), made of
//! row verdicts, made of one outcome per host, each with its reasons, hosts
//! and evidence ids. These types are what the rules engine produces and what
//! reports, exports, snapshots, the API and the dashboard read; a leaf, so
//! that none of them depends on the engine that computes them.

use crate::records::{Attestation, NaMark};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::Bound;
use std::sync::Arc;

/// The answer for an item or row; ordered worst first, as overviews sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, PartialOrd, Ord, Hash)]
pub enum Verdict {
    #[serde(rename = "N")]
    N,
    #[serde(rename = "P")]
    P,
    #[serde(rename = "UNKNOWN")]
    Unknown,
    #[serde(rename = "Y")]
    Y,
    #[serde(rename = "NA")]
    Na,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Y => "Y",
            Verdict::P => "P",
            Verdict::N => "N",
            Verdict::Na => "NA",
            Verdict::Unknown => "UNKNOWN",
        }
    }

    pub fn parse(s: &str) -> Option<Verdict> {
        Some(match s {
            "Y" => Verdict::Y,
            "P" => Verdict::P,
            "N" => Verdict::N,
            "NA" => Verdict::Na,
            _ => return None,
        })
    }
}

/// How far machine evidence answers a checklist question: all of it (a Y
/// stands on the evidence alone), or part of it (at most P, until the
/// documents the row names complete it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Answers {
    #[default]
    Full,
    Partial,
}

impl Answers {
    pub fn as_str(self) -> &'static str {
        match self {
            Answers::Full => "full",
            Answers::Partial => "partial",
        }
    }

    /// The highest verdict evidence that answers this far can give.
    pub fn highest(self) -> Verdict {
        match self {
            Answers::Full => Verdict::Y,
            Answers::Partial => Verdict::P,
        }
    }
}

/// One host's outcome under one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Outcome {
    Pass,
    Fail,
    Unknown,
    Na,
}

impl Outcome {
    /// Worst first: FAIL, UNKNOWN, PASS, NA (how hosts are listed and
    /// paged, and which of a host's outcomes is its worst).
    pub fn rank(self) -> u8 {
        match self {
            Outcome::Fail => 0,
            Outcome::Unknown => 1,
            Outcome::Pass => 2,
            Outcome::Na => 3,
        }
    }
}

/// One host under one rule: its outcome, why, and the evidence it stands on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostResult {
    pub host: String,
    pub outcome: Outcome,
    pub reason: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub detail: Vec<String>,
    /// Shared with the host's other results that cite the same evidence.
    pub evidence: Arc<Vec<String>>,
}

/// One row of an item: answered by a rule over hosts, or by an attestation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RowResult {
    pub id: String,
    pub question_ko: String,
    pub question_en: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manual: Option<String>,
    pub verdict: Verdict,
    pub reason_en: String,
    pub reason_ko: String,
    /// Automated rows: how far the evidence answers the question, the
    /// highest verdict the evidence alone can give (Y, or P for a partial
    /// row), why, and what completes a partial row.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answers: Option<Answers>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rationale_ko: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completes_en: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completes_ko: Option<String>,
    /// Shared with the rule's result and, for hosts whose evidence did not
    /// change, with the previous evaluation's (`rules::evaluate::Judged`).
    /// In host-name order, as the rules are given hosts
    /// (`rules::input::build`): a page of hosts is found by bisection.
    pub hosts: Arc<Vec<Arc<HostResult>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attestation: Option<Attestation>,
}

/// How many hosts had each outcome: in an item (each host's worst over its
/// rows) and in each of its rows. What a snapshot's manifest says of an
/// item's hosts, whose own results are in their parts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HostCounts {
    pub item: BTreeMap<Outcome, u64>,
    pub rows: Vec<BTreeMap<Outcome, u64>>,
}

impl HostCounts {
    pub fn of(item: &ItemResult) -> Self {
        let count = |outcomes: &mut dyn Iterator<Item = Outcome>| {
            let mut c = BTreeMap::new();
            for o in outcomes {
                *c.entry(o).or_default() += 1;
            }
            c
        };
        HostCounts {
            item: count(&mut item.hosts.values().copied()),
            rows: item
                .rows
                .iter()
                .map(|r| count(&mut r.hosts.iter().map(|h| h.outcome)))
                .collect(),
        }
    }

    /// Adds the counts of other hosts.
    pub fn add(&mut self, other: &HostCounts) {
        let add = |to: &mut BTreeMap<Outcome, u64>, from: &BTreeMap<Outcome, u64>| {
            for (o, n) in from {
                *to.entry(*o).or_default() += n;
            }
        };
        add(&mut self.item, &other.item);
        if self.rows.len() < other.rows.len() {
            self.rows.resize_with(other.rows.len(), BTreeMap::new);
        }
        for (to, from) in self.rows.iter_mut().zip(&other.rows) {
            add(to, from);
        }
    }
}

/// One checklist item's answer, its rows, hosts and evidence, as of `evaluated_at`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemResult {
    pub catalog: String,
    pub id: String,
    pub title_ko: String,
    pub title_en: String,
    pub verdict: Verdict,
    pub reason_en: String,
    pub reason_ko: String,
    /// Hosts and their worst outcome across the item's automated rows.
    pub hosts: Arc<BTreeMap<String, Outcome>>,
    pub rows: Vec<RowResult>,
    pub evidence: Arc<Vec<String>>,
    pub evaluated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub na_mark: Option<NaMark>,
}

impl ItemResult {
    /// This result cut to the hosts `keep` accepts: the item's hosts, each
    /// row's host results and the evidence ids they cite. Verdicts and
    /// reasons stay those of every host. How a page shows part of a fleet.
    pub fn of_hosts(&self, keep: impl Fn(&str) -> bool) -> ItemResult {
        self.cut(
            |hosts| hosts.iter().filter(|h| keep(&h.host)).cloned().collect(),
            self.hosts
                .iter()
                .filter(|(h, _)| keep(h))
                .map(|(h, o)| (h.clone(), *o))
                .collect(),
        )
    }

    /// As [`ItemResult::of_hosts`], for the hosts after `after` up to and
    /// including `last` in name order (none when `last` is None), found by
    /// bisection: a page costs what it holds, not the fleet's size.
    pub fn of_host_range(&self, after: Option<&str>, last: Option<&str>) -> ItemResult {
        let last = last.filter(|l| after.is_none_or(|a| a < *l));
        let Some(last) = last else {
            return self.cut(|_| Vec::new(), BTreeMap::new());
        };
        let from = after.map_or(Bound::Unbounded, Bound::Excluded);
        self.cut(
            |hosts| {
                let start = after.map_or(0, |a| hosts.partition_point(|h| h.host.as_str() <= a));
                let end = hosts.partition_point(|h| h.host.as_str() <= last);
                hosts[start..end.max(start)].to_vec()
            },
            self.hosts
                .range::<str, _>((from, Bound::Included(last)))
                .map(|(h, o)| (h.clone(), *o))
                .collect(),
        )
    }

    /// This result with each row's host results as `rows_hosts` gives them,
    /// the item's hosts `hosts`, and the evidence those results cite.
    fn cut(
        &self,
        rows_hosts: impl Fn(&[Arc<HostResult>]) -> Vec<Arc<HostResult>>,
        hosts: BTreeMap<String, Outcome>,
    ) -> ItemResult {
        let rows: Vec<RowResult> = self
            .rows
            .iter()
            .map(|r| RowResult {
                hosts: Arc::new(rows_hosts(&r.hosts)),
                ..r.clone()
            })
            .collect();
        let evidence: std::collections::BTreeSet<&String> = rows
            .iter()
            .flat_map(|r| r.hosts.iter())
            .flat_map(|h| h.evidence.iter())
            .collect();
        ItemResult {
            hosts: Arc::new(hosts),
            evidence: Arc::new(evidence.into_iter().cloned().collect()),
            rows,
            catalog: self.catalog.clone(),
            id: self.id.clone(),
            title_ko: self.title_ko.clone(),
            title_en: self.title_en.clone(),
            verdict: self.verdict,
            reason_en: self.reason_en.clone(),
            reason_ko: self.reason_ko.clone(),
            evaluated_at: self.evaluated_at.clone(),
            na_mark: self.na_mark.clone(),
        }
    }
}

/// How many detail lines each of `results` shows so that their details
/// come to at most `budget` bytes: every line when they fit, else the same
/// first lines of each. A rule may list hundreds for one host (every
/// pending update), which fifty hosts to a page would carry whole.
pub fn details_shown<'a, I>(results: I, budget: usize) -> usize
where
    I: Iterator<Item = &'a HostResult> + Clone,
{
    let bytes = |k: usize| -> usize {
        results
            .clone()
            .map(|r| r.detail.iter().take(k).map(String::len).sum::<usize>())
            .sum()
    };
    let most = results.clone().map(|r| r.detail.len()).max().unwrap_or(0);
    if bytes(most) <= budget {
        return most;
    }
    // bytes(fits) <= budget < bytes(over), and bytes grows with k.
    let (mut fits, mut over) = (0, most);
    while over - fits > 1 {
        let k = fits + (over - fits) / 2;
        if bytes(k) <= budget {
            fits = k;
        } else {
            over = k;
        }
    }
    fits
}

#[cfg(test)]
impl RowResult {
    /// A row answered by `rule` over `hosts`, the rest empty (test fixtures).
    pub fn of_rule(id: &str, rule: &str, hosts: Vec<HostResult>) -> Self {
        RowResult {
            id: id.into(),
            question_ko: String::new(),
            question_en: String::new(),
            rule: Some(rule.into()),
            manual: None,
            verdict: Verdict::N,
            reason_en: String::new(),
            reason_ko: String::new(),
            answers: None,
            highest: None,
            rationale_en: None,
            rationale_ko: None,
            completes_en: None,
            completes_ko: None,
            hosts: Arc::new(hosts.into_iter().map(Arc::new).collect()),
            attestation: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_detail(lines: &[usize]) -> HostResult {
        HostResult {
            host: "h".into(),
            outcome: Outcome::Fail,
            reason: "fails".into(),
            detail: lines.iter().map(|n| "x".repeat(*n)).collect(),
            evidence: Arc::default(),
        }
    }

    #[test]
    fn details_are_shown_whole_when_they_fit_else_the_same_first_lines_of_each() {
        let results = [
            with_detail(&[10; 30]),
            with_detail(&[10; 5]),
            with_detail(&[]),
        ];
        let shown = |budget| details_shown(results.iter(), budget);
        // 350 bytes in all: every line fits in 350, not in 349.
        assert_eq!(shown(350), 30);
        // k lines each: 20k bytes up to 5 lines, then 10 more a line.
        assert_eq!(shown(349), 29);
        assert_eq!(shown(100), 5);
        assert_eq!(shown(99), 4);
        assert_eq!(shown(19), 0);
        assert_eq!(details_shown([].iter(), 0), 0);
    }
}
