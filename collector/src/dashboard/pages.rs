//! The dashboard's HTML, rendered on the server (maud escapes every value).
//! Plain pages that work at 1280×800, print cleanly, and need no script.

use super::i18n::Lang;
use crate::actor::Role;
use crate::catalog::{Catalog, Item};
use crate::rules::Rule;
use crate::verdict::{Answers, HostResult, ItemResult, Outcome, Verdict};
use gamsa_proto::v1::Evidence;
use maud::{html, Markup, PreEscaped, DOCTYPE};
use std::collections::BTreeMap;
use std::sync::Arc;

const CSS: &str = r#"
body{font-family:"Noto Sans CJK KR","Noto Sans KR","Malgun Gothic",system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#12324f;color:#fff;padding:8px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto}
main{padding:12px 20px;max-width:1240px}
h1{font-size:22px;margin:6px 0 8px;line-height:1.3}h2{font-size:18px}h3{font-size:16px;margin:14px 0 6px}
select,input{max-width:100%}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 16px}
th,td{border:1px solid #d5d9de;padding:5px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#eef1f4;white-space:nowrap}
.v{font-weight:700;padding:1px 8px;border-radius:3px;display:inline-block;min-width:18px;text-align:center}
.v-Y{background:#d8f3dc;color:#1b5e20}.v-P{background:#fff3c4;color:#7a5b00}.v-N{background:#ffd6d6;color:#8b0000}
.v-NA{background:#e7e9ec;color:#444}.v-UNKNOWN{background:#e3e8ff;color:#243a8f}
.counts span{margin-right:10px;white-space:nowrap;display:inline-block}
pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#fff;border:1px solid #d5d9de;padding:6px}
form.inline{display:inline}
.box{background:#fff;border:1px solid #d5d9de;padding:10px 14px;margin:10px 0}
.err{color:#8b0000}
.muted{color:#5a6470}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px;margin:10px 0}
.cards .box{margin:0}
svg.trend{max-width:100%;height:auto;border:1px solid #e1e4e8}
.remediation{background:#eef6ff;border-left:3px solid #2b6cb0;padding:4px 8px;margin:6px 0;font-size:13px}
td.remediation{background:#eef6ff}
td.labels code{word-break:normal;white-space:nowrap;display:inline-block}
form.filters label{margin-right:6px;white-space:nowrap}
.pager a{margin:0 6px}
.hist{display:flex;gap:3px;flex-wrap:wrap;margin:6px 0}
code{font-size:12px;word-break:break-all}
td.num{text-align:right;white-space:nowrap}
tr.stale td{background:#fff8e6}
button{cursor:pointer}
@media print{header,form,.noprint{display:none}body{background:#fff}main{max-width:none;padding:0}details{display:block}details>*{display:block}table{page-break-inside:auto}tr{page-break-inside:avoid}a{color:#000;text-decoration:none}}
pre.diff{white-space:pre-wrap;font-size:12px;margin:4px 0}pre.diff .add{color:#116329;background:#dafbe1}pre.diff .del{color:#82071e;background:#ffebe9}pre.diff .hunk{color:#6e7781}
"#;

/// A signed-in user as the header shows it: name, role, CSRF token.
pub type Who<'a> = Option<(&'a str, Role, &'a str)>;

pub fn layout(
    lang: Lang,
    title: &str,
    user: Who<'_>,
    catalogs: &[Catalog],
    body: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang=(lang.code()) {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) " · gamsa" }
                style { (PreEscaped(CSS)) }
            }
            body {
                header {
                    a href="/" { strong { "gamsa 감사" } }
                    @if let Some((_, role, _)) = user {
                        @for c in catalogs {
                            a href={"/catalogs/" (c.catalog.id)} { (c.catalog.id) }
                        }
                        a href="/hosts" { (lang.t("hosts")) }
                        a href="/availability" { (lang.t("availability")) }
                        a href="/findings" { (lang.t("findings")) }
                        a href="/snapshots" { (lang.t("snapshots")) }
                        a href="/exports" { (lang.t("exports")) }
                        @if role.may_read_access_log() { a href="/access-log" { (lang.t("access_log")) } }
                    }
                    span.who {
                        a href="?lang=ko" { "한국어" } " · " a href="?lang=en" { "English" }
                        @if let Some((name, role, csrf)) = user {
                            " · " (name) " (" (role) ") "
                            form.inline method="post" action="/logout" {
                                input type="hidden" name="csrf" value=(csrf);
                                button type="submit" { (lang.t("sign_out")) }
                            }
                        }
                    }
                }
                main { (body) }
            }
        }
    }
}

pub fn verdict(v: Verdict) -> Markup {
    html! { span class={"v v-" (v.as_str())} { (v.as_str()) } }
}

/// A verdict as stored in snapshots ("Y", "UNKNOWN", ...); "—" for none.
pub fn badge(v: Option<&str>) -> Markup {
    match v {
        Some(v) => html! { span class={"v v-" (v)} { (v) } },
        None => html! { span.muted { "—" } },
    }
}

pub fn outcome(o: Outcome) -> Markup {
    let v = match o {
        Outcome::Pass => Verdict::Y,
        Outcome::Fail => Verdict::N,
        Outcome::Unknown => Verdict::Unknown,
        Outcome::Na => Verdict::Na,
    };
    html! { span class={"v v-" (v.as_str())} { (format!("{o:?}").to_uppercase()) } }
}

pub fn login(lang: Lang, error: bool, csrf: &str) -> Markup {
    html! {
        div.box style="max-width:360px" {
            h2 { (lang.t("sign_in")) }
            @if error { p.err { (lang.t("bad_login")) } }
            form method="post" action="/login" {
                input type="hidden" name="csrf" value=(csrf);
                p { label { (lang.t("user")) br; input name="user" autocomplete="username" required; } }
                p { label { (lang.t("password")) br; input type="password" name="password" autocomplete="current-password" required; } }
                button type="submit" { (lang.t("sign_in")) }
            }
        }
    }
}

/// What a catalog's overview shows.
pub struct Overview<'a> {
    pub lang: Lang,
    pub catalog: &'a Catalog,
    pub group: Option<&'a str>,
    pub items: &'a [ItemResult],
    pub trend: &'a [super::trend::Point],
    /// What changed since the newest snapshot (none with a group chosen).
    pub since: &'a Since,
}

/// The newest snapshot's sequence and time, and the changes since.
pub type Since = Option<(u64, String, Vec<crate::snapshot::diff::Change>)>;

pub fn overview(o: Overview<'_>) -> Markup {
    let (lang, c, group, items) = (o.lang, o.catalog, o.group, o.items);
    let count = |v: Verdict| items.iter().filter(|i| i.verdict == v).count();
    html! {
        h1 { (lang.pick(&c.catalog.title_ko, &c.catalog.title_en)) }
        p { small { (c.catalog.id) " · " (lang.t("edition")) ": " (c.catalog.version) } }
        @if !c.groups.is_empty() {
            form.noprint method="get" {
                label { (lang.t("group")) " "
                    select name="group" {
                        option value="" { (lang.t("all_groups")) }
                        @for g in &c.groups {
                            option value=(g.id) selected[group == Some(g.id.as_str())] { (g.id) " — " (lang.pick(&g.title_ko, &g.title_en)) }
                        }
                    }
                }
                " " button type="submit" { (lang.t("show")) }
            }
        }
        p.counts {
            @for v in [Verdict::Y, Verdict::P, Verdict::N, Verdict::Na, Verdict::Unknown] {
                span { (verdict(v)) " " (count(v)) }
            }
        }
        @let forms: Vec<&crate::export::forms::FormSpec> = crate::export::forms::FORMS.iter().filter(|f| f.catalog == c.catalog.id).collect();
        p.noprint {
            (lang.t("exports")) ": "
            @for f in &forms {
                a href=(export_link(&c.catalog.id, f.id, "html", group)) { (lang.t("form")) " " (f.id) } " "
                small { "(" a href=(export_link(&c.catalog.id, f.id, "pdf", group)) { "PDF" } ")" } " · "
            }
            a href=(export_link(&c.catalog.id, "", "csv", group)) { "CSV" } " · "
            a href=(export_link(&c.catalog.id, "", "json", group)) { "JSON" } " · "
            a href=(export_link(&c.catalog.id, "", "ndjson", group)) { (lang.t("evidence")) " NDJSON" } " · "
            a href="/exports" { (lang.t("more_options")) }
        }
        div.box.trend-box {
            h3 { (lang.t("trend")) }
            (super::trend::chart(lang, o.trend))
        }
        @if group.is_none() {
            div.box.changes-box {
                h3 { (lang.t("what_changed")) }
                (super::trend::changes(lang, o.since))
            }
        }
        table.items {
            tr { th { (lang.t("item")) } th { (lang.t("verdict")) } th { (lang.t("title")) } th { (lang.t("reason")) } }
            @for i in items {
                tr {
                    td { a href={"/catalogs/" (c.catalog.id) "/items/" (i.id) @if let Some(g) = group { "?group=" (g) }} { (i.id) } }
                    td { (verdict(i.verdict)) }
                    td { (lang.pick(&i.title_ko, &i.title_en)) }
                    td { (lang.pick(&i.reason_ko, &i.reason_en)) }
                }
            }
        }
    }
}

/// The dashboard URL of an export (no form: the whole checklist).
pub fn export_link(catalog: &str, form: &str, format: &str, group: Option<&str>) -> String {
    let mut url = format!("/exports/download?catalog={catalog}&format={format}");
    if !form.is_empty() {
        url.push_str(&format!("&form={form}"));
    }
    if let Some(g) = group {
        url.push_str(&format!("&group={g}"));
    }
    url
}

/// Every catalog with its verdict counts, worst first.
/// When the verdicts a page shows were evaluated, the store change they
/// include, and whether a newer evaluation is on its way.
pub fn as_of(lang: Lang, e: &crate::evaluation::Evaluation, pending: bool) -> Markup {
    let at = chrono::DateTime::from_timestamp_millis(e.as_of_ms)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S UTC");
    html! {
        p.as-of.muted {
            small {
                (lang.t("verdicts_as_of")) ": " time datetime=(e.as_of()) { (at) }
                " (" (lang.t("store_change")) " " span.counter { (e.counter) } ")"
                @if pending { " · " span.pending { (lang.t("evaluation_pending")) } }
            }
        }
    }
}

pub fn index(lang: Lang, catalogs: &[Catalog], items: &[ItemResult], since: &Since) -> Markup {
    html! {
        h1 { (lang.t("catalogs")) }
        div.box.changes-box {
            h2 { (lang.t("what_changed")) }
            (super::trend::changes(lang, since))
        }
        div.cards {
            @for c in catalogs {
                @let mine: Vec<&ItemResult> = items.iter().filter(|i| i.catalog == c.catalog.id).collect();
                div.box.catalog {
                    h3 { a href={"/catalogs/" (c.catalog.id)} { (c.catalog.id) } }
                    p { (lang.pick(&c.catalog.title_ko, &c.catalog.title_en)) }
                    p.counts {
                        @for v in [Verdict::N, Verdict::P, Verdict::Unknown, Verdict::Y, Verdict::Na] {
                            span { (verdict(v)) " " (mine.iter().filter(|i| i.verdict == v).count()) }
                        }
                    }
                    p { small.muted { (mine.len()) " " (lang.t("items")) } br; small.muted.version { (lang.t("edition")) ": " (c.catalog.version) } }
                }
            }
        }
    }
}

/// Outcomes worst first: failing, unknown, passing, not applicable.
/// The longest one-line summary of an evidence an item page shows.
const SUMMARY_CHARS: usize = 300;

/// Hosts per page of each row of an item page.
pub const HOSTS_PER_PAGE: usize = 50;

/// The most bytes of detail lines an item page shows over its hosts: past
/// it, each host shows the same first lines (`verdict::details_shown`) and
/// links to its own page for the rest.
pub const DETAIL_BUDGET: usize = 256 * 1024;

/// The most bytes of evidence (protobuf) an item page reads to show a line
/// of each: the evidence past it is named, linked to its host's page.
pub const EVIDENCE_READ: usize = 512 * 1024;

/// A row's hosts, failing first, then unknown, passing, not applicable;
/// by name within each.
pub fn worst_first(hosts: &[Arc<HostResult>]) -> Vec<&HostResult> {
    let rank = Outcome::rank;
    let mut v: Vec<&HostResult> = hosts.iter().map(|h| &**h).collect();
    v.sort_by(|a, b| {
        rank(a.outcome)
            .cmp(&rank(b.outcome))
            .then(a.host.cmp(&b.host))
    });
    v
}

pub struct ItemPage<'a> {
    pub lang: Lang,
    pub catalog: &'a Catalog,
    pub item: &'a Item,
    pub result: &'a ItemResult,
    /// The evidence of the page's hosts read within `EVIDENCE_READ`, and
    /// (host, id) of the rest, unread.
    pub evidence: &'a [Evidence],
    pub unread: &'a [(String, String)],
    /// Detail lines each host shows (`DETAIL_BUDGET`).
    pub detail_lines: usize,
    pub history: &'a [crate::snapshot::HistoryPoint],
    pub group: Option<&'a str>,
    /// The rules, for the remediation beside each failure.
    pub rules: &'a BTreeMap<String, Arc<Rule>>,
    /// Which page of each row's hosts (worst first) is shown.
    pub page: usize,
    pub can_write: bool,
    pub csrf: &'a str,
    /// This month's availability, for rows whose rule reads synthetic checks.
    pub availability: Option<&'a crate::availability::MonthReport>,
}

/// This month's figures of each checked service, beside a row answered from
/// synthetic checks: availability against the target and each outage with
/// its duration.
fn month_availability(lang: Lang, r: &crate::availability::MonthReport) -> Markup {
    let duration = |s: i64| {
        humantime::format_duration(std::time::Duration::from_secs(s.max(0) as u64)).to_string()
    };
    html! {
        div.availability-row { small {
            a href={"/availability?month=" (r.month)} { (lang.t("availability")) " " (r.month) } ": "
            @if r.services.is_empty() { (lang.t("no_services")) }
            @for s in &r.services {
                br; strong { (s.service) } " "
                (format!("{:.3} %", s.availability_percent)) " / " (format!("{:.1} %", s.target_percent)) " "
                (if s.meets_target { lang.t("met") } else { lang.t("not_met") })
                @for o in &s.outages {
                    " · " (lang.pick("장애", "outage")) " " (crate::export::kst(o.start.timestamp_millis())) " "
                    (duration(o.duration_seconds))
                    @if o.end.is_none() { " (" (lang.t("ongoing")) ")" }
                    @if o.planned { " (" (lang.pick("계획 정지", "planned")) ")" }
                }
            }
        } }
    }
}

pub fn item(p: ItemPage<'_>) -> Markup {
    let (lang, c, item, r) = (p.lang, p.catalog, p.item, p.result);
    html! {
        p.noprint {
            a href={"/catalogs/" (c.catalog.id) @if let Some(g) = p.group { "?group=" (g) }} { "← " (c.catalog.id) }
            " · " a href="javascript:window.print()" { (lang.t("print")) }
        }
        h1.item { (c.catalog.id) " / " (item.id) " " (verdict(r.verdict)) }
        h2 { (lang.pick(&item.title_ko, &item.title_en)) }
        @if let (Some(ko), Some(en)) = (&item.section_ko, &item.section_en) { p { small { (lang.pick(ko, en)) } } }
        p { (lang.pick(&r.reason_ko, &r.reason_en)) }
        p { small { (lang.t("evaluated_at")) ": " (r.evaluated_at) } }
        @if let Some(m) = &r.na_mark {
            div.box { strong { (lang.t("na_mark")) } ": " (m.justification) " — " (m.by) }
        }
        h3 { (lang.t("rows")) }
        table {
            tr { th { "#" } th { (lang.t("question")) } th { (lang.t("verdict")) } th { (lang.t("reason")) } }
            @for row in &r.rows {
                tr.row id={"row-" (row.id)} {
                    td { (row.id) br; small { @if let Some(rule) = &row.rule { (lang.t("automated")) ": " (rule) } @else { (lang.t("manual")) } } }
                    td {
                        (lang.pick(&row.question_ko, &row.question_en))
                        @if let (Some(answers), Some(highest)) = (row.answers, row.highest) {
                            p.rationale { small {
                                strong { (lang.t("highest")) ": " } (verdict(highest)) " — "
                                (lang.t(match answers { Answers::Full => "answers_full", Answers::Partial => "answers_partial" }))
                                @if let (Some(ko), Some(en)) = (&row.rationale_ko, &row.rationale_en) {
                                    br; strong { (lang.t("rationale")) ": " } (lang.pick(ko, en))
                                }
                                @if let (Some(ko), Some(en)) = (&row.completes_ko, &row.completes_en) {
                                    br; strong { (lang.t("completes")) ": " } (lang.pick(ko, en))
                                }
                            } }
                        }
                    }
                    td { (verdict(row.verdict)) }
                    td {
                        (lang.pick(&row.reason_ko, &row.reason_en))
                        @if let Some(a) = p.availability.filter(|_| {
                            row.rule.as_ref().and_then(|r| p.rules.get(r))
                                .is_some_and(|r| r.def.needs.iter().any(|n| n == "synthetic"))
                        }) {
                            (month_availability(lang, a))
                        }
                        @if row.hosts.iter().any(|h| h.outcome == Outcome::Fail) {
                            @if let Some(r) = row.rule.as_ref().and_then(|r| p.rules.get(r)) {
                                p.remediation { strong { (lang.t("remediation")) ": " } (lang.pick(&r.def.remediation_ko, &r.def.remediation_en)) }
                            }
                        }
                        @if !row.hosts.is_empty() {
                            p.counts.outcomes {
                                @for o in [Outcome::Fail, Outcome::Unknown, Outcome::Pass, Outcome::Na] {
                                    @let n = row.hosts.iter().filter(|h| h.outcome == o).count();
                                    @if n > 0 { span { (outcome(o)) " " (n) } }
                                }
                            }
                            table.row-hosts {
                                tr { th { (lang.t("host")) } th { (lang.t("outcome")) } th { (lang.t("reason")) } }
                                @for h in worst_first(&row.hosts).into_iter().skip(p.page * HOSTS_PER_PAGE).take(HOSTS_PER_PAGE) {
                                    tr { td { a href={"/hosts/" (super::hosts::urlencode(&h.host))} { (h.host) } } td { (outcome(h.outcome)) } td {
                                        (lang.host_reason(&h.reason))
                                        @for d in h.detail.iter().take(p.detail_lines) { br; small { (d) } }
                                        @if h.detail.len() > p.detail_lines {
                                            br; small { a href={"/hosts/" (super::hosts::urlencode(&h.host))} { (lang.t("more_lines")) " " (h.detail.len() - p.detail_lines) } }
                                        }
                                    } }
                                }
                            }
                        }
                        @if let Some(a) = &row.attestation {
                            p.attestation { small {
                                (lang.t("attestations")) ": " (a.verdict) " — " (a.comment) " (" (a.by) ", " (crate::export::kst(a.at_ms)) ")"
                                @if !a.file_name.is_empty() {
                                    " · " a href={"/documents/" (a.file_sha256)} { (a.file_name) } " " code { "sha256:" (a.file_sha256) }
                                }
                            } }
                        }
                    }
                }
            }
        }
        @let pages = r.rows.iter().map(|row| row.hosts.len().div_ceil(HOSTS_PER_PAGE)).max().unwrap_or(1).max(1);
        (super::hosts::pager(lang, p.page, pages, |n| format!("?page={n}{}", p.group.map(|g| format!("&group={g}")).unwrap_or_default())))
        @if !item.evidence_examples.is_empty() {
            h3 { (lang.t("evidence_examples")) }
            ul { @for e in &item.evidence_examples { li { (e) } } }
        }
        @if !item.criteria_ko.is_empty() {
            h3 { (lang.t("criteria")) }
            @for c in &item.criteria_ko { pre { (c) } }
        }
        h3 { (lang.t("history")) }
        p { small.muted { (lang.t("history_note")) } }
        div.hist {
            @for h in p.history { span title=(h.created_at) { (badge(h.verdict.as_deref())) } }
            span title=(r.evaluated_at) { (verdict(r.verdict)) } " " small.muted { "← " (lang.t("now")) }
        }
        @if !p.history.is_empty() {
            details {
                summary { (lang.t("snapshots")) " (" (p.history.len()) ")" }
                table.history {
                    tr { th { "#" } th { (lang.t("created")) } th { (lang.t("verdict")) } th { (lang.t("snapshot")) } }
                    @for h in p.history.iter().rev() {
                        tr {
                            td.num { (h.sequence) }
                            td { (h.created_at) }
                            td { (badge(h.verdict.as_deref())) @if let Some(e) = &h.error { " " span.err { (e) } } }
                            td { a href={"/snapshots/" (h.snapshot)} { (h.snapshot) } }
                        }
                    }
                }
            }
        }
        h3 { (lang.t("evidence")) " (" (p.evidence.len() + p.unread.len()) ")" }
        table {
            tr { th { (lang.t("host")) } th { (lang.t("probe")) } th { (lang.t("subject")) } th { (lang.t("observed_at")) } th { (lang.t("evidence")) } }
            // One line each; the whole evidence is on its host's page, so
            // that a page of 50 hosts stays well under a megabyte.
            @for e in p.evidence {
                tr {
                    td { (e.host) } td { (e.probe) } td { (e.subject) }
                    td { (crate::export::kst_observed(e)) }
                    td { a href={"/hosts/" (super::hosts::urlencode(&e.host)) "#ev-" (e.id)} { code { (e.id) } } br; small { (gamsa_proto::summary::summary(e).chars().take(SUMMARY_CHARS).collect::<String>()) } }
                }
            }
        }
        @if !p.unread.is_empty() {
            p.unread { small {
                (lang.t("evidence_unread")) " (" (p.unread.len()) "): "
                @for (host, id) in p.unread {
                    a href={"/hosts/" (super::hosts::urlencode(host)) "#ev-" (id)} { code { (id) } } " "
                }
            } }
        }
        @if p.can_write {
            div.box.noprint {
                h3 { (lang.t("attest")) }
                form method="post" action={"/catalogs/" (c.catalog.id) "/items/" (item.id) "/attest"} enctype="multipart/form-data" {
                    input type="hidden" name="csrf" value=(p.csrf);
                    p { label { (lang.t("row")) " " select name="row" { @for row in &item.rows { option value=(row.id) { (row.id) } } } } }
                    p { label { (lang.t("verdict")) " " select name="verdict" { @for v in ["Y", "P", "N", "NA"] { option value=(v) { (v) } } } } }
                    p { label { (lang.t("comment")) br; textarea name="comment" rows="3" cols="80" required {} } }
                    p { label { (lang.t("file")) " " input type="file" name="file"; } }
                    button type="submit" { (lang.t("save")) }
                }
                h3 { (lang.t("mark_na")) }
                form method="post" action={"/catalogs/" (c.catalog.id) "/items/" (item.id) "/na"} {
                    input type="hidden" name="csrf" value=(p.csrf);
                    p { label { (lang.t("justification")) br; textarea name="justification" rows="2" cols="80" required {} } }
                    button type="submit" { (lang.t("mark_na")) }
                }
            }
        } @else {
            p.noprint { small { (lang.t("read_only")) } }
        }
    }
}

/// What the hosts page shows of one probe on one host (kept with the
/// evaluation, so that no page reads evidence bodies to draw it).
pub use crate::evaluation::ProbeHealth;

/// A host is stale when nothing was heard from its agent for this long.
pub const STALE_MS: i64 = 15 * 60 * 1000;

pub fn ago(lang: Lang, now_ms: i64, then_ms: i64) -> String {
    if then_ms <= 0 {
        return "—".into();
    }
    let s = ((now_ms - then_ms) / 1000).max(0);
    let (n, unit) = match s {
        0..60 => (s, lang.pick("초", "s")),
        60..3600 => (s / 60, lang.pick("분", "min")),
        3600..86400 => (s / 3600, lang.pick("시간", "h")),
        _ => (s / 86400, lang.pick("일", "d")),
    };
    format!("{n}{unit} {}", lang.t("ago"))
}
