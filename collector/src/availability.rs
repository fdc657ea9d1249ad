//! Service availability from the agents' synthetic checks: outages per
//! service with start, end and duration, availability per month by the seed
//! formula, outages per year and mean time to recover (seed 002 2.1, seed
//! 003 CMR-002 and CMR-003).
//!
//! The agents report a check's changes of state and periodic summaries
//! (`synthetic` evidence), each carrying the state and since when it holds
//! (`changedAt`). Per vantage point (host) and service that is a timeline
//! of up and down segments; a service is down where at least a quorum of
//! the vantage points checking it are down (default: a majority), so one
//! vantage point's own network problem is told apart from an outage and
//! shown as such. A down stretch counts as an outage from `min_outage`
//! (seed 003: 5 minutes). Availability for a month is
//! 100 × (1 − outage minutes / minutes in the month), the month in UTC.
//!
//! Planned maintenance windows entered by operators (`Store::maintenance`,
//! per service or for every service) split an outage's time: what falls
//! inside a window is a planned stop (의도한 중단), the rest a failure (장애).
//! Seed 003 defines two measures, both shown: 시스템 가용률 (장애만 제외),
//! 100 × (1 − failure minutes / minutes in the month), where planned stops
//! count as available time (the figure judged against the target), and
//! 시스템 가용률 (장애와 의도적중단 제외), 100 × (1 − (failure + planned stop
//! minutes) / minutes in the month). An outage wholly inside windows is not
//! counted in outages per year or MTTR.
//!
//! What it reads is bounded: the synthetic evidence of the month asked for
//! and a lookback before it (the state a check was in when the month began),
//! newest first up to `max_evidence`; it is computed when asked, never on
//! ingest, and the store knows nothing of it. A vantage point's last known
//! state holds until it reports again, at most `stale_after` past its last
//! report (then its state is unknown: it votes neither way). Revoked
//! agents' evidence is not counted.

use crate::records::MaintenanceWindow;
use crate::store::{EvidenceQuery, Store, StoreError};
use chrono::{DateTime, Datelike, NaiveDate, TimeZone, Utc};
use gamsa_proto::v1::{evidence::Payload, synthetic_check::Report, Evidence, Status};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

/// Most synthetic evidence bytes read for one month, beside
/// `availability.max_evidence`: either cut makes the report `truncated`.
const MAX_BYTES: u64 = 256 << 20;

/// `[availability]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AvailabilityConfig {
    /// A service down for less than this is no outage (seed 003: 5 minutes).
    #[serde(with = "humantime_serde")]
    pub min_outage: Duration,
    /// Vantage points that must fail together for a service outage;
    /// 0: a majority of those checking the service.
    pub quorum: usize,
    /// The availability target in percent of a service without its own.
    pub target: f64,
    /// Targets per service (seed 002: IaaS/PaaS 99.9, SaaS 99.5).
    pub targets: BTreeMap<String, f64>,
    /// How long a vantage point's last report holds without a newer one
    /// (agents summarise every hour by default).
    #[serde(with = "humantime_serde")]
    pub stale_after: Duration,
    /// How far before the month reports are read for the state it began in.
    #[serde(with = "humantime_serde")]
    pub lookback: Duration,
    /// Most synthetic evidence read for one month.
    pub max_evidence: u32,
}

impl Default for AvailabilityConfig {
    fn default() -> Self {
        Self {
            min_outage: Duration::from_secs(300),
            quorum: 0,
            target: 99.9,
            targets: BTreeMap::new(),
            stale_after: Duration::from_secs(2 * 3600),
            lookback: Duration::from_secs(3 * 24 * 3600),
            max_evidence: 500_000,
        }
    }
}

impl AvailabilityConfig {
    /// What serde cannot check; the message names the field.
    pub fn validate(&self) -> Result<(), String> {
        let bad = |t: f64| !(0.0..=100.0).contains(&t);
        if bad(self.target) {
            return Err("availability.target: a percentage from 0 to 100".into());
        }
        if let Some((s, _)) = self.targets.iter().find(|(_, t)| bad(**t)) {
            return Err(format!(
                "availability.targets.{s}: a percentage from 0 to 100"
            ));
        }
        if self.stale_after.is_zero() {
            return Err("availability.stale_after: more than 0".into());
        }
        Ok(())
    }

    fn target_of(&self, service: &str) -> f64 {
        self.targets.get(service).copied().unwrap_or(self.target)
    }
}

/// A stretch of time; `end` is `None` while it lasts.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Outage {
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_or_null")]
    pub end: Option<DateTime<Utc>>,
    pub duration_seconds: i64,
    /// The part of it inside planned maintenance windows (a planned stop).
    pub maintenance_seconds: i64,
    /// Wholly inside maintenance windows: no failure.
    pub planned: bool,
    /// The vantage points that were down, and the last error each saw.
    pub vantage_points: BTreeMap<String, String>,
}

/// A planned maintenance window as people read it.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Maintenance {
    pub id: i64,
    /// The service; empty for every service.
    pub service: String,
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub end: DateTime<Utc>,
    pub reason: String,
    pub by: String,
    #[serde(serialize_with = "rfc3339")]
    pub created: DateTime<Utc>,
}

impl From<&MaintenanceWindow> for Maintenance {
    fn from(w: &MaintenanceWindow) -> Self {
        Maintenance {
            id: w.id,
            service: w.service.clone(),
            start: at(w.start_ms),
            end: at(w.end_ms),
            reason: w.reason.clone(),
            by: w.by.clone(),
            created: at(w.created_ms),
        }
    }
}

/// One vantage point down while the service was not.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct VantageProblem {
    pub vantage_point: String,
    #[serde(serialize_with = "rfc3339")]
    pub start: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339_or_null")]
    pub end: Option<DateTime<Utc>>,
    pub duration_seconds: i64,
    pub error: String,
}

/// A service over one month.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ServiceAvailability {
    pub service: String,
    /// The hosts checking it.
    pub vantage_points: Vec<String>,
    /// Vantage points that must be down together.
    pub quorum: usize,
    /// Up now, by the same quorum (`None`: no vantage point's state known).
    pub up_now: Option<bool>,
    pub target_percent: f64,
    /// 시스템 가용률 (장애만 제외): 100 × (1 − (outage minutes − planned
    /// stop minutes) / minutes in the month); judged against the target.
    pub availability_percent: f64,
    /// 시스템 가용률 (장애와 의도적중단 제외): 100 × (1 − outage minutes /
    /// minutes in the month), planned stops counted as unavailable.
    pub availability_with_planned_percent: f64,
    pub meets_target: bool,
    /// Minutes the service was out in the month, failures and planned stops.
    pub outage_minutes: f64,
    /// The part of `outage_minutes` inside maintenance windows.
    pub maintenance_minutes: f64,
    pub outages: Vec<Outage>,
    /// The month's outages that were not wholly planned, converted to a
    /// year (seed 003: 1년 단위로 환산).
    pub outages_per_year: f64,
    /// Mean duration of the month's ended outages that were not wholly
    /// planned (`None`: none ended).
    pub mttr_seconds: Option<i64>,
    pub vantage_problems: Vec<VantageProblem>,
}

/// Every checked service over one month.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MonthReport {
    /// "2026-12".
    pub month: String,
    #[serde(serialize_with = "rfc3339")]
    pub from: DateTime<Utc>,
    #[serde(serialize_with = "rfc3339")]
    pub to: DateTime<Utc>,
    pub min_outage_seconds: u64,
    pub services: Vec<ServiceAvailability>,
    /// The maintenance windows overlapping the month.
    pub maintenance: Vec<Maintenance>,
    /// The read stopped at `max_evidence`: the oldest reports are missing.
    pub truncated: bool,
}

/// A time as RFC 3339 in UTC with `Z`, as evidence timestamps are.
fn rfc3339<S: serde::Serializer>(t: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn rfc3339_or_null<S: serde::Serializer>(
    t: &Option<DateTime<Utc>>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match t {
        Some(t) => rfc3339(t, s),
        None => s.serialize_none(),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AvailabilityError {
    #[error("month {0:?}: expected YYYY-MM")]
    Month(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The first instant of `month` ("YYYY-MM") and of the month after it.
pub fn month_bounds(month: &str) -> Result<(DateTime<Utc>, DateTime<Utc>), AvailabilityError> {
    let bad = || AvailabilityError::Month(month.to_string());
    let (y, m) = month.split_once('-').ok_or_else(bad)?;
    let (y, m): (i32, u32) = (y.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    let first = NaiveDate::from_ymd_opt(y, m, 1).ok_or_else(bad)?;
    let next = if m == 12 {
        NaiveDate::from_ymd_opt(y + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(y, m + 1, 1)
    }
    .ok_or_else(bad)?;
    let at = |d: NaiveDate| Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0).unwrap_or_default());
    Ok((at(first), at(next)))
}

/// The month `now` is in, "YYYY-MM".
pub fn month_of(now_ms: i64) -> String {
    let t = DateTime::<Utc>::from_timestamp_millis(now_ms).unwrap_or_default();
    format!("{:04}-{:02}", t.year(), t.month())
}

/// Reads the month's synthetic evidence from the store and computes it.
pub async fn month_report(
    store: &dyn Store,
    config: &AvailabilityConfig,
    month: &str,
    now_ms: i64,
) -> Result<MonthReport, AvailabilityError> {
    let (from, to) = month_bounds(month)?;
    let revoked = store.revoked_agents().await?;
    let evidence = store
        .query_evidence(EvidenceQuery {
            probe: Some("synthetic".into()),
            since_ms: Some(from.timestamp_millis() - config.lookback.as_millis() as i64),
            until_ms: Some(to.timestamp_millis().min(now_ms + 1)),
            limit: config.max_evidence,
            max_bytes: MAX_BYTES,
            ..Default::default()
        })
        .await?;
    let truncated = evidence.len() >= config.max_evidence as usize
        || crate::store::cut_by_bytes(&evidence, MAX_BYTES);
    let evidence: Vec<Evidence> = evidence
        .into_iter()
        .filter(|e| !revoked.contains(&e.agent_id))
        .collect();
    let windows = store
        .maintenance(from.timestamp_millis(), to.timestamp_millis())
        .await?;
    let mut report = compute(config, &evidence, &windows, from, to, now_ms);
    report.month = month.to_string();
    report.truncated = truncated;
    Ok(report)
}

/// One report of a vantage point: its state from `since` on, as known at
/// `seen`.
struct Point {
    since: i64,
    seen: i64,
    up: bool,
    error: String,
}

/// A vantage point's state over `[start, end)`.
#[derive(Clone)]
struct Segment {
    start: i64,
    end: i64,
    up: bool,
    error: String,
}

/// The segments of one vantage point, from its reports, up to `until`.
fn segments(mut points: Vec<Point>, stale_ms: i64, until: i64) -> Vec<Segment> {
    points.sort_by_key(|p| (p.since, p.seen));
    // Reports of one state (a change, then summaries) are one point seen
    // last at the newest of them.
    let mut merged: Vec<Point> = Vec::new();
    for p in points {
        match merged.last_mut() {
            Some(last) if last.since == p.since && last.up == p.up => {
                last.seen = last.seen.max(p.seen);
                if !p.error.is_empty() {
                    last.error = p.error;
                }
            }
            _ => merged.push(p),
        }
    }
    let mut out = Vec::new();
    for (i, p) in merged.iter().enumerate() {
        let next = merged.get(i + 1).map(|n| n.since).unwrap_or(i64::MAX);
        let end = next.min(p.seen.saturating_add(stale_ms)).min(until);
        if end > p.since {
            out.push(Segment {
                start: p.since,
                end,
                up: p.up,
                error: p.error.clone(),
            });
        }
    }
    out
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::<Utc>::from_timestamp_millis(ms).unwrap_or_default()
}

/// The availability of every service in `evidence` over `[from, to)`,
/// judged as of `now_ms`.
pub fn compute(
    config: &AvailabilityConfig,
    evidence: &[Evidence],
    windows: &[MaintenanceWindow],
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    now_ms: i64,
) -> MonthReport {
    let (from_ms, to_ms) = (from.timestamp_millis(), to.timestamp_millis());
    let until = to_ms.min(now_ms);
    let min_ms = config.min_outage.as_millis() as i64;
    // service → vantage point → reports
    let mut by_service: BTreeMap<String, BTreeMap<String, Vec<Point>>> = BTreeMap::new();
    for e in evidence {
        let Some(Payload::SyntheticCheck(c)) = &e.payload else {
            continue;
        };
        if e.status != Status::Observed as i32 || c.report() == Report::Unspecified {
            continue;
        }
        let seen = e.observed_at.map(|t| t.unix_millis()).unwrap_or_default();
        let since = c
            .changed_at
            .map(|t| t.unix_millis())
            .unwrap_or(seen)
            .min(seen);
        let service = if c.service.is_empty() {
            &c.name
        } else {
            &c.service
        };
        by_service
            .entry(service.clone())
            .or_default()
            .entry(e.host.clone())
            .or_default()
            .push(Point {
                since,
                seen,
                up: c.up,
                error: c.error.clone(),
            });
    }
    let stale_ms = config.stale_after.as_millis() as i64;
    let minutes = (to_ms - from_ms) as f64 / 60_000.0;
    let services = by_service
        .into_iter()
        .map(|(service, vantage)| {
            let n = vantage.len();
            let quorum = match config.quorum {
                0 => n / 2 + 1,
                q => q.min(n),
            };
            let timelines: Vec<(String, Vec<Segment>)> = vantage
                .into_iter()
                .map(|(host, points)| (host, segments(points, stale_ms, until)))
                .collect();
            let planned = planned_stretches(windows, &service);
            judge(
                config,
                service,
                timelines,
                &planned,
                quorum,
                (from_ms, to_ms),
                until,
                min_ms,
                minutes,
            )
        })
        .collect();
    MonthReport {
        month: String::new(),
        from,
        to,
        min_outage_seconds: config.min_outage.as_secs(),
        services,
        maintenance: windows.iter().map(Maintenance::from).collect(),
        truncated: false,
    }
}

/// The windows of `service` (its own and those for every service) as
/// disjoint stretches `[start, end)`, in order.
fn planned_stretches(windows: &[MaintenanceWindow], service: &str) -> Vec<(i64, i64)> {
    let mut spans: Vec<(i64, i64)> = windows
        .iter()
        .filter(|w| w.service.is_empty() || w.service == service)
        .map(|w| (w.start_ms, w.end_ms))
        .collect();
    spans.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (a, b) in spans {
        match merged.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => merged.push((a, b)),
        }
    }
    merged
}

/// How much of `[a, b)` the disjoint `stretches` cover, in milliseconds.
fn covered(stretches: &[(i64, i64)], a: i64, b: i64) -> i64 {
    stretches
        .iter()
        .map(|&(s, e)| (e.min(b) - s.max(a)).max(0))
        .sum()
}

/// One service: its down stretches by quorum, the outages among them, and
/// the vantage points down alone.
#[allow(clippy::too_many_arguments)]
fn judge(
    config: &AvailabilityConfig,
    service: String,
    timelines: Vec<(String, Vec<Segment>)>,
    planned: &[(i64, i64)],
    quorum: usize,
    (from_ms, to_ms): (i64, i64),
    until: i64,
    min_ms: i64,
    minutes: f64,
) -> ServiceAvailability {
    let mut cuts: BTreeSet<i64> = BTreeSet::new();
    for (_, segs) in &timelines {
        for s in segs {
            cuts.insert(s.start);
            cuts.insert(s.end);
        }
    }
    let cuts: Vec<i64> = cuts.into_iter().collect();
    // Down stretches of the service and of single vantage points.
    let mut down: Vec<(i64, i64, BTreeMap<String, String>)> = Vec::new();
    let mut alone: BTreeMap<String, Vec<(i64, i64, String)>> = BTreeMap::new();
    let mut up_now = None;
    for w in cuts.windows(2) {
        let (a, b) = (w[0], w[1]);
        let mut failing = BTreeMap::new();
        let mut known = 0;
        for (host, segs) in &timelines {
            if let Some(s) = segs.iter().find(|s| s.start <= a && a < s.end) {
                known += 1;
                if !s.up {
                    failing.insert(host.clone(), s.error.clone());
                }
            }
        }
        if known == 0 {
            continue;
        }
        let service_down = failing.len() >= quorum;
        if b >= until {
            up_now = Some(!service_down);
        }
        if service_down {
            match down.last_mut() {
                Some(last) if last.1 == a => {
                    last.1 = b;
                    last.2.extend(failing);
                }
                _ => down.push((a, b, failing)),
            }
        } else {
            for (host, error) in failing {
                let list = alone.entry(host).or_default();
                match list.last_mut() {
                    Some(last) if last.1 == a => last.1 = b,
                    _ => list.push((a, b, error)),
                }
            }
        }
    }
    // Still down now (an outage running past a month already over ends
    // with the month).
    let ended = |end: i64| !(end >= until && until < to_ms);
    let outages: Vec<Outage> = down
        .into_iter()
        .filter(|(a, b, _)| b - a >= min_ms && *b > from_ms)
        .map(|(a, b, vantage_points)| {
            let in_windows = covered(planned, a, b);
            Outage {
                start: at(a),
                end: ended(b).then(|| at(b)),
                duration_seconds: (b - a) / 1000,
                maintenance_seconds: in_windows / 1000,
                planned: in_windows >= b - a,
                vantage_points,
            }
        })
        .collect();
    let vantage_problems = alone
        .into_iter()
        .flat_map(|(host, list)| {
            list.into_iter()
                .filter(|(a, b, _)| b - a >= min_ms && *b > from_ms)
                .map(move |(a, b, error)| VantageProblem {
                    vantage_point: host.clone(),
                    start: at(a),
                    end: ended(b).then(|| at(b)),
                    duration_seconds: (b - a) / 1000,
                    error,
                })
        })
        .collect();
    // Each outage's time within the month, and the part of it planned.
    let (outage_ms, planned_ms) = outages
        .iter()
        .map(|o| {
            let start = o.start.timestamp_millis().max(from_ms);
            let end = o.end.map_or(until, |e| e.timestamp_millis()).min(to_ms);
            let end = end.max(start);
            (end - start, covered(planned, start, end))
        })
        .fold((0, 0), |(t, p), (ot, op)| (t + ot, p + op));
    let outage_minutes = outage_ms as f64 / 60_000.0;
    let maintenance_minutes = planned_ms as f64 / 60_000.0;
    let availability_percent = 100.0 * (1.0 - (outage_minutes - maintenance_minutes) / minutes);
    let availability_with_planned_percent = 100.0 * (1.0 - outage_minutes / minutes);
    let failures: Vec<&Outage> = outages.iter().filter(|o| !o.planned).collect();
    let ended: Vec<i64> = failures
        .iter()
        .filter(|o| o.end.is_some())
        .map(|o| o.duration_seconds)
        .collect();
    let target_percent = config.target_of(&service);
    ServiceAvailability {
        vantage_points: timelines.iter().map(|(h, _)| h.clone()).collect(),
        quorum,
        up_now,
        target_percent,
        availability_percent,
        availability_with_planned_percent,
        meets_target: availability_percent >= target_percent,
        outage_minutes,
        maintenance_minutes,
        outages_per_year: failures.len() as f64 * (365.0 * 24.0 * 60.0) / minutes,
        mttr_seconds: (!ended.is_empty()).then(|| ended.iter().sum::<i64>() / ended.len() as i64),
        outages,
        vantage_problems,
        service,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::SyntheticCheck;
    use gamsa_proto::Timestamp;

    const T0: i64 = 1_764_547_200_000; // 2025-12-01T00:00:00Z

    fn ts(ms: i64) -> Option<Timestamp> {
        Some(Timestamp {
            seconds: ms.div_euclid(1000),
            nanos: 0,
        })
    }

    /// A change report of `service` from `host` at `at_ms` (seconds after T0).
    fn change(host: &str, service: &str, at_s: i64, up: bool) -> Evidence {
        let at_ms = T0 + at_s * 1000;
        Evidence {
            host: host.into(),
            agent_id: host.into(),
            probe: "synthetic".into(),
            status: Status::Observed as i32,
            observed_at: ts(at_ms),
            payload: Some(Payload::SyntheticCheck(SyntheticCheck {
                name: service.into(),
                report: Report::Change as i32,
                up,
                changed_at: ts(at_ms),
                error: if up { String::new() } else { "refused".into() },
                ..Default::default()
            })),
            ..Default::default()
        }
    }

    fn config(min_outage_s: u64) -> AvailabilityConfig {
        AvailabilityConfig {
            min_outage: Duration::from_secs(min_outage_s),
            ..Default::default()
        }
    }

    fn run(config: &AvailabilityConfig, evidence: &[Evidence], now_s: i64) -> MonthReport {
        let (from, to) = month_bounds("2025-12").unwrap();
        compute(config, evidence, &[], from, to, T0 + now_s * 1000)
    }

    #[test]
    fn an_outage_seen_by_both_vantage_points_counts_with_its_duration() {
        let ev = [
            change("a", "web", 0, true),
            change("b", "web", 1, true),
            change("a", "web", 600, false),
            change("b", "web", 610, false),
            change("a", "web", 1200, true),
            change("b", "web", 1190, true),
        ];
        let r = run(&config(300), &ev, 3000);
        let s = &r.services[0];
        assert_eq!((s.service.as_str(), s.quorum), ("web", 2));
        assert_eq!(s.outages.len(), 1);
        let o = &s.outages[0];
        // Down where both are down: from b's failure to b's recovery.
        assert_eq!(o.duration_seconds, 580);
        assert_eq!(o.start.timestamp_millis(), T0 + 610_000);
        assert!(o.end.is_some());
        let month_minutes = 31.0 * 24.0 * 60.0;
        let want = 100.0 * (1.0 - (580.0 / 60.0) / month_minutes);
        assert!((s.availability_percent - want).abs() < 1e-9);
        assert_eq!(s.mttr_seconds, Some(580));
        assert!(!s.meets_target || want >= 99.9);
        assert_eq!(s.up_now, Some(true));
        assert!(s.vantage_problems.is_empty());
    }

    #[test]
    fn one_vantage_point_down_is_its_own_problem_not_an_outage() {
        let ev = [change("a", "api", 0, true), change("b", "api", 0, false)];
        let r = run(&config(60), &ev, 3600);
        let s = &r.services[0];
        assert!(s.outages.is_empty());
        assert_eq!(s.availability_percent, 100.0);
        assert_eq!(s.vantage_problems.len(), 1);
        assert_eq!(s.vantage_problems[0].vantage_point, "b");
        assert_eq!(s.vantage_problems[0].end, None, "still down");
        assert_eq!(s.vantage_problems[0].error, "refused");
        assert_eq!(s.up_now, Some(true));
    }

    #[test]
    fn short_stretches_are_no_outage_and_a_single_vantage_point_is_its_quorum() {
        let ev = [
            change("a", "db", 0, true),
            change("a", "db", 100, false),
            change("a", "db", 200, true),
            change("a", "db", 1000, false),
        ];
        let r = run(&config(300), &ev, 1400);
        let s = &r.services[0];
        assert_eq!(s.quorum, 1);
        assert_eq!(s.outages.len(), 1, "{:?}", s.outages);
        assert_eq!(s.outages[0].end, None, "ongoing");
        assert_eq!(s.outages[0].duration_seconds, 400);
        assert_eq!(s.mttr_seconds, None, "no outage ended");
        assert_eq!(s.up_now, Some(false));
    }

    #[test]
    fn a_silent_vantage_point_stops_voting_after_stale_after() {
        let mut c = config(60);
        c.stale_after = Duration::from_secs(600);
        let ev = [change("a", "web", 0, false)];
        let s = &run(&c, &ev, 7200).services[0];
        assert_eq!(s.outages[0].duration_seconds, 600);
        assert!(s.outages[0].end.is_some());
        assert_eq!(s.up_now, None);
    }

    fn window(service: &str, from_s: i64, to_s: i64) -> MaintenanceWindow {
        MaintenanceWindow {
            id: 1,
            service: service.into(),
            start_ms: T0 + from_s * 1000,
            end_ms: T0 + to_s * 1000,
            reason: "upgrade".into(),
            by: "cli:root".into(),
            created_ms: T0,
        }
    }

    #[test]
    fn maintenance_windows_split_an_outage_into_planned_stop_and_failure() {
        let ev = [
            change("a", "web", 0, true),
            change("a", "web", 600, false),
            change("a", "web", 1200, true),
            change("a", "db", 0, true),
            change("a", "db", 3000, false),
            change("a", "db", 3400, true),
        ];
        let (from, to) = month_bounds("2025-12").unwrap();
        // web: 240 s of its 600 s outage planned (two overlapping windows,
        // counted once); db: wholly inside the window for every service.
        let windows = [
            window("web", 500, 700),
            window("web", 650, 840),
            window("", 2900, 3500),
            window("other", 0, 5000),
        ];
        let r = compute(&config(60), &ev, &windows, from, to, T0 + 5_000_000);
        let month_minutes = 31.0 * 24.0 * 60.0;
        let web = r.services.iter().find(|s| s.service == "web").unwrap();
        assert_eq!(web.outages[0].maintenance_seconds, 240);
        assert!(!web.outages[0].planned);
        assert!((web.maintenance_minutes - 4.0).abs() < 1e-9);
        let failures = 100.0 * (1.0 - (10.0 - 4.0) / month_minutes);
        let all = 100.0 * (1.0 - 10.0 / month_minutes);
        assert!((web.availability_percent - failures).abs() < 1e-9);
        assert!((web.availability_with_planned_percent - all).abs() < 1e-9);
        assert_eq!(web.mttr_seconds, Some(600));
        let db = r.services.iter().find(|s| s.service == "db").unwrap();
        assert!(db.outages[0].planned);
        assert_eq!(db.availability_percent, 100.0);
        assert!(db.availability_with_planned_percent < 100.0);
        assert_eq!((db.mttr_seconds, db.outages_per_year), (None, 0.0));
        assert_eq!(r.maintenance.len(), 4);
    }

    #[test]
    fn months_and_targets() {
        let (from, to) = month_bounds("2024-02").unwrap();
        assert_eq!((to - from).num_days(), 29);
        assert!(month_bounds("2024-13").is_err());
        assert!(month_bounds("x").is_err());
        assert_eq!(month_of(T0), "2025-12");
        let mut c = config(60);
        c.targets.insert("saas".into(), 99.5);
        assert_eq!(c.target_of("saas"), 99.5);
        assert_eq!(c.target_of("other"), 99.9);
        c.target = 101.0;
        assert!(c.validate().unwrap_err().starts_with("availability.target"));
    }
}
