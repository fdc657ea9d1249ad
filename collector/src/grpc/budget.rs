//! What one host's latest evidence may weigh (`ingest.max_host_latest_bytes`).
//!
//! The evaluation, snapshots and exports read every host's latest evidence:
//! the newest of each (probe, subject). The size caps bound one evidence,
//! but an enrolled agent could still send ever more subjects, each near
//! `max_evidence_bytes`, until that set no longer fits in memory. So each
//! host's latest set has a budget: an evidence that would take its host past
//! it is refused (like invalid evidence: logged, counted, the rest of its
//! batch stored), while replacing a subject with one no larger always fits.
//!
//! The tally is kept per ingest stream, read from the store (sizes only, no
//! bodies) the first time the stream sees a host. An agent holds at most
//! `grpc.agent_streams` streams, so a host's set stays within that many
//! budgets even when they race.

use crate::store::{LatestSize, Store};
use gamsa_proto::v1::Evidence;
use prost::Message;
use std::collections::HashMap;

/// Bytes counted for each (probe, subject) beyond its body: the keys and
/// the evidence's in-memory form, so that many tiny subjects cost too.
pub const OVERHEAD: u64 = 256;

/// One stream's tally of its hosts' latest sets.
pub struct LatestBudget {
    cap: u64,
    hosts: HashMap<String, Host>,
}

#[derive(Default)]
struct Host {
    total: u64,
    /// (probe, subject) → (observed ms, bytes counted).
    entries: HashMap<(String, String), (i64, u64)>,
}

impl LatestBudget {
    pub fn new(cap: u64) -> Self {
        Self {
            cap,
            hosts: HashMap::new(),
        }
    }

    /// Reads the sizes of `host`'s latest set, unless this stream has them.
    pub async fn load(&mut self, store: &dyn Store, host: &str) -> anyhow::Result<()> {
        if self.hosts.contains_key(host) {
            return Ok(());
        }
        let sizes = store.latest_sizes(host).await?;
        self.hosts.insert(host.to_string(), Host::from(sizes));
        Ok(())
    }

    /// Counts `ev` into its host's set, or says why it does not fit (the
    /// set is left as it was). The host must have been loaded.
    pub fn admit(&mut self, ev: &Evidence) -> Result<(), String> {
        let host = self.hosts.entry(ev.host.clone()).or_default();
        let observed = ev.observed_at.map(|t| t.unix_millis()).unwrap_or(0);
        let bytes = ev.encoded_len() as u64 + OVERHEAD;
        let key = (ev.probe.clone(), ev.subject.clone());
        let replaced = match host.entries.get(&key) {
            // Older than what the store keeps: stored, but not the latest.
            Some(&(at, _)) if observed < at => return Ok(()),
            Some(&(_, old)) => old,
            None => 0,
        };
        let total = host.total - replaced + bytes;
        if bytes > replaced && total > self.cap {
            return Err(format!(
                "host {:?}'s latest evidence would weigh {total} bytes, more than \
                 ingest.max_host_latest_bytes ({})",
                ev.host, self.cap
            ));
        }
        host.total = total;
        host.entries.insert(key, (observed, bytes));
        Ok(())
    }
}

impl From<Vec<LatestSize>> for Host {
    fn from(sizes: Vec<LatestSize>) -> Self {
        let mut host = Host::default();
        for s in sizes {
            let bytes = s.bytes + OVERHEAD;
            host.total += bytes;
            host.entries
                .insert((s.probe, s.subject), (s.observed_ms, bytes));
        }
        host
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::Timestamp;

    fn ev(subject: &str, at: i64, error_bytes: usize) -> Evidence {
        Evidence {
            host: "h".into(),
            probe: "tls".into(),
            subject: subject.into(),
            observed_at: Some(Timestamp {
                seconds: at,
                nanos: 0,
            }),
            error: "x".repeat(error_bytes),
            ..Default::default()
        }
    }

    #[test]
    fn new_subjects_fit_until_the_cap_and_replacements_no_larger_always_fit() {
        let one = ev("a", 1, 1_000).encoded_len() as u64 + OVERHEAD;
        let mut b = LatestBudget::new(3 * one);
        for s in ["a", "b", "c"] {
            b.admit(&ev(s, 1, 1_000)).unwrap();
        }
        let refused = b.admit(&ev("d", 1, 1_000)).unwrap_err();
        assert!(
            refused.contains("ingest.max_host_latest_bytes"),
            "{refused}"
        );
        // The same subject again, or smaller: fits; larger: does not.
        b.admit(&ev("a", 2, 1_000)).unwrap();
        b.admit(&ev("b", 2, 10)).unwrap();
        assert!(b.admit(&ev("c", 2, 5_000)).is_err());
        // The room "b" gave back takes a new small subject.
        b.admit(&ev("e", 2, 10)).unwrap();
    }

    #[test]
    fn an_older_observation_does_not_replace_the_latest_in_the_tally() {
        let big = ev("a", 10, 5_000).encoded_len() as u64 + OVERHEAD;
        let mut b = LatestBudget::new(big + 400);
        b.admit(&ev("a", 10, 5_000)).unwrap();
        // An older, small "a" leaves the big one latest in the store, so it
        // frees nothing for a new subject.
        b.admit(&ev("a", 5, 1)).unwrap();
        assert!(b.admit(&ev("b", 10, 1_000)).is_err());
    }

    #[test]
    fn the_tally_starts_from_the_stored_sizes() {
        let mut host = Host::from(vec![LatestSize {
            probe: "tls".into(),
            subject: "a".into(),
            observed_ms: 1_000,
            bytes: 10_000,
        }]);
        assert_eq!(host.total, 10_000 + OVERHEAD);
        let mut b = LatestBudget::new(10_000 + OVERHEAD + 100);
        b.hosts.insert("h".into(), std::mem::take(&mut host));
        assert!(b.admit(&ev("b", 1, 100)).is_err());
        b.admit(&ev("a", 2, 100)).unwrap();
        b.admit(&ev("b", 2, 100)).unwrap();
    }
}
