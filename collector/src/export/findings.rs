//! The findings report: every host's findings from the assessment history,
//! each compared with the previous assessment and with a year earlier (new,
//! recurring, fixed), with when it was first and last seen and fixed and
//! what to change (the rule's remediation). HTML and PDF render it as one
//! filled-form table; CSV has one line per finding with the Korean and
//! English remediation.

use super::model::{FilledForm, Table};
use super::{kst, ExportError, Format, Output};
use crate::assessment::{Change, Finding, History};
use serde::Serialize;
use std::path::Path;

/// One finding as a CSV line.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Line<'a> {
    host: &'a str,
    catalog: &'a str,
    item: &'a str,
    item_title_ko: &'a str,
    rule: &'a str,
    /// "open" or "fixed".
    state: &'static str,
    /// new, recurring, fixed or empty.
    since_previous: &'static str,
    since_year_ago: &'static str,
    first_seen: String,
    last_seen: String,
    fixed: String,
    times_open: usize,
    remediation_ko: &'a str,
    remediation_en: &'a str,
}

fn change(c: Option<Change>) -> &'static str {
    c.map_or("", Change::as_str)
}

fn change_ko(c: Option<Change>) -> &'static str {
    c.map_or("-", Change::ko)
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

fn line(f: &Finding) -> Line<'_> {
    Line {
        host: &f.key.host,
        catalog: &f.key.catalog,
        item: &f.key.item,
        item_title_ko: &f.item_title_ko,
        rule: &f.key.check,
        state: if f.open { "open" } else { "fixed" },
        since_previous: change(f.since_previous),
        since_year_ago: change(f.since_year),
        first_seen: rfc3339(f.first_seen_ms),
        last_seen: rfc3339(f.last_seen_ms),
        fixed: f.fixed_ms.map(rfc3339).unwrap_or_default(),
        times_open: f.times_open,
        remediation_ko: &f.remediation_ko,
        remediation_en: &f.remediation_en,
    }
}

/// The report as a filled form: the comparison times, the counts and one
/// table of findings.
pub fn form(history: &History, scope: &str, collector_id: &str, now_ms: i64) -> FilledForm {
    let times = history.assessments;
    let (pn, pr, pf) = history.counts(false);
    let (yn, yr, yf) = history.counts(true);
    let fields = vec![
        ("대상".to_string(), scope.to_string()),
        (
            "최근 평가".into(),
            times.map(|t| kst(t.last_ms)).unwrap_or("없음".into()),
        ),
        (
            "이전 평가".into(),
            times
                .and_then(|t| t.previous_ms)
                .map(kst)
                .unwrap_or("없음".into()),
        ),
        (
            "1년 전 기준".into(),
            history.year_ago_ms.map(kst).unwrap_or_else(|| match times {
                Some(t) => format!("이력이 1년에 못 미침 (최초 평가 {})", kst(t.first_ms)),
                None => "없음".into(),
            }),
        ),
        (
            "이전 평가 대비".into(),
            format!("신규 {pn}, 재발 {pr}, 조치됨 {pf}"),
        ),
        (
            "1년 전 대비".into(),
            format!("신규 {yn}, 재발 {yr}, 조치됨 {yf}"),
        ),
        ("작성 시각".into(), kst(now_ms)),
        ("수집기".into(), collector_id.to_string()),
    ];
    let mut table = Table::new(
        "",
        &[
            ("호스트", 22.0, false),
            ("항목", 24.0, false),
            ("이전 대비", 12.0, true),
            ("1년 전 대비", 12.0, true),
            ("최초 발견", 20.0, false),
            ("최근 발견", 20.0, false),
            ("조치", 20.0, false),
            ("조치 방법", 50.0, false),
        ],
    );
    table.merge_leading = 1;
    table.rows = history
        .findings
        .iter()
        .map(|f| {
            vec![
                f.key.host.clone(),
                format!(
                    "{}/{} {} ({})",
                    f.key.catalog, f.key.item, f.item_title_ko, f.key.check
                ),
                change_ko(f.since_previous).to_string(),
                change_ko(f.since_year).to_string(),
                kst(f.first_seen_ms),
                kst(f.last_seen_ms),
                f.fixed_ms.map(kst).unwrap_or_else(|| "미조치".into()),
                f.remediation_ko.clone(),
            ]
        })
        .collect();
    FilledForm {
        catalog: String::new(),
        catalog_title_ko: String::new(),
        catalog_version: String::new(),
        form: String::new(),
        title_ko: "취약점 점검 이력 (호스트별 발견 사항)".into(),
        notes_ko: vec![
            "발견 사항은 호스트가 규칙을 충족하지 못한 점검 항목입니다. 신규는 비교 시점에 없던 것, 재발은 비교 시점과 지금 모두 있는 것, 조치됨은 비교 시점에 있었고 최신 증적으로 충족이 확인된 것입니다.".into(),
            "최신 증적이 없는 호스트(수신 중단 등)의 발견 사항은 조치된 것으로 보지 않습니다.".into(),
        ],
        fields,
        tables: vec![table],
        rows: vec![],
        generated_at: rfc3339(now_ms),
        redacted: false,
    }
}

/// The report in `format`: CSV, HTML or PDF.
pub fn render(
    history: &History,
    format: Format,
    scope: &str,
    collector_id: &str,
    pdf_font: &Path,
) -> Result<Output, ExportError> {
    let now = crate::clock::now_ms();
    let bytes = match format {
        Format::Csv => {
            let lines: Vec<Line> = history.findings.iter().map(line).collect();
            super::csv::render(&lines).map_err(|e| ExportError::Failed(e.into()))?
        }
        Format::Html => super::html::render(&form(history, scope, collector_id, now)).into_bytes(),
        Format::Pdf => super::pdf::render(&form(history, scope, collector_id, now), pdf_font)?,
        other => {
            return Err(ExportError::BadRequest(format!(
                "format {}: the findings report is csv, html or pdf",
                other.extension()
            )))
        }
    };
    Ok(Output {
        body: bytes.into(),
        content_type: format.content_type(),
        file_name: format!("gamsa-findings.{}", format.extension()),
    })
}
