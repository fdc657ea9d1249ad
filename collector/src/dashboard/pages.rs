//! The dashboard's HTML, rendered on the server (maud escapes every value).
//! Plain pages that work at 1280×800, print cleanly, and need no script.

use super::i18n::Lang;
use crate::catalog::{Catalog, Item};
use crate::rules::evaluate::{ItemResult, Outcome, Verdict};
use crate::store::AgentRecord;
use gamsa_proto::v1::Evidence;
use maud::{html, Markup, PreEscaped, DOCTYPE};

const CSS: &str = r#"
body{font-family:"Noto Sans CJK KR","Noto Sans KR","Malgun Gothic",system-ui,sans-serif;margin:0;color:#1b1f24;background:#f6f7f9}
header{background:#12324f;color:#fff;padding:8px 20px;display:flex;gap:18px;align-items:center;flex-wrap:wrap}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto}
main{padding:16px 20px;max-width:1240px}
table{border-collapse:collapse;width:100%;background:#fff;margin:8px 0 16px}
th,td{border:1px solid #d5d9de;padding:5px 8px;text-align:left;vertical-align:top;font-size:14px}
th{background:#eef1f4}
.v{font-weight:700;padding:1px 8px;border-radius:3px;display:inline-block;min-width:18px;text-align:center}
.v-Y{background:#d8f3dc;color:#1b5e20}.v-P{background:#fff3c4;color:#7a5b00}.v-N{background:#ffd6d6;color:#8b0000}
.v-NA{background:#e7e9ec;color:#444}.v-UNKNOWN{background:#e3e8ff;color:#243a8f}
.counts span{margin-right:10px}
pre{white-space:pre-wrap;word-break:break-all;font-size:12px;background:#fff;border:1px solid #d5d9de;padding:6px}
form.inline{display:inline}
.box{background:#fff;border:1px solid #d5d9de;padding:10px 14px;margin:10px 0}
.err{color:#8b0000}
@media print{header,form,.noprint{display:none}body{background:#fff}main{max-width:none;padding:0}details{display:block}details>*{display:block}}
"#;

/// A signed-in user as the header shows it: name, role, CSRF token.
pub type Who<'a> = Option<(&'a str, &'a str, &'a str)>;

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
                    strong { "gamsa 감사" }
                    @if user.is_some() {
                        @for c in catalogs {
                            a href={"/catalogs/" (c.catalog.id)} { (c.catalog.id) }
                        }
                        a href="/hosts" { (lang.t("hosts")) }
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

fn outcome(o: Outcome) -> Markup {
    let v = match o {
        Outcome::Pass => Verdict::Y,
        Outcome::Fail => Verdict::N,
        Outcome::Unknown => Verdict::Unknown,
        Outcome::Na => Verdict::Na,
    };
    html! { span class={"v v-" (v.as_str())} { (format!("{o:?}").to_uppercase()) } }
}

pub fn login(lang: Lang, error: bool) -> Markup {
    html! {
        div.box style="max-width:360px" {
            h2 { (lang.t("sign_in")) }
            @if error { p.err { (lang.t("bad_login")) } }
            form method="post" action="/login" {
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
        table {
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

pub struct ItemPage<'a> {
    pub lang: Lang,
    pub catalog: &'a Catalog,
    pub item: &'a Item,
    pub result: &'a ItemResult,
    pub evidence: &'a [Evidence],
    pub can_write: bool,
    pub csrf: &'a str,
}

pub fn item(p: ItemPage<'_>) -> Markup {
    let (lang, c, item, r) = (p.lang, p.catalog, p.item, p.result);
    html! {
        p.noprint { a href={"/catalogs/" (c.catalog.id)} { "← " (c.catalog.id) } " · " a href="javascript:window.print()" { (lang.t("print")) } }
        h1 { (c.catalog.id) " / " (item.id) " " (verdict(r.verdict)) }
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
                tr {
                    td { (row.id) br; small { @if let Some(rule) = &row.rule { (lang.t("automated")) ": " (rule) } @else { (lang.t("manual")) } } }
                    td { (lang.pick(&row.question_ko, &row.question_en)) }
                    td { (verdict(row.verdict)) }
                    td {
                        (lang.pick(&row.reason_ko, &row.reason_en))
                        @if !row.hosts.is_empty() {
                            table {
                                tr { th { (lang.t("host")) } th { (lang.t("outcome")) } th { (lang.t("reason")) } }
                                @for h in &row.hosts {
                                    tr { td { (h.host) } td { (outcome(h.outcome)) } td { (h.reason) @for d in &h.detail { br; small { (d) } } } }
                                }
                            }
                        }
                        @if let Some(a) = &row.attestation {
                            p { small { (lang.t("attestations")) ": " (a.verdict) " — " (a.comment) " (" (a.by) ")" @if !a.file_name.is_empty() { " · " (a.file_name) " sha256:" (a.file_sha256) } } }
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
        h3 { (lang.t("evidence")) " (" (p.evidence.len()) ")" }
        table {
            tr { th { (lang.t("host")) } th { "probe" } th { "subject" } th { (lang.t("observed_at")) } th { (lang.t("evidence")) } }
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
                    p { label { (lang.t("verdict")) " " select name="verdict" { @for v in ["Y", "P", "N", "NA"] { option { (v) } } } } }
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

pub fn hosts(lang: Lang, agents: &[AgentRecord], connected: &[String], now_ms: i64) -> Markup {
    const STALE_MS: i64 = 15 * 60 * 1000;
    html! {
        h1 { (lang.t("hosts")) " (" (agents.len()) ")" }
        table {
            tr { th { (lang.t("host")) } th { "agent" } th { (lang.t("version")) } th { (lang.t("last_seen")) } th { (lang.t("status")) } th { (lang.t("probes")) } }
            @for a in agents {
                @let stale = now_ms - a.last_seen_ms > STALE_MS;
                tr {
                    td { (a.host) } td { (a.agent_id) } td { (a.version) }
                    td { (format!("{}s", (now_ms - a.last_seen_ms) / 1000)) }
                    td {
                        @if a.revoked { span class="v v-N" { "revoked" } }
                        @else if connected.contains(&a.agent_id) { span class="v v-Y" { (lang.t("connected")) } }
                        @else { span class="v v-NA" { (lang.t("disconnected")) } }
                        @if stale { " " span class="v v-P" { (lang.t("stale")) } }
                    }
                    td { (a.capabilities.join(", ")) }
                }
            }
        }
    }
}
