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

/// The findings history as a table: the comparison times, then one line
/// per finding with its state against the previous assessment and a year
/// earlier.
pub fn findings(h: &crate::assessment::History) -> String {
    let change = |c: Option<crate::assessment::Change>| c.map_or("-", |c| c.as_str());
    let time = |ms: i64| {
        chrono::DateTime::from_timestamp_millis(ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default()
    };
    let mut out = String::new();
    match h.assessments {
        None => out.push_str("no assessment recorded yet\n"),
        Some(t) => {
            let _ = writeln!(
                out,
                "last assessment {}, previous {}, a year earlier {}",
                time(t.last_ms),
                t.previous_ms.map_or("none".into(), time),
                h.year_ago_ms
                    .map_or(format!("(history from {})", time(t.first_ms)), time)
            );
        }
    }
    let (pn, pr, pf) = h.counts(false);
    let (yn, yr, yf) = h.counts(true);
    let _ = writeln!(
        out,
        "since previous: {pn} new, {pr} recurring, {pf} fixed; since a year earlier: {yn} new, {yr} recurring, {yf} fixed\n"
    );
    let _ = writeln!(
        out,
        "{:<20} {:<28} {:<10} {:<10} {:<21} {:<21} FIXED",
        "HOST", "ITEM", "PREVIOUS", "YEAR", "FIRST SEEN", "LAST SEEN"
    );
    for f in &h.findings {
        let _ = writeln!(
            out,
            "{:<20} {:<28} {:<10} {:<10} {:<21} {:<21} {}",
            f.key.host,
            format!("{}/{}", f.key.catalog, f.key.item),
            change(f.since_previous),
            change(f.since_year),
            time(f.first_seen_ms),
            time(f.last_seen_ms),
            f.fixed_ms.map_or("-".into(), time)
        );
    }
    out
}
