//! The assessment history read back: each host's findings (a host failing a
//! rule of a checklist item) with when they were first and last seen failing
//! and when they were fixed, each compared with the previous assessment and
//! with the state a year earlier — new, recurring (failing in both) or fixed
//! — as ISMS-P 2.11.2 asks of a vulnerability check (the previous year's
//! results, recurrence). The `findings` module records the history; this
//! module only reads it, so the dashboard, the API, the command line and
//! the findings report classify alike.
//!
//! A finding is open at a time when one of its records covers it: first seen
//! at or before, not fixed by then. A host that went silent keeps its
//! findings open (only fresh evidence that passes fixes one), so a silent
//! host never counts as fixed.

use crate::checklists::Checklists;
use crate::records::{AssessmentTimes, FindingKey, FindingRecord};
use crate::store::{ChangeTally, FindingQuery, KeyPage, Store, StoreError};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Mutex;

/// How far back the yearly comparison looks.
pub const YEAR_MS: i64 = 365 * 86_400_000;

/// A finding compared with an earlier time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    /// Failing now, not then.
    New,
    /// Failing then and now.
    Recurring,
    /// Failing then, fixed now.
    Fixed,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Recurring => "recurring",
            Change::Fixed => "fixed",
        }
    }

    pub fn ko(self) -> &'static str {
        match self {
            Change::New => "신규",
            Change::Recurring => "재발",
            Change::Fixed => "조치됨",
        }
    }
}

/// Which findings to read; empty fields match all. `open_only` leaves out
/// findings fixed since; `page` reads one page of findings instead of all
/// of them.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub host: Option<String>,
    pub catalog: Option<String>,
    pub open_only: bool,
    pub page: Option<KeyPage>,
}

impl Filter {
    /// "host=web-1 catalog=kisa-unix", for the access log.
    pub fn describe(&self) -> String {
        let mut parts = vec![];
        if let Some(h) = &self.host {
            parts.push(format!("host={h}"));
        }
        if let Some(c) = &self.catalog {
            parts.push(format!("catalog={c}"));
        }
        if self.open_only {
            parts.push("open".into());
        }
        if let Some(p) = &self.page {
            parts.push(format!("offset={} limit={}", p.offset, p.limit));
        }
        if parts.is_empty() {
            "all".into()
        } else {
            parts.join(" ")
        }
    }
}

/// One finding's history and what it is about.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    #[serde(flatten)]
    pub key: FindingKey,
    pub item_title_ko: String,
    pub item_title_en: String,
    /// Open at the last assessment (failing, or not told since).
    pub open: bool,
    /// The latest record: when it was first and last seen failing, and
    /// fixed (None while open).
    pub first_seen_ms: i64,
    pub last_seen_ms: i64,
    pub fixed_ms: Option<i64>,
    /// How many times it was open (more than one: it came back after a fix).
    pub times_open: usize,
    /// Against the previous assessment; None when unchanged-absent, or
    /// when there was no previous assessment.
    pub since_previous: Option<Change>,
    /// Against the state a year before the last assessment; None also when
    /// the history does not reach back a year.
    pub since_year: Option<Change>,
    pub remediation_ko: String,
    pub remediation_en: String,
}

/// The findings of one read, with the times they are compared at.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct History {
    /// None before the first assessment.
    pub assessments: Option<AssessmentTimes>,
    /// The time a year before the last assessment, when the history reaches
    /// back that far.
    pub year_ago_ms: Option<i64>,
    pub findings: Vec<Finding>,
    /// The `offset` of the next page, when a page was read and more
    /// findings follow.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_offset: Option<u32>,
}

impl History {
    /// How many findings each comparison puts in each class:
    /// (new, recurring, fixed).
    pub fn counts(&self, year: bool) -> (usize, usize, usize) {
        let mut n = (0, 0, 0);
        for f in &self.findings {
            match if year { f.since_year } else { f.since_previous } {
                Some(Change::New) => n.0 += 1,
                Some(Change::Recurring) => n.1 += 1,
                Some(Change::Fixed) => n.2 += 1,
                None => {}
            }
        }
        n
    }
}

/// Whether a finding with these records was open at `t`.
pub fn open_at(records: &[FindingRecord], t: i64) -> bool {
    records
        .iter()
        .any(|r| r.first_seen_ms <= t && r.fixed_ms.is_none_or(|f| f > t))
}

/// A finding at `now` compared with `then`.
pub fn classify(records: &[FindingRecord], then: i64, now: i64) -> Option<Change> {
    match (open_at(records, then), open_at(records, now)) {
        (false, true) => Some(Change::New),
        (true, true) => Some(Change::Recurring),
        (true, false) => Some(Change::Fixed),
        (false, false) => None,
    }
}

/// Groups records (ordered by key, then first sighting) into findings
/// compared at the assessment times.
pub fn findings(
    records: Vec<FindingRecord>,
    times: Option<AssessmentTimes>,
    checklists: &Checklists,
) -> History {
    let year_ago_ms = year_ago(times);
    let mut out: Vec<Finding> = vec![];
    let mut group: Vec<FindingRecord> = vec![];
    let mut flush = |group: &mut Vec<FindingRecord>| {
        let Some(latest) = group.last().cloned() else {
            return;
        };
        let now = times.map_or(i64::MAX, |t| t.last_ms);
        let item = checklists
            .catalog(&latest.key.catalog)
            .and_then(|c| c.item(&latest.key.item));
        let rule = checklists.rules.get(&latest.key.check);
        out.push(Finding {
            item_title_ko: item.map(|i| i.title_ko.clone()).unwrap_or_default(),
            item_title_en: item.map(|i| i.title_en.clone()).unwrap_or_default(),
            open: open_at(group, now),
            first_seen_ms: latest.first_seen_ms,
            last_seen_ms: latest.last_seen_ms,
            fixed_ms: latest.fixed_ms,
            times_open: group.len(),
            since_previous: times
                .and_then(|t| t.previous_ms)
                .and_then(|p| classify(group, p, now)),
            since_year: year_ago_ms.and_then(|y| classify(group, y, now)),
            remediation_ko: rule
                .map(|r| r.def.remediation_ko.clone())
                .unwrap_or_default(),
            remediation_en: rule
                .map(|r| r.def.remediation_en.clone())
                .unwrap_or_default(),
            key: latest.key,
        });
        group.clear();
    };
    for r in records {
        if group.last().is_some_and(|g| g.key != r.key) {
            flush(&mut group);
        }
        group.push(r);
    }
    flush(&mut group);
    History {
        assessments: times,
        year_ago_ms,
        findings: out,
        next_offset: None,
    }
}

/// The time a year before the last assessment, when the history reaches
/// back that far.
fn year_ago(times: Option<AssessmentTimes>) -> Option<i64> {
    times
        .map(|t| t.last_ms - YEAR_MS)
        .filter(|y| times.is_some_and(|t| t.first_ms <= *y))
}

/// The records of the findings `filter` names (all of them, not a page):
/// those open, and those fixed within the year before the last assessment
/// (the span both comparisons cover).
fn query(filter: &Filter, times: Option<AssessmentTimes>) -> FindingQuery {
    FindingQuery {
        host: filter.host.clone(),
        catalog: filter.catalog.clone(),
        fixed_since_ms: times.map_or(0, |t| t.last_ms - YEAR_MS),
        open_only: filter.open_only,
        keys: None,
    }
}

/// Reads the findings `filter` names (`query`), a page of them when it
/// asks for one.
pub async fn read(
    store: &dyn Store,
    checklists: &Checklists,
    filter: &Filter,
) -> Result<History, StoreError> {
    let times = store.assessment_times().await?;
    // One finding more than the page holds tells whether another follows.
    let records = store
        .findings(FindingQuery {
            keys: filter.page.map(|p| KeyPage {
                offset: p.offset,
                limit: p.limit.saturating_add(1),
            }),
            ..query(filter, times)
        })
        .await?;
    let mut history = findings(records, times, checklists);
    if let Some(p) = filter.page {
        if history.findings.len() > p.limit as usize {
            history.findings.truncate(p.limit as usize);
            history.next_offset = Some(p.offset.saturating_add(p.limit));
        }
    }
    Ok(history)
}

/// What the findings a filter names come to, as of the last assessment:
/// how many, how many open, and how they changed since the previous
/// assessment and a year earlier.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Summary {
    pub assessments: Option<AssessmentTimes>,
    pub year_ago_ms: Option<i64>,
    pub findings: u64,
    pub open: u64,
    /// None without a previous assessment.
    pub since_previous: Option<ChangeTally>,
    /// None when the history does not reach back a year.
    pub since_year: Option<ChangeTally>,
}

/// Summaries kept until the next assessment: a fleet's counts take one
/// aggregate over every finding record, and they change only when an
/// assessment is recorded (in one transaction with its findings), so a
/// summary of the same filter and assessment times is still exact. The
/// times are read from the store on every call, so a replica sharing it
/// never serves a count older than the last assessment.
#[derive(Default)]
pub struct Tallies {
    kept: Mutex<HashMap<TallyKey, Summary>>,
}

type TallyKey = (
    Option<String>,
    Option<String>,
    bool,
    Option<AssessmentTimes>,
);

/// Filters whose summaries are kept at most, all of the last assessment
/// (earlier ones are dropped); past it, all are dropped and counted anew.
const KEPT_SUMMARIES: usize = 256;

impl Tallies {
    /// The summary of the findings `filter` names (its page ignored).
    pub async fn summary(&self, store: &dyn Store, filter: &Filter) -> Result<Summary, StoreError> {
        let times = store.assessment_times().await?;
        let key = (
            filter.host.clone(),
            filter.catalog.clone(),
            filter.open_only,
            times,
        );
        if let Some(s) = self.kept.lock().ok().and_then(|k| k.get(&key).copied()) {
            return Ok(s);
        }
        let year_ago_ms = year_ago(times);
        let now = times.map_or(i64::MAX, |t| t.last_ms);
        // A time before any record: nothing was open then.
        let never = i64::MIN;
        let tally = store
            .finding_tally(
                query(filter, times),
                now,
                [
                    times.and_then(|t| t.previous_ms).unwrap_or(never),
                    year_ago_ms.unwrap_or(never),
                ],
            )
            .await?;
        let summary = Summary {
            assessments: times,
            year_ago_ms,
            findings: tally.findings,
            open: tally.open,
            since_previous: times.and_then(|t| t.previous_ms).map(|_| tally.since[0]),
            since_year: year_ago_ms.map(|_| tally.since[1]),
        };
        if let Ok(mut kept) = self.kept.lock() {
            // Earlier assessments' summaries are never asked for again.
            kept.retain(|k, _| k.3 == times);
            if kept.len() >= KEPT_SUMMARIES {
                kept.clear();
            }
            kept.insert(key, summary);
        }
        Ok(summary)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(first: i64, fixed: Option<i64>) -> FindingRecord {
        FindingRecord {
            key: FindingKey {
                host: "h".into(),
                catalog: "kisa-unix".into(),
                item: "U-01".into(),
                check: "kisa-u01-root-remote".into(),
            },
            first_seen_ms: first,
            last_seen_ms: fixed.unwrap_or(first),
            fixed_ms: fixed,
        }
    }

    #[test]
    fn findings_are_new_recurring_or_fixed_against_an_earlier_time() {
        let open_since_10 = [record(10, None)];
        assert_eq!(classify(&open_since_10, 5, 20), Some(Change::New));
        assert_eq!(classify(&open_since_10, 10, 20), Some(Change::Recurring));
        let fixed_at_15 = [record(10, Some(15))];
        assert_eq!(classify(&fixed_at_15, 12, 20), Some(Change::Fixed));
        assert_eq!(classify(&fixed_at_15, 15, 20), None, "already fixed then");
        // Failing a year ago, fixed, back again: recurring.
        let back = [record(10, Some(15)), record(18, None)];
        assert_eq!(classify(&back, 12, 20), Some(Change::Recurring));
        assert_eq!(classify(&back, 16, 20), Some(Change::New));
    }
}
