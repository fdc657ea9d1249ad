//! What the stored snapshots say over time, drawn on the server: each
//! catalog's Y / P / N / UNKNOWN counts per snapshot as an SVG chart (no
//! script), and what changed between the newest snapshot and the current
//! evaluation. Snapshots are the signed record of past verdicts, so both
//! read them (verified, cached by `snapshot`) rather than any other history.

use super::i18n::Lang;
use super::pages;
use crate::snapshot::diff::{self, Change, ItemVerdict, ItemVerdicts};
use crate::snapshot::Stored;
use crate::verdict::ItemResult;
use maud::{html, Markup};

/// Snapshots a chart shows at most, newest kept: a page does not grow
/// with a long retention.
pub const MAX_POINTS: usize = 60;

/// The verdicts a chart draws, in this order.
pub const SERIES: [&str; 4] = ["Y", "P", "N", "UNKNOWN"];
const COLOURS: [&str; 4] = ["#2e7d32", "#b8860b", "#c62828", "#3949ab"];

/// One snapshot's counts for one catalog, in `SERIES` order.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    pub sequence: u64,
    pub created_at: String,
    pub counts: [usize; 4],
}

/// The catalog's counts in each readable snapshot, oldest first, at most
/// the newest `MAX_POINTS`. A snapshot that does not verify is left out.
pub fn points(stored: &[Stored], catalog: &str) -> Vec<Point> {
    let all: Vec<Point> = stored
        .iter()
        .filter_map(|s| {
            let v = s.verdicts.as_ref().ok()?;
            let mut counts = [0; 4];
            for i in v.items.values().filter(|i| i.catalog == catalog) {
                if let Some(n) = SERIES.iter().position(|s| *s == i.verdict) {
                    counts[n] += 1;
                }
            }
            Some(Point {
                sequence: s.sequence,
                created_at: s.created_at.clone(),
                counts,
            })
        })
        .collect();
    all[all.len().saturating_sub(MAX_POINTS)..].to_vec()
}

/// The chart: one line per verdict, one marked point per snapshot (its
/// counts in the point's `data-` attributes and tooltip).
pub fn chart(lang: Lang, points: &[Point]) -> Markup {
    const W: f64 = 760.0;
    const H: f64 = 220.0;
    const LEFT: f64 = 40.0;
    const RIGHT: f64 = 16.0;
    const TOP: f64 = 12.0;
    const BOTTOM: f64 = 30.0;
    let max = points
        .iter()
        .flat_map(|p| p.counts)
        .max()
        .unwrap_or(0)
        .max(1);
    let x = |n: usize| {
        if points.len() < 2 {
            LEFT + (W - LEFT - RIGHT) / 2.0
        } else {
            LEFT + (W - LEFT - RIGHT) * n as f64 / (points.len() - 1) as f64
        }
    };
    let y = |c: usize| TOP + (H - TOP - BOTTOM) * (1.0 - c as f64 / max as f64);
    let label_every = points.len().div_ceil(12).max(1);
    html! {
        @if points.is_empty() {
            p.muted { (lang.t("no_snapshots")) }
        } @else {
            svg.trend xmlns="http://www.w3.org/2000/svg" width=(W) height=(H) viewBox={"0 0 " (W) " " (H)} role="img" aria-label=(lang.t("trend")) {
                rect x="0" y="0" width=(W) height=(H) fill="#fff" {}
                @for c in [0, max / 2, max] {
                    line x1=(LEFT) x2=(W - RIGHT) y1=(y(c)) y2=(y(c)) stroke="#e1e4e8" {}
                    text x=(LEFT - 6.0) y=(y(c) + 4.0) text-anchor="end" font-size="11" fill="#5a6470" { (c) }
                }
                @for (s, colour) in COLOURS.iter().enumerate() {
                    polyline.series data-verdict=(SERIES[s]) fill="none" stroke=(colour) stroke-width="2"
                        points=(points.iter().enumerate().map(|(n, p)| format!("{:.1},{:.1}", x(n), y(p.counts[s]))).collect::<Vec<_>>().join(" ")) {}
                }
                @for (n, p) in points.iter().enumerate() {
                    g.point data-sequence=(p.sequence) data-y=(p.counts[0]) data-p=(p.counts[1]) data-n=(p.counts[2]) data-unknown=(p.counts[3]) {
                        title { "#" (p.sequence) " " (p.created_at) " — Y " (p.counts[0]) ", P " (p.counts[1]) ", N " (p.counts[2]) ", UNKNOWN " (p.counts[3]) }
                        @for (s, colour) in COLOURS.iter().enumerate() {
                            circle cx=(format!("{:.1}", x(n))) cy=(format!("{:.1}", y(p.counts[s]))) r="3.5" fill=(colour) {}
                        }
                        @if n % label_every == 0 || n + 1 == points.len() {
                            text x=(format!("{:.1}", x(n))) y=(H - 10.0) text-anchor="middle" font-size="11" fill="#5a6470" { "#" (p.sequence) }
                        }
                    }
                }
            }
            p.legend {
                @for (s, colour) in COLOURS.iter().enumerate() {
                    span style={"border-bottom:3px solid " (colour) ";margin-right:14px;padding:0 2px"} { (SERIES[s]) }
                }
                small.muted { (lang.t("trend_note")) }
            }
        }
    }
}

/// The current verdicts in a snapshot's form, to compare with one.
pub fn current(items: &[ItemResult]) -> ItemVerdicts {
    items
        .iter()
        .map(|i| {
            (
                (i.catalog.clone(), i.id.clone()),
                ItemVerdict {
                    catalog: i.catalog.clone(),
                    id: i.id.clone(),
                    title_ko: i.title_ko.clone(),
                    title_en: i.title_en.clone(),
                    verdict: i.verdict.as_str().to_string(),
                },
            )
        })
        .collect()
}

/// What changed since the newest readable snapshot: its sequence and the
/// items whose verdict differs now (of `catalog` only, when given).
pub fn since_last(
    stored: &[Stored],
    items: &[ItemResult],
    catalog: Option<&str>,
) -> Option<(u64, String, Vec<Change>)> {
    let last = stored.iter().rev().find(|s| s.verdicts.is_ok())?;
    let then = last.verdicts.as_ref().ok()?;
    let mut before = then.items.clone();
    let mut now = current(items);
    if let Some(c) = catalog {
        before.retain(|k, _| k.0 == c);
        now.retain(|k, _| k.0 == c);
    }
    let (changes, _) = diff::changes(&before, &now);
    Some((last.sequence, last.created_at.clone(), changes))
}

/// The change list: each item whose verdict differs, then → now.
pub fn changes(lang: Lang, since: &Option<(u64, String, Vec<Change>)>) -> Markup {
    html! {
        @match since {
            None => { p.muted { (lang.t("no_snapshots")) } }
            Some((sequence, created_at, changes)) => {
                p.muted { (lang.t("since_snapshot")) " #" (sequence) " (" (created_at) ")" }
                @if changes.is_empty() {
                    p.unchanged { (lang.t("nothing_changed")) }
                } @else {
                    table.changes.since {
                        tr { th { (lang.t("item")) } th { (lang.t("title")) } th { (lang.t("then")) } th { (lang.t("now")) } }
                        @for c in changes.iter().take(MAX_CHANGES) {
                            tr {
                                td { a href={"/catalogs/" (c.catalog) "/items/" (c.id)} { (c.catalog) "/" (c.id) } }
                                td { (lang.pick(&c.title_ko, &c.title_en)) }
                                td { (pages::badge(c.from.as_deref())) }
                                td { (pages::badge(c.to.as_deref())) }
                            }
                        }
                    }
                    @if changes.len() > MAX_CHANGES { p.muted { (lang.t("showing")) " " (MAX_CHANGES) " / " (changes.len()) } }
                }
            }
        }
    }
}

/// Changed items a change list shows at most.
const MAX_CHANGES: usize = 200;
