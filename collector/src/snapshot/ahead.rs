//! Writing ahead of a fleet's first snapshot.
//!
//! Why: a snapshot writes only what changed since the one before (`parts`),
//! so a fleet's first writes everything: at 10,000 hosts some 180,000
//! objects, 1.4 GB, most of a minute on two cores, at midnight or when an
//! auditor asks. Until a first snapshot exists, every
//! `[snapshots] write_ahead` the collector writes the host parts and
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

/// Writes ahead every `every` (the first time `every` after the start)
/// until a snapshot exists or `stop` turns true.
pub async fn run(
    snapshots: Arc<Snapshots>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.wait_for(|v| *v) => return,
        }
        match snapshots.write_ahead().await {
            Ok(Ahead::Wrote {
                as_of_ms,
                hosts,
                contents_read,
                took,
            }) => {
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
