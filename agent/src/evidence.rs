//! Building evidence envelopes: every probe goes through `ProbeContext`, so
//! ids, timestamps and identity are made the same way everywhere.

use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use gamsa_proto::Timestamp;
use std::time::{SystemTime, UNIX_EPOCH};

pub fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

pub fn now() -> Timestamp {
    timestamp(SystemTime::now())
}

/// Evidence with `STATUS_OBSERVED` and a payload.
pub fn observed(
    agent_id: &str,
    host: &str,
    probe: &str,
    subject: &str,
    payload: Payload,
) -> Evidence {
    Evidence {
        id: uuid::Uuid::now_v7().to_string(),
        agent_id: agent_id.to_string(),
        host: host.to_string(),
        observed_at: Some(now()),
        first_observed_at: None,
        probe: probe.to_string(),
        subject: subject.to_string(),
        status: Status::Observed as i32,
        error: String::new(),
        payload: Some(payload),
    }
}

/// Evidence with `STATUS_ERROR`: the probe could not observe `subject`.
pub fn error(
    agent_id: &str,
    host: &str,
    probe: &str,
    subject: &str,
    why: impl std::fmt::Display,
) -> Evidence {
    Evidence {
        id: uuid::Uuid::now_v7().to_string(),
        agent_id: agent_id.to_string(),
        host: host.to_string(),
        observed_at: Some(now()),
        first_observed_at: None,
        probe: probe.to_string(),
        subject: subject.to_string(),
        status: Status::Error as i32,
        error: why.to_string(),
        payload: None,
    }
}
