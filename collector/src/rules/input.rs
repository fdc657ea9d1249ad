//! The rule input: for each host, its latest fresh evidence grouped by probe,
//! in the evidence JSON form with two differences that make rules simple and
//! honest: 64-bit integers are numbers (not strings), and every field is
//! present with its default (so `encrypted == false` is a fact, not a gap).
//!
//! Each evidence is converted once (`Converted`); the per-window host inputs
//! are assembled from those conversions, so evaluating items with different
//! freshness windows does not convert the fleet's evidence again.

use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use serde_json::{json, Value as Json};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, OnceLock};

use cel_interpreter::Value;

/// Probe name → the JSON key of its payload in `Evidence`.
pub const PROBE_KEYS: &[(&str, &str)] = &[
    ("host", "hostInfo"),
    ("ports", "listeningSockets"),
    ("port_scan", "portScan"),
    ("tls", "tlsEndpoint"),
    ("backup", "backupArtifact"),
    ("region", "cloudRegion"),
    ("encryption", "diskEncryption"),
    ("redundancy", "networkRedundancy"),
    ("time_sync", "timeSync"),
    ("agent", "agentNotice"),
];

fn payload_key(p: &Payload) -> &'static str {
    match p {
        Payload::HostInfo(_) => "hostInfo",
        Payload::ListeningSockets(_) => "listeningSockets",
        Payload::PortScan(_) => "portScan",
        Payload::TlsEndpoint(_) => "tlsEndpoint",
        Payload::BackupArtifact(_) => "backupArtifact",
        Payload::CloudRegion(_) => "cloudRegion",
        Payload::DiskEncryption(_) => "diskEncryption",
        Payload::NetworkRedundancy(_) => "networkRedundancy",
        Payload::TimeSync(_) => "timeSync",
        Payload::AgentNotice(_) => "agentNotice",
    }
}

/// JSON names of 64-bit integer fields: canonical JSON writes them as
/// strings, rules compare them as numbers.
fn int64_fields() -> &'static HashSet<String> {
    static NAMES: OnceLock<HashSet<String>> = OnceLock::new();
    NAMES.get_or_init(|| {
        use prost_reflect::Kind::*;
        gamsa_proto::descriptor_pool()
            .all_messages()
            .flat_map(|m| m.fields().collect::<Vec<_>>())
            .filter(|f| matches!(f.kind(), Int64 | Uint64 | Sint64 | Fixed64 | Sfixed64))
            .map(|f| f.json_name().to_string())
            .collect()
    })
}

fn numbers(v: &mut Json, names: &HashSet<String>) {
    match v {
        Json::Object(map) => {
            for (k, v) in map.iter_mut() {
                if let Json::String(s) = v {
                    if names.contains(k) {
                        if let Ok(n) = s.parse::<i64>() {
                            *v = json!(n);
                        } else if let Ok(n) = s.parse::<u64>() {
                            *v = json!(n);
                        }
                    }
                } else {
                    numbers(v, names);
                }
            }
        }
        Json::Array(items) => items.iter_mut().for_each(|i| numbers(i, names)),
        _ => {}
    }
}

/// The payload of `ev` as rule input JSON, with `subject` and `observedAt`.
pub fn payload_json(ev: &Evidence) -> Option<Json> {
    let key = payload_key(ev.payload.as_ref()?);
    let mut v = serde_json::to_value(ev).ok()?;
    let mut payload = v.get_mut(key)?.take();
    numbers(&mut payload, int64_fields());
    let obj = payload.as_object_mut()?;
    obj.insert("subject".into(), json!(ev.subject));
    obj.insert(
        "observedAt".into(),
        v.get("observedAt").cloned().unwrap_or(Json::Null),
    );
    Some(payload)
}

/// One evidence, converted once for every window that includes it.
pub struct Converted<'a> {
    pub evidence: &'a Evidence,
    pub observed_ms: i64,
    /// The payload as a CEL value; None for error evidence.
    pub value: Option<Value>,
}

pub fn convert(latest: &[Evidence]) -> Vec<Converted<'_>> {
    latest
        .iter()
        .map(|ev| Converted {
            evidence: ev,
            observed_ms: ev.observed_at.map(|t| t.unix_millis()).unwrap_or(0),
            value: if ev.status == Status::Error as i32 {
                None
            } else {
                payload_json(ev).and_then(|j| cel_interpreter::to_value(j).ok())
            },
        })
        .collect()
}

/// One host as rules see it.
pub struct HostInput {
    pub name: String,
    /// `host` in CEL.
    pub value: Value,
    /// Identifies the evidence in this input: equal fingerprints, equal results.
    pub fingerprint: u64,
    /// Probes with fresh observed evidence.
    pub observed: BTreeSet<String>,
    /// Probe → why it could not observe (fresh error evidence).
    pub errors: BTreeMap<String, Vec<String>>,
    /// Probe → ids of the evidence in this input.
    pub evidence: BTreeMap<String, Vec<String>>,
}

/// What is known about a host besides evidence.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub agent_id: String,
    pub labels: BTreeMap<String, String>,
}

fn text(v: &Value, field: &str) -> Option<String> {
    match v {
        Value::Map(m) => match m.map.get(&cel_interpreter::objects::Key::String(Arc::new(
            field.to_string(),
        ))) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.to_string()),
            _ => None,
        },
        _ => None,
    }
}

/// Assembles host inputs from converted evidence observed at or after
/// `fresh_since_ms`. Hosts in `known` with no fresh evidence still appear
/// (and so answer UNKNOWN). Returns the hosts and the `fleet` value.
pub fn build(
    converted: &[Converted<'_>],
    fresh_since_ms: i64,
    known: &BTreeMap<String, HostFacts>,
) -> (Vec<HostInput>, Value) {
    let mut by_host: BTreeMap<&str, Vec<&Converted<'_>>> = BTreeMap::new();
    for name in known.keys() {
        by_host.entry(name.as_str()).or_default();
    }
    for c in converted {
        if c.observed_ms >= fresh_since_ms {
            by_host.entry(c.evidence.host.as_str()).or_default().push(c);
        }
    }
    let mut zones_by_role: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut hosts = Vec::with_capacity(by_host.len());
    for (name, evidence) in by_host {
        let facts = known.get(name).cloned().unwrap_or_default();
        let mut lists: BTreeMap<&str, Vec<Value>> =
            PROBE_KEYS.iter().map(|(p, _)| (*p, vec![])).collect();
        let (mut observed, mut errors, mut ids) =
            (BTreeSet::new(), BTreeMap::new(), BTreeMap::new());
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for c in evidence {
            let ev = c.evidence;
            ev.id.hash(&mut hasher);
            ids.entry(ev.probe.clone())
                .or_insert_with(Vec::new)
                .push(ev.id.clone());
            match (&c.value, lists.get_mut(ev.probe.as_str())) {
                (Some(v), Some(list)) => {
                    list.push(v.clone());
                    observed.insert(ev.probe.clone());
                }
                (None, _) => errors
                    .entry(ev.probe.clone())
                    .or_insert_with(Vec::new)
                    .push(format!("{}: {}", ev.subject, ev.error)),
                _ => {}
            }
        }
        let first = |probe: &str, field: &str| {
            lists
                .get(probe)
                .and_then(|l| l.first())
                .and_then(|v| text(v, field))
        };
        let zone = first("region", "zone")
            .or_else(|| first("redundancy", "zone"))
            .or_else(|| facts.labels.get("zone").cloned())
            .unwrap_or_default();
        let role = facts.labels.get("role").cloned().unwrap_or_default();
        let region = first("region", "region").unwrap_or_default();
        let country = first("region", "country").unwrap_or_default();
        let zones = zones_by_role.entry(role.clone()).or_default();
        if !zone.is_empty() {
            zones.insert(zone.clone());
        }
        let mut map: HashMap<String, Value> = lists
            .into_iter()
            .map(|(p, l)| (p.to_string(), Value::List(Arc::new(l))))
            .collect();
        let labels: HashMap<String, Value> = facts
            .labels
            .iter()
            .map(|(k, v)| (k.clone(), Value::from(v.clone())))
            .collect();
        map.insert("name".into(), Value::from(name.to_string()));
        map.insert("agentId".into(), Value::from(facts.agent_id.clone()));
        map.insert("labels".into(), Value::from(labels));
        map.insert("role".into(), Value::from(role));
        map.insert("zone".into(), Value::from(zone));
        map.insert("regionCode".into(), Value::from(region));
        map.insert("country".into(), Value::from(country));
        hosts.push(HostInput {
            name: name.to_string(),
            value: Value::from(map),
            fingerprint: hasher.finish(),
            observed,
            errors,
            evidence: ids,
        });
    }
    let fleet = json!({ "hostCount": hosts.len(), "zonesByRole": zones_by_role });
    (
        hosts,
        cel_interpreter::to_value(fleet).unwrap_or(Value::Null),
    )
}
