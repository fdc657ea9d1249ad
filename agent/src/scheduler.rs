//! Runs each probe on its own interval, with jitter so that a fleet started
//! together does not probe (or report) in lockstep, and with a timeout so a
//! stuck probe turns into error evidence instead of silence.
//!
//! A probe that watches (`Probe::watch`, e.g. `config_drift`'s inotify
//! watch) also runs as a task of its own beside its schedule: what it sends
//! takes the same channel to the spool as scheduled evidence, so an event
//! reaches the collector in the transport's next batch (`batch_interval`),
//! with the spool's delivery guarantees.

use crate::probes::{Probe, ProbeContext};
use gamsa_proto::v1::Evidence;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};

/// The longest one probe run may take, whatever its interval.
pub const MAX_PROBE_TIME: Duration = Duration::from_secs(300);

/// How long one run of `probe` may take before the scheduler gives up on it.
pub fn timeout_for(probe: &dyn Probe) -> Duration {
    probe.timeout().min(MAX_PROBE_TIME)
}

/// Runs one probe once, bounded by its timeout.
pub async fn run_probe(probe: &dyn Probe, ctx: &ProbeContext) -> Vec<Evidence> {
    let limit = timeout_for(probe);
    match tokio::time::timeout(limit, probe.run(ctx)).await {
        Ok(evidence) => evidence,
        Err(_) => vec![ctx.error(
            probe.name(),
            &ctx.host,
            format!("probe did not finish within {}s", limit.as_secs()),
        )],
    }
}

/// Runs every probe once, concurrently; `done` is told as each finishes.
pub async fn run_once(
    probes: &[Arc<dyn Probe>],
    ctx: &ProbeContext,
    done: impl Fn(&str),
) -> Vec<Evidence> {
    let mut set = tokio::task::JoinSet::new();
    for p in probes {
        let (p, ctx) = (p.clone(), ctx.clone());
        set.spawn(async move { (p.name(), run_probe(p.as_ref(), &ctx).await) });
    }
    let mut out = Vec::new();
    while let Some(res) = set.join_next().await {
        if let Ok((name, evidence)) = res {
            done(name);
            out.extend(evidence);
        }
    }
    out
}

/// A random share (±10%) of `interval`, so that hosts drift apart.
fn jittered(interval: Duration) -> Duration {
    let spread = interval.as_millis() as f64 * 0.1;
    let delta = (rand::random::<f64>() * 2.0 - 1.0) * spread;
    Duration::from_millis((interval.as_millis() as f64 + delta).max(1000.0) as u64)
}

/// Runs every probe forever on its interval, and every watch until
/// `shutdown`, sending evidence to `out`.
pub fn spawn(
    probes: Vec<Arc<dyn Probe>>,
    ctx: ProbeContext,
    out: mpsc::Sender<Evidence>,
    shutdown: watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let watches: Vec<_> = probes
        .iter()
        .map(|probe| {
            let (probe, ctx, out, shutdown) =
                (probe.clone(), ctx.clone(), out.clone(), shutdown.clone());
            tokio::spawn(async move { probe.watch(&ctx, out, shutdown).await })
        })
        .collect();
    let scheduled = probes.into_iter().map(|probe| {
        let (ctx, out, mut shutdown) = (ctx.clone(), out.clone(), shutdown.clone());
        tokio::spawn(async move {
            // A short random start delay spreads the first cycle too.
            let first = Duration::from_millis(rand::random::<u64>() % 2000);
            let mut wait = first;
            loop {
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = shutdown.changed() => return,
                }
                for ev in run_probe(probe.as_ref(), &ctx).await {
                    if out.send(ev).await.is_err() {
                        return;
                    }
                }
                wait = jittered(probe.interval());
            }
        })
    });
    watches.into_iter().chain(scheduled).collect()
}
