//! A source's run history over the period: the runs the tool still
//! records, the scheduled runs of the same span and how many of them had a
//! successful run, and the oldest copy kept.
//!
//! Tools prune their own records (restic and pgBackRest by their retention,
//! Velero by each backup's TTL, a CronJob by its job history limits), so a
//! run that is no longer recorded cannot be told from one that never
//! happened. Runs are therefore counted from `counted_since`: the period's
//! start when the tool still holds something older, else its oldest record.
//! A schedule divides that span into slots (cron: from one scheduled time
//! to the next; `every`: intervals centred on the times the runs are due);
//! a slot that has ended, or that already holds a success, is a run
//! expected, and it was on schedule when a successful run started in it.
//! Two runs in one slot do not make up for an empty one.

use super::timestamp;
use chrono::{DateTime, TimeZone, Utc};
use gamsa_proto::v1::BackupRun;
use std::str::FromStr;
use std::time::Duration;

/// Most runs listed in the evidence (all are counted).
const LISTED_RUNS: usize = 100;

/// Most scheduled slots walked: a run every minute for 31 days is 44,640.
const MAX_SLOTS: usize = 100_000;

/// One run as the tool records it.
#[derive(Debug, Clone)]
pub(super) struct Run {
    pub name: String,
    pub started: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub ok: bool,
    pub detail: String,
}

impl Run {
    /// A successful run known by one time (a snapshot, a file).
    pub fn ok_at(name: impl Into<String>, at: DateTime<Utc>) -> Self {
        Self {
            name: name.into(),
            started: at,
            finished: None,
            ok: true,
            detail: String::new(),
        }
    }

    /// When the copy it made was complete.
    pub fn done(&self) -> DateTime<Utc> {
        self.finished.unwrap_or(self.started)
    }
}

/// Keeps the newest `max` runs; true when some were dropped.
pub(super) fn cap(runs: &mut Vec<Run>, max: usize) -> bool {
    runs.sort_by_key(|r| std::cmp::Reverse(r.started));
    let capped = runs.len() > max;
    runs.truncate(max);
    capped
}

/// When a source is meant to run.
#[derive(Debug, Clone)]
pub(super) enum Schedule {
    Every(Duration),
    Cron {
        cron: Box<croner::Cron>,
        tz: chrono_tz::Tz,
        shown: String,
    },
}

impl Schedule {
    /// A cron expression as crontab and Kubernetes write it (5 fields, or 6
    /// with seconds; `@daily` and the like), in the IANA time zone `tz`.
    pub fn cron(expr: &str, tz: &str) -> Result<Self, String> {
        let zone = chrono_tz::Tz::from_str(tz)
            .map_err(|_| format!("cron_timezone {tz:?} is not an IANA time zone"))?;
        let cron =
            croner::Cron::from_str(expr.trim()).map_err(|e| format!("cron {expr:?}: {e}"))?;
        Ok(Self::Cron {
            cron: Box::new(cron),
            tz: zone,
            shown: format!("cron {} ({tz})", expr.trim()),
        })
    }

    /// A schedule as Kubernetes CronJobs and Velero Schedules write it: a
    /// cron expression, optionally prefixed `CRON_TZ=` or `TZ=`, or Velero's
    /// `@every <duration>`.
    pub fn from_tool(expr: &str, tz: Option<&str>) -> Result<Self, String> {
        let expr = expr.trim();
        if let Some(every) = expr.strip_prefix("@every ") {
            return humantime::parse_duration(every.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .map(Schedule::Every)
                .ok_or_else(|| format!("schedule {expr:?}: not a duration"));
        }
        for prefix in ["CRON_TZ=", "TZ="] {
            if let Some(rest) = expr.strip_prefix(prefix) {
                let (zone, cron) = rest
                    .split_once(char::is_whitespace)
                    .ok_or_else(|| format!("schedule {expr:?}: no expression"))?;
                return Self::cron(cron, zone);
            }
        }
        Self::cron(expr, tz.filter(|t| !t.is_empty()).unwrap_or("UTC"))
    }

    fn shown(&self) -> String {
        match self {
            Self::Every(d) => format!("every {}", humantime::format_duration(*d)),
            Self::Cron { shown, .. } => shown.clone(),
        }
    }

    /// The slot boundaries covering `[since, now]`: the first at or before
    /// `since`, the last after `now`. None when the cron expression has no
    /// time there.
    fn boundaries(&self, since: DateTime<Utc>, now: DateTime<Utc>) -> Vec<DateTime<Utc>> {
        let mut out = Vec::new();
        match self {
            Self::Every(d) => {
                let Ok(step) = chrono::Duration::from_std(*d) else {
                    return out;
                };
                // Runs are due at since, since + d, ...: a slot is the
                // interval centred on each.
                let mut t = since - step / 2;
                while out.len() < MAX_SLOTS {
                    out.push(t);
                    if t > now {
                        break;
                    }
                    t += step;
                }
            }
            Self::Cron { cron, tz, .. } => {
                let local = since.with_timezone(tz);
                let Ok(first) = cron.find_previous_occurrence(&local, true) else {
                    return out;
                };
                let mut t = first;
                while out.len() < MAX_SLOTS {
                    out.push(t.with_timezone(&Utc));
                    if t.with_timezone(&Utc) > now {
                        break;
                    }
                    match cron.find_next_occurrence(&t, false) {
                        Ok(next) => t = next,
                        Err(_) => break,
                    }
                }
            }
        }
        out
    }
}

/// What the history says, as the evidence reports it.
#[derive(Debug, Default, PartialEq)]
pub(super) struct History {
    pub counted_since: Option<DateTime<Utc>>,
    pub runs_succeeded: u64,
    pub runs_failed: u64,
    pub runs_expected: u64,
    pub runs_on_schedule: u64,
    pub success_rate: f64,
    pub schedule: String,
    pub schedule_interval_seconds: i64,
    pub runs: Vec<BackupRun>,
    pub oldest_kept: Option<DateTime<Utc>>,
}

/// The history of `runs` (every record read) over `period` before `now`.
pub(super) fn summarise(
    runs: &[Run],
    schedule: Option<&Schedule>,
    period: Duration,
    now: DateTime<Utc>,
) -> History {
    let start = now - chrono::Duration::from_std(period).unwrap_or(chrono::Duration::days(31));
    let oldest = runs.iter().map(|r| r.started).min();
    let since = match oldest {
        Some(o) if o > start => o,
        _ => start,
    };
    let mut in_span: Vec<&Run> = runs.iter().filter(|r| r.started >= since).collect();
    in_span.sort_by_key(|r| std::cmp::Reverse(r.started));
    let mut h = History {
        counted_since: Some(since),
        runs_succeeded: in_span.iter().filter(|r| r.ok).count() as u64,
        runs_failed: in_span.iter().filter(|r| !r.ok).count() as u64,
        success_rate: -1.0,
        oldest_kept: runs.iter().filter(|r| r.ok).map(Run::done).min(),
        runs: in_span
            .iter()
            .take(LISTED_RUNS)
            .map(|r| BackupRun {
                name: r.name.clone(),
                started_at: Some(timestamp(r.started)),
                finished_at: r.finished.map(timestamp),
                ok: r.ok,
                detail: r.detail.clone(),
            })
            .collect(),
        ..History::default()
    };
    let Some(schedule) = schedule else {
        return h;
    };
    h.schedule = schedule.shown();
    let bounds = schedule.boundaries(since, now);
    if let [.., a, b] = bounds.as_slice() {
        h.schedule_interval_seconds = (*b - *a).num_seconds();
    }
    let mut ok: Vec<DateTime<Utc>> = in_span.iter().filter(|r| r.ok).map(|r| r.started).collect();
    ok.sort();
    // A slot is due at its start (cron) or its middle (`every`); the first
    // slot may be due before the span begins, and then counts only when a
    // run of the span met it.
    let due_after_start = match schedule {
        Schedule::Every(d) => chrono::Duration::from_std(*d / 2).unwrap_or_default(),
        Schedule::Cron { .. } => chrono::Duration::zero(),
    };
    let mut next = 0;
    for w in bounds.windows(2) {
        let (from, to) = (w[0], w[1]);
        while next < ok.len() && ok[next] < from {
            next += 1;
        }
        let met = next < ok.len() && ok[next] < to;
        if met || (from + due_after_start >= since && to <= now) {
            h.runs_expected += 1;
            h.runs_on_schedule += u64::from(met);
        }
    }
    if h.runs_expected > 0 {
        h.success_rate = h.runs_on_schedule as f64 / h.runs_expected as f64;
    }
    h
}

/// A UTC time from seconds since the epoch, as pgBackRest writes them.
pub(super) fn from_unix(seconds: i64) -> Option<DateTime<Utc>> {
    Utc.timestamp_opt(seconds, 0).single()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn daily_runs(days: &[u32], hour: u32) -> Vec<Run> {
        days.iter()
            .map(|d| {
                Run::ok_at(
                    format!("d{d}"),
                    at(&format!("2025-01-{d:02}T{hour:02}:00:07Z")),
                )
            })
            .collect()
    }

    const MONTH: Duration = Duration::from_secs(31 * 86_400);

    #[test]
    fn a_missed_day_is_a_missed_slot_even_with_two_runs_on_another() {
        // Daily at 02:00 UTC, kept for longer than the period; the 10th
        // missed, the 11th ran twice.
        let mut runs = daily_runs(&(1..=31).filter(|d| *d != 10).collect::<Vec<_>>(), 2);
        runs.push(Run::ok_at("again", at("2025-01-11T09:00:00Z")));
        runs.push(Run::ok_at("older", at("2024-12-01T02:00:00Z")));
        let cron = Schedule::cron("0 2 * * *", "UTC").unwrap();
        let h = summarise(&runs, Some(&cron), MONTH, at("2025-01-31T12:00:00Z"));
        assert_eq!(h.counted_since, Some(at("2024-12-31T12:00:00Z")));
        assert_eq!(h.runs_succeeded, 31, "30 daily runs and the second one");
        assert_eq!((h.runs_expected, h.runs_on_schedule), (31, 30));
        assert!((h.success_rate - 30.0 / 31.0).abs() < 1e-9);
        assert_eq!(h.schedule_interval_seconds, 86_400);
        assert_eq!(h.oldest_kept, Some(at("2024-12-01T02:00:00Z")));
        assert_eq!(h.runs[0].name, "d31", "newest first");
    }

    #[test]
    fn a_pruned_history_counts_from_the_oldest_record() {
        // keep-last 7 of a daily backup: the span is the 7 days kept.
        let runs = daily_runs(&[25, 26, 27, 28, 29, 30, 31], 2);
        let every = Schedule::Every(Duration::from_secs(86_400));
        let h = summarise(&runs, Some(&every), MONTH, at("2025-01-31T12:00:00Z"));
        assert_eq!(h.counted_since, Some(at("2025-01-25T02:00:07Z")));
        assert_eq!((h.runs_expected, h.runs_on_schedule), (7, 7));
        assert_eq!(h.success_rate, 1.0);
        // The same records, but backups stopped on the 28th: the slots of
        // the 29th to the 31st are missed.
        // (The slot due on the 31st has not ended yet: not counted.)
        let h = summarise(&runs[..4], Some(&every), MONTH, at("2025-01-31T12:00:00Z"));
        assert_eq!((h.runs_expected, h.runs_on_schedule), (6, 4));
    }

    #[test]
    fn no_record_at_all_is_every_slot_missed_and_no_schedule_is_no_rate() {
        let cron = Schedule::from_tool("CRON_TZ=Asia/Seoul 0 2 * * *", None).unwrap();
        // 02:00 in Seoul is 17:00 UTC: the slots from Dec 31 to Jan 29
        // have ended, Jan 30's ends after now.
        let h = summarise(&[], Some(&cron), MONTH, at("2025-01-31T12:00:00Z"));
        assert_eq!((h.runs_expected, h.runs_on_schedule), (30, 0));
        assert_eq!(h.success_rate, 0.0);
        let h = summarise(
            &daily_runs(&[30], 2),
            None,
            MONTH,
            at("2025-01-31T12:00:00Z"),
        );
        assert_eq!((h.runs_expected, h.success_rate), (0, -1.0));
        assert_eq!(h.schedule, "");
    }

    #[test]
    fn sunday_is_zero_and_seven_as_in_crontab() {
        // 2025-01-05 and 2025-01-12 are Sundays.
        let runs = daily_runs(&[5, 12], 3);
        for expr in ["0 3 * * 0", "0 3 * * 7", "0 3 * * SUN"] {
            let weekly = Schedule::cron(expr, "UTC").unwrap();
            let h = summarise(&runs, Some(&weekly), MONTH, at("2025-01-13T00:00:00Z"));
            assert_eq!((h.runs_expected, h.runs_on_schedule), (2, 2), "{expr}");
            assert_eq!(h.schedule_interval_seconds, 7 * 86_400);
        }
    }

    #[test]
    fn tool_schedules_and_bad_expressions() {
        assert!(matches!(
            Schedule::from_tool("@every 6h", None),
            Ok(Schedule::Every(d)) if d == Duration::from_secs(6 * 3600)
        ));
        assert!(Schedule::from_tool("@daily", Some("Asia/Seoul")).is_ok());
        assert!(Schedule::cron("0 2 * *", "UTC").is_err());
        assert!(Schedule::cron("0 2 * * *", "Mars/Olympus").is_err());
        assert!(Schedule::from_tool("@every soon", None).is_err());
    }

    #[test]
    fn cap_keeps_the_newest() {
        let mut runs = daily_runs(&[1, 3, 2], 2);
        assert!(cap(&mut runs, 2));
        assert_eq!(
            runs.iter().map(|r| r.name.as_str()).collect::<Vec<_>>(),
            ["d3", "d2"]
        );
        assert!(!cap(&mut runs, 2));
    }
}
