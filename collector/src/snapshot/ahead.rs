//! Writing ahead of a fleet's first snapshot.
//!
//! Why: a snapshot writes only what changed since the one before (`parts`),
//! so a fleet's first writes everything: at 10,000 hosts some 180,000
//! objects, 1.4 GB, most of a minute on two cores, at midnight or when an
//! auditor asks. Until a first snapshot exists, every
//! `[snapshots] write_ahead`, and whenever the fleet has grown by a quarter
//! (a fleet joining), the collector writes the host parts and
//! evidence contents its kept evaluation cites, as a snapshot would, and
//! keeps what it wrote for the snapshot (`Snapshots::creating`), which
//! then writes only what changed since. Nothing is signed or named here:
//! the snapshot still freezes the evaluation current when it is taken.
//! Once a snapshot exists, each costs what changed since the one before,
//! and this stops. What was written ahead that no snapshot comes to name
//! (contents replaced between a pass and the first snapshot) stays in
//! `objects/` until retention removes objects no kept snapshot names,
//! which it does once it removes a snapshot (`keep`, `max_age`; with the
//! default of keeping every snapshot, never). It is bounded: what changed
//! between passes, until the first snapshot (by default within a day).

use super::Snapshots;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The default of `[snapshots] write_ahead`.
pub const EVERY: Duration = Duration::from_secs(600);

/// What one writing ahead did.
#[derive(Debug)]
pub enum Ahead {
    /// Wrote the parts of the kept evaluation as of `as_of_ms`.
    Wrote {
        as_of_ms: i64,
        hosts: usize,
        contents_read: usize,
        took: Duration,
    },
    /// No kept evaluation yet (or none in this process).
    NotYet,
    /// A snapshot exists: snapshots write what changed, nothing is ahead.
    Taken,
}

impl Snapshots {
    /// Writes what the first snapshot will name, if there is none yet: the
    /// parts and contents of the kept evaluation. Waits for a snapshot
    /// being taken, and a snapshot waits for it.
    pub async fn write_ahead(&self) -> anyhow::Result<Ahead> {
        let Some(kept) = &self.kept else {
            return Ok(Ahead::NotYet);
        };
        let mut reuse = self.creating.lock().await;
        if !self.archive.list()?.is_empty() {
            return Ok(Ahead::Taken);
        }
        let Ok(evaluation) = kept.get().await else {
            return Ok(Ahead::NotYet);
        };
        let started = Instant::now();
        let (_, written) = self
            .write_parts(&mut reuse, evaluation.clone(), evaluation.stamps.clone())
            .await?;
        *reuse = Some(written.reuse);
        Ok(Ahead::Wrote {
            as_of_ms: evaluation.as_of_ms,
            hosts: written.hosts.len(),
            contents_read: written.contents_read,
            took: started.elapsed(),
        })
    }
}

/// How often `run` looks whether the fleet has grown enough to write
/// ahead before `every` is up.
const LOOK: Duration = Duration::from_secs(30);

/// Whether to write ahead now: `every` has passed since the last time, or
/// the kept evaluation's `hosts` outnumber the `written` ones by a quarter
/// (and by 100 hosts). So a fleet joining is written ahead as it joins,
/// and a snapshot soon after writes about a fifth of it, not all of it.
fn due(since_last: Duration, every: Duration, written: usize, hosts: usize) -> bool {
    since_last >= every || hosts >= written + (written / 4).max(100)
}

/// Writes ahead every `every` (the first time `every` after the start),
/// and sooner when the fleet grows (`due`), until a snapshot exists or
/// `stop` turns true.
pub async fn run(
    snapshots: Arc<Snapshots>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + LOOK, LOOK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut last, mut written) = (Instant::now(), 0);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        let hosts = snapshots
            .kept
            .as_ref()
            .and_then(|k| k.latest())
            .map_or(0, |e| e.hosts.len());
        if !due(last.elapsed(), every, written, hosts) {
            continue;
        }
        last = Instant::now();
        match snapshots.write_ahead().await {
            Ok(Ahead::Wrote {
                as_of_ms,
                hosts,
                contents_read,
                took,
            }) => {
                written = hosts;
                crate::metrics::written_ahead(as_of_ms as f64 / 1000.0);
                tracing::info!(
                    hosts,
                    contents_read,
                    took_ms = took.as_millis() as u64,
                    "snapshot objects written ahead of the first snapshot"
                );
            }
            Ok(Ahead::NotYet) => {}
            Ok(Ahead::Taken) => return,
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "writing ahead of the first snapshot failed")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn written_ahead_every_so_often_and_as_the_fleet_grows() {
        let (min, every) = (Duration::from_secs(60), Duration::from_secs(600));
        assert!(!due(min, every, 0, 0), "no hosts, not yet time");
        assert!(!due(min, every, 0, 99));
        assert!(due(min, every, 0, 100), "a hundred hosts joined");
        assert!(!due(min, every, 4_000, 4_999));
        assert!(due(min, every, 4_000, 5_000), "grown by a quarter");
        assert!(!due(min, every, 100, 199), "by 100 hosts at least");
        assert!(due(every, every, 10_000, 10_000), "time is up");
    }
}
