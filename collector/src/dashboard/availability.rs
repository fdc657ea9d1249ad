//! The availability page: each service checked by the agents' synthetic
//! checks, its availability this month (or the month asked for) against
//! its target, its outages with their durations, MTTR, and the vantage
//! points that failed alone (their own network, not the service).

use super::i18n::Lang;
use super::{page, refuse, Language, SignedIn};
use crate::availability::{month_of, month_report, AvailabilityError, MonthReport};
use crate::state::AppState;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new().route("/availability", get(availability))
}

#[derive(Deserialize)]
struct Params {
    month: Option<String>,
}

async fn availability(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    lang: Language,
    Query(p): Query<Params>,
) -> Response {
    let now = crate::clock::now_ms();
    let month = p.month.unwrap_or_else(|| month_of(now));
    let report = match month_report(state.store.as_ref(), &state.availability, &month, now).await {
        Ok(r) => r,
        Err(e @ AvailabilityError::Month(_)) => {
            return refuse(StatusCode::BAD_REQUEST, &e.to_string())
        }
        Err(e) => return refuse(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    };
    let body = availability_page(lang.0, &report);
    let title = lang.0.t("availability");
    page(&state, lang, title, Some(&s), body)
}

/// "1h 2m 3s" for a duration in seconds.
fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

fn availability_page(lang: Lang, r: &MonthReport) -> Markup {
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! {
        h1 { (lang.t("availability")) " " (r.month) }
        form method="get" {
            input type="text" name="month" value=(r.month) placeholder="YYYY-MM";
            " " button { (lang.t("show")) }
        }
        p {
            (lang.t("availability_formula")) " "
            (lang.t("min_outage")) ": " (duration(r.min_outage_seconds as i64))
        }
        @if r.truncated { p.warn { (lang.t("availability_truncated")) } }
        @if r.services.is_empty() { p { (lang.t("no_services")) } }
        table.availability {
            tr {
                th { (lang.t("service")) } th { (lang.t("vantage_points")) }
                th { (lang.t("up_now")) } th { (lang.t("availability")) }
                th { (lang.t("target")) } th { (lang.t("outages")) }
                th { (lang.t("outages_per_year")) } th { "MTTR" }
            }
            @for s in &r.services {
                tr class=(if s.meets_target { "pass" } else { "fail" }) {
                    td { (s.service) }
                    td { (s.vantage_points.join(", ")) " (" (lang.t("quorum")) " " (s.quorum) ")" }
                    td { (match s.up_now { Some(true) => lang.t("up"), Some(false) => lang.t("down"), None => "?" }) }
                    td { (format!("{:.3} %", s.availability_percent)) }
                    td { (format!("{:.1} %", s.target_percent)) " "
                         (if s.meets_target { lang.t("met") } else { lang.t("not_met") }) }
                    td { (s.outages.len()) " (" (format!("{:.1}", s.outage_minutes)) " " (lang.t("minutes")) ")" }
                    td { (format!("{:.1}", s.outages_per_year)) }
                    td { (s.mttr_seconds.map(duration).unwrap_or_else(|| "-".into())) }
                }
            }
        }
        @for s in &r.services {
            @if !s.outages.is_empty() || !s.vantage_problems.is_empty() {
                h2 { (s.service) }
            }
            @if !s.outages.is_empty() {
                h3 { (lang.t("outages")) }
                table.outages {
                    tr { th { (lang.t("start")) } th { (lang.t("end")) } th { (lang.t("duration")) } th { (lang.t("vantage_points")) } }
                    @for o in &s.outages {
                        tr {
                            td { (when(&o.start)) }
                            td { (o.end.as_ref().map(when).unwrap_or_else(|| lang.t("ongoing").into())) }
                            td { (duration(o.duration_seconds)) }
                            td { @for (vp, error) in &o.vantage_points { (vp) ": " (error) br; } }
                        }
                    }
                }
            }
            @if !s.vantage_problems.is_empty() {
                h3 { (lang.t("vantage_problems")) }
                table.vantage {
                    tr { th { (lang.t("vantage_point")) } th { (lang.t("start")) } th { (lang.t("end")) } th { (lang.t("duration")) } th { (lang.t("reason")) } }
                    @for v in &s.vantage_problems {
                        tr {
                            td { (v.vantage_point) }
                            td { (when(&v.start)) }
                            td { (v.end.as_ref().map(when).unwrap_or_else(|| lang.t("ongoing").into())) }
                            td { (duration(v.duration_seconds)) }
                            td { (v.error) }
                        }
                    }
                }
            }
        }
    }
}
