//! The availability page: each service checked by the agents' synthetic
//! checks, its availability this month (or the month asked for) against
//! its target by both of seed 003's measures, its outages with their
//! durations and the part planned, MTTR, and the vantage points that failed
//! alone (their own network, not the service); the month's planned
//! maintenance windows, with a form for admins to add or delete one; links
//! to the month's operation report (HTML, PDF).

use super::i18n::Lang;
use super::{check_csrf, page, refuse, refused, Language, SignedIn};
use crate::availability::{month_of, month_report, AvailabilityError, MonthReport};
use crate::operations::{self, NewMaintenance};
use crate::state::AppState;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use maud::{html, Markup};
use serde::Deserialize;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/availability", get(availability))
        .route("/availability/report", get(report))
        .route("/availability/maintenance", post(add_maintenance))
        .route(
            "/availability/maintenance/{id}/delete",
            post(delete_maintenance),
        )
}

#[derive(Deserialize)]
struct Params {
    month: Option<String>,
}

#[derive(Deserialize)]
struct ReportParams {
    month: String,
    #[serde(default)]
    scope: String,
    format: String,
}

/// The monthly operation report, as the API's `/api/v1/reports/monthly`.
async fn report(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Query(p): Query<ReportParams>,
) -> Response {
    let format = match p.format.parse() {
        Ok(f) => f,
        Err(e) => return refused(&s, crate::export::ExportError::BadRequest(e).into()),
    };
    match operations::monthly_report(
        &state.export_source(),
        &state.availability,
        &s.actor(),
        &p.month,
        &p.scope,
        format,
    )
    .await
    {
        Ok(out) => crate::download::file(out),
        Err(e) => refused(&s, e),
    }
}

#[derive(Deserialize)]
struct MaintenanceForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    service: String,
    start: String,
    end: String,
    reason: String,
}

async fn add_maintenance(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Form(f): Form<MaintenanceForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    let new = NewMaintenance {
        service: f.service,
        start: f.start,
        end: f.end,
        reason: f.reason,
    };
    match operations::add_maintenance(state.store.as_ref(), &s.actor(), new).await {
        Ok(w) => Redirect::to(&format!(
            "/availability?month={}",
            month_of(w.start.timestamp_millis())
        ))
        .into_response(),
        Err(e) => refused(&s, e),
    }
}

#[derive(Deserialize)]
struct CsrfForm {
    #[serde(default)]
    csrf: String,
}

async fn delete_maintenance(
    State(state): State<AppState>,
    SignedIn(s): SignedIn,
    Path(id): Path<i64>,
    Form(f): Form<CsrfForm>,
) -> Response {
    if let Err(r) = check_csrf(&s, &f.csrf) {
        return r.into_response();
    }
    match operations::delete_maintenance(state.store.as_ref(), &s.actor(), id).await {
        Ok(()) => Redirect::to("/availability").into_response(),
        Err(e) => refused(&s, e),
    }
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
    let admin = s
        .actor()
        .may_manage_credentials()
        .then_some(s.csrf.as_str());
    let body = availability_page(lang.0, &report, admin);
    let title = lang.0.t("availability");
    page(&state, lang, title, Some(&s), body)
}

/// "1h 2m 3s" for a duration in seconds.
fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

/// The page; `admin` is the session's CSRF token when it may enter
/// maintenance windows.
fn availability_page(lang: Lang, r: &MonthReport, admin: Option<&str>) -> Markup {
    let when = |t: &chrono::DateTime<chrono::Utc>| t.format("%Y-%m-%d %H:%M:%S UTC").to_string();
    html! {
        h1 { (lang.t("availability")) " " (r.month) }
        form method="get" {
            input type="text" name="month" value=(r.month) placeholder="YYYY-MM";
            " " button { (lang.t("show")) }
        }
        p {
            (lang.pick("월간 운영보고서", "Monthly operation report")) ": "
            a href={"/availability/report?month=" (r.month) "&format=html"} { "HTML" } " "
            a href={"/availability/report?month=" (r.month) "&format=pdf"} { "PDF" }
        }
        p {
            (lang.t("availability_formula")) " "
            (lang.t("min_outage")) ": " (duration(r.min_outage_seconds as i64))
        }
        p { (lang.pick(
            "가용률(장애만 제외)은 계획 정지(등록된 점검 시간 안의 중단)를 가용 시간으로 보고 목표와 비교합니다. 가용률(장애와 의도적중단 제외)은 계획 정지도 중단으로 셉니다.",
            "Availability (failures) counts planned stops (down time inside a maintenance window) as available and is judged against the target; availability (failures and planned stops) counts them as out.",
        )) }
        @if r.truncated { p.warn { (lang.t("availability_truncated")) } }
        @if r.services.is_empty() { p { (lang.t("no_services")) } }
        table.availability {
            tr {
                th { (lang.t("service")) } th { (lang.t("vantage_points")) }
                th { (lang.t("up_now")) } th { (lang.t("availability")) }
                th { (lang.pick("가용률(장애와 의도적중단 제외)", "Availability (failures and planned stops)")) }
                th { (lang.t("target")) } th { (lang.t("outages")) }
                th { (lang.pick("계획 정지", "Planned stops")) }
                th { (lang.t("outages_per_year")) } th { "MTTR" }
            }
            @for s in &r.services {
                tr class=(if s.meets_target { "pass" } else { "fail" }) {
                    td { (s.service) }
                    td { (s.vantage_points.join(", ")) " (" (lang.t("quorum")) " " (s.quorum) ")" }
                    td { (match s.up_now { Some(true) => lang.t("up"), Some(false) => lang.t("down"), None => "?" }) }
                    td { (format!("{:.3} %", s.availability_percent)) }
                    td { (format!("{:.3} %", s.availability_with_planned_percent)) }
                    td { (format!("{:.1} %", s.target_percent)) " "
                         (if s.meets_target { lang.t("met") } else { lang.t("not_met") }) }
                    td { (s.outages.len()) " (" (format!("{:.1}", s.outage_minutes)) " " (lang.t("minutes")) ")" }
                    td { (format!("{:.1}", s.maintenance_minutes)) " " (lang.t("minutes")) }
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
                    tr { th { (lang.t("start")) } th { (lang.t("end")) } th { (lang.t("duration")) } th { (lang.pick("계획 정지", "Planned")) } th { (lang.t("vantage_points")) } }
                    @for o in &s.outages {
                        tr {
                            td { (when(&o.start)) }
                            td { (o.end.as_ref().map(when).unwrap_or_else(|| lang.t("ongoing").into())) }
                            td { (duration(o.duration_seconds)) }
                            td { @if o.maintenance_seconds > 0 { (duration(o.maintenance_seconds)) } @else { "-" } }
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
        h2 { (lang.pick("계획 정지 (점검 시간)", "Planned maintenance windows")) }
        @if r.maintenance.is_empty() { p { (lang.pick("없음", "None")) } }
        @else {
            table.maintenance {
                tr {
                    th { (lang.t("service")) } th { (lang.t("start")) } th { (lang.t("end")) }
                    th { (lang.t("reason")) } th { (lang.pick("등록", "Entered by")) }
                    @if admin.is_some() { th {} }
                }
                @for m in &r.maintenance {
                    tr {
                        td { @if m.service.is_empty() { (lang.pick("전체", "all services")) } @else { (m.service) } }
                        td { (when(&m.start)) }
                        td { (when(&m.end)) }
                        td { (m.reason) }
                        td { (m.by) }
                        @if let Some(csrf) = admin {
                            td {
                                form method="post" action=(format!("/availability/maintenance/{}/delete", m.id)) {
                                    input type="hidden" name="csrf" value=(csrf);
                                    button type="submit" { (lang.pick("삭제", "Delete")) }
                                }
                            }
                        }
                    }
                }
            }
        }
        @if let Some(csrf) = admin {
            form.maintenance method="post" action="/availability/maintenance" {
                input type="hidden" name="csrf" value=(csrf);
                label { (lang.t("service")) " " input type="text" name="service" placeholder=(lang.pick("비우면 전체", "empty: all services")); }
                " " label { (lang.t("start")) " " input type="text" name="start" required placeholder="2026-11-03T01:00:00+09:00"; }
                " " label { (lang.t("end")) " " input type="text" name="end" required placeholder="2026-11-03T03:00:00+09:00"; }
                " " label { (lang.t("reason")) " " input type="text" name="reason" required; }
                " " button type="submit" { (lang.pick("점검 시간 등록", "Add maintenance window")) }
            }
        }
    }
}
