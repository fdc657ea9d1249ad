//! A host's configuration changes over a period (`config_drift` evidence,
//! one per change, as the agent reported each within seconds): newest
//! first, a page at a time, each with its time, kind, hashes, owner and
//! mode, and the changed lines; secret-bearing files show only that they
//! changed (the agent never sends more). Reached from the host page.

use super::hosts::pager;
use super::i18n::Lang;
use super::{page, record, refuse, Language, SignedIn};
use crate::state::AppState;
use crate::store::EvidenceQuery;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use gamsa_proto::v1::{evidence::Payload, ConfigChange, Evidence};
use maud::{html, Markup};
use serde::Deserialize;

/// Changes per page.
pub const PAGE: u32 = 50;
/// Pages reachable (a period with more changes is narrowed instead).
const MAX_PAGES: u32 = 200;
const DAY_MS: i64 = 24 * 3600 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/hosts/{host}/changes", get(changes))
}

/// The period, from the query string: `from` and `to` dates (KST,
/// `YYYY-MM-DD`, `to` included); by default the last 30 days.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Period {
    pub from: String,
    pub to: String,
    pub page: u32,
}

impl Period {
    /// `[since, until)` in Unix milliseconds, or why the dates are wrong.
    pub fn bounds(&self, now_ms: i64) -> Result<(i64, i64), String> {
        let day = |s: &str, field: &str| -> Result<Option<i64>, String> {
            if s.is_empty() {
                return Ok(None);
            }
            let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|e| format!("{field}: {s:?} is not a date (YYYY-MM-DD): {e}"))?;
            let t = d.and_hms_opt(0, 0, 0).unwrap_or_default();
            // Days are Korean days: midnight KST is 15:00 UTC the day before.
            Ok(Some(t.and_utc().timestamp_millis() - 9 * 3600 * 1000))
        };
        let until = day(&self.to, "to")?.map_or(now_ms + 1, |t| t + DAY_MS);
        let since = day(&self.from, "from")?.unwrap_or(until - 30 * DAY_MS);
        if since >= until {
            return Err("from: after to".into());
        }
        Ok((since, until))
    }

    fn query(&self, page: u32) -> String {
        let mut s = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [("from", &self.from), ("to", &self.to)] {
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

async fn changes(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Path(host): Path<String>,
    Query(period): Query<Period>,
) -> Response {
    let (since, until) = match period.bounds(crate::clock::now_ms()) {
        Ok(b) => b,
        Err(e) => return refuse(StatusCode::BAD_REQUEST, &e),
    };
    let page_no = period.page.min(MAX_PAGES - 1);
    // One more than a page: whether a next page exists.
    let found = state
        .store
        .query_evidence(EvidenceQuery {
            probe: Some("config_drift".into()),
            host: Some(host.clone()),
            since_ms: Some(since),
            until_ms: Some(until),
            limit: PAGE + 1,
            offset: page_no * PAGE,
            ..Default::default()
        })
        .await;
    let found = match found {
        Ok(f) => f,
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    if let Err(r) = record(
        &state,
        &s,
        crate::access_log::EVIDENCE_QUERY,
        &format!("host={host} config changes {since}..{until}"),
    )
    .await
    {
        return r;
    }
    let title = format!("{host}: {}", lang.0.t("config_changes"));
    let body = changes_page(lang.0, &host, &period, page_no, &found);
    page(&state, lang, &title, Some(&s), body)
}

/// "2026-03-02 14:05:09 KST": changes come seconds apart.
fn kst_seconds(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono_tz::Asia::Seoul)
                .format("%Y-%m-%d %H:%M:%S KST")
                .to_string()
        })
        .unwrap_or_default()
}

fn change_kind(lang: Lang, kind: &str) -> &str {
    match kind {
        "created" => lang.pick("생성", "created"),
        "modified" => lang.pick("수정", "modified"),
        "deleted" => lang.pick("삭제", "deleted"),
        "attributes" => lang.pick("소유자·권한 변경", "owner or mode changed"),
        other => other,
    }
}

fn change_of(e: &Evidence) -> Option<&ConfigChange> {
    match &e.payload {
        Some(Payload::ConfigDrift(d)) => d.change.as_ref(),
        _ => None,
    }
}

/// The page: the period form, the changes (at most [`PAGE`] of `found`;
/// one more means a next page), the pager.
pub fn changes_page(
    lang: Lang,
    host: &str,
    period: &Period,
    page_no: u32,
    found: &[Evidence],
) -> Markup {
    let more = found.len() > PAGE as usize;
    let changes: Vec<(&Evidence, &ConfigChange)> = found
        .iter()
        .take(PAGE as usize)
        .filter_map(|e| change_of(e).map(|c| (e, c)))
        .collect();
    let short = |h: &str| h.chars().take(12).collect::<String>();
    let count = page_no as usize + 1 + usize::from(more);
    html! {
        p.noprint { a href={"/hosts/" (host)} { "← " (host) } }
        h1 { (host) ": " (lang.t("config_changes")) }
        p.muted { (lang.t("config_changes_note")) }
        form.filters method="get" {
            label { (lang.t("period_from")) " " input type="date" name="from" value=(period.from); }
            " "
            label { (lang.t("period_to")) " " input type="date" name="to" value=(period.to); }
            " "
            button type="submit" { (lang.t("show")) }
        }
        @if changes.is_empty() {
            p.muted { (lang.t("no_changes")) }
        } @else {
            table.changes {
                tr {
                    th { (lang.t("when")) } th { (lang.t("path")) } th { (lang.t("change")) }
                    th { "SHA-256" } th { (lang.t("owner_mode")) } th { (lang.t("changed_lines")) }
                }
                @for (e, c) in &changes {
                    tr.change {
                        td { (c.detected_at.or(e.observed_at).map(|t| kst_seconds(t.unix_millis())).unwrap_or_default())
                             br; small.muted { (c.detected_by) } }
                        td { code.path { (c.path) } }
                        td { (change_kind(lang, &c.kind)) @if c.secret { " " span class="v v-P" { (lang.t("secret")) } } }
                        td { @if !c.secret {
                            code { (short(&c.sha256_before)) } " → " code { (short(&c.sha256_after)) }
                        } }
                        td { @if c.kind != "deleted" { code { (c.uid) ":" (c.gid) " " (format!("{:04o}", c.mode)) } } }
                        td {
                            @if !c.diff.is_empty() {
                                details open[changes.len() <= 5] {
                                    summary { (c.diff.iter().filter(|l| l.starts_with('+') && !l.starts_with("+++")).count()) "+ "
                                              (c.diff.iter().filter(|l| l.starts_with('-') && !l.starts_with("---")).count()) "−"
                                              @if c.diff_truncated { " " small.muted { (lang.t("diff_cut")) } } }
                                    pre.diff { @for l in &c.diff {
                                        @let class = if l.starts_with("+++") || l.starts_with("---") { "h" } else if l.starts_with('+') { "add" } else if l.starts_with('-') { "del" } else if l.starts_with("@@") { "hunk" } else { "ctx" };
                                        span class=(class) { (l) } "\n"
                                    } }
                                }
                            } @else {
                                small.muted { (c.no_diff) }
                            }
                        }
                    }
                }
            }
        }
        (pager(lang, page_no as usize, count, |p| format!("/hosts/{host}/changes?{}", period.query(p as u32))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_period_is_korean_days_and_refuses_nonsense() {
        let p = |from: &str, to: &str| Period {
            from: from.into(),
            to: to.into(),
            page: 0,
        };
        let now = 1_800_000_000_000;
        assert_eq!(
            p("", "").bounds(now).unwrap(),
            (now + 1 - 30 * DAY_MS, now + 1)
        );
        let (since, until) = p("2026-03-01", "2026-03-31").bounds(now).unwrap();
        // 2026-03-01 00:00 KST is 2026-02-28 15:00 UTC.
        assert_eq!(since, 1_772_290_800_000);
        assert_eq!(until - since, 31 * DAY_MS);
        assert!(p("2026-03-31", "2026-03-01").bounds(now).is_err());
        let e = p("March", "").bounds(now).unwrap_err();
        assert!(e.starts_with("from: \"March\""), "{e}");
    }
}
