//! The monthly operation report (월간 운영보고서, seed 003 CMR-002): for one
//! month and one scope (every host, or the hosts of a label such as
//! `role=web` or `zone=a`), from the stored evidence: each service's
//! availability by both of seed 003's measures with its outages, planned
//! stops and MTTR; each host's CPU, memory and disk use (p95 of the month's
//! `host` reports); each backup source's success rate (the share of the
//! month's `backup` observations that found a fresh backup); configuration
//! changes (`config_drift`) counted per host and listed; findings new and
//! fixed in the month (the findings history); certificates expiring within
//! 30 days of the month's end (`tls`); agents silent. HTML and PDF render it
//! as one filled form, in Korean with English labels.
//!
//! Memory is bounded by a section, never by the whole month's evidence:
//! each section is its own store query, read a page at a time, and keeps
//! only its figures (per host, per source, per endpoint); the p95s read one
//! host's month at a time. Availability is read as the availability page
//! reads it (at most `[availability] max_evidence` synthetic reports).
//! Findings are counted in the store (`Store::findings_in`), which lists
//! only the first `MAX_LISTED` opened and fixed in the month: a fleet's
//! month holds hundreds of thousands. Changes are cut at `MAX_LISTED` too,
//! with the totals said.

use super::model::{FilledForm, Table};
use super::{kst, ExportError, Format, Output, Source};
use crate::availability::{self, AvailabilityConfig, Maintenance, MonthReport};
use crate::records::FindingRecord;
use crate::store::{EvidenceQuery, PeriodQuery, Store};
use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::path::Path;

/// Evidence read per store query.
const PAGE: u32 = 1000;
/// Most evidence bytes read in one page, whatever agents sent.
const PAGE_BYTES: u64 = 16 << 20;
/// Hosts whose usage samples one statement reads.
const USAGE_BATCH: usize = 200;
/// Most changes and findings listed one by one (all are counted).
pub const MAX_LISTED: usize = 500;
/// Certificates ending within this many days of the month's end are listed.
const CERT_DAYS: i64 = 30;
/// An agent not heard from for this long is silent (as on the hosts page).
const SILENT_MS: i64 = 15 * 60_000;

/// Which hosts a report covers: every host, or those labelled `key=value`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Scope(Option<(String, String)>);

impl Scope {
    /// "" or "all": every host; "role=web", "zone=a": the hosts so labelled.
    pub fn parse(s: &str) -> Result<Scope, ExportError> {
        let s = s.trim();
        if s.is_empty() || s == "all" {
            return Ok(Scope(None));
        }
        match s.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() && !v.trim().is_empty() => {
                Ok(Scope(Some((k.trim().into(), v.trim().into()))))
            }
            _ => Err(ExportError::BadRequest(format!(
                "scope {s:?}: \"all\" or a label such as role=web or zone=a"
            ))),
        }
    }

    pub fn describe(&self) -> String {
        match &self.0 {
            None => "all".into(),
            Some((k, v)) => format!("{k}={v}"),
        }
    }
}

/// One host's resource use over the month (p95 of its `host` reports).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostUsage {
    pub host: String,
    pub samples: usize,
    pub cpu_p95: Option<f64>,
    pub memory_p95: Option<f64>,
    /// The fullest disk of each report.
    pub disk_p95: Option<f64>,
}

/// One backup source's month: observations, fresh ones, failed ones.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BackupRate {
    pub host: String,
    pub source: String,
    pub observations: u64,
    pub fresh: u64,
    /// Not fresh, or the probe could not observe.
    pub failed: u64,
}

impl BackupRate {
    pub fn percent(&self) -> f64 {
        100.0 * self.fresh as f64 / self.observations.max(1) as f64
    }
}

/// One configuration change.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub host: String,
    pub at_ms: i64,
    pub path: String,
    pub kind: String,
}

/// A finding opened or fixed in the month.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingLine {
    pub host: String,
    pub catalog: String,
    pub item: String,
    pub check: String,
    pub at_ms: i64,
}

/// A certificate ending within 30 days of the month's end.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Expiring {
    pub host: String,
    pub endpoint: String,
    pub subject: String,
    pub not_after_ms: i64,
    /// Days from the month's end (negative: already expired then).
    pub days_after_month: i64,
}

/// An agent silent at the month's end (or now, for this month).
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Silent {
    pub agent: String,
    pub host: String,
    pub last_seen_ms: i64,
}

/// The report's figures, before they are rendered.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthlyReport {
    pub month: String,
    pub scope: String,
    pub generated_ms: i64,
    pub availability: MonthReport,
    pub hosts: Vec<HostUsage>,
    pub backups: Vec<BackupRate>,
    pub changes_per_host: BTreeMap<String, u64>,
    /// Newest first, at most `MAX_LISTED`.
    pub changes: Vec<Change>,
    /// In the order they happened, at most `MAX_LISTED`.
    pub findings_new: Vec<FindingLine>,
    pub findings_fixed: Vec<FindingLine>,
    /// Counts before the lists were cut.
    pub findings_new_total: u64,
    pub findings_fixed_total: u64,
    pub certificates: Vec<Expiring>,
    pub silent: Vec<Silent>,
}

/// Calls `each` with every evidence `query` matches, a page at a time.
async fn each_page(
    store: &dyn Store,
    mut query: EvidenceQuery,
    mut each: impl FnMut(&Evidence),
) -> Result<(), ExportError> {
    query.limit = PAGE;
    query.offset = 0;
    query.max_bytes = PAGE_BYTES;
    loop {
        let page = store.query_evidence(query.clone()).await?;
        page.iter().for_each(&mut each);
        if page.len() < PAGE as usize && !crate::store::cut_by_bytes(&page, PAGE_BYTES) {
            return Ok(());
        }
        query.offset += page.len() as u32;
    }
}

/// The nearest-rank 95th percentile.
fn p95(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let rank = ((values.len() as f64) * 0.95).ceil() as usize;
    Some(values[rank.clamp(1, values.len()) - 1])
}

fn observed(e: &Evidence) -> i64 {
    e.observed_at.map(|t| t.unix_millis()).unwrap_or_default()
}

/// Gathers the report of `month` ("YYYY-MM") for `scope` as of `now_ms`.
pub async fn build(
    src: &Source<'_>,
    config: &AvailabilityConfig,
    month: &str,
    scope: &Scope,
    now_ms: i64,
) -> Result<MonthlyReport, ExportError> {
    let store = src.store.as_ref();
    let (from, to) =
        availability::month_bounds(month).map_err(|e| ExportError::BadRequest(e.to_string()))?;
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let agents: Vec<_> = store
        .list_agents()
        .await?
        .into_iter()
        .filter(|a| !a.revoked)
        .filter(|a| match &scope.0 {
            None => true,
            Some((k, v)) => a.labels.get(k) == Some(v),
        })
        .collect();
    let hosts: BTreeSet<String> = agents.iter().map(|a| a.host.clone()).collect();
    let in_scope = |host: &str| hosts.contains(host);
    let period = |probe: &str| EvidenceQuery {
        probe: Some(probe.into()),
        since_ms: Some(from_ms),
        until_ms: Some(to_ms.min(now_ms + 1)),
        ..Default::default()
    };

    let mut availability = availability::month_report(store, config, month, now_ms)
        .await
        .map_err(|e| ExportError::Failed(e.into()))?;
    availability
        .services
        .retain(|s| s.vantage_points.iter().any(|h| in_scope(h)));

    // Hosts a batch at a time: one statement per batch, and only one
    // batch's samples held.
    let mut usage = Vec::new();
    let listed: Vec<&String> = hosts.iter().collect();
    for batch in listed.chunks(USAGE_BATCH) {
        let mut samples: BTreeMap<&str, [Vec<f64>; 3]> = batch
            .iter()
            .map(|h| (h.as_str(), Default::default()))
            .collect();
        let query = EvidenceQuery {
            hosts: batch.iter().map(|h| h.to_string()).collect(),
            ..period("host")
        };
        each_page(store, query, |e| {
            let Some(Payload::HostInfo(h)) = &e.payload else {
                return;
            };
            let Some([cpu, memory, disk]) = samples.get_mut(e.host.as_str()) else {
                return;
            };
            cpu.push(f64::from(h.cpu_usage_percent));
            if h.memory_total_bytes > 0 {
                memory.push(100.0 * h.memory_used_bytes as f64 / h.memory_total_bytes as f64);
            }
            let fullest = h
                .disks
                .iter()
                .filter(|d| d.total_bytes > 0)
                .map(|d| 100.0 * (1.0 - d.available_bytes as f64 / d.total_bytes as f64))
                .fold(None, |m: Option<f64>, u| Some(m.map_or(u, |m| m.max(u))));
            disk.extend(fullest);
        })
        .await?;
        usage.extend(
            samples
                .into_iter()
                .map(|(host, [mut cpu, mut memory, mut disk])| HostUsage {
                    host: host.to_string(),
                    samples: cpu.len(),
                    cpu_p95: p95(&mut cpu),
                    memory_p95: p95(&mut memory),
                    disk_p95: p95(&mut disk),
                }),
        );
    }

    let mut backups: BTreeMap<(String, String), BackupRate> = BTreeMap::new();
    each_page(store, period("backup"), |e| {
        if !in_scope(&e.host) {
            return;
        }
        let r = backups
            .entry((e.host.clone(), e.subject.clone()))
            .or_insert_with(|| BackupRate {
                host: e.host.clone(),
                source: e.subject.clone(),
                observations: 0,
                fresh: 0,
                failed: 0,
            });
        r.observations += 1;
        match &e.payload {
            Some(Payload::BackupArtifact(b)) if e.status == Status::Observed as i32 && b.fresh => {
                r.fresh += 1
            }
            _ => r.failed += 1,
        }
    })
    .await?;

    let mut changes_per_host: BTreeMap<String, u64> = BTreeMap::new();
    let mut changes = Vec::new();
    each_page(store, period("config_drift"), |e| {
        let Some(Payload::ConfigDrift(d)) = &e.payload else {
            return;
        };
        let Some(c) = &d.change else { return };
        if !in_scope(&e.host) {
            return;
        }
        *changes_per_host.entry(e.host.clone()).or_default() += 1;
        if changes.len() < MAX_LISTED {
            changes.push(Change {
                host: e.host.clone(),
                at_ms: c
                    .detected_at
                    .map(|t| t.unix_millis())
                    .unwrap_or_else(|| observed(e)),
                path: c.path.clone(),
                kind: c.kind.clone(),
            });
        }
    })
    .await?;

    let findings = store
        .findings_in(PeriodQuery {
            from_ms,
            to_ms,
            hosts: hosts.iter().cloned().collect(),
            limit: MAX_LISTED as u32,
        })
        .await?;
    let lines = |records: Vec<FindingRecord>, at: fn(&FindingRecord) -> i64| {
        records
            .into_iter()
            .map(|r| FindingLine {
                at_ms: at(&r),
                host: r.key.host,
                catalog: r.key.catalog,
                item: r.key.item,
                check: r.key.check,
            })
            .collect()
    };

    let mut seen: HashSet<(String, String)> = HashSet::new();
    let mut certificates = Vec::new();
    each_page(store, period("tls"), |e| {
        if !in_scope(&e.host) || !seen.insert((e.host.clone(), e.subject.clone())) {
            return;
        }
        let Some(Payload::TlsEndpoint(t)) = &e.payload else {
            return;
        };
        let Some(leaf) = &t.leaf else { return };
        let Some(not_after) = leaf.not_after.map(|t| t.unix_millis()) else {
            return;
        };
        let days = (not_after - to_ms).div_euclid(86_400_000);
        if days <= CERT_DAYS {
            certificates.push(Expiring {
                host: e.host.clone(),
                endpoint: e.subject.clone(),
                subject: leaf.subject.clone(),
                not_after_ms: not_after,
                days_after_month: days,
            });
        }
    })
    .await?;
    certificates.sort_by_key(|c| c.not_after_ms);

    let silent_before = to_ms.min(now_ms) - SILENT_MS;
    let silent = agents
        .iter()
        .filter(|a| a.last_seen_ms < silent_before)
        .map(|a| Silent {
            agent: a.agent_id.clone(),
            host: a.host.clone(),
            last_seen_ms: a.last_seen_ms,
        })
        .collect();

    Ok(MonthlyReport {
        month: month.to_string(),
        scope: scope.describe(),
        generated_ms: now_ms,
        availability,
        hosts: usage,
        backups: backups.into_values().collect(),
        changes_per_host,
        changes,
        findings_new_total: findings.opened,
        findings_fixed_total: findings.fixed,
        findings_new: lines(findings.first_opened, |r| r.first_seen_ms),
        findings_fixed: lines(findings.first_fixed, |r| r.fixed_ms.unwrap_or_default()),
        certificates,
        silent,
    })
}

/// "1h 2m 3s" for a duration in seconds.
fn duration(seconds: i64) -> String {
    humantime::format_duration(std::time::Duration::from_secs(seconds.max(0) as u64)).to_string()
}

fn percent(v: Option<f64>) -> String {
    v.map_or_else(|| "-".into(), |v| format!("{v:.1} %"))
}

/// A table, with one line saying "none" when it has no rows.
fn table(caption: &str, columns: &[(&str, f32, bool)], rows: Vec<Vec<String>>) -> Table {
    let mut t = Table::new(caption, columns);
    t.rows = if rows.is_empty() {
        vec![vec!["없음 (none)".into()]]
    } else {
        rows
    };
    t
}

fn window_service(m: &Maintenance) -> String {
    if m.service.is_empty() {
        "전체 (all)".into()
    } else {
        m.service.clone()
    }
}

/// A section's caption ending "…)" whole, or, past `MAX_LISTED`, "…;
/// the first N of TOTAL, ORDER)".
fn cut_caption(open: &str, order: &str, total: usize) -> String {
    if total > MAX_LISTED {
        format!("{open}; {MAX_LISTED} of {total}, {order})")
    } else {
        format!("{open})")
    }
}

/// The report as a filled form: its head and one table per section.
pub fn form(r: &MonthlyReport, collector_id: &str) -> FilledForm {
    let a = &r.availability;
    let ms = |t: &chrono::DateTime<chrono::Utc>| kst(t.timestamp_millis());
    let fields = vec![
        ("대상 (scope)".to_string(), r.scope.clone()),
        (
            "기간 (period)".into(),
            format!("{} – {}", ms(&a.from), ms(&a.to)),
        ),
        (
            "장애 기준 (outage from)".into(),
            duration(a.min_outage_seconds as i64),
        ),
        ("작성 시각 (generated)".into(), kst(r.generated_ms)),
        ("수집기 (collector)".into(), collector_id.to_string()),
    ];
    let mut tables = vec![table(
        "1. 서비스 가용률 (service availability)",
        &[
            ("서비스 service", 24.0, false),
            ("가용률 장애만 제외 (failures)", 22.0, true),
            (
                "가용률 장애와 의도적중단 제외 (failures + planned)",
                26.0,
                true,
            ),
            ("목표 target", 16.0, true),
            ("장애 outages", 14.0, true),
            ("중단 분 minutes out", 18.0, true),
            ("계획 정지 분 planned", 18.0, true),
            ("MTTR", 18.0, true),
        ],
        a.services
            .iter()
            .map(|s| {
                vec![
                    s.service.clone(),
                    format!("{:.3} %", s.availability_percent),
                    format!("{:.3} %", s.availability_with_planned_percent),
                    format!(
                        "{:.1} % {}",
                        s.target_percent,
                        if s.meets_target {
                            "충족 met"
                        } else {
                            "미달 not met"
                        }
                    ),
                    s.outages.iter().filter(|o| !o.planned).count().to_string(),
                    format!("{:.1}", s.outage_minutes),
                    format!("{:.1}", s.maintenance_minutes),
                    s.mttr_seconds.map(duration).unwrap_or_else(|| "-".into()),
                ]
            })
            .collect(),
    )];
    tables.push(table(
        "1-1. 장애 내역 (outages)",
        &[
            ("서비스 service", 26.0, false),
            ("시작 start", 30.0, false),
            ("종료 end", 30.0, false),
            ("지속 duration", 26.0, false),
            ("계획 정지 planned", 30.0, false),
        ],
        a.services
            .iter()
            .flat_map(|s| {
                s.outages.iter().map(|o| {
                    vec![
                        s.service.clone(),
                        ms(&o.start),
                        o.end
                            .as_ref()
                            .map(ms)
                            .unwrap_or_else(|| "진행 중 (ongoing)".into()),
                        duration(o.duration_seconds),
                        if o.maintenance_seconds > 0 {
                            duration(o.maintenance_seconds)
                        } else {
                            "-".into()
                        },
                    ]
                })
            })
            .collect(),
    ));
    tables.push(table(
        "1-2. 계획 정지 (planned maintenance windows)",
        &[
            ("서비스 service", 26.0, false),
            ("시작 start", 30.0, false),
            ("종료 end", 30.0, false),
            ("사유 reason", 56.0, false),
        ],
        a.maintenance
            .iter()
            .map(|m| {
                vec![
                    window_service(m),
                    ms(&m.start),
                    ms(&m.end),
                    format!("{} ({})", m.reason, m.by),
                ]
            })
            .collect(),
    ));
    // Per-host lists are cut at MAX_LISTED, what needs a look first: a
    // fleet's report stays a document one reads (all are counted).
    let mut usage: Vec<&HostUsage> = r.hosts.iter().collect();
    usage.sort_by(|a, b| {
        let busiest = |h: &HostUsage| {
            [h.cpu_p95, h.memory_p95, h.disk_p95]
                .into_iter()
                .flatten()
                .fold(f64::NEG_INFINITY, f64::max)
        };
        // No samples first (nothing tells how it fares), then the busiest.
        (a.samples > 0)
            .cmp(&(b.samples > 0))
            .then(busiest(b).total_cmp(&busiest(a)))
            .then(a.host.cmp(&b.host))
    });
    let mut backups: Vec<&BackupRate> = r.backups.iter().collect();
    backups.sort_by(|a, b| a.percent().total_cmp(&b.percent()));
    let mut changed: Vec<(&String, &u64)> = r.changes_per_host.iter().collect();
    changed.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut silent: Vec<&Silent> = r.silent.iter().collect();
    silent.sort_by_key(|s| s.last_seen_ms);
    tables.push(table(
        &cut_caption(
            "2. 자원 사용률 p95 (resource usage",
            "hosts without samples, then the busiest",
            r.hosts.len(),
        ),
        &[
            ("호스트 host", 46.0, false),
            ("표본 samples", 20.0, true),
            ("CPU", 20.0, true),
            ("메모리 memory", 28.0, true),
            ("디스크 disk", 28.0, true),
        ],
        usage
            .iter()
            .take(MAX_LISTED)
            .map(|h| {
                vec![
                    h.host.clone(),
                    h.samples.to_string(),
                    percent(h.cpu_p95),
                    percent(h.memory_p95),
                    percent(h.disk_p95),
                ]
            })
            .collect(),
    ));
    tables.push(table(
        &cut_caption(
            "3. 백업 성공률 (backup success rate: fresh observations",
            "the lowest rates first",
            r.backups.len(),
        ),
        &[
            ("호스트 host", 40.0, false),
            ("백업 backup", 44.0, false),
            ("관측 observed", 18.0, true),
            ("정상 fresh", 18.0, true),
            ("실패 failed", 18.0, true),
            ("성공률 rate", 22.0, true),
        ],
        backups
            .iter()
            .take(MAX_LISTED)
            .map(|b| {
                vec![
                    b.host.clone(),
                    b.source.clone(),
                    b.observations.to_string(),
                    b.fresh.to_string(),
                    b.failed.to_string(),
                    format!("{:.1} %", b.percent()),
                ]
            })
            .collect(),
    ));
    tables.push(table(
        &cut_caption(
            "4. 구성 변경 건수 (configuration changes per host",
            "the most changed first",
            r.changes_per_host.len(),
        ),
        &[("호스트 host", 90.0, false), ("변경 changes", 40.0, true)],
        changed
            .iter()
            .take(MAX_LISTED)
            .map(|(h, n)| vec![h.to_string(), n.to_string()])
            .collect(),
    ));
    let total_changes: u64 = r.changes_per_host.values().sum();
    tables.push(table(
        &format!(
            "4-1. 구성 변경 내역 (changes, newest first; {} of {total_changes})",
            r.changes.len()
        ),
        &[
            ("호스트 host", 36.0, false),
            ("시각 time", 32.0, false),
            ("종류 kind", 20.0, false),
            ("경로 path", 72.0, false),
        ],
        r.changes
            .iter()
            .map(|c| vec![c.host.clone(), kst(c.at_ms), c.kind.clone(), c.path.clone()])
            .collect(),
    ));
    let finding_rows = |kind: &str, list: &[FindingLine]| -> Vec<Vec<String>> {
        list.iter()
            .map(|f| {
                vec![
                    kind.to_string(),
                    f.host.clone(),
                    format!("{}/{} ({})", f.catalog, f.item, f.check),
                    kst(f.at_ms),
                ]
            })
            .collect()
    };
    let mut findings = finding_rows("신규 new", &r.findings_new);
    findings.extend(finding_rows("조치 fixed", &r.findings_fixed));
    tables.push(table(
        &format!(
            "5. 취약점 점검 발견 사항 (findings: new {}, fixed {})",
            r.findings_new_total, r.findings_fixed_total
        ),
        &[
            ("구분 kind", 20.0, false),
            ("호스트 host", 36.0, false),
            ("항목 item", 70.0, false),
            ("시각 time", 34.0, false),
        ],
        findings,
    ));
    tables.push(table(
        &cut_caption(
            "6. 만료 예정 인증서 (certificates ending within 30 days of the month's end",
            "the soonest first",
            r.certificates.len(),
        ),
        &[
            ("호스트 host", 34.0, false),
            ("엔드포인트 endpoint", 36.0, false),
            ("주체 subject", 44.0, false),
            ("만료 not after", 30.0, false),
            ("일 days", 16.0, true),
        ],
        r.certificates
            .iter()
            .take(MAX_LISTED)
            .map(|c| {
                vec![
                    c.host.clone(),
                    c.endpoint.clone(),
                    c.subject.clone(),
                    kst(c.not_after_ms),
                    c.days_after_month.to_string(),
                ]
            })
            .collect(),
    ));
    tables.push(table(
        &cut_caption(
            "7. 수신 중단 에이전트 (agents silent for 15 minutes",
            "silent the longest first",
            r.silent.len(),
        ),
        &[
            ("에이전트 agent", 50.0, false),
            ("호스트 host", 50.0, false),
            ("마지막 보고 last seen", 50.0, false),
        ],
        silent
            .iter()
            .take(MAX_LISTED)
            .map(|s| vec![s.agent.clone(), s.host.clone(), kst(s.last_seen_ms)])
            .collect(),
    ));
    FilledForm {
        catalog: String::new(),
        catalog_title_ko: String::new(),
        catalog_version: String::new(),
        form: String::new(),
        title_ko: format!("월간 운영보고서 (monthly operation report) {}", r.month),
        notes_ko: vec![
            "가용률 = 100 × (1 − 중단 시간(분) / 월 총 시간(분)). 장애만 제외: 계획 정지(등록된 점검 시간 안의 중단)는 가용 시간으로 봄(목표 판정 기준). 장애와 의도적중단 제외: 계획 정지도 중단으로 셈 (seed 003). Availability by both measures of seed 003; the target is judged on the first.".into(),
            format!(
                "모든 수치는 저장된 증적에서 계산됨: 합성 점검(가용률), host(자원 p95), backup(관측마다 최신 백업 여부), config_drift, 발견 사항 이력, tls. 목록은 {MAX_LISTED}건까지 싣고 전체 건수를 밝힘. Figures come from stored evidence; lists are cut at {MAX_LISTED} with the totals given."
            ),
        ],
        fields,
        tables,
        rows: vec![],
        generated_at: chrono::DateTime::from_timestamp_millis(r.generated_ms)
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        redacted: false,
    }
}

/// The report in `format`: HTML or PDF.
pub fn render(
    r: &MonthlyReport,
    format: Format,
    collector_id: &str,
    pdf_font: &Path,
) -> Result<Output, ExportError> {
    let bytes = match format {
        Format::Html => super::html::render(&form(r, collector_id)).into_bytes(),
        Format::Pdf => super::pdf::render(&form(r, collector_id), pdf_font)?,
        other => {
            return Err(ExportError::BadRequest(format!(
                "format {}: the monthly report is html or pdf",
                other.extension()
            )))
        }
    };
    let scope = if r.scope == "all" {
        String::new()
    } else {
        format!("-{}", r.scope.replace(['=', '/', ' '], "-"))
    };
    Ok(Output {
        body: bytes.into(),
        content_type: format.content_type(),
        file_name: format!("gamsa-monthly-{}{scope}.{}", r.month, format.extension()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_percentiles() {
        assert_eq!(Scope::parse("").unwrap().describe(), "all");
        assert_eq!(Scope::parse("role=web").unwrap().describe(), "role=web");
        assert!(Scope::parse("role=").is_err());
        assert!(Scope::parse("web").is_err());
        let mut v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(p95(&mut v), Some(95.0));
        assert_eq!(p95(&mut [7.0]), Some(7.0));
        assert_eq!(p95(&mut []), None);
    }

    #[test]
    fn per_host_lists_past_the_bound_show_what_needs_a_look_first() {
        let n = MAX_LISTED + 20;
        let hosts: Vec<HostUsage> = (0..n)
            .map(|i| HostUsage {
                host: format!("h{i:04}"),
                // h0000 has no samples; the others are busier by number.
                samples: usize::from(i > 0),
                cpu_p95: (i > 0).then_some(i as f64 / 10.0),
                memory_p95: None,
                disk_p95: None,
            })
            .collect();
        let (from, to) = crate::availability::month_bounds("2026-11").unwrap();
        let r = MonthlyReport {
            month: "2026-11".into(),
            scope: "all".into(),
            generated_ms: 0,
            availability: crate::availability::MonthReport {
                month: "2026-11".into(),
                from,
                to,
                min_outage_seconds: 60,
                services: vec![],
                maintenance: vec![],
                truncated: false,
            },
            hosts,
            backups: vec![],
            changes_per_host: (0..n).map(|i| (format!("h{i:04}"), i as u64)).collect(),
            changes: vec![],
            findings_new: vec![],
            findings_fixed: vec![],
            findings_new_total: 0,
            findings_fixed_total: 0,
            certificates: vec![],
            silent: vec![],
        };
        let f = form(&r, "c");
        let usage = f
            .tables
            .iter()
            .find(|t| t.caption.starts_with("2. "))
            .unwrap();
        assert_eq!(usage.rows.len(), MAX_LISTED);
        assert!(
            usage.caption.contains(&format!("{MAX_LISTED} of {n}")),
            "{}",
            usage.caption
        );
        let listed: Vec<&str> = usage.rows.iter().map(|r| r[0].as_str()).collect();
        assert_eq!(
            listed[..3],
            [
                "h0000",
                &format!("h{:04}", n - 1),
                &format!("h{:04}", n - 2)
            ]
        );
        let changes = f
            .tables
            .iter()
            .find(|t| t.caption.starts_with("4. "))
            .unwrap();
        assert_eq!(changes.rows.len(), MAX_LISTED);
        assert_eq!(
            changes.rows[0],
            [format!("h{:04}", n - 1), (n - 1).to_string()]
        );
        let backups = f
            .tables
            .iter()
            .find(|t| t.caption.starts_with("3. "))
            .unwrap();
        assert!(!backups.caption.contains(" of "), "{}", backups.caption);
    }
}
