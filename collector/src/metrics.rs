//! Prometheus metrics, served on `/metrics` of the HTTP listener.
//!
//! A process-wide registry: counters are touched from the TLS accept loop, the
//! ingest streams and the store, which do not otherwise share state.
//!
//! The compliance gauges are not computed per scrape (evaluating every
//! catalog is the collector's most expensive read): the periodic evaluation
//! (`findings`) sets them, and `compliance_evaluated_timestamp_seconds` says
//! as of when.

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

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CatalogVerdict {
    catalog: String,
    verdict: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RuleLabel {
    rule: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProbeLabel {
    probe: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct SinkLabel {
    sink: String,
}

/// One evaluation of every catalog, as the compliance gauges show it.
#[derive(Debug, Default)]
pub struct Compliance {
    /// (catalog, verdict, items): every verdict of every catalog, zeros too.
    pub items: Vec<(String, &'static str, i64)>,
    /// (rule, hosts whose outcome under it is FAIL), every rule a row names.
    pub hosts_failing: Vec<(String, i64)>,
    /// (probe, age in seconds of the oldest latest evidence of that probe).
    pub evidence_age: Vec<(String, f64)>,
    pub agents_silent: i64,
    pub evaluated_at_seconds: f64,
    pub evaluation_seconds: f64,
}

struct Metrics {
    registry: Registry,
    compliance_items: Family<CatalogVerdict, Gauge>,
    hosts_failing: Family<RuleLabel, Gauge>,
    evidence_age: Family<ProbeLabel, Gauge<f64, std::sync::atomic::AtomicU64>>,
    agents_silent: Gauge,
    evaluated_at: Gauge<f64, std::sync::atomic::AtomicU64>,
    evaluation_seconds: Gauge<f64, std::sync::atomic::AtomicU64>,
    written_ahead: Gauge<f64, std::sync::atomic::AtomicU64>,
    findings_sent: Family<SinkLabel, Counter>,
    findings_dropped: Family<SinkLabel, Counter>,
    findings_failed: Family<SinkLabel, Counter>,
    evidence_accepted: Counter,
    evidence_duplicates: Counter,
    batches: Counter,
    streams: Gauge,
    refusals: Family<Reason, Counter>,
    commit_seconds: Histogram,
    verdicts_evaluations: Counter,
    verdicts_seconds: Histogram,
    verdicts_read_seconds: Counter<f64, std::sync::atomic::AtomicU64>,
    verdicts_changed: Counter,
    verdicts_reused: Counter,
    verdicts_converted: Counter,
    verdicts_host_results_reused: Counter,
    verdicts_host_results_judged: Counter,
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
        let verdicts_evaluations = Counter::default();
        registry.register(
            "verdicts_evaluations",
            "Evaluations of every catalog kept for pages and the API",
            verdicts_evaluations.clone(),
        );
        let verdicts_seconds = Histogram::new(exponential_buckets(0.05, 2.0, 12));
        registry.register(
            "verdicts_evaluation_seconds",
            "How long each kept evaluation took, reading the store included",
            verdicts_seconds.clone(),
        );
        let verdicts_read_seconds = Counter::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "verdicts_read_seconds",
            "Time kept evaluations spent reading the latest evidence",
            verdicts_read_seconds.clone(),
        );
        let verdicts_changed = Counter::default();
        registry.register(
            "verdicts_evidence_changed",
            "Rows of the latest set a kept evaluation read as changed since the previous one's reading (every row for a first reading)",
            verdicts_changed.clone(),
        );
        let verdicts_reused = Counter::default();
        registry.register(
            "verdicts_evidence_reused",
            "Latest evidence a kept evaluation took from the previous one's reading (unchanged, or seen again)",
            verdicts_reused.clone(),
        );
        let verdicts_converted = Counter::default();
        registry.register(
            "verdicts_evidence_converted",
            "Latest evidence a kept evaluation read whole and converted",
            verdicts_converted.clone(),
        );
        let verdicts_host_results_reused = Counter::default();
        registry.register(
            "verdicts_host_results_reused",
            "Host results a kept evaluation took from the previous one (the host's evidence only seen again, a rule that does not read the time)",
            verdicts_host_results_reused.clone(),
        );
        let verdicts_host_results_judged = Counter::default();
        registry.register(
            "verdicts_host_results_judged",
            "Host results a kept evaluation judged by running the rule",
            verdicts_host_results_judged.clone(),
        );
        const AS_OF: &str =
            "as of gamsa_collector_compliance_evaluated_timestamp_seconds (every findings.interval)";
        let compliance_items = Family::<CatalogVerdict, Gauge>::default();
        registry.register(
            "compliance_items",
            format!("Checklist items per catalog and verdict, {AS_OF}"),
            compliance_items.clone(),
        );
        let hosts_failing = Family::<RuleLabel, Gauge>::default();
        registry.register(
            "compliance_hosts_failing",
            format!("Hosts whose outcome under a rule is FAIL, {AS_OF}"),
            hosts_failing.clone(),
        );
        let evidence_age = Family::default();
        registry.register(
            "evidence_oldest_age_seconds",
            format!(
                "Age of the oldest latest evidence of a probe across hosts (not revoked), {AS_OF}"
            ),
            evidence_age.clone(),
        );
        let agents_silent = Gauge::default();
        registry.register(
            "agents_silent",
            format!("Agents (not revoked) not heard from for findings.silent_after, {AS_OF}"),
            agents_silent.clone(),
        );
        let evaluated_at = Gauge::default();
        registry.register(
            "compliance_evaluated_timestamp_seconds",
            "When the compliance gauges were computed (Unix time); 0 before the first evaluation",
            evaluated_at.clone(),
        );
        let evaluation_seconds = Gauge::default();
        registry.register(
            "compliance_evaluation_seconds",
            "How long the last evaluation of every catalog took",
            evaluation_seconds.clone(),
        );
        let written_ahead = Gauge::default();
        registry.register(
            "snapshot_written_ahead_timestamp_seconds",
            "When the evaluation last written ahead of the first snapshot was evaluated (Unix time); 0 before",
            written_ahead.clone(),
        );
        let findings_sent = Family::<SinkLabel, Counter>::default();
        registry.register(
            "findings_sent",
            "Verdict changes delivered, by sink",
            findings_sent.clone(),
        );
        let findings_dropped = Family::<SinkLabel, Counter>::default();
        registry.register(
            "findings_dropped",
            "Verdict changes dropped because the sink's queue was full, by sink",
            findings_dropped.clone(),
        );
        let findings_failed = Family::<SinkLabel, Counter>::default();
        registry.register(
            "findings_failed",
            "Verdict changes given up after every attempt failed, by sink",
            findings_failed.clone(),
        );
        Metrics {
            registry,
            compliance_items,
            hosts_failing,
            evidence_age,
            agents_silent,
            evaluated_at,
            evaluation_seconds,
            written_ahead,
            findings_sent,
            findings_dropped,
            findings_failed,
            evidence_accepted,
            evidence_duplicates,
            batches,
            streams,
            refusals,
            commit_seconds,
            verdicts_evaluations,
            verdicts_seconds,
            verdicts_read_seconds,
            verdicts_changed,
            verdicts_reused,
            verdicts_converted,
            verdicts_host_results_reused,
            verdicts_host_results_judged,
        }
    })
}

/// One kept evaluation (`evaluation.rs`): how long it took, how long of it
/// reading the latest evidence, and how it came by that evidence.
pub fn evaluated(
    seconds: f64,
    read_seconds: f64,
    (changed, reused, converted): (usize, usize, usize),
    hosts_reused: u64,
    hosts_judged: u64,
) {
    let m = metrics();
    m.verdicts_host_results_reused.inc_by(hosts_reused);
    m.verdicts_host_results_judged.inc_by(hosts_judged);
    m.verdicts_evaluations.inc();
    m.verdicts_seconds.observe(seconds);
    m.verdicts_read_seconds.inc_by(read_seconds);
    m.verdicts_changed.inc_by(changed as u64);
    m.verdicts_reused.inc_by(reused as u64);
    m.verdicts_converted.inc_by(converted as u64);
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

/// Replaces the compliance gauges with one evaluation's figures.
pub fn set_compliance(c: Compliance) {
    let m = metrics();
    m.compliance_items.clear();
    for (catalog, verdict, n) in c.items {
        let verdict = verdict.to_string();
        m.compliance_items
            .get_or_create(&CatalogVerdict { catalog, verdict })
            .set(n);
    }
    m.hosts_failing.clear();
    for (rule, n) in c.hosts_failing {
        m.hosts_failing.get_or_create(&RuleLabel { rule }).set(n);
    }
    m.evidence_age.clear();
    for (probe, age) in c.evidence_age {
        m.evidence_age.get_or_create(&ProbeLabel { probe }).set(age);
    }
    m.agents_silent.set(c.agents_silent);
    m.evaluation_seconds.set(c.evaluation_seconds);
    m.evaluated_at.set(c.evaluated_at_seconds);
}

/// The evaluation the snapshot objects were last written ahead of
/// (`snapshot::ahead`), as of when (Unix seconds).
pub fn written_ahead(as_of_seconds: f64) {
    metrics().written_ahead.set(as_of_seconds);
}

/// What became of one verdict change handed to a sink.
#[derive(Debug, Clone, Copy)]
pub enum Delivery {
    Sent,
    Dropped,
    Failed,
}

/// Shows a sink's counters at zero from its start, so that `increase()`
/// sees its first change.
pub fn sink_started(sink: &str) {
    let m = metrics();
    let label = SinkLabel {
        sink: sink.to_string(),
    };
    for family in [&m.findings_sent, &m.findings_dropped, &m.findings_failed] {
        let _ = family.get_or_create(&label);
    }
}

pub fn finding(sink: &str, what: Delivery) {
    let m = metrics();
    let family = match what {
        Delivery::Sent => &m.findings_sent,
        Delivery::Dropped => &m.findings_dropped,
        Delivery::Failed => &m.findings_failed,
    };
    family
        .get_or_create(&SinkLabel {
            sink: sink.to_string(),
        })
        .inc();
}

pub fn render() -> String {
    let mut out = String::new();
    let _ = prometheus_client::encoding::text::encode(&mut out, &metrics().registry);
    out
}
