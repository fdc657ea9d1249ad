//! Verdicts for people: the table `report` and `quickstart` print.

use crate::verdict::ItemResult;
use std::collections::BTreeMap;
use std::fmt::Write;

/// Counts of each verdict, in the order auditors read them.
pub fn counts(items: &[ItemResult]) -> String {
    let mut by: BTreeMap<&str, usize> = BTreeMap::new();
    for i in items {
        *by.entry(i.verdict.as_str()).or_default() += 1;
    }
    ["Y", "P", "N", "NA", "UNKNOWN"]
        .iter()
        .map(|v| format!("{v} {}", by.get(v).unwrap_or(&0)))
        .collect::<Vec<_>>()
        .join(" · ")
}

/// One line per item: id, verdict, title, reason. `automated_only` keeps the
/// items that have at least one automated row.
pub fn table(items: &[ItemResult], automated_only: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:<10} {:<8} {:<44} REASON",
        "ITEM", "VERDICT", "TITLE"
    );
    for i in items {
        if automated_only && !i.rows.iter().any(|r| r.rule.is_some()) {
            continue;
        }
        let title: String = i.title_en.chars().take(44).collect();
        let _ = writeln!(
            out,
            "{:<10} {:<8} {:<44} {}",
            i.id,
            i.verdict.as_str(),
            title,
            i.reason_en
        );
    }
    out
}

/// Items sorted worst first (N, P, UNKNOWN, Y, NA), as an overview shows them.
pub fn worst_first(items: &mut [ItemResult]) {
    items.sort_by_key(|i| (i.verdict, i.catalog.clone()));
}
