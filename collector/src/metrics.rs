//! Prometheus metrics, served on `/metrics` of the HTTP listener.
//!
//! A process-wide registry: counters are touched from the TLS accept loop, the
//! ingest streams and the store, which do not otherwise share state.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use std::sync::OnceLock;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Reason {
    reason: String,
}

struct Metrics {
    registry: Registry,
    evidence_accepted: Counter,
    evidence_duplicates: Counter,
    batches: Counter,
    streams: Gauge,
    refusals: Family<Reason, Counter>,
    commit_seconds: Histogram,
}

fn metrics() -> &'static Metrics {
    static M: OnceLock<Metrics> = OnceLock::new();
    M.get_or_init(|| {
        let mut registry = Registry::with_prefix("gamsa_collector");
        let evidence_accepted = Counter::default();
        let evidence_duplicates = Counter::default();
        let batches = Counter::default();
        let streams = Gauge::default();
        let refusals = Family::<Reason, Counter>::default();
        let commit_seconds = Histogram::new(exponential_buckets(0.0005, 2.0, 14));
        registry.register(
            "evidence_accepted",
            "Evidence newly stored",
            evidence_accepted.clone(),
        );
        registry.register(
            "evidence_duplicates",
            "Evidence received again and ignored (replays)",
            evidence_duplicates.clone(),
        );
        registry.register("batches", "Batches acked", batches.clone());
        registry.register("ingest_streams", "Open agent streams", streams.clone());
        registry.register(
            "refusals",
            "Connections, streams or requests refused, by reason",
            refusals.clone(),
        );
        registry.register(
            "batch_commit_seconds",
            "Time from batch receipt to durable commit",
            commit_seconds.clone(),
        );
        Metrics {
            registry,
            evidence_accepted,
            evidence_duplicates,
            batches,
            streams,
            refusals,
            commit_seconds,
        }
    })
}

pub fn refusal(reason: &str) {
    metrics()
        .refusals
        .get_or_create(&Reason {
            reason: reason.to_string(),
        })
        .inc();
}

pub fn batch(accepted: u32, duplicates: u32, commit_seconds: f64) {
    let m = metrics();
    m.batches.inc();
    m.evidence_accepted.inc_by(u64::from(accepted));
    m.evidence_duplicates.inc_by(u64::from(duplicates));
    m.commit_seconds.observe(commit_seconds);
}

/// Counts an open stream until the guard drops.
pub struct StreamGuard;

impl StreamGuard {
    pub fn open() -> Self {
        metrics().streams.inc();
        StreamGuard
    }
}

impl Drop for StreamGuard {
    fn drop(&mut self) {
        metrics().streams.dec();
    }
}

pub fn render() -> String {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}
