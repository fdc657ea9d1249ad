//! The findings history page: each host's findings per catalog item, with
//! what changed since the previous assessment and since a year earlier (new,
//! recurring, fixed), when first and last seen and fixed, and what to change;
//! filtered by host and catalog and paged, so a page never grows with the
//! fleet. The findings report (CSV, HTML, PDF) is downloaded from here.
//! Reading the page and taking the report are recorded in the access log
//! (by `operations`).

use super::hosts::{pager, urlencode, PAGE};
use super::i18n::Lang;
use super::{page, refused, Language, SignedIn};
use crate::assessment::{Change, Filter, History, Summary};
use crate::state::AppState;
use crate::store::ChangeTally;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/findings", get(list))
        .route("/findings/report", get(report))
}

/// The page's query: host, catalog and page; the report's format.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Params {
    pub host: String,
    pub catalog: String,
    /// "open" shows only findings still open.
    pub show: String,
    pub page: usize,
    pub format: String,
}

impl Params {
    fn filter(&self) -> Filter {
        let some = |s: &str| (!s.trim().is_empty()).then(|| s.trim().to_string());
        Filter {
            host: some(&self.host),
            catalog: some(&self.catalog),
            open_only: self.show == "open",
            page: None,
        }
    }

    /// The host and catalog as a query string, with `extra` pairs.
    fn query(&self, extra: &[(&str, &str)]) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("host", &self.host),
            ("catalog", &self.catalog),
            ("show", &self.show),
        ] {
            if !v.is_empty() {
                s.append_pair(k, v);
            }
        }
        for (k, v) in extra {
            s.append_pair(k, v);
        }
        s.finish()
    }
}

async fn list(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Query(p): Query<Params>,
) -> Response {
    // One page read, and the counts of all the filter names from the store.
    let filter = Filter {
        page: Some(crate::store::KeyPage {
            offset: u32::try_from(p.page.saturating_mul(PAGE)).unwrap_or(u32::MAX),
            limit: PAGE as u32,
        }),
        ..p.filter()
    };
    let history = match crate::operations::read_findings(
        state.store.as_ref(),
        &state.checklists,
        &state.tallies,
        &s.actor(),
        &filter,
    )
    .await
    {
        Ok(h) => h,
        Err(e) => return refused(&s, e),
    };
    let summary = match state
        .tallies
        .summary(state.store.as_ref(), &p.filter())
        .await
    {
        Ok(t) => t,
        Err(e) => return refused(&s, crate::operations::OpError::from(e)),
    };
    let catalogs: Vec<&str> = state
        .checklists
        .catalogs
        .iter()
        .map(|c| c.catalog.id.as_str())
        .collect();
    let body = findings_page(
        lang.0,
        &history,
        &summary,
        &p,
        &catalogs,
        crate::clock::now_ms(),
    );
    let title = lang.0.t("findings");
    page(&state, lang, title, Some(&s), body)
}

async fn report(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(p): Query<Params>,
) -> Response {
    let format = match p.format.parse() {
        Ok(f) => f,
        Err(e) => return refused(&s, crate::export::ExportError::BadRequest(e).into()),
    };
    match crate::operations::findings_report(
        &state.export_source(),
        &s.actor(),
        &p.filter(),
        format,
        &[],
    )
    .await
    {
        Ok(out) => crate::download::file(out),
        Err(e) => refused(&s, e),
    }
}

fn change(lang: Lang, c: Option<Change>) -> Markup {
    let (class, ko, en) = match c {
        Some(Change::New) => ("v v-N", "신규", "new"),
        Some(Change::Recurring) => ("v v-P", "재발", "recurring"),
        Some(Change::Fixed) => ("v v-Y", "조치됨", "fixed"),
        None => return html! { span.muted { "—" } },
    };
    html! { span class=(class) { (lang.pick(ko, en)) } }
}

fn counts(lang: Lang, t: ChangeTally) -> Markup {
    html! {
        span class="v v-N" { (lang.pick("신규", "new")) " " (t.new) } " "
        span class="v v-P" { (lang.pick("재발", "recurring")) " " (t.recurring) } " "
        span class="v v-Y" { (lang.pick("조치됨", "fixed")) " " (t.fixed) }
    }
}

/// The page: comparison times and counts (of every finding the filter
/// names), filters, report links, one page of findings (`h`, read a page).
pub fn findings_page(
    lang: Lang,
    h: &History,
    summary: &Summary,
    p: &Params,
    catalogs: &[&str],
    now_ms: i64,
) -> Markup {
    let kst = crate::export::kst;
    let pages = (summary.findings as usize).div_ceil(PAGE).max(1);
    html! {
        @if !p.host.is_empty() { p.noprint { a href={"/hosts/" (urlencode(&p.host))} { "← " (p.host) } } }
        h1 { (lang.t("findings")) @if !p.host.is_empty() { " · " (p.host) } }
        p.muted { (lang.t("findings_note")) }
        table.facts {
            tr { th { (lang.t("last_assessment")) } td { (h.assessments.map(|t| kst(t.last_ms)).unwrap_or_else(|| lang.t("no_assessment").into())) } }
            tr {
                th { (lang.t("since_previous")) }
                td {
                    @match (h.assessments.and_then(|t| t.previous_ms), summary.since_previous) {
                        (Some(at), Some(t)) => { (counts(lang, t)) " " small.muted { (kst(at)) } }
                        _ => { span.muted { (lang.t("no_assessment")) } }
                    }
                }
            }
            tr {
                th { (lang.t("since_year")) }
                td {
                    @match (summary.year_ago_ms.zip(summary.since_year), h.assessments) {
                        (Some((at, t)), _) => { (counts(lang, t)) " " small.muted { (kst(at)) } }
                        (None, Some(t)) => { span.muted { (lang.t("history_short")) " " (kst(t.first_ms)) } }
                        (None, None) => { span.muted { (lang.t("no_assessment")) } }
                    }
                }
            }
        }
        form.noprint.box.filters method="get" action="/findings" {
            label { (lang.t("host")) " " input name="host" value=(p.host) size="18"; } " "
            label { (lang.t("catalogs")) " " select name="catalog" {
                option value="" { (lang.t("all_groups")) }
                @for c in catalogs { option value=(c) selected[p.catalog == *c] { (c) } }
            } } " "
            label { input type="checkbox" name="show" value="open" checked[p.show == "open"]; " " (lang.t("open_only")) } " "
            button type="submit" { (lang.t("show")) }
        }
        p.noprint.downloads {
            (lang.t("findings_report")) ": "
            @for f in ["csv", "html", "pdf"] {
                a href={"/findings/report?" (p.query(&[("format", f)]))} { (f.to_uppercase()) } " "
            }
        }
        p.muted.paging { span.matching { (summary.findings) } " · " (lang.t("page")) " " (p.page + 1) " / " (pages) }
        @if h.findings.is_empty() { p.muted { (lang.t("no_findings")) } }
        @else {
            table.findings {
                tr {
                    th { (lang.t("host")) } th { (lang.t("item")) } th { (lang.t("since_previous")) } th { (lang.t("since_year")) }
                    th { (lang.t("found_first")) } th { (lang.t("found_last")) } th { (lang.t("fixed_at")) } th { (lang.t("remediation")) }
                }
                @for f in &h.findings {
                    tr class=(if f.open { "finding open" } else { "finding fixed" }) {
                        td { a href={"/hosts/" (urlencode(&f.key.host))} { (f.key.host) } }
                        td {
                            a href={"/catalogs/" (f.key.catalog) "/items/" (f.key.item)} { (f.key.catalog) " / " (f.key.item) }
                            " " (lang.pick(&f.item_title_ko, &f.item_title_en))
                            br; small.muted { (f.key.check) @if f.times_open > 1 { " · " (lang.t("times_open")) " " (f.times_open) } }
                        }
                        td { (change(lang, f.since_previous)) }
                        td { (change(lang, f.since_year)) }
                        td { (kst(f.first_seen_ms)) }
                        td { (kst(f.last_seen_ms)) br; small.muted { (super::pages::ago(lang, now_ms, f.last_seen_ms)) } }
                        td { @match f.fixed_ms { Some(at) => { (kst(at)) } None => { span class="v v-N" { (lang.t("not_fixed")) } } } }
                        td.remediation { (lang.pick(&f.remediation_ko, &f.remediation_en)) }
                    }
                }
            }
        }
        (pager(lang, p.page, pages, |n| format!("/findings?{}", p.query(&[("page", &n.to_string())]))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::assessment::Finding;
    use crate::records::{AssessmentTimes, FindingKey};

    fn finding(host: &str, open: bool, since_previous: Option<Change>) -> Finding {
        Finding {
            key: FindingKey {
                host: host.into(),
                catalog: "kisa-unix".into(),
                item: "U-01".into(),
                check: "kisa-u01-root-remote".into(),
            },
            item_title_ko: "root 계정 원격 접속 제한".into(),
            item_title_en: "Restrict remote root login".into(),
            open,
            first_seen_ms: 1_000,
            last_seen_ms: 2_000,
            fixed_ms: (!open).then_some(3_000),
            times_open: 1,
            since_previous,
            since_year: None,
            remediation_ko: "PermitRootLogin no".into(),
            remediation_en: "Set PermitRootLogin no".into(),
        }
    }

    #[test]
    fn a_page_of_findings_with_the_counts_of_all() {
        let mut findings: Vec<Finding> = (0..PAGE)
            .map(|n| finding(&format!("web-{n:03}"), true, Some(Change::Recurring)))
            .collect();
        findings[0].since_previous = Some(Change::New);
        let times = AssessmentTimes {
            first_ms: 1_000,
            previous_ms: Some(2_000),
            last_ms: 3_000,
        };
        let page = |findings: Vec<Finding>| History {
            assessments: Some(times),
            year_ago_ms: None,
            findings,
            next_offset: None,
        };
        // The counts are the store's, of every finding, not of this page.
        let summary = Summary {
            assessments: Some(times),
            year_ago_ms: None,
            findings: 2 * PAGE as u64 + 6,
            open: 2 * PAGE as u64 + 5,
            since_previous: Some(ChangeTally {
                new: 7,
                recurring: 98,
                fixed: 1,
            }),
            since_year: None,
        };
        let render = |h: &History, p: &Params| {
            findings_page(Lang::En, h, &summary, p, &["kisa-unix"], 4_000).into_string()
        };
        let first = render(&page(findings), &Params::default());
        assert_eq!(first.matches("<tr class=\"finding").count(), PAGE);
        assert!(
            first.contains("new 7") && first.contains("recurring 98") && first.contains("fixed 1"),
            "{first}"
        );
        assert!(first.contains("page 1 / 3"), "{first}");
        assert!(first.contains("href=\"/findings?page=1\""), "{first}");
        assert!(
            first.contains("history does not reach back a year"),
            "{first}"
        );
        let last = render(
            &page(vec![
                finding("web-zzy", true, None),
                finding("web-zzz", false, Some(Change::Fixed)),
            ]),
            &Params {
                page: 2,
                host: "web-zzz".into(),
                show: "open".into(),
                ..Default::default()
            },
        );
        assert_eq!(last.matches("<tr class=\"finding").count(), 2);
        assert!(last.contains("finding fixed") && last.contains("Set PermitRootLogin no"));
        assert!(
            last.contains("/findings/report?host=web-zzz&amp;show=open&amp;format=csv"),
            "{last}"
        );
    }
}
