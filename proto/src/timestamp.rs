//! `google.protobuf.Timestamp` with the canonical JSON form: RFC 3339 in UTC
//! with a `Z` suffix ("2026-11-22T05:30:00.123Z"), which auditors' tools and
//! other protobuf implementations expect. (pbjson-types writes "+00:00".)

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{de, Deserialize, Deserializer, Serialize, Serializer};

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, prost::Message)]
pub struct Timestamp {
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Timestamp {
    /// Milliseconds since the Unix epoch, saturating: a peer may send any `seconds`.
    pub fn unix_millis(&self) -> i64 {
        self.seconds
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos) / 1_000_000)
    }

    pub fn from_unix_millis(ms: i64) -> Self {
        Self {
            seconds: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let t = DateTime::<Utc>::from_timestamp(self.seconds, self.nanos.max(0) as u32)
            .ok_or_else(|| serde::ser::Error::custom("timestamp out of range"))?;
        s.serialize_str(&t.to_rfc3339_opts(SecondsFormat::AutoSi, true))
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        let t = DateTime::parse_from_rfc3339(&s).map_err(de::Error::custom)?;
        Ok(Timestamp {
            seconds: t.timestamp(),
            nanos: t.timestamp_subsec_nanos() as i32,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_json_uses_z_and_round_trips() {
        let t = Timestamp::from_unix_millis(1_700_000_000_123);
        let json = serde_json::to_string(&t).unwrap();
        assert_eq!(json, "\"2023-11-14T22:13:20.123Z\"");
        assert_eq!(serde_json::from_str::<Timestamp>(&json).unwrap(), t);
        let offset: Timestamp = serde_json::from_str("\"2023-11-15T07:13:20.123+09:00\"").unwrap();
        assert_eq!(offset, t);
    }

    #[test]
    fn evidence_json_is_canonical() {
        use crate::v1::{evidence::Payload, Evidence, Status, TimeSync};
        let ev = Evidence {
            id: "x".into(),
            agent_id: "a".into(),
            observed_at: Some(Timestamp::from_unix_millis(0)),
            status: Status::Error as i32,
            payload: Some(Payload::TimeSync(TimeSync {
                collector_offset_ms: 5,
                ..Default::default()
            })),
            ..Default::default()
        };
        let v = serde_json::to_value(&ev).unwrap();
        assert_eq!(v["agentId"], "a");
        assert_eq!(v["status"], "STATUS_ERROR");
        assert_eq!(v["observedAt"], "1970-01-01T00:00:00Z");
        // int64 is a JSON string in the canonical mapping.
        assert_eq!(v["timeSync"]["collectorOffsetMs"], "5");
        let back: Evidence = serde_json::from_value(v).unwrap();
        assert_eq!(back, ev);
    }
}
