//! The dashboard's HTML, rendered on the server (maud escapes every value).
//! Plain pages that work at 1280×800, print cleanly, and need no script.

use super::i18n::Lang;
use crate::actor::Role;
use crate::catalog::{Catalog, Item};
use crate::store::AgentRecord;
use crate::verdict::{ItemResult, Outcome, Verdict};
use gamsa_proto::v1::Evidence;
use maud::{html, Markup, PreEscaped, DOCTYPE};

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
.counts span{margin-right:10px}
pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#fff;border:1px solid #d5d9de;padding:6px}
form.inline{display:inline}
.box{background:#fff;border:1px solid #d5d9de;padding:10px 14px;margin:10px 0}
.err{color:#8b0000}
.muted{color:#5a6470}
.cards{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:10px;margin:10px 0}
.cards .box{margin:0}
.hist{display:flex;gap:3px;flex-wrap:wrap;margin:6px 0}
code{font-size:12px;word-break:break-all}
td.num{text-align:right;white-space:nowrap}
tr.stale td{background:#fff8e6}
button{cursor:pointer}
@media print{header,form,.noprint{display:none}body{background:#fff}main{max-width:none;padding:0}details{display:block}details>*{display:block}table{page-break-inside:auto}tr{page-break-inside:avoid}a{color:#000;text-decoration:none}}
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

fn outcome(o: Outcome) -> Markup {
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

pub fn overview(lang: Lang, c: &Catalog, group: Option<&str>, items: &[ItemResult]) -> Markup {
    let count = |v: Verdict| items.iter().filter(|i| i.verdict == v).count();
    html! {
        h1 { (lang.pick(&c.catalog.title_ko, &c.catalog.title_en)) }
        p { small { (c.catalog.id) " · " (c.catalog.version) } }
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
pub fn index(lang: Lang, catalogs: &[Catalog], items: &[ItemResult]) -> Markup {
    html! {
        h1 { (lang.t("catalogs")) }
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
                    p { small.muted { (mine.len()) " " (lang.t("items")) " · " (c.catalog.version) } }
                }
            }
        }
    }
}

pub struct ItemPage<'a> {
    pub lang: Lang,
    pub catalog: &'a Catalog,
    pub item: &'a Item,
    pub result: &'a ItemResult,
    pub evidence: &'a [Evidence],
    pub history: &'a [crate::snapshot::HistoryPoint],
    pub group: Option<&'a str>,
    pub can_write: bool,
    pub csrf: &'a str,
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
                    td { (lang.pick(&row.question_ko, &row.question_en)) }
                    td { (verdict(row.verdict)) }
                    td {
                        (lang.pick(&row.reason_ko, &row.reason_en))
                        @if !row.hosts.is_empty() {
                            table {
                                tr { th { (lang.t("host")) } th { (lang.t("outcome")) } th { (lang.t("reason")) } }
                                @for h in row.hosts.iter() {
                                    tr { td { (h.host) } td { (outcome(h.outcome)) } td { (h.reason) @for d in &h.detail { br; small { (d) } } } }
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
        h3 { (lang.t("evidence")) " (" (p.evidence.len()) ")" }
        table {
            tr { th { (lang.t("host")) } th { (lang.t("probe")) } th { (lang.t("subject")) } th { (lang.t("observed_at")) } th { (lang.t("evidence")) } }
            @for e in p.evidence {
                tr {
                    td { (e.host) } td { (e.probe) } td { (e.subject) }
                    td { (e.observed_at.map(|t| serde_json::to_string(&t).unwrap_or_default().trim_matches('"').to_string()).unwrap_or_default()) }
                    td { details { summary { (e.id) } pre.evidence { (serde_json::to_string_pretty(e).unwrap_or_default()) } } }
                }
            }
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

/// What the hosts page shows of one probe on one host: its newest
/// evidence per subject.
#[derive(Debug, Default)]
pub struct ProbeHealth {
    pub subjects: usize,
    pub errors: Vec<String>,
    pub newest_ms: i64,
}

/// A host is stale when nothing was heard from its agent for this long.
pub const STALE_MS: i64 = 15 * 60 * 1000;

fn ago(lang: Lang, now_ms: i64, then_ms: i64) -> String {
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

/// `probes`: each agent's probes (by agent id, then probe name), so that a
/// revoked agent and its replacement on the same host are told apart.
pub fn hosts(
    lang: Lang,
    agents: &[AgentRecord],
    connected: &[String],
    probes: &std::collections::BTreeMap<String, std::collections::BTreeMap<String, ProbeHealth>>,
    now_ms: i64,
) -> Markup {
    let stale_count = agents
        .iter()
        .filter(|a| !a.revoked && now_ms - a.last_seen_ms > STALE_MS)
        .count();
    html! {
        h1 { (lang.t("hosts")) " (" (agents.len()) ")" }
        @if stale_count > 0 {
            p.err { (stale_count) " " (lang.t("stale_hosts")) }
        }
        table.hosts {
            tr { th { (lang.t("host")) } th { (lang.t("agent")) } th { (lang.t("version")) } th { (lang.t("last_seen")) } th { (lang.t("status")) } th { (lang.t("probes")) } th { (lang.t("health")) } }
            @for a in agents {
                @let stale = !a.revoked && now_ms - a.last_seen_ms > STALE_MS;
                @let host_probes = probes.get(&a.agent_id);
                @let errors: Vec<(&String, &ProbeHealth)> = host_probes.map(|m| m.iter().filter(|(_, h)| !h.errors.is_empty()).collect()).unwrap_or_default();
                tr class=[stale.then_some("stale")] {
                    td { (a.host) br; small.muted { (a.os) " " (a.kernel) } }
                    td { (a.agent_id) }
                    td { (a.version) }
                    td { (ago(lang, now_ms, a.last_seen_ms)) br; small.muted { (crate::export::kst(a.last_seen_ms)) } }
                    td {
                        @if a.revoked { span class="v v-N" { (lang.t("revoked")) } }
                        @else if connected.contains(&a.agent_id) { span class="v v-Y" { (lang.t("connected")) } }
                        @else { span class="v v-NA" { (lang.t("disconnected")) } }
                        @if stale { " " span class="v v-P stale" { (lang.t("stale")) } }
                    }
                    td {
                        @if let Some(m) = host_probes {
                            @for (name, h) in m {
                                span title=(ago(lang, now_ms, h.newest_ms)) { (name) @if !h.errors.is_empty() { "⚠" } } " "
                            }
                        }
                        @if !a.capabilities.is_empty() { br; small.muted { (lang.t("capabilities")) ": " (a.capabilities.join(", ")) } }
                    }
                    td {
                        @if errors.is_empty() && !stale && !a.revoked { span class="v v-Y" { "OK" } }
                        @for (name, h) in &errors {
                            div { span class="v v-N" { (name) } " " small { (h.errors.join("; ")) } }
                        }
                        @if stale { div { small { (lang.t("stale_note")) } } }
                        @if a.revoked { div { small { (lang.t("revoked_note")) } } }
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_flag_stale_agents_and_probe_errors() {
        let now = 1_800_000_000_000;
        let agent = |id: &str, last_seen_ms| AgentRecord {
            agent_id: id.into(),
            host: id.into(),
            version: "0.1.0".into(),
            last_seen_ms,
            ..Default::default()
        };
        let agents = [
            agent("fresh", now - 5_000),
            agent("quiet", now - STALE_MS - 1),
        ];
        let mut probes = std::collections::BTreeMap::new();
        probes.insert(
            "fresh".to_string(),
            std::collections::BTreeMap::from([(
                "tls".to_string(),
                ProbeHealth {
                    subjects: 1,
                    errors: vec!["10.0.0.5:443: connection refused".into()],
                    newest_ms: now - 1_000,
                },
            )]),
        );
        let html = hosts(Lang::En, &agents, &["fresh".into()], &probes, now).into_string();
        let rows: Vec<&str> = html.split("<tr").skip(2).collect();
        assert_eq!(rows.len(), 2, "{html}");
        assert!(
            rows[0].contains("fresh") && !rows[0].contains("stale"),
            "{}",
            rows[0]
        );
        assert!(
            rows[0].contains("connection refused") && rows[0].contains("5s ago"),
            "{}",
            rows[0]
        );
        assert!(
            rows[1].contains("class=\"stale\"") && rows[1].contains("Stale"),
            "{}",
            rows[1]
        );
        assert!(html.contains("1 host(s) not heard from"), "{html}");
    }

    #[test]
    fn a_revoked_agent_and_its_replacement_on_one_host_are_told_apart() {
        let now = 1_800_000_000_000;
        let agent = |id: &str, revoked| AgentRecord {
            agent_id: id.into(),
            host: "web-1".into(),
            last_seen_ms: now,
            revoked,
            ..Default::default()
        };
        let agents = [agent("web-1a", true), agent("web-1b", false)];
        let health = |error: &str| {
            std::collections::BTreeMap::from([(
                "tls".to_string(),
                ProbeHealth {
                    subjects: 1,
                    errors: vec![error.into()],
                    newest_ms: now,
                },
            )])
        };
        let probes = std::collections::BTreeMap::from([
            ("web-1a".to_string(), health("old agent's error")),
            ("web-1b".to_string(), health("new agent's error")),
        ]);
        let html = hosts(Lang::En, &agents, &["web-1b".into()], &probes, now).into_string();
        let rows: Vec<&str> = html.split("<tr").skip(2).collect();
        assert_eq!(rows.len(), 2, "{html}");
        assert!(rows[0].contains("old agent's error") && !rows[0].contains("new agent"));
        assert!(
            rows[0].contains("no longer counts in verdicts"),
            "{}",
            rows[0]
        );
        assert!(rows[1].contains("new agent's error") && !rows[1].contains("old agent"));
        assert!(!rows[1].contains("no longer counts"), "{}", rows[1]);
    }
}
