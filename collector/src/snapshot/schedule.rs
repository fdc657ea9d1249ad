//! Taking snapshots on a cron schedule in a named time zone (default: daily
//! at 00:00 Asia/Seoul, the day boundary Korean auditors count in).
//!
//! Collectors sharing one PostgreSQL store all wake at the same instant; the
//! snapshot must be taken once for the fleet: each asks the store for the
//! slot's lease (`snapshot:<slot>`) and only the one that gets it takes it.

use super::Snapshots;
use chrono::{DateTime, Utc};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

#[derive(Debug, Clone)]
pub struct Schedule {
    cron: cron::Schedule,
    tz: chrono_tz::Tz,
}

impl Schedule {
    /// `expr` has six fields (sec min hour day month weekday), `tz` is an
    /// IANA name such as `Asia/Seoul`.
    pub fn parse(expr: &str, tz: &str) -> Result<Self, String> {
        let cron = cron::Schedule::from_str(expr).map_err(|e| {
            format!("snapshots.schedule {expr:?}: {e} (six fields: sec min hour day month weekday, e.g. \"0 0 0 * * *\")")
        })?;
        let tz = chrono_tz::Tz::from_str(tz).map_err(|_| {
            format!("snapshots.timezone {tz:?}: not an IANA time zone name such as \"Asia/Seoul\"")
        })?;
        Ok(Self { cron, tz })
    }

    /// The first scheduled time strictly after `t`.
    pub fn next_after(&self, t: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.cron
            .after(&t.with_timezone(&self.tz))
            .next()
            .map(|n| n.with_timezone(&Utc))
    }
}

/// Sleeps until `at` by the wall clock, in steps, so that a clock that is
/// corrected (NTP) while waiting does not shift the snapshot.
pub(super) async fn sleep_until(at: DateTime<Utc>) {
    loop {
        let left = (at - Utc::now()).to_std().unwrap_or_default();
        if left.is_zero() {
            return;
        }
        tokio::time::sleep(left.min(Duration::from_secs(30))).await;
    }
}

/// Takes the snapshot due at `slot` now, if this collector wins the slot's
/// lease, and logs the outcome. The lease outlives the slot by `period`, so
/// a replica waking late still finds it held.
pub async fn take_due(snapshots: &Snapshots, slot: DateTime<Utc>, period: Duration) {
    let lease = format!("snapshot:{}", slot.to_rfc3339());
    match snapshots
        .store()
        .try_lease(&lease, holder(), period, Utc::now().timestamp_millis())
        .await
    {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(%slot, "scheduled snapshot taken by another collector");
            return;
        }
        Err(e) => {
            tracing::error!(%slot, error = %e, "scheduled snapshot skipped: the store did not grant its lease");
            return;
        }
    }
    match snapshots.create(TAKEN_BY).await {
        Ok(c) => tracing::info!(
            %slot, id = %c.entry.id, sha256 = %c.sha256, removed = c.removed.len(),
            "scheduled snapshot taken"
        ),
        Err(e) => tracing::error!(%slot, error = %format!("{e:#}"), "scheduled snapshot failed"),
    }
}

/// The `takenBy` of scheduled snapshots.
pub const TAKEN_BY: &str = "schedule";

/// This process's name as a lease holder: unique among replicas.
pub fn holder() -> &'static str {
    static HOLDER: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    HOLDER.get_or_init(|| {
        format!(
            "{}/{}/{}",
            sysinfo::System::host_name().unwrap_or_default(),
            std::process::id(),
            hex::encode(rand::random::<[u8; 4]>())
        )
    })
}

/// Takes a snapshot at every scheduled time until `stop` turns true.
pub async fn run(
    snapshots: Arc<Snapshots>,
    schedule: Schedule,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    loop {
        let Some(next) = schedule.next_after(Utc::now()) else {
            tracing::warn!("snapshot schedule has no future time; scheduled snapshots stop");
            return;
        };
        tracing::debug!(%next, "next scheduled snapshot");
        tokio::select! {
            _ = sleep_until(next) => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        // The lease lasts one period of the schedule (at least a minute).
        let period = schedule
            .next_after(next)
            .and_then(|n| (n - next).to_std().ok())
            .unwrap_or_default()
            .max(Duration::from_secs(60));
        take_due(&snapshots, next, period).await;
    }
}

/// Starts the scheduler of `[snapshots]` (when enabled) as a background task
/// that ends when `stop` turns true, and the writing ahead of the first
/// snapshot (`ahead`) beside it. It is not one of the collector's
/// server tasks: a schedule without a future time ends the scheduler, not
/// the collector.
pub fn spawn(
    config: &super::SnapshotConfig,
    snapshots: Arc<Snapshots>,
    stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    if config.enabled {
        let schedule =
            Schedule::parse(&config.schedule, &config.timezone).map_err(anyhow::Error::msg)?;
        tracing::info!(schedule = %config.schedule, timezone = %config.timezone, "snapshots scheduled");
        if !config.write_ahead.is_zero() {
            let every = config.write_ahead;
            tokio::spawn(super::ahead::run(snapshots.clone(), every, stop.clone()));
        }
        tokio::spawn(run(snapshots, schedule, stop));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_schedule_is_midnight_in_seoul() {
        let s = Schedule::parse("0 0 0 * * *", "Asia/Seoul").unwrap();
        let t = DateTime::parse_from_rfc3339("2025-03-01T14:59:59Z")
            .unwrap()
            .to_utc();
        // 2025-03-01 23:59:59 KST: next is 2025-03-02 00:00 KST = 15:00 UTC.
        assert_eq!(
            s.next_after(t).unwrap().to_rfc3339(),
            "2025-03-01T15:00:00+00:00"
        );
        let t = DateTime::parse_from_rfc3339("2025-03-01T15:00:00Z")
            .unwrap()
            .to_utc();
        assert_eq!(
            s.next_after(t).unwrap().to_rfc3339(),
            "2025-03-02T15:00:00+00:00"
        );
        let e = Schedule::parse("0 0 0 * *", "Asia/Seoul").unwrap_err();
        assert!(e.contains("snapshots.schedule"), "{e}");
        let e = Schedule::parse("0 0 0 * * *", "Asia/Busan").unwrap_err();
        assert!(e.contains("snapshots.timezone \"Asia/Busan\""), "{e}");
    }
}
