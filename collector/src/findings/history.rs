//! The assessment history written: each evaluation the `findings` lease
//! holder runs is an assessment, and its host results become the findings'
//! transitions in the store — a host failing a rule of an item opens a
//! finding or sees it again; the same host passing it with fresh evidence
//! fixes an open one; a host that cannot be told (no fresh evidence, a probe
//! error, out of scope) changes nothing, so a silent host is never fixed.
//! The store keeps one record per finding and stretch of time it stayed
//! open, not one per evaluation.

use crate::records::FindingKey;
use crate::store::{Store, StoreError};
use crate::verdict::{ItemResult, Outcome};
use std::collections::BTreeSet;

/// The keys failing in `items`, and those of `open` findings that passed.
pub fn transitions(
    items: &[ItemResult],
    open: &BTreeSet<FindingKey>,
) -> (Vec<FindingKey>, Vec<FindingKey>) {
    let mut failing = BTreeSet::new();
    let mut passing = BTreeSet::new();
    for item in items {
        for row in &item.rows {
            let Some(rule) = &row.rule else { continue };
            for h in row.hosts.iter() {
                let key = || FindingKey {
                    host: h.host.clone(),
                    catalog: item.catalog.clone(),
                    item: item.id.clone(),
                    check: rule.clone(),
                };
                match h.outcome {
                    Outcome::Fail => {
                        failing.insert(key());
                    }
                    Outcome::Pass => {
                        passing.insert(key());
                    }
                    Outcome::Unknown | Outcome::Na => {}
                }
            }
        }
    }
    let fixed = passing
        .into_iter()
        .filter(|k| open.contains(k) && !failing.contains(k))
        .collect();
    (failing.into_iter().collect(), fixed)
}

/// Records the assessment of `items` at `at_ms`.
pub async fn record(store: &dyn Store, items: &[ItemResult], at_ms: i64) -> Result<(), StoreError> {
    let open: BTreeSet<FindingKey> = store.open_findings().await?.into_iter().collect();
    let (failing, fixed) = transitions(items, &open);
    store.record_assessment(at_ms, failing, fixed).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verdict::{HostResult, RowResult, Verdict};

    fn item(hosts: &[(&str, Outcome)]) -> ItemResult {
        let mut i = super::super::tests::item("kisa-unix", "U-01", Verdict::N);
        i.rows.push(RowResult::of_rule(
            "U-01-1",
            "kisa-u01-root-remote",
            hosts
                .iter()
                .map(|(h, o)| HostResult {
                    host: (*h).into(),
                    outcome: *o,
                    reason: String::new(),
                    detail: vec![],
                    evidence: Default::default(),
                })
                .collect(),
        ));
        i
    }

    fn key(host: &str) -> FindingKey {
        FindingKey {
            host: host.into(),
            catalog: "kisa-unix".into(),
            item: "U-01".into(),
            check: "kisa-u01-root-remote".into(),
        }
    }

    #[test]
    fn failing_hosts_open_passing_hosts_fix_and_unknown_hosts_change_nothing() {
        let items = [item(&[
            ("a", Outcome::Fail),
            ("b", Outcome::Pass),
            ("c", Outcome::Unknown),
            ("d", Outcome::Pass),
        ])];
        let open = BTreeSet::from([key("b"), key("c")]);
        let (failing, fixed) = transitions(&items, &open);
        assert_eq!(failing, [key("a")]);
        assert_eq!(fixed, [key("b")], "d had nothing open; c is not told");
    }
}
