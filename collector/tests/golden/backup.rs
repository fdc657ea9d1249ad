//! Golden fleets of the backup history rules: the success rate against the
//! schedule (`backup-success-rate`), the oldest copy kept against the
//! declared retention (`backup-retention`), copies in a second location
//! (`backup-second-location`) and restore tests (`restore-tested`).

use super::{Case, RuleCases};
use crate::fixture::{Host, DAY, HOUR};
use gamsa_collector::verdict::Verdict::{Na, Unknown, N, P, Y};
use gamsa_proto::v1::{evidence::Payload, *};
use gamsa_proto::Timestamp;

/// What the backup probe reports of one source, as the cases vary it.
#[derive(Clone)]
pub struct Source {
    /// Scheduled runs of the span and those with a successful run; None:
    /// no schedule known.
    pub schedule: Option<(u64, u64)>,
    pub failed: u64,
    pub history_error: &'static str,
    pub capped: bool,
    /// Days of the oldest copy kept (None: none) and the declared retention.
    pub oldest_days: Option<i64>,
    pub retention_days: i64,
    /// Each location: its name, the newest copy's age in hours, its error.
    pub copies: &'static [(&'static str, i64, &'static str)],
    /// Restore tests newest first: ok, days ago.
    pub restores: &'static [(bool, i64)],
    pub restore_error: &'static str,
}

/// A daily backup kept for 30 days, on schedule for the month, copied to a
/// second site, its restore tested ten days ago.
pub const GOOD: Source = Source {
    schedule: Some((31, 31)),
    failed: 0,
    history_error: "",
    capped: false,
    oldest_days: Some(30),
    retention_days: 30,
    copies: &[("s3://emr-dr", 1, ""), ("s3://emr-dr-busan", 50, "")],
    restores: &[(true, 10)],
    restore_error: "",
};

fn ts(ms: i64) -> Option<Timestamp> {
    Some(Timestamp::from_unix_millis(ms))
}

/// The source "pg": its last success an hour ago (26-hour maximum), kept
/// in s3://emr-dr, declared in kr-central-1, with the history `s` gives.
pub fn source(h: Host, s: Source) -> Host {
    let at = h.observed_ms;
    let (expected, on_schedule) = s.schedule.unwrap_or((0, 0));
    let restore_tests: Vec<RestoreTest> = s
        .restores
        .iter()
        .map(|(ok, days)| RestoreTest {
            via: "command".into(),
            name: "/usr/local/bin/restore-check".into(),
            finished_at: ts(at - days * DAY),
            ok: *ok,
            duration_ms: 42_000,
            detail: if *ok {
                "exit status: 0"
            } else {
                "exit status: 1"
            }
            .into(),
        })
        .collect();
    let last_restore_ok_at = restore_tests
        .iter()
        .find(|t| t.ok)
        .and_then(|t| t.finished_at);
    h.add(
        "backup",
        "backup:pg",
        Payload::BackupArtifact(BackupArtifact {
            source: "pg".into(),
            kind: "restic".into(),
            last_success_at: ts(at - HOUR),
            age_seconds: 3600,
            max_age_seconds: 26 * 3600,
            fresh: true,
            location: "s3://emr-dr".into(),
            region: "kr-central-1".into(),
            country: "KR".into(),
            period_days: 31,
            counted_since: ts(at - 31 * DAY),
            runs_succeeded: on_schedule,
            runs_failed: s.failed,
            runs_expected: expected,
            runs_on_schedule: on_schedule,
            success_rate: if expected > 0 {
                on_schedule as f64 / expected as f64
            } else {
                -1.0
            },
            schedule: if s.schedule.is_some() {
                "cron 0 2 * * * (Asia/Seoul)"
            } else {
                ""
            }
            .into(),
            schedule_interval_seconds: if s.schedule.is_some() { 86_400 } else { 0 },
            runs_capped: s.capped,
            oldest_kept_at: s.oldest_days.and_then(|d| ts(at - d * DAY)),
            oldest_kept_age_seconds: s.oldest_days.map_or(-1, |d| d * 86_400),
            retention_seconds: s.retention_days * 86_400,
            copies: s
                .copies
                .iter()
                .map(|(location, hours, error)| BackupCopy {
                    location: location.to_string(),
                    count: if error.is_empty() { 30 } else { 0 },
                    newest_at: if error.is_empty() {
                        ts(at - hours * HOUR)
                    } else {
                        None
                    },
                    age_seconds: if error.is_empty() { hours * 3600 } else { -1 },
                    error: error.to_string(),
                })
                .collect(),
            restore_tests,
            last_restore_ok_at,
            restore_error: s.restore_error.into(),
            history_error: s.history_error.into(),
            ..Default::default()
        }),
    )
}

fn db(name: &str) -> Host {
    Host::new(name, "db")
}

fn with(name: &str, s: Source) -> Host {
    source(db(name), s)
}

const NO_BACKUP_HOSTS: &[(&str, &[&str], bool)] = &[("backup", &[], true)];

fn no_backups() -> Case {
    Case {
        fleet: "configuration says no host keeps backups",
        hosts: || vec![Host::new("web-1", "web")],
        expect: NO_BACKUP_HOSTS,
        answer: Na,
        why: "declared with a justification",
    }
}

pub fn table() -> Vec<RuleCases> {
    vec![
        RuleCases {
            rule: "backup-success-rate",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "a daily backup that ran on each of the month's 31 scheduled days",
                    hosts: || vec![with("db-1", GOOD)],
                    expect: &[],
                    answer: Y,
                    why: "100% of the scheduled runs succeeded",
                },
                Case {
                    fleet: "one source on schedule, another that missed two days of 31",
                    hosts: || {
                        vec![
                            with("db-1", GOOD),
                            with(
                                "db-2",
                                Source {
                                    schedule: Some((31, 29)),
                                    failed: 2,
                                    ..GOOD
                                },
                            ),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "db-2 succeeded on 93.5% of its runs, under 99.9%",
                },
                Case {
                    fleet: "two failed runs of 31, recorded by the tool",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                schedule: Some((31, 29)),
                                failed: 2,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "93.5% against a 99.9% target",
                },
                Case {
                    fleet: "snapshots every day, but no schedule declared or recorded",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                schedule: None,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "without a schedule, a missing run cannot be told from one never planned",
                },
                Case {
                    fleet: "a CronJob whose Jobs the agent may not list",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                schedule: Some((0, 0)),
                                history_error: "jobs: 403 Forbidden",
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "runs that could not be read are not missed runs",
                },
                Case {
                    fleet: "more records than the agent reads, the rate under target",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                schedule: Some((31, 20)),
                                capped: true,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "the records left unread may hold the runs counted as missed",
                },
                no_backups(),
            ],
        },
        RuleCases {
            rule: "backup-retention",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "30 days declared, the oldest copy 30 days old",
                    hosts: || vec![with("db-1", GOOD)],
                    expect: &[],
                    answer: Y,
                    why: "copies reach back the whole retention",
                },
                Case {
                    fleet: "30 days declared, a daily backup's oldest copy 29 days old",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                oldest_days: Some(29),
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Y,
                    why: "within one scheduled run of the retention: the next run ages it past",
                },
                Case {
                    fleet: "one host keeping 30 days, another only 7",
                    hosts: || {
                        vec![
                            with("db-1", GOOD),
                            with(
                                "db-2",
                                Source {
                                    oldest_days: Some(7),
                                    ..GOOD
                                },
                            ),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "db-2 prunes after a week",
                },
                Case {
                    fleet: "30 days declared, copies pruned after 7",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                oldest_days: Some(7),
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "a copy older than a week cannot be restored",
                },
                Case {
                    fleet: "retention declared, nothing kept",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                oldest_days: None,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "no copy at all",
                },
                Case {
                    fleet: "no retention declared for the source",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                retention_days: 0,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "gamsa cannot tell which retention the copies must reach",
                },
                Case {
                    fleet: "more records than the agent reads, the oldest read 7 days old",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                oldest_days: Some(7),
                                capped: true,
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "older copies may sit beyond the records read",
                },
                no_backups(),
            ],
        },
        RuleCases {
            rule: "backup-second-location",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet:
                        "copies in s3://emr-dr (an hour old) and s3://emr-dr-busan (two days old)",
                    hosts: || vec![with("db-1", GOOD)],
                    expect: &[],
                    answer: Y,
                    why: "two locations each hold a recent copy",
                },
                Case {
                    fleet: "one host with two locations, one with a single repository",
                    hosts: || {
                        vec![
                            with("db-1", GOOD),
                            with(
                                "db-2",
                                Source {
                                    copies: &[("s3://emr-dr", 1, "")],
                                    ..GOOD
                                },
                            ),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "db-2's backups are in one place",
                },
                Case {
                    fleet: "a second repository whose newest copy is 20 days old",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                copies: &[("s3://emr-dr", 1, ""), ("s3://emr-dr-busan", 480, "")],
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "copying to the second location stopped: its copy misses 20 days",
                },
                Case {
                    fleet: "the second repository cannot be read",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                copies: &[
                                    ("s3://emr-dr", 1, ""),
                                    (
                                        "s3://emr-dr-busan",
                                        0,
                                        "Fatal: wrong password or no key found",
                                    ),
                                ],
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "an unreadable repository may still hold copies",
                },
                no_backups(),
            ],
        },
        RuleCases {
            rule: "restore-tested",
            unreachable: &[],
            cases: vec![
                Case {
                    fleet: "a restore check that passed ten days ago",
                    hosts: || vec![with("db-1", GOOD)],
                    expect: &[],
                    answer: Y,
                    why: "within the 92-day period",
                },
                Case {
                    fleet: "one host tested, one never",
                    hosts: || {
                        vec![
                            with("db-1", GOOD),
                            with(
                                "db-2",
                                Source {
                                    restores: &[],
                                    ..GOOD
                                },
                            ),
                        ]
                    },
                    expect: &[],
                    answer: P,
                    why: "db-2's backups were never shown to restore",
                },
                Case {
                    fleet: "the newest restore check failed, an older one passed",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                restores: &[(false, 1), (true, 10)],
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "the backups as they are now did not restore",
                },
                Case {
                    fleet: "the last successful restore test was 200 days ago",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                restores: &[(true, 200)],
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: N,
                    why: "older than the 92-day period",
                },
                Case {
                    fleet: "Velero restores that the agent may not list, none seen",
                    hosts: || {
                        vec![with(
                            "db-1",
                            Source {
                                restores: &[],
                                restore_error: "Velero restores: 403 Forbidden",
                                ..GOOD
                            },
                        )]
                    },
                    expect: &[],
                    answer: Unknown,
                    why: "restores that could not be read may have been done",
                },
                no_backups(),
            ],
        },
    ]
}
