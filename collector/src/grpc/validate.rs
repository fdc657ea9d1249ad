//! What ingest accepts of an agent's evidence.
//!
//! Two kinds of check, with two consequences:
//!
//! - **Identity** (`identity`): the evidence speaks for the certificate's
//!   agent and for a host bound to that agent. A violation is an attack, not
//!   a data error: the whole batch is refused and the stream ends.
//! - **Content** (`content`): every field the rest of the system reads can
//!   be read. Evidence is stored as protobuf but shown, exported, signed into
//!   snapshots and evaluated through its canonical JSON form, and its text
//!   columns go into PostgreSQL: an enum value the schema does not name, a
//!   timestamp outside years 0001-9999 (or nanos outside 0-999,999,999), a
//!   NaN or infinite number (its JSON form, null, does not read back) or a
//!   NUL byte would be stored and then break every reader (or, on
//!   PostgreSQL, the group commit it shares with other agents' batches). Size
//!   caps (`[ingest]`) bound what one evidence costs every reader; an
//!   `observedAt` ahead of the collector's clock would stay the "latest"
//!   evidence until that time. Such evidence is refused alone: the rest of
//!   its batch is stored and acked, since a batch is only what the agent had
//!   spooled at the time, and refusing it whole would make the agent resend
//!   it forever, blinding its host over one bad probe result.
//!
//! The content walk (`readable.rs`) is generic, over the gamsa.v1
//! descriptors, so a payload added to the schema is checked without code
//! here.

use super::readable::{self, Problem};
use crate::config::IngestConfig;
use gamsa_proto::v1::{Evidence, Hello};
use prost::Message;

/// Why one evidence (or its batch) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("evidence {id} claims agent_id {claimed:?} but the certificate identity is {agent:?}")]
    Impersonation {
        id: String,
        claimed: String,
        agent: String,
    },
    #[error(
        "evidence {id} names host {host:?} but agent {agent:?} is bound to {}",
        bound_hosts(bound)
    )]
    HostMismatch {
        id: String,
        host: String,
        agent: String,
        bound: Vec<String>,
    },
    #[error("evidence {id}: {field}: {problem}")]
    Invalid {
        id: String,
        field: String,
        problem: String,
    },
}

impl Refusal {
    /// The `reason` label of the refusal metric.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Impersonation { .. } => "impersonation",
            Refusal::HostMismatch { .. } => "host_mismatch",
            Refusal::Invalid { .. } => "invalid_evidence",
        }
    }
}

/// `host "a"`, `hosts "a", "b"` or `no host`, for refusal messages.
pub fn bound_hosts(bound: &[String]) -> String {
    let quoted: Vec<String> = bound.iter().map(|h| format!("{h:?}")).collect();
    match quoted.len() {
        0 => "no host".into(),
        1 => format!("host {}", quoted[0]),
        _ => format!("hosts {}", quoted.join(", ")),
    }
}

/// The evidence speaks for `agent_id` and for one of the hosts bound to it.
pub fn identity(ev: &Evidence, agent_id: &str, bound: &[String]) -> Result<(), Refusal> {
    if ev.agent_id != agent_id {
        return Err(Refusal::Impersonation {
            id: ev.id.clone(),
            claimed: ev.agent_id.clone(),
            agent: agent_id.into(),
        });
    }
    if !bound.contains(&ev.host) {
        return Err(Refusal::HostMismatch {
            id: ev.id.clone(),
            host: ev.host.clone(),
            agent: agent_id.into(),
            bound: bound.to_vec(),
        });
    }
    Ok(())
}

/// Every field of `ev` can be read by the rest of the system, and it is
/// within `limits` as of `now_ms` (the collector's clock).
pub fn content(ev: &Evidence, now_ms: i64, limits: &IngestConfig) -> Result<(), Refusal> {
    let invalid = |field: &str, problem: String| Refusal::Invalid {
        id: ev.id.clone(),
        field: field.into(),
        problem,
    };
    if ev.id.is_empty() || ev.id.len() > 128 {
        return Err(invalid("id", "must be 1-128 characters".into()));
    }
    if ev.probe.is_empty() {
        return Err(invalid("probe", "is empty".into()));
    }
    let Some(observed) = &ev.observed_at else {
        return Err(invalid("observedAt", "is missing".into()));
    };
    if ev.first_observed_at.is_some() {
        return Err(invalid(
            "firstObservedAt",
            "is the collector's to set: an agent sends each observation".into(),
        ));
    }
    let bytes = ev.encode_to_vec();
    let size = bytes.len();
    if size > limits.max_evidence_bytes {
        return Err(invalid(
            "evidence",
            format!(
                "is {size} bytes, more than ingest.max_evidence_bytes ({})",
                limits.max_evidence_bytes
            ),
        ));
    }
    readable(&bytes, "gamsa.v1.Evidence", limits)
        .map_err(|(field, problem)| invalid(&field, problem))?;
    // In range (checked by the walk), so the millisecond form cannot saturate.
    let skew = i64::try_from(limits.max_clock_skew.as_millis()).unwrap_or(i64::MAX);
    if observed.unix_millis() > now_ms.saturating_add(skew) {
        return Err(invalid(
            "observedAt",
            format!(
                "{} is later than the collector's clock ({}) plus ingest.max_clock_skew ({})",
                rfc3339(observed.unix_millis()),
                rfc3339(now_ms),
                humantime::format_duration(limits.max_clock_skew)
            ),
        ));
    }
    Ok(())
}

/// Every field of a Hello can be read: the agents list and the dashboard
/// show it, and it is stored in text columns. The error names the field.
pub fn hello(h: &Hello, limits: &IngestConfig) -> Result<(), String> {
    readable(&h.encode_to_vec(), "gamsa.v1.Hello", limits)
        .map_err(|(field, problem)| format!("hello: {field}: {problem}"))
}

/// Walks `bytes`, an encoded gamsa.v1 message of type `name`, through its
/// descriptor.
fn readable(bytes: &[u8], name: &str, limits: &IngestConfig) -> Result<(), Problem> {
    let descriptor = gamsa_proto::descriptor_pool()
        .get_message_by_name(name)
        .ok_or_else(|| (String::new(), format!("{name} is not in the schema")))?;
    readable::message(bytes, &descriptor, limits)
        .map_err(|(path, problem)| (path.trim_start_matches('.').to_string(), problem))
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::{evidence::Payload, *};
    use gamsa_proto::Timestamp;

    /// The collector's clock at the end of year 9999, so that only range
    /// checks apply to observedAt.
    const END_OF_TIME: i64 = readable::LAST_SECOND * 1000 + 999;

    fn ev(seconds: i64, nanos: i32) -> Evidence {
        Evidence {
            id: "e1".into(),
            agent_id: "a".into(),
            host: "h".into(),
            probe: "host".into(),
            observed_at: Some(Timestamp { seconds, nanos }),
            ..Default::default()
        }
    }

    fn tls(t: TlsEndpoint) -> Evidence {
        Evidence {
            probe: "tls".into(),
            status: Status::Observed as i32,
            payload: Some(Payload::TlsEndpoint(t)),
            ..ev(1_700_000_000, 0)
        }
    }

    fn refused(e: &Evidence) -> (String, String) {
        refused_with(e, &IngestConfig::default())
    }

    fn refused_with(e: &Evidence, limits: &IngestConfig) -> (String, String) {
        match content(e, END_OF_TIME, limits) {
            Err(Refusal::Invalid { field, problem, .. }) => (field, problem),
            other => panic!("{other:?}"),
        }
    }

    /// What content accepts serialises: JSON there and back, and the
    /// snapshot's canonical form.
    fn serialises(e: &Evidence) {
        let json = serde_json::to_value(e).unwrap();
        assert_eq!(serde_json::from_value::<Evidence>(json).unwrap(), *e);
        crate::snapshot::canonical::to_vec(e).unwrap();
    }

    #[test]
    fn observed_time_must_have_a_canonical_form() {
        let ok = |e: &Evidence| content(e, END_OF_TIME, &IngestConfig::default());
        assert!(ok(&ev(1_700_000_000, 0)).is_ok());
        assert!(ok(&ev(253_402_300_799, 999_999_999)).is_ok());
        let err = ok(&ev(490_000_000_000_000_000, 0)).unwrap_err().to_string();
        assert!(err.contains("outside years 0001-9999"), "{err}");
        assert!(err.contains("observedAt"), "{err}");
        assert!(ok(&ev(-62_135_596_801, 0)).is_err());
        assert!(ok(&ev(0, -1)).is_err());
        assert_eq!(
            refused(&Evidence {
                observed_at: None,
                ..ev(0, 0)
            }),
            ("observedAt".into(), "is missing".into())
        );
        serialises(&ev(253_402_300_799, 999_999_999));
        serialises(&ev(-62_135_596_800, 0));
    }

    #[test]
    fn observed_time_ahead_of_the_clock_beyond_the_skew_is_refused() {
        let limits = IngestConfig::default();
        let now = 1_700_000_000_000;
        let at = |ms| Evidence {
            observed_at: Some(Timestamp::from_unix_millis(ms)),
            ..ev(0, 0)
        };
        assert!(content(&at(now + 300_000), now, &limits).is_ok());
        let err = content(&at(now + 300_001), now, &limits)
            .unwrap_err()
            .to_string();
        assert!(err.contains("observedAt: 2023-11-14T22:18:20.001Z is later than the collector's clock (2023-11-14T22:13:20.000Z) plus ingest.max_clock_skew (5m)"), "{err}");
        assert!(content(&at(now - 86_400_000 * 365), now, &limits).is_ok());
    }

    #[test]
    fn unknown_enum_values_are_refused_wherever_they_are() {
        let status = Evidence {
            status: 3,
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(
            refused(&status),
            (
                "status".into(),
                "3 is not a value of gamsa.v1.Status".into()
            )
        );
        let versions = tls(TlsEndpoint {
            accepted_versions: vec![TlsVersion::Tls13 as i32, 99],
            ..Default::default()
        });
        assert_eq!(
            refused(&versions),
            (
                "tlsEndpoint.acceptedVersions[1]".into(),
                "99 is not a value of gamsa.v1.TlsVersion".into()
            )
        );
        let known = tls(TlsEndpoint {
            accepted_versions: vec![TlsVersion::Tls12 as i32, TlsVersion::Tls13 as i32],
            ..Default::default()
        });
        assert!(content(&known, END_OF_TIME, &IngestConfig::default()).is_ok());
        serialises(&known);
    }

    #[test]
    fn nested_timestamps_must_be_in_range() {
        let cert = |not_after| Certificate {
            not_after: Some(not_after),
            ..Default::default()
        };
        let far = Timestamp {
            seconds: 300_000_000_000,
            nanos: 0,
        };
        let (field, problem) = refused(&tls(TlsEndpoint {
            leaf: Some(cert(far)),
            ..Default::default()
        }));
        assert_eq!(field, "tlsEndpoint.leaf.notAfter");
        assert!(problem.contains("outside years 0001-9999"), "{problem}");
        let nanos = Timestamp {
            seconds: 1,
            nanos: 1_000_000_000,
        };
        let (field, _) = refused(&tls(TlsEndpoint {
            chain: vec![cert(Timestamp::from_unix_millis(0)), cert(nanos)],
            ..Default::default()
        }));
        assert_eq!(field, "tlsEndpoint.chain[1].notAfter");
        let boot = Evidence {
            payload: Some(Payload::HostInfo(HostInfo {
                boot_time: Some(Timestamp {
                    seconds: -62_135_596_801,
                    nanos: 0,
                }),
                ..Default::default()
            })),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(refused(&boot).0, "hostInfo.bootTime");
    }

    #[test]
    fn nul_bytes_are_refused_in_any_string_and_map() {
        let subject = Evidence {
            subject: "a\0".into(),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(
            refused(&subject),
            ("subject".into(), "contains a NUL byte".into())
        );
        let nested = tls(TlsEndpoint {
            notices: vec!["fine".into(), "not\0fine".into()],
            ..Default::default()
        });
        assert_eq!(refused(&nested).0, "tlsEndpoint.notices[1]");
        let label = |k: &str, v: &str| Evidence {
            payload: Some(Payload::HostInfo(HostInfo {
                labels: [(k.to_string(), v.to_string())].into(),
                ..Default::default()
            })),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(refused(&label("role\0", "db")).0, "hostInfo.labels key");
        assert_eq!(
            refused(&label("role", "d\0b")).0,
            "hostInfo.labels[\"role\"]"
        );
        let fine = label("role", "db");
        assert!(content(&fine, END_OF_TIME, &IngestConfig::default()).is_ok());
        serialises(&fine);
    }

    #[test]
    fn non_finite_numbers_are_refused() {
        let cpu = |x: f32| Evidence {
            payload: Some(Payload::HostInfo(HostInfo {
                cpu_usage_percent: x,
                ..Default::default()
            })),
            ..ev(1_700_000_000, 0)
        };
        for x in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            let (field, problem) = refused(&cpu(x));
            assert_eq!(field, "hostInfo.cpuUsagePercent");
            assert!(problem.ends_with("is not a finite number"), "{problem}");
        }
        let fine = cpu(12.5);
        assert!(content(&fine, END_OF_TIME, &IngestConfig::default()).is_ok());
        serialises(&fine);
    }

    #[test]
    fn size_caps_apply_per_field_and_per_evidence() {
        let limits = IngestConfig {
            max_evidence_bytes: 2_000,
            max_field_bytes: 100,
            ..IngestConfig::default()
        };
        let notices = |n, len| {
            tls(TlsEndpoint {
                notices: vec!["x".repeat(len); n],
                ..Default::default()
            })
        };
        assert!(content(&notices(1, 100), END_OF_TIME, &limits).is_ok());
        assert_eq!(
            refused_with(&notices(1, 101), &limits),
            (
                "tlsEndpoint.notices[0]".into(),
                "is 101 bytes, more than ingest.max_field_bytes (100)".into()
            )
        );
        let (field, problem) = refused_with(&notices(30, 100), &limits);
        assert_eq!(field, "evidence");
        assert!(
            problem.ends_with("more than ingest.max_evidence_bytes (2000)"),
            "{problem}"
        );
        let error = Evidence {
            error: "e".repeat(101),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(refused_with(&error, &limits).0, "error");
    }

    #[test]
    fn identity_names_the_agent_and_the_bound_hosts() {
        let e = ev(1_700_000_000, 0);
        assert!(identity(&e, "a", &["h".into()]).is_ok());
        let other = identity(&e, "b", &["h".into()]).unwrap_err();
        assert_eq!(other.reason(), "impersonation");
        assert_eq!(
            other.to_string(),
            "evidence e1 claims agent_id \"a\" but the certificate identity is \"b\""
        );
        let host = identity(&e, "a", &["web-1".into()]).unwrap_err();
        assert_eq!(host.reason(), "host_mismatch");
        assert_eq!(
            host.to_string(),
            "evidence e1 names host \"h\" but agent \"a\" is bound to host \"web-1\""
        );
        let none = identity(&e, "a", &[]).unwrap_err().to_string();
        assert!(none.ends_with("is bound to no host"), "{none}");
        assert!(identity(&e, "a", &["g".into(), "h".into()]).is_ok());
    }

    #[test]
    fn hellos_are_walked_too() {
        let hello = |os: &str| Hello {
            agent_id: "a".into(),
            host: "h".into(),
            os: os.into(),
            labels: [("role".to_string(), "db".to_string())].into(),
            sent_at: Some(Timestamp::from_unix_millis(0)),
            ..Default::default()
        };
        let limits = IngestConfig::default();
        assert!(super::hello(&hello("Debian"), &limits).is_ok());
        assert_eq!(
            super::hello(&hello("Deb\0ian"), &limits).unwrap_err(),
            "hello: os: contains a NUL byte"
        );
        let late = Hello {
            sent_at: Some(Timestamp {
                seconds: i64::MAX,
                nanos: 0,
            }),
            ..hello("Debian")
        };
        let err = super::hello(&late, &limits).unwrap_err();
        assert!(err.starts_with("hello: sentAt: timestamp outside"), "{err}");
    }

    #[test]
    fn ids_and_probes_are_required() {
        let id = |id: &str| Evidence {
            id: id.into(),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(refused(&id("")).0, "id");
        assert_eq!(refused(&id(&"i".repeat(129))).0, "id");
        let probe = Evidence {
            probe: String::new(),
            ..ev(1_700_000_000, 0)
        };
        assert_eq!(refused(&probe).0, "probe");
    }
}
