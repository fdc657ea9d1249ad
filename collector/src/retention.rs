//! Retention: the store does not grow without bound.
//!
//! Deduplication (`store/rows.rs`) keeps an idle host's unchanged evidence
//! to a small row per observation; retention removes what is older than the
//! configured period (`[retention]`, one year by default, the period seed
//! 003 asks logs to be kept). It never removes the latest evidence of a
//! (host, probe, subject): verdicts are made from the latest evidence, and a
//! host that went quiet keeps showing what it last reported. Snapshots carry
//! their own copy of every evidence they cite (`snapshot/contents.rs`), so
//! removing evidence never breaks a snapshot's verification; an id a
//! snapshot cites stops resolving through the API once its evidence is older
//! than the period and no longer the latest.
//!
//! Retention also removes expired dashboard sessions, expired leases and
//! enrolment tokens that can no longer enrol (expired or used up) a while
//! ago (`credentials`). The access log has no retention of its own: it is
//! kept whole.
//!
//! One task per collector wakes every `interval`; of collectors sharing a
//! store, the one holding the store lease `retention` prunes. It works in
//! bounded steps, each its own short transaction (`batch` rows looked at),
//! so ingest keeps flowing between them, then gives freed space back
//! (`Store::compact`).

use crate::store::{PruneStep, PrunedRecords, Store};
use serde::Deserialize;
use std::time::Duration;

/// `[retention]` in the collector configuration.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    /// Prune on the schedule while serving.
    pub enabled: bool,
    /// Evidence observed longer ago than this is removed (but for the
    /// latest of each host, probe and subject).
    #[serde(with = "humantime_serde")]
    pub evidence: Duration,
    /// Enrolment tokens expired or used up longer ago than this are removed.
    #[serde(with = "humantime_serde")]
    pub credentials: Duration,
    /// How often retention runs.
    #[serde(with = "humantime_serde")]
    pub interval: Duration,
    /// Evidence rows looked at per transaction.
    pub batch: u32,
}

const DAY: Duration = Duration::from_secs(24 * 3600);

impl Default for RetentionConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            evidence: 365 * DAY,
            credentials: 30 * DAY,
            interval: Duration::from_secs(3600),
            batch: 5000,
        }
    }
}

impl RetentionConfig {
    /// Errors name the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.evidence < DAY {
            return Err("retention.evidence: at least 1d".into());
        }
        if self.credentials < DAY {
            return Err("retention.credentials: at least 1d".into());
        }
        if self.interval < Duration::from_secs(60) {
            return Err("retention.interval: at least 1m".into());
        }
        if !(1..=100_000).contains(&self.batch) {
            return Err("retention.batch: from 1 to 100000".into());
        }
        Ok(())
    }
}

/// What one run removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub evidence: u64,
    pub bodies: u64,
    pub records: PrunedRecords,
}

/// The store lease a pruning collector holds: its name among replicas, and
/// for how long each renewal holds it.
#[derive(Debug, Clone)]
pub struct Lease {
    pub holder: String,
    pub ttl: Duration,
}

impl Lease {
    /// Takes or renews the lease `retention`; false when another holds it.
    pub async fn take(&self, store: &dyn Store) -> bool {
        store
            .try_lease("retention", &self.holder, self.ttl, crate::clock::now_ms())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, "retention: the store did not grant its lease");
                false
            })
    }
}

/// Prunes the store once, as of `now_ms`: evidence in steps of
/// `config.batch` rows, then sessions, tokens and leases, then compaction.
/// With a `lease`, it is taken or renewed before each step, and the run
/// stops (having removed only what earlier steps did) when another holds it.
pub async fn run_once(
    store: &dyn Store,
    config: &RetentionConfig,
    now_ms: i64,
    lease: Option<&Lease>,
) -> crate::store::Result<Pruned> {
    let before = now_ms.saturating_sub(config.evidence.as_millis() as i64);
    let mut pruned = Pruned::default();
    let mut after = 0;
    loop {
        if let Some(lease) = lease {
            if !lease.take(store).await {
                return Ok(pruned);
            }
        }
        let PruneStep {
            evidence,
            bodies,
            next,
        } = store.prune_evidence(after, before, config.batch).await?;
        pruned.evidence += evidence;
        pruned.bodies += bodies;
        match next {
            Some(n) => after = n,
            None => break,
        }
        // Ingest's commits and readers come first between steps.
        tokio::task::yield_now().await;
    }
    pruned.records = store
        .prune_records(
            now_ms,
            now_ms.saturating_sub(config.credentials.as_millis() as i64),
        )
        .await?;
    store.compact().await?;
    Ok(pruned)
}

/// Starts the periodic retention task, ending when `stop` turns true.
/// `holder` names this process among replicas.
pub fn spawn(
    config: &RetentionConfig,
    store: std::sync::Arc<dyn Store>,
    holder: String,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> anyhow::Result<()> {
    config.validate().map_err(anyhow::Error::msg)?;
    if !config.enabled {
        return Ok(());
    }
    let config = config.clone();
    let lease = Lease {
        holder,
        // Longer than a step may take between renewals.
        ttl: config.interval.max(Duration::from_secs(600)),
    };
    tokio::spawn(async move {
        loop {
            if lease.take(store.as_ref()).await {
                let now = crate::clock::now_ms();
                match run_once(store.as_ref(), &config, now, Some(&lease)).await {
                    Ok(p) => tracing::info!(
                        evidence = p.evidence,
                        bodies = p.bodies,
                        sessions = p.records.sessions,
                        enrolment_tokens = p.records.enrolment_tokens,
                        leases = p.records.leases,
                        "retention pruned the store"
                    ),
                    Err(e) => tracing::warn!(error = %e, "retention could not prune the store"),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(config.interval) => {}
                _ = stop.wait_for(|v| *v) => return,
            }
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_keep_a_year_and_bad_values_name_their_field() {
        let c = RetentionConfig::default();
        assert_eq!(c.evidence, 365 * DAY);
        assert!(c.validate().is_ok());
        for (bad, field) in [
            (
                RetentionConfig {
                    evidence: Duration::from_secs(3600),
                    ..Default::default()
                },
                "retention.evidence",
            ),
            (
                RetentionConfig {
                    batch: 0,
                    ..Default::default()
                },
                "retention.batch",
            ),
            (
                RetentionConfig {
                    interval: Duration::from_secs(1),
                    ..Default::default()
                },
                "retention.interval",
            ),
        ] {
            assert!(bad.validate().unwrap_err().starts_with(field), "{field}");
        }
    }
}
