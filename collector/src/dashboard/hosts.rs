//! Hosts at fleet scale: the host list, paged and filtered by name, worst
//! outcome, probe health and label (zone, role, ...), so that a page never
//! grows with the fleet; and the host page: a host's facts, every latest
//! evidence it sent, and each checklist row it fails with why and what to
//! change, with a link to its findings history.

use super::i18n::Lang;
use super::pages::{self, ProbeHealth, STALE_MS};
use super::{page, record, refuse, Language, SignedIn};
use crate::checklists::Checklists;
use crate::state::AppState;
use crate::store::AgentRecord;
use crate::verdict::{ItemResult, Outcome};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gamsa_proto::v1::{Evidence, Status};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Hosts per page of the host list.
pub const PAGE: usize = 50;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/hosts", get(list))
        .route("/hosts/{host}", get(host))
}

/// The host list's filters, from the query string; empty matches all.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filter {
    /// A substring of the host name or agent id.
    pub q: String,
    /// The host's worst outcome: "fail", "unknown", "pass".
    pub outcome: String,
    /// "ok", "error" (a probe reports errors), "none" (no evidence yet),
    /// "stale", "revoked".
    pub health: String,
    /// "key=value" of the agent's labels, e.g. "zone=a" or "role=web".
    pub label: String,
    /// Zero-based page number.
    pub page: usize,
}

impl Filter {
    /// This filter as a query string, on page `page`.
    pub fn query(&self, page: usize) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("q", &self.q),
            ("outcome", &self.outcome),
            ("health", &self.health),
            ("label", &self.label),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        if page > 0 {
            s.append_pair("page", &page.to_string());
        }
        s.finish()
    }
}

/// One host as the list shows it.
pub struct HostRow<'a> {
    pub agent: &'a AgentRecord,
    /// The host's worst outcome over every checklist row (None: in no rule).
    pub worst: Option<Outcome>,
    /// Items where the host fails / cannot be told.
    pub failing: usize,
    pub unknown: usize,
    pub probes: Option<&'a BTreeMap<String, ProbeHealth>>,
    pub connected: bool,
    pub stale: bool,
}

impl HostRow<'_> {
    fn health(&self) -> &'static str {
        if self.agent.revoked {
            "revoked"
        } else if self.stale {
            "stale"
        } else if self.probes.is_none() {
            "none"
        } else if self
            .probes
            .is_some_and(|m| m.values().any(|h| !h.errors.is_empty()))
        {
            "error"
        } else {
            "ok"
        }
    }

    fn matches(&self, f: &Filter) -> bool {
        let q = f.q.to_lowercase();
        let outcome = match self.worst {
            Some(Outcome::Fail) => "fail",
            Some(Outcome::Unknown) => "unknown",
            Some(Outcome::Pass | Outcome::Na) => "pass",
            None => "",
        };
        let label = f.label.split_once('=').map(|(k, v)| (k.trim(), v.trim()));
        (q.is_empty()
            || self.agent.host.to_lowercase().contains(&q)
            || self.agent.agent_id.to_lowercase().contains(&q))
            && (f.outcome.is_empty() || f.outcome == outcome)
            && (f.health.is_empty() || f.health == self.health())
            && label.is_none_or(|(k, v)| self.agent.labels.get(k).is_some_and(|l| l == v))
    }
}

async fn list(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Query(f): Query<Filter>,
) -> Response {
    let e = match super::verdicts(&state).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    // The agents as of the evaluation, as the standings beside them are.
    let agents = e.agents.clone();
    let what = format!("{} agents {}", agents.len(), f.query(f.page));
    if let Err(r) = record(&state, &s, crate::access_log::HOST_LIST, what.trim_end()).await {
        return r;
    }
    let connected: std::collections::HashSet<String> = state
        .agents
        .lock()
        .map(|a| a.keys().cloned().collect())
        .unwrap_or_default();
    let now = crate::clock::now_ms();
    let rows: Vec<HostRow> = agents
        .iter()
        .map(|a| {
            let o = e.hosts.get(a.host.as_str()).filter(|_| !a.revoked);
            HostRow {
                agent: a,
                worst: o.map(|o| o.worst),
                failing: o.map_or(0, |o| o.failing),
                unknown: o.map_or(0, |o| o.unknown),
                probes: e.probes.get(&a.agent_id),
                connected: connected.contains(&a.agent_id),
                stale: !a.revoked && now - a.last_seen_ms > STALE_MS,
            }
        })
        .collect();
    let body = super::as_of(lang.0, &state, &e, list_page(lang.0, &rows, &f, now));
    let title = lang.0.t("hosts");
    page(&state, lang, title, Some(&s), body)
}

/// The host list: filters, counts, one page of the matching hosts.
pub fn list_page(lang: Lang, all: &[HostRow<'_>], f: &Filter, now_ms: i64) -> Markup {
    let stale_count = all.iter().filter(|h| h.stale).count();
    let matching: Vec<&HostRow> = all.iter().filter(|h| h.matches(f)).collect();
    let pages = matching.len().div_ceil(PAGE).max(1);
    let shown = matching.iter().skip(f.page * PAGE).take(PAGE);
    let first = (f.page * PAGE + 1).min(matching.len());
    let last = ((f.page + 1) * PAGE).min(matching.len());
    html! {
        h1 { (lang.t("hosts")) " (" (all.len()) ")" }
        @if stale_count > 0 {
            p.err { (stale_count) " " (lang.t("stale_hosts")) }
        }
        form.noprint.box.filters method="get" action="/hosts" {
            label { (lang.t("search")) " " input name="q" value=(f.q) size="18" placeholder=(lang.t("host_or_agent")); } " "
            label { (lang.t("outcome")) " " select name="outcome" {
                option value="" { (lang.t("all_groups")) }
                @for (v, k) in [("fail", "outcome_fail"), ("unknown", "outcome_unknown"), ("pass", "outcome_pass")] {
                    option value=(v) selected[f.outcome == v] { (lang.t(k)) }
                }
            } } " "
            label { (lang.t("health")) " " select name="health" {
                option value="" { (lang.t("all_groups")) }
                @for (v, k) in [("ok", "health_ok"), ("error", "health_error"), ("none", "no_evidence"), ("stale", "stale"), ("revoked", "revoked")] {
                    option value=(v) selected[f.health == v] { (lang.t(k)) }
                }
            } } " "
            label { (lang.t("label")) " " input name="label" value=(f.label) size="14" placeholder="zone=a"; } " "
            button type="submit" { (lang.t("show")) }
            " " a href="/hosts" { (lang.t("clear")) }
        }
        p.muted.paging {
            (lang.t("showing")) " " span.range { (first) "–" (last) } " / " span.matching { (matching.len()) }
            " · " (lang.t("page")) " " (f.page + 1) " / " (pages)
        }
        table.hosts {
            tr { th { (lang.t("host")) } th { (lang.t("labels")) } th { (lang.t("results")) } th { (lang.t("last_seen")) } th { (lang.t("status")) } th { (lang.t("probes")) } th { (lang.t("health")) } }
            @for h in shown {
                @let a = h.agent;
                @let errors: Vec<(&String, &ProbeHealth)> = h.probes.map(|m| m.iter().filter(|(_, p)| !p.errors.is_empty()).collect()).unwrap_or_default();
                tr class=[h.stale.then_some("stale")] {
                    td { a href={"/hosts/" (urlencode(&a.host))} { (a.host) } br; small.muted { (a.agent_id) " · " (a.version) } br; small.muted { (a.os) " " (a.kernel) } }
                    td.labels { @for (k, v) in &a.labels { code { (k) "=" (v) } " " } }
                    td.results {
                        @match h.worst {
                            Some(o) => { (pages::outcome(o)) }
                            None => { span.muted { "—" } }
                        }
                        @if h.failing > 0 { " " small { (h.failing) " " (lang.t("items_failing")) } }
                        @if h.unknown > 0 { " " small.muted { (h.unknown) " " (lang.t("items_unknown")) } }
                    }
                    td { (pages::ago(lang, now_ms, a.last_seen_ms)) br; small.muted { (crate::export::kst(a.last_seen_ms)) } }
                    td {
                        @if a.revoked { span class="v v-N" { (lang.t("revoked")) } }
                        @else if h.connected { span class="v v-Y" { (lang.t("connected")) } }
                        @else { span class="v v-NA" { (lang.t("disconnected")) } }
                        @if h.stale { " " span class="v v-P stale" { (lang.t("stale")) } }
                    }
                    td {
                        @if let Some(m) = h.probes {
                            @for (name, p) in m {
                                span title=(pages::ago(lang, now_ms, p.newest_ms)) { (name) @if !p.errors.is_empty() { "⚠" } } " "
                            }
                        }
                    }
                    td {
                        @match h.health() {
                            "ok" => { span class="v v-Y" { "OK" } }
                            "none" => { span class="v v-UNKNOWN" { (lang.t("no_evidence")) } }
                            _ => {}
                        }
                        @for (name, p) in &errors {
                            div { span class="v v-N" { (name) } " " small { (p.errors.iter().take(3).map(|e| short(e)).collect::<Vec<_>>().join("; ")) @if p.errors.len() > 3 { " …" } } }
                        }
                        @if h.stale { div { small { (lang.t("stale_note")) } } }
                        @if a.revoked { div { small { (lang.t("revoked_note")) } } }
                    }
                }
            }
        }
        (pager(lang, f.page, pages, |p| format!("/hosts?{}", f.query(p))))
    }
}

/// An error as the list shows it: its first 160 characters (the host page
/// has all of it).
fn short(e: &str) -> String {
    match e.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &e[..i]),
        None => e.to_string(),
    }
}

/// Previous / next links between pages.
pub fn pager(lang: Lang, page: usize, pages: usize, link: impl Fn(usize) -> String) -> Markup {
    html! {
        @if pages > 1 {
            p.noprint.pager {
                @if page > 0 { a.prev href=(link(page - 1)) { "← " (lang.t("previous")) } " " }
                (lang.t("page")) " " (page + 1) " / " (pages)
                @if page + 1 < pages { " " a.next href=(link(page + 1)) { (lang.t("next")) " →" } }
            }
        }
    }
}

pub fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// Evidence a host page shows at most (a host sends one per probe and
/// subject; this bounds a host with thousands of listeners).
const EVIDENCE_SHOWN: usize = 500;

async fn host(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Path(name): Path<String>,
) -> Response {
    let (agents, evidence) = match (
        state.store.agents_on_host(&name).await,
        state.store.latest_evidence_of(&[name.as_str()], &[]).await,
    ) {
        (Ok(a), Ok(e)) => (a, e),
        (Err(e), _) | (_, Err(e)) => {
            return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string())
        }
    };
    if agents.is_empty() && evidence.is_empty() {
        return refuse(StatusCode::NOT_FOUND, "no such host");
    }
    let e = match super::verdicts(&state).await {
        Ok(e) => e,
        Err(r) => return r,
    };
    if let Err(r) = record(
        &state,
        &s,
        crate::access_log::EVIDENCE_QUERY,
        &format!("host={name}"),
    )
    .await
    {
        return r;
    }
    let body = host_page(HostPage {
        lang: lang.0,
        host: &name,
        agents: &agents,
        evidence: &evidence,
        items: &e.items,
        checklists: &state.checklists,
        now_ms: crate::clock::now_ms(),
    });
    let body = super::as_of(lang.0, &state, &e, body);
    page(&state, lang, &name, Some(&s), body)
}

pub struct HostPage<'a> {
    pub lang: Lang,
    pub host: &'a str,
    pub agents: &'a [AgentRecord],
    pub evidence: &'a [Evidence],
    pub items: &'a [ItemResult],
    pub checklists: &'a Checklists,
    pub now_ms: i64,
}

/// One row result of this host, with the item it belongs to.
struct Finding<'a> {
    item: &'a ItemResult,
    row: &'a crate::verdict::RowResult,
    host: &'a crate::verdict::HostResult,
}

pub fn host_page(p: HostPage<'_>) -> Markup {
    let lang = p.lang;
    let mut failing = Vec::new();
    let mut unknown = Vec::new();
    for item in p.items {
        for row in &item.rows {
            if let Some(h) = row.hosts.iter().find(|h| h.host == p.host) {
                let f = Finding { item, row, host: h };
                match h.outcome {
                    Outcome::Fail => failing.push(f),
                    Outcome::Unknown => unknown.push(f),
                    _ => {}
                }
            }
        }
    }
    let remediation = |rule: &Option<String>| {
        rule.as_ref()
            .and_then(|r| p.checklists.rules.get(r))
            .map(|r| {
                lang.pick(&r.def.remediation_ko, &r.def.remediation_en)
                    .to_string()
            })
    };
    html! {
        p.noprint { a href="/hosts" { "← " (lang.t("hosts")) } }
        h1.host { (p.host) }
        p { a.changes href={"/hosts/" (p.host) "/changes"} { (lang.t("config_changes")) " →" } }
        @for a in p.agents {
            table.facts {
                tr { th { (lang.t("agent")) } td { (a.agent_id) " " @if a.revoked { span class="v v-N" { (lang.t("revoked")) } } } }
                tr { th { (lang.t("version")) } td { (a.version) } }
                tr { th { "OS" } td { (a.os) " " (a.kernel) } }
                tr { th { (lang.t("labels")) } td { @for (k, v) in &a.labels { code { (k) "=" (v) } " " } } }
                tr { th { (lang.t("capabilities")) } td { (a.capabilities.join(", ")) } }
                tr { th { (lang.t("last_seen")) } td { (pages::ago(lang, p.now_ms, a.last_seen_ms)) " · " (crate::export::kst(a.last_seen_ms)) } }
                tr { th { (lang.t("first_seen")) } td { (crate::export::kst(a.first_seen_ms)) } }
                tr { th { (lang.t("peer")) } td { (a.peer) } }
            }
        }
        p.noprint { a.findings href={"/findings?host=" (urlencode(p.host))} { (lang.t("findings")) " →" } }
        h2 { (lang.t("failing_rows")) " (" (failing.len()) ")" }
        @if failing.is_empty() { p.muted { (lang.t("no_failing_rows")) } }
        @else {
            table.failing {
                tr { th { (lang.t("item")) } th { (lang.t("question")) } th { (lang.t("reason")) } th { (lang.t("remediation")) } }
                @for f in &failing {
                    tr.failure {
                        td {
                            a href={"/catalogs/" (f.item.catalog) "/items/" (f.item.id) "#row-" (f.row.id)} { (f.item.catalog) " / " (f.item.id) " #" (f.row.id) }
                            " " (pages::verdict(f.row.verdict))
                            @if let Some(r) = &f.row.rule { br; small.muted { (r) } }
                        }
                        td { (lang.pick(&f.row.question_ko, &f.row.question_en)) }
                        td.reason { (lang.host_reason(&f.host.reason)) @for d in &f.host.detail { br; small { (d) } } }
                        td.remediation { @if let Some(r) = remediation(&f.row.rule) { (r) } }
                    }
                }
            }
        }
        @if !unknown.is_empty() {
            h3 { (lang.t("unknown_rows")) " (" (unknown.len()) ")" }
            table.unknown {
                tr { th { (lang.t("item")) } th { (lang.t("reason")) } }
                @for f in &unknown {
                    tr {
                        td { a href={"/catalogs/" (f.item.catalog) "/items/" (f.item.id) "#row-" (f.row.id)} { (f.item.catalog) " / " (f.item.id) " #" (f.row.id) } }
                        td { (lang.host_reason(&f.host.reason)) @for d in &f.host.detail { br; small { (d) } } }
                    }
                }
            }
        }
        h2 { (lang.t("latest_evidence")) " (" (p.evidence.len()) ")" }
        @if p.evidence.len() > EVIDENCE_SHOWN { p.muted { (lang.t("showing")) " " (EVIDENCE_SHOWN) " / " (p.evidence.len()) } }
        table.evidence {
            tr { th { (lang.t("probe")) } th { (lang.t("subject")) } th { (lang.t("status")) } th { (lang.t("observed_at")) } th { (lang.t("evidence")) } }
            @for e in p.evidence.iter().take(EVIDENCE_SHOWN) {
                tr id={"ev-" (e.id)} {
                    td { (e.probe) } td { (e.subject) }
                    td { @if e.status == Status::Error as i32 { span class="v v-N" { "ERROR" } " " small { (e.error) } } @else { span class="v v-Y" { "OK" } } }
                    td { (crate::export::kst_observed(e)) }
                    td { details { summary { code { (e.id) } } pre.evidence { (serde_json::to_string_pretty(e).unwrap_or_default()) } } }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000_000;

    fn agent(id: &str, last_seen_ms: i64, zone: &str) -> AgentRecord {
        AgentRecord {
            agent_id: id.into(),
            host: id.into(),
            last_seen_ms,
            labels: BTreeMap::from([("zone".to_string(), zone.to_string())]),
            ..Default::default()
        }
    }

    fn row<'a>(a: &'a AgentRecord, worst: Option<Outcome>) -> HostRow<'a> {
        HostRow {
            agent: a,
            worst,
            failing: usize::from(worst == Some(Outcome::Fail)),
            unknown: 0,
            probes: None,
            connected: false,
            stale: !a.revoked && NOW - a.last_seen_ms > STALE_MS,
        }
    }

    /// The host names of the rendered page's rows.
    fn listed(html: &str) -> Vec<String> {
        html.split("<tr")
            .skip(2)
            .map(|r| {
                let r = &r[r.find("href=\"/hosts/").unwrap() + 13..];
                r[..r.find('"').unwrap()].to_string()
            })
            .collect()
    }

    #[test]
    fn filters_narrow_and_pages_bound_the_host_list() {
        let agents: Vec<AgentRecord> = (0..120)
            .map(|n| {
                agent(
                    &format!("web-{n:03}"),
                    NOW,
                    if n % 2 == 0 { "a" } else { "b" },
                )
            })
            .chain([agent("db-1", NOW - STALE_MS - 1, "a")])
            .collect();
        let rows: Vec<HostRow> = agents
            .iter()
            .map(|a| {
                row(
                    a,
                    Some(if a.host == "web-007" {
                        Outcome::Fail
                    } else {
                        Outcome::Pass
                    }),
                )
            })
            .collect();
        let page = |f: Filter| list_page(Lang::En, &rows, &f, NOW).into_string();

        let first = page(Filter::default());
        assert_eq!(listed(&first).len(), PAGE, "{first}");
        assert!(first.contains("1 host(s) not heard from"), "{first}");
        assert!(first.contains("href=\"/hosts?page=1\""), "a next page");
        let third = page(Filter {
            page: 2,
            ..Default::default()
        });
        assert_eq!(listed(&third).len(), 121 - 2 * PAGE);
        assert!(!third.contains("class=\"next\""), "the last page");

        let f = |q: &str, outcome: &str, health: &str, label: &str| Filter {
            q: q.into(),
            outcome: outcome.into(),
            health: health.into(),
            label: label.into(),
            page: 0,
        };
        assert_eq!(listed(&page(f("", "fail", "", ""))), ["web-007"]);
        assert_eq!(listed(&page(f("", "", "stale", ""))), ["db-1"]);
        assert_eq!(listed(&page(f("WEB-11", "", "", ""))).len(), 10);
        assert_eq!(listed(&page(f("web-11", "", "", "zone=b"))).len(), 5);
        let narrowed = page(f("web-11", "", "", "zone=b"));
        assert!(
            narrowed.contains("<span class=\"matching\">5</span>"),
            "{narrowed}"
        );
        assert!(listed(&page(f("", "", "", "zone=c"))).is_empty());
    }

    #[test]
    fn a_revoked_agent_and_probe_errors_are_shown() {
        let mut old = agent("web-1a", NOW, "a");
        old.revoked = true;
        let new = agent("web-1b", NOW, "a");
        let health = BTreeMap::from([(
            "tls".to_string(),
            ProbeHealth {
                subjects: 1,
                errors: vec!["10.0.0.5:443: connection refused".into()],
                newest_ms: NOW - 5_000,
                oldest_ms: NOW - 5_000,
            },
        )]);
        let mut rows = vec![row(&old, None), row(&new, Some(Outcome::Unknown))];
        rows[1].probes = Some(&health);
        rows[1].connected = true;
        let html = list_page(Lang::En, &rows, &Filter::default(), NOW).into_string();
        let trs: Vec<&str> = html.split("<tr").skip(2).collect();
        assert!(
            trs[0].contains("no longer counts in verdicts"),
            "{}",
            trs[0]
        );
        assert!(trs[1].contains("connection refused") && trs[1].contains("Connected"));
        let errors = Filter {
            health: "error".into(),
            ..Default::default()
        };
        let html = list_page(Lang::En, &rows, &errors, NOW).into_string();
        assert_eq!(listed(&html), ["web-1b"]);
    }
}
