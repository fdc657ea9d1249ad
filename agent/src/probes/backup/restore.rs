//! Restore tests: what pgBackRest records of its restores (its restore log;
//! Velero `Restore` objects are read in `velero`), and a configured
//! restore-check command: a command that restores a backup somewhere
//! harmless and checks it, its exit status the result. The command runs at
//! most every `every` (its last result reported in between, kept in memory:
//! after a restart it runs again), bounded by its timeout, without a shell.

use super::{timestamp, BackupSource, RestoreCheck};
use crate::probes::ProbeContext;
use chrono::{DateTime, Local, NaiveDateTime, TimeZone, Utc};
use gamsa_proto::v1::RestoreTest;
use std::collections::HashMap;
use std::sync::Mutex;

/// Most bytes of a restore log read.
const LOG_LIMIT: u64 = 64 * 1024 * 1024;

/// The last result of each source's restore check.
#[derive(Default)]
pub(super) struct Checks {
    last: Mutex<HashMap<String, RestoreTest>>,
}

impl Checks {
    /// The source's restore check: run now when due, else its last result.
    pub async fn result(&self, source: &str, check: &RestoreCheck) -> RestoreTest {
        let due = {
            let last = self.last.lock().unwrap_or_else(|e| e.into_inner());
            last.get(source).cloned().filter(|t| {
                let finished = t.finished_at.as_ref().map_or(0, |f| f.seconds);
                Utc::now().timestamp() - finished < check.every.as_secs() as i64
            })
        };
        if let Some(kept) = due {
            return kept;
        }
        let test = run(check).await;
        self.last
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(source.to_string(), test.clone());
        test
    }
}

async fn run(check: &RestoreCheck) -> RestoreTest {
    let started = std::time::Instant::now();
    let outcome = tokio::time::timeout(
        check.timeout,
        super::command::run_command(&check.command, &check.env),
    )
    .await;
    let (ok, detail) = match outcome {
        Ok(Ok(_)) => (true, "exit status: 0".to_string()),
        Ok(Err(why)) => (false, why),
        Err(_) => (
            false,
            format!(
                "did not finish within {}",
                humantime::format_duration(check.timeout)
            ),
        ),
    };
    RestoreTest {
        via: "command".into(),
        name: check.command.join(" "),
        finished_at: Some(timestamp(Utc::now())),
        ok,
        duration_ms: started.elapsed().as_millis() as i64,
        detail,
    }
}

/// pgBackRest's restore log for the source: `restore_log`, else
/// /var/log/pgbackrest/<stanza>-restore.log. A log that does not exist
/// records no restore; one that cannot be read is an error.
pub(super) fn pgbackrest_log(
    ctx: &ProbeContext,
    s: &BackupSource,
) -> Result<Vec<RestoreTest>, String> {
    let path = match (s.restore_log.as_str(), s.stanza.as_str()) {
        ("", "") => return Ok(Vec::new()),
        ("", stanza) => format!("/var/log/pgbackrest/{stanza}-restore.log"),
        (log, _) => log.to_string(),
    };
    let full = ctx.host_path(&path);
    let mut parser = RestoreLog::default();
    match crate::probes::read_lines(&full, LOG_LIMIT, |line| parser.line(line)) {
        Ok(()) => Ok(parser.tests),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(format!("{path}: {e}")),
    }
}

/// pgBackRest's log lines ("2025-01-07 10:00:00.123 P00   INFO: restore
/// command begin 2.45: ...", "... restore backup set 20250107-020000F, ...",
/// "... restore command end: completed successfully (492ms)" or "...
/// aborted with exception [040]"), times in the host's local time.
#[derive(Default)]
struct RestoreLog {
    begun: Option<DateTime<Utc>>,
    set: String,
    error: String,
    tests: Vec<RestoreTest>,
}

impl RestoreLog {
    fn line(&mut self, line: &str) {
        let Some(at) = line.get(..23).and_then(local_time) else {
            return;
        };
        let text = line.get(23..).unwrap_or("");
        let Some((_, message)) = text.split_once(": ") else {
            return;
        };
        if message.starts_with("restore command begin") {
            (self.begun, self.set, self.error) = (Some(at), String::new(), String::new());
        } else if let Some(rest) = message.split_once("restore backup set ").map(|(_, r)| r) {
            self.set = rest.split([',', ' ']).next().unwrap_or("").to_string();
        } else if text.contains("ERROR:") {
            self.error = message.to_string();
        } else if let Some(end) = message.strip_prefix("restore command end: ") {
            let ok = end.starts_with("completed successfully");
            let detail = if ok || self.error.is_empty() {
                end.to_string()
            } else {
                format!("{end}: {}", self.error)
            };
            self.tests.push(RestoreTest {
                via: "pgbackrest".into(),
                name: if self.set.is_empty() {
                    "restore".into()
                } else {
                    format!("restore of {}", self.set)
                },
                finished_at: Some(timestamp(at)),
                ok,
                duration_ms: self.begun.map_or(-1, |b| (at - b).num_milliseconds()),
                detail,
            });
            self.begun = None;
        }
    }
}

fn local_time(s: &str) -> Option<DateTime<Utc>> {
    let naive = NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S%.3f").ok()?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn restore_log_of_a_success_and_a_refusal() {
        let log = "-------------------PROCESS START-------------------
2026-12-03 15:42:13.336 P00   INFO: restore command begin 2.45: --stanza=demo
2026-12-03 15:42:13.340 P00   INFO: repo1: restore backup set 20261203-154207F, recovery will start at 2026-12-03 15:42:07
2026-12-03 15:42:13.827 P00   INFO: restore command end: completed successfully (492ms)

-------------------PROCESS START-------------------
2026-12-03 15:42:13.838 P00   INFO: restore command begin 2.45: --stanza=demo
2026-12-03 15:42:13.842 P00  ERROR: [040]: unable to restore to path '/tmp/pgbr/notempty' because it contains files
                                    HINT: try using --delta if this is what you intended.
2026-12-03 15:42:13.842 P00   INFO: restore command end: aborted with exception [040]
2026-12-03 15:50:00.000 P00   INFO: restore command begin 2.45: --stanza=demo
";
        let mut p = RestoreLog::default();
        log.lines().for_each(|l| p.line(l));
        assert_eq!(p.tests.len(), 2, "the restore still running is not a test");
        assert!(p.tests[0].ok);
        assert_eq!(p.tests[0].name, "restore of 20261203-154207F");
        assert_eq!(p.tests[0].duration_ms, 491);
        assert!(!p.tests[1].ok);
        assert!(
            p.tests[1].detail.contains("[040]: unable to restore"),
            "{}",
            p.tests[1].detail
        );
    }
}
