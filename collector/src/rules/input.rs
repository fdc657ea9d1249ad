//! The rule input: for each host, its latest fresh evidence grouped by probe,
//! in the evidence JSON form with two differences that make rules simple and
//! honest: 64-bit integers are numbers (not strings), and every field a rule
//! selects is present with its default (so `encrypted == false` is a fact,
//! not a gap); fields no rule selects are left out. (`value.rs` makes the
//! CEL values.)
//!
//! Each evidence is converted once (`Converted`); the per-window host inputs
//! are assembled from those conversions, so evaluating items with different
//! freshness windows does not convert the fleet's evidence again.

use gamsa_proto::probes::PROBES;
use gamsa_proto::v1::{evidence::Payload, Evidence, Status};
use serde_json::json;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::Value;

/// Payload fields that `build` reads besides those rules name.
const BUILD_READS: &[&str] = &["zone", "region", "country"];

/// The evidence fields a rule input keeps: those the rules select and those
/// `build` reads.
pub fn kept_fields<'r>(rules: impl IntoIterator<Item = &'r Arc<super::Rule>>) -> HashSet<String> {
    rules
        .into_iter()
        .flat_map(|r| r.selects.iter().cloned())
        .chain(BUILD_READS.iter().map(|f| f.to_string()))
        .collect()
}

/// The payload of `ev` as rule input, with `subject` and `observedAt`, and
/// of its fields only those in `keep` (all when None).
pub fn payload_value(ev: &Evidence, keep: Option<&HashSet<String>>) -> Option<Value> {
    match super::value::to_value_keeping(ev.payload.as_ref()?, keep) {
        Ok(Value::Map(m)) => with_times(m, ev),
        _ => None,
    }
}

/// A payload's map with the evidence's own `subject` and `observedAt`: a
/// copy of its top level only when the map is shared.
fn with_times(m: Map, ev: &Evidence) -> Option<Value> {
    let observed_at = super::value::to_value(&ev.observed_at).ok()?;
    let mut map = Arc::unwrap_or_clone(m.map);
    map.insert(Key::from("subject"), Value::from(ev.subject.clone()));
    map.insert(Key::from("observedAt"), observed_at);
    Some(Value::Map(Map { map: Arc::new(map) }))
}

/// Payloads converted once for every evidence that carries the same one.
///
/// Hosts made from one image report the same packages, services, accounts
/// and settings: at 10,000 hosts the converted payloads were most of what a
/// reading of the latest evidence held (3.2 GB, most of it package lists).
/// A payload is known by the SHA-256 of its probe and its protobuf
/// encoding, so two evidence share a value only when their payloads are the
/// same bytes: no host's input can carry what another host reported unless
/// it reported the same. Each evidence's value is the shared payload's top
/// level with its own `subject` and `observedAt`; the lists and maps under
/// it are shared.
///
/// Kept by the checklists across readings, so that a payload converted in
/// one reading is shared by the evidence of later ones; `forget_unused`
/// drops what no converted evidence holds any more. A value keeps the
/// fields of the `keep` it was first converted with: one table serves one
/// set of rules (the checklists', `kept_fields`), never two.
#[derive(Default)]
pub struct Payloads {
    by_content: std::sync::Mutex<HashMap<[u8; 32], Map>>,
}

impl Payloads {
    /// The payload of `ev` as `payload_value` makes it, converted only if
    /// no evidence with the same payload was, and the payload's key.
    fn value(&self, ev: &Evidence, keep: Option<&HashSet<String>>) -> Option<(Value, [u8; 32])> {
        let payload = ev.payload.as_ref()?;
        let mut encoded = Vec::with_capacity(payload.encoded_len());
        payload.encode(&mut encoded);
        let decoded = || Ok(Some(Cow::Borrowed(payload)));
        self.shared(ev, &encoded, decoded, keep).ok().flatten()
    }

    /// The value of the payload whose fields are `encoded` (as
    /// `gamsa_proto::split` leaves them), of `ev`, made of `decoded()` only
    /// if no evidence with the same payload was converted; and its key: the
    /// SHA-256 of the probe and `encoded`. None for no payload.
    fn shared<'p>(
        &self,
        ev: &Evidence,
        encoded: &[u8],
        decoded: impl FnOnce() -> Result<Option<Cow<'p, Payload>>, prost::DecodeError>,
        keep: Option<&HashSet<String>>,
    ) -> Result<Option<(Value, [u8; 32])>, prost::DecodeError> {
        use sha2::Digest;
        if encoded.is_empty() {
            return Ok(None);
        }
        let key: [u8; 32] = sha2::Sha256::new()
            .chain_update(ev.probe.as_bytes())
            .chain_update([0])
            .chain_update(encoded)
            .finalize()
            .into();
        let known = self.table().get(&key).cloned();
        let m = match known {
            Some(m) => m,
            None => {
                let Some(payload) = decoded()? else {
                    return Ok(None);
                };
                match super::value::to_value_keeping(payload.as_ref(), keep) {
                    Ok(Value::Map(m)) => self.table().entry(key).or_insert(m).clone(),
                    _ => return Ok(None),
                }
            }
        };
        Ok(with_times(m, ev).map(|v| (v, key)))
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Map>> {
        // The table holds whole values only: one left by a panicking thread
        // is still whole.
        self.by_content
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets the payloads whose lists, maps and strings no converted
    /// evidence holds any more (a payload of numbers alone is forgotten
    /// too: sharing it saves nothing). Run after each reading.
    pub fn forget_unused(&self) {
        let held = |v: &Value| match v {
            Value::List(l) => Arc::strong_count(l) > 1,
            Value::Map(m) => Arc::strong_count(&m.map) > 1,
            Value::String(s) => Arc::strong_count(s) > 1,
            Value::Bytes(b) => Arc::strong_count(b) > 1,
            _ => false,
        };
        self.table().retain(|_, m| m.map.values().any(held));
    }

    /// How many payloads are known.
    pub fn len(&self) -> usize {
        self.table().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Probes whose latest evidence is also kept whole: the evidence forms
/// (network redundancy, location, services) show it as the evaluation
/// judged it. A few small evidence a host, unlike the fleet's bodies.
pub const KEPT_WHOLE: &[&str] = &["redundancy", "region", "backup"];

/// One evidence, converted once for every window that includes it: what
/// the evaluation reads of it, its payload only as the fields rules select,
/// so that the fleet's evidence bodies are never needed at once.
pub struct Converted {
    /// The evidence without its payload.
    pub evidence: Evidence,
    pub observed_ms: i64,
    /// The payload as a CEL value; None for error evidence.
    pub value: Option<Value>,
    /// The payload's key in `Payloads` (its probe and encoding's SHA-256),
    /// when it was converted there.
    pub payload: Option<[u8; 32]>,
    /// The evidence whole, for a probe of [`KEPT_WHOLE`]; shared with the
    /// evaluations that reuse it.
    pub whole: Option<Arc<Evidence>>,
}

impl Converted {
    /// `ev` converted, keeping the fields in `keep`.
    pub fn of(ev: &Evidence, keep: Option<&HashSet<String>>) -> Self {
        Self::with_value(without_payload(ev), kept_whole(ev), || {
            Some((payload_value(ev, keep)?, None))
        })
    }

    /// `ev` converted, its payload's value shared through `payloads`.
    pub fn sharing(ev: &Evidence, keep: Option<&HashSet<String>>, payloads: &Payloads) -> Self {
        Self::with_value(without_payload(ev), kept_whole(ev), || {
            payloads
                .value(ev, keep)
                .map(|(value, key)| (value, Some(key)))
        })
    }

    /// `ev` (without its payload) and its payload's fields as `encoded`
    /// (`gamsa_proto::split`) converted as `sharing` converts the evidence
    /// whole: the payload decoded only if no evidence with the same one was
    /// converted through `payloads`. Fails on a payload that does not decode.
    pub fn of_split(
        ev: &Evidence,
        encoded: &[u8],
        keep: Option<&HashSet<String>>,
        payloads: &Payloads,
    ) -> Result<Self, prost::DecodeError> {
        let whole = match KEPT_WHOLE.contains(&ev.probe.as_str()) {
            true => Some(Arc::new(Evidence {
                payload: gamsa_proto::split::decode_payload(encoded)?,
                ..ev.clone()
            })),
            false => None,
        };
        let decoded = || gamsa_proto::split::decode_payload(encoded).map(|p| p.map(Cow::Owned));
        let value = match ev.status == Status::Error as i32 {
            true => None,
            false => payloads.shared(ev, encoded, decoded, keep)?,
        };
        Ok(Self::with_value(ev.clone(), whole, || {
            value.map(|(value, key)| (value, Some(key)))
        }))
    }

    /// `evidence` (without its payload) with the value `value()` makes of
    /// its payload, unless it is error evidence, and `whole` as kept.
    fn with_value(
        evidence: Evidence,
        whole: Option<Arc<Evidence>>,
        value: impl FnOnce() -> Option<(Value, Option<[u8; 32]>)>,
    ) -> Self {
        let (value, payload) = if evidence.status == Status::Error as i32 {
            (None, None)
        } else {
            value().map_or((None, None), |(v, key)| (Some(v), key))
        };
        Self {
            observed_ms: evidence.observed_at.map(|t| t.unix_millis()).unwrap_or(0),
            evidence,
            value,
            payload,
            whole,
        }
    }

    /// The same evidence with the times of `stamp` (its run of unchanged
    /// observations has grown): what converting it again would give, without
    /// reading or converting its content again.
    pub fn seen_again(&mut self, stamp: &Evidence) {
        let e = &mut self.evidence;
        if (e.observed_at, e.first_observed_at) == (stamp.observed_at, stamp.first_observed_at) {
            return;
        }
        e.observed_at = stamp.observed_at;
        e.first_observed_at = stamp.first_observed_at;
        if let Some(whole) = &mut self.whole {
            let w = Arc::make_mut(whole);
            w.observed_at = stamp.observed_at;
            w.first_observed_at = stamp.first_observed_at;
        }
        self.observed_ms = stamp.observed_at.map(|t| t.unix_millis()).unwrap_or(0);
        if let (Some(Value::Map(m)), Ok(at)) =
            (&mut self.value, super::value::to_value(&stamp.observed_at))
        {
            Arc::make_mut(&mut m.map).insert(Key::from("observedAt"), at);
        }
    }
}

/// Converts every evidence, given without its payload and with the
/// payload's fields as encoded (`gamsa_proto::split`), on every core,
/// keeping the fields in `keep`, each payload once (`Payloads`). Fails
/// naming the first evidence whose payload does not decode.
pub fn convert_split(
    latest: &[(Evidence, Vec<u8>)],
    keep: Option<&HashSet<String>>,
    payloads: &Payloads,
) -> Result<Vec<Converted>, String> {
    super::parallel::map_parts(latest, |part| {
        part.iter()
            .map(|(ev, encoded)| {
                Converted::of_split(ev, encoded, keep, payloads)
                    .map_err(|e| format!("evidence {}: its payload: {e}", ev.id))
            })
            .collect()
    })
    .into_iter()
    .collect()
}

/// Converts every evidence, on every core, keeping the fields in `keep`,
/// each payload once (`Payloads`).
pub fn convert(
    latest: &[Evidence],
    keep: Option<&HashSet<String>>,
    payloads: &Payloads,
) -> Vec<Converted> {
    super::parallel::map_parts(latest, |part| {
        part.iter()
            .map(|ev| Converted::sharing(ev, keep, payloads))
            .collect()
    })
}

/// `ev` whole if its probe's evidence is kept whole ([`KEPT_WHOLE`]).
fn kept_whole(ev: &Evidence) -> Option<Arc<Evidence>> {
    KEPT_WHOLE
        .contains(&ev.probe.as_str())
        .then(|| Arc::new(ev.clone()))
}

fn without_payload(ev: &Evidence) -> Evidence {
    Evidence {
        id: ev.id.clone(),
        agent_id: ev.agent_id.clone(),
        host: ev.host.clone(),
        observed_at: ev.observed_at,
        first_observed_at: ev.first_observed_at,
        probe: ev.probe.clone(),
        subject: ev.subject.clone(),
        status: ev.status,
        error: ev.error.clone(),
        payload: None,
    }
}

/// One host as rules see it.
pub struct HostInput {
    pub name: String,
    /// The host's labels (what expectations select hosts by).
    pub labels: BTreeMap<String, String>,
    /// `host` in CEL.
    pub value: Value,
    /// Identifies the evidence in this input: equal fingerprints, equal results.
    pub fingerprint: u64,
    /// Identifies what this input says but for the times: the host's name,
    /// agent and labels and its evidence ids. Equal for a host whose
    /// evidence was only seen again; rules that do not read the time
    /// (`Rule::reads_time`) give it the same result.
    pub content: u64,
    /// Probes with fresh observed evidence.
    pub observed: BTreeSet<String>,
    /// Probe → why it could not observe (fresh error evidence).
    pub errors: BTreeMap<String, Vec<String>>,
    /// Probe → ids of the evidence in this input; shared with the results
    /// of rules that need that probe alone.
    pub evidence: BTreeMap<String, Arc<Vec<String>>>,
    /// Probe → what its list in `value` holds, for probes with a list.
    pub lists: BTreeMap<String, ListDigest>,
}

/// A probe's list in a host input, by SHA-256: of each element's payload
/// (its key in `Payloads`, else its evidence id, which no other host's
/// evidence has) and subject (`untimed`), and of those and each element's
/// `observedAt` (`timed`). Equal digests, equal lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct ListDigest {
    pub untimed: [u8; 32],
    pub timed: [u8; 32],
}

/// Adds one element to a list's digests (`ListDigest`).
fn digest_element((untimed, timed): &mut (sha2::Sha256, sha2::Sha256), c: &Converted) {
    use sha2::Digest;
    let part = |h: &mut sha2::Sha256| {
        match &c.payload {
            Some(key) => {
                h.update([1]);
                h.update(key);
            }
            None => {
                h.update([0]);
                h.update((c.evidence.id.len() as u64).to_le_bytes());
                h.update(c.evidence.id.as_bytes());
            }
        }
        h.update((c.evidence.subject.len() as u64).to_le_bytes());
        h.update(c.evidence.subject.as_bytes());
    };
    part(untimed);
    part(timed);
    let at = c.evidence.observed_at.unwrap_or_default();
    timed.update(at.seconds.to_le_bytes());
    timed.update(at.nanos.to_le_bytes());
}

/// What is known about a host besides evidence.
#[derive(Debug, Clone, Default)]
pub struct HostFacts {
    pub agent_id: String,
    pub labels: BTreeMap<String, String>,
}

/// A field of a map value.
pub fn field<'v>(v: &'v Value, field: &str) -> Option<&'v Value> {
    match v {
        Value::Map(m) => m.map.get(&Key::String(Arc::new(field.to_string()))),
        _ => None,
    }
}

fn text(v: &Value, name: &str) -> Option<String> {
    match field(v, name) {
        Some(Value::String(s)) if !s.is_empty() => Some(s.to_string()),
        _ => None,
    }
}

/// What `fleet` says of the hosts of one window: how many there are and
/// the zones seen of each role. Those of consecutive ranges of hosts add
/// up to those of them all (`add`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FleetFacts {
    pub host_count: usize,
    pub zones_by_role: BTreeMap<String, BTreeSet<String>>,
}

impl FleetFacts {
    /// `fleet` in CEL.
    pub fn value(&self) -> Value {
        let fleet = json!({ "hostCount": self.host_count, "zonesByRole": self.zones_by_role });
        cel_interpreter::to_value(fleet).unwrap_or(Value::Null)
    }

    /// Adds the facts of other hosts.
    pub fn add(&mut self, other: &FleetFacts) {
        self.host_count += other.host_count;
        for (role, zones) in &other.zones_by_role {
            let mine = self.zones_by_role.entry(role.clone()).or_default();
            mine.extend(zones.iter().cloned());
        }
    }
}

/// Assembles host inputs from converted evidence observed at or after
/// `fresh_since_ms`. Hosts in `known` with no fresh evidence still appear
/// (and so answer UNKNOWN). Returns the hosts and what `fleet` says of them.
pub fn build(
    converted: &[Converted],
    fresh_since_ms: i64,
    known: &BTreeMap<String, HostFacts>,
) -> (Vec<HostInput>, FleetFacts) {
    let mut by_host: BTreeMap<&str, Vec<&Converted>> = BTreeMap::new();
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
            PROBES.iter().map(|p| (p.name, vec![])).collect();
        let (mut observed, mut errors, mut ids) =
            (BTreeSet::new(), BTreeMap::new(), BTreeMap::new());
        let mut digests: BTreeMap<&str, (sha2::Sha256, sha2::Sha256)> = BTreeMap::new();
        let mut content = std::collections::hash_map::DefaultHasher::new();
        (name, &facts.agent_id, &facts.labels).hash(&mut content);
        let mut hasher = std::collections::hash_map::DefaultHasher::new();
        for c in evidence {
            let ev = &c.evidence;
            ev.id.hash(&mut content);
            // The time too: a run of unchanged evidence keeps its id as it
            // is seen again, and rules may read `observedAt`.
            ev.id.hash(&mut hasher);
            c.observed_ms.hash(&mut hasher);
            ids.entry(ev.probe.clone())
                .or_insert_with(Vec::new)
                .push(ev.id.clone());
            match (&c.value, lists.get_mut(ev.probe.as_str())) {
                (Some(v), Some(list)) => {
                    list.push(v.clone());
                    observed.insert(ev.probe.clone());
                    digest_element(digests.entry(ev.probe.as_str()).or_default(), c);
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
            labels: facts.labels,
            value: Value::from(map),
            fingerprint: hasher.finish(),
            content: content.finish(),
            observed,
            errors,
            evidence: ids.into_iter().map(|(p, ids)| (p, Arc::new(ids))).collect(),
            lists: digests
                .into_iter()
                .map(|(p, (untimed, timed))| {
                    use sha2::Digest;
                    let digest = ListDigest {
                        untimed: untimed.finalize().into(),
                        timed: timed.finalize().into(),
                    };
                    (p.to_string(), digest)
                })
                .collect(),
        });
    }
    let fleet = FleetFacts {
        host_count: hosts.len(),
        zones_by_role,
    };
    (hosts, fleet)
}

#[cfg(test)]
mod tests {
    use super::*;
    use gamsa_proto::v1::evidence::Payload;
    use gamsa_proto::v1::*;
    use serde_json::Value as Json;

    /// The JSON route the rule input used to take: canonical JSON, 64-bit
    /// integer strings made numbers, then CEL.
    fn through_json(ev: &Evidence) -> Option<Value> {
        fn numbers(v: &mut Json) {
            match v {
                Json::Object(map) => {
                    for (k, v) in map.iter_mut() {
                        match v {
                            Json::String(s) if crate::rules::value::int64_fields().contains(k) => {
                                if let Ok(n) = s.parse::<i64>() {
                                    *v = json!(n);
                                } else if let Ok(n) = s.parse::<u64>() {
                                    *v = json!(n);
                                }
                            }
                            _ => numbers(v),
                        }
                    }
                }
                Json::Array(items) => items.iter_mut().for_each(numbers),
                _ => {}
            }
        }
        let mut v = serde_json::to_value(ev).ok()?;
        let key = gamsa_proto::probes::find(&ev.probe)?.payload;
        let mut payload = v.get_mut(key)?.take();
        numbers(&mut payload);
        let obj = payload.as_object_mut()?;
        obj.insert("subject".into(), json!(ev.subject));
        obj.insert(
            "observedAt".into(),
            v.get("observedAt").cloned().unwrap_or(Json::Null),
        );
        cel_interpreter::to_value(payload).ok()
    }

    fn ev(probe: &str, payload: Payload) -> Evidence {
        Evidence {
            id: format!("h-{probe}"),
            agent_id: "a".into(),
            host: "h".into(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(1_700_000_000_123)),
            first_observed_at: None,
            probe: probe.into(),
            subject: "h:443".into(),
            status: Status::Observed as i32,
            error: String::new(),
            payload: Some(payload),
        }
    }

    #[test]
    fn payload_values_equal_the_json_form() {
        let t = Some(gamsa_proto::Timestamp::from_unix_millis(1_600_000_000_000));
        let cert = Certificate {
            subject: "CN=h".into(),
            dns_names: vec!["h".into()],
            not_after: t,
            days_remaining: -3,
            key_bits: 2048,
            ..Default::default()
        };
        let all = [
            ev(
                "host",
                Payload::HostInfo(HostInfo {
                    uptime_seconds: u64::MAX,
                    boot_time: t,
                    cpu_count: 8,
                    memory_total_bytes: 32 << 30,
                    cpu_usage_percent: f32::NAN,
                    disks: vec![DiskUsage {
                        mount_point: "/".into(),
                        total_bytes: 1 << 40,
                        ..Default::default()
                    }],
                    // A label named like a 64-bit field is turned into a
                    // number too: the JSON route matched names, not paths.
                    labels: [("count".into(), "7".into()), ("role".into(), "db".into())].into(),
                    ..Default::default()
                }),
            ),
            ev(
                "ports",
                Payload::ListeningSockets(ListeningSockets {
                    sockets: vec![ListeningSocket {
                        protocol: "tcp".into(),
                        port: 22,
                        process: Some(ProcessRef {
                            name: "sshd".into(),
                            pid: 1,
                            exe: "/usr/sbin/sshd".into(),
                        }),
                        ..Default::default()
                    }],
                }),
            ),
            ev(
                "tls",
                Payload::TlsEndpoint(TlsEndpoint {
                    accepted_versions: vec![TlsVersion::Tls12 as i32, TlsVersion::Tls13 as i32],
                    leaf: Some(cert.clone()),
                    chain: vec![cert],
                    ..Default::default()
                }),
            ),
            ev("tls", Payload::TlsEndpoint(TlsEndpoint::default())),
            ev(
                "backup",
                Payload::BackupArtifact(BackupArtifact {
                    age_seconds: -1,
                    max_age_seconds: 86_400,
                    last_success_at: t,
                    ..Default::default()
                }),
            ),
            ev(
                "time_sync",
                Payload::TimeSync(TimeSync {
                    offset_us: -12,
                    collector_offset_ms: 5,
                    ..Default::default()
                }),
            ),
            ev("port_scan", Payload::PortScan(PortScan::default())),
            ev("region", Payload::CloudRegion(CloudRegion::default())),
            ev(
                "encryption",
                Payload::DiskEncryption(DiskEncryption::default()),
            ),
            ev(
                "redundancy",
                Payload::NetworkRedundancy(NetworkRedundancy {
                    active_uplinks: vec![NetInterface {
                        speed_mbps: 10_000,
                        ..Default::default()
                    }],
                    bonds: vec![Bond::default()],
                    default_routes: vec![Route::default()],
                    ..Default::default()
                }),
            ),
            ev(
                "agent",
                Payload::AgentNotice(AgentNotice {
                    count: 3,
                    ..Default::default()
                }),
            ),
            Evidence {
                observed_at: None,
                ..ev("agent", Payload::AgentNotice(AgentNotice::default()))
            },
        ];
        for e in &all {
            let direct = payload_value(e, None).expect("converts");
            let json = through_json(e).expect("converts");
            assert!(same(&direct, &json), "{e:?}\n{direct:?}\n{json:?}");
        }
    }

    #[test]
    fn only_kept_fields_reach_the_input() {
        let e = ev(
            "tls",
            Payload::TlsEndpoint(TlsEndpoint {
                port: 443,
                chain_trusted: true,
                leaf: Some(Certificate {
                    days_remaining: 9,
                    subject: "CN=h".into(),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        );
        let keep: HashSet<String> = ["port", "leaf", "daysRemaining"].map(String::from).into();
        let keys = |v: &Value| -> Vec<String> {
            let Value::Map(m) = v else { panic!("{v:?}") };
            let mut k: Vec<String> = m
                .map
                .keys()
                .map(|k| match k {
                    Key::String(s) => s.to_string(),
                    other => format!("{other:?}"),
                })
                .collect();
            k.sort();
            k
        };
        let v = payload_value(&e, Some(&keep)).expect("converts");
        assert_eq!(keys(&v), ["leaf", "observedAt", "port", "subject"]);
        let Value::Map(m) = &v else { unreachable!() };
        let leaf = &m.map[&Key::from("leaf")];
        assert_eq!(keys(leaf), ["daysRemaining"]);
        assert!(keys(&payload_value(&e, None).unwrap()).len() > 10);
    }

    #[test]
    fn hosts_with_the_same_payload_share_its_value_and_keep_their_own() {
        let software = |version: &str| {
            Payload::Software(Software {
                packages: vec![Package {
                    name: "openssl".into(),
                    version: version.into(),
                    ..Default::default()
                }],
                ..Default::default()
            })
        };
        let on = |host: &str, payload: Payload, at: i64| Evidence {
            id: format!("{host}-software"),
            agent_id: host.into(),
            host: host.into(),
            subject: host.into(),
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(at)),
            ..ev("software", payload)
        };
        let evidence = [
            on("a", software("3.0.13-1"), 1_700_000_000_000),
            on("b", software("3.0.13-1"), 1_700_000_600_000),
            on("c", software("3.0.2-0"), 1_700_000_000_000),
        ];
        let payloads = Payloads::default();
        let converted = convert(&evidence, None, &payloads);
        assert!(Arc::ptr_eq(
            &packages(&converted[0]),
            &packages(&converted[1])
        ));
        assert!(!Arc::ptr_eq(
            &packages(&converted[0]),
            &packages(&converted[2])
        ));
        // Each value is what converting it alone gives: its own subject and
        // time, the other host's payload nowhere.
        for (c, e) in converted.iter().zip(&evidence) {
            assert!(same(
                c.value.as_ref().unwrap(),
                &payload_value(e, None).unwrap()
            ));
        }
        assert!(!same(
            converted[0].value.as_ref().unwrap(),
            converted[1].value.as_ref().unwrap()
        ));
        // A later reading shares what an earlier one converted; a payload no
        // converted evidence holds is forgotten.
        let again = convert(&evidence[1..2], None, &payloads);
        assert!(Arc::ptr_eq(&packages(&again[0]), &packages(&converted[0])));
        assert_eq!(payloads.len(), 2);
        drop(converted);
        payloads.forget_unused();
        assert_eq!(payloads.len(), 1, "only the payload `again` holds");
        drop(again);
        payloads.forget_unused();
        assert!(payloads.is_empty());
    }

    #[test]
    fn evidence_read_with_its_payload_encoded_converts_as_read_whole() {
        use prost::Message;
        let region = ev(
            "region",
            Payload::CloudRegion(CloudRegion {
                zone: "ap-northeast-2a".into(),
                ..Default::default()
            }),
        );
        let software = ev(
            "software",
            Payload::Software(Software {
                packages: vec![Package {
                    name: "openssl".into(),
                    version: "3.0.13-1".into(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        );
        let failed = Evidence {
            status: Status::Error as i32,
            error: "dpkg: status file unreadable".into(),
            payload: None,
            ..software.clone()
        };
        let evidence = [region, software, failed];
        let split: Vec<(Evidence, Vec<u8>)> = evidence
            .iter()
            .map(|e| {
                let s = gamsa_proto::split::split(&[&e.encode_to_vec()]).unwrap();
                (s.evidence, s.payload)
            })
            .collect();
        let payloads = Payloads::default();
        let read = convert_split(&split, None, &payloads).unwrap();
        let whole = convert(&evidence, None, &Payloads::default());
        for (r, w) in read.iter().zip(&whole) {
            assert_eq!(r.evidence, w.evidence);
            assert_eq!(r.observed_ms, w.observed_ms);
            assert_eq!(r.payload, w.payload, "the same key, read either way");
            assert_eq!(r.whole, w.whole);
            match (&r.value, &w.value) {
                (Some(a), Some(b)) => assert!(same(a, b)),
                (a, b) => assert!(a.is_none() && b.is_none(), "{a:?} / {b:?}"),
            }
        }
        assert!(read[0].whole.is_some() && read[2].value.is_none());
        // What a whole reading converted, a split one shares, and back.
        let again = convert(&evidence[1..2], None, &payloads);
        assert!(Arc::ptr_eq(&packages(&read[1]), &packages(&again[0])));
        // A payload that does not decode fails the reading, naming it.
        let mut bad = split[1].clone();
        bad.0.id = "e-bad".into();
        bad.1.truncate(bad.1.len() - 3);
        let Err(err) = convert_split(&[split[0].clone(), bad], None, &Payloads::default()) else {
            panic!("a payload cut short converted");
        };
        assert!(err.contains("evidence e-bad"), "{err}");
    }

    #[test]
    fn the_forms_probes_are_kept_whole_and_seen_again_with_their_times() {
        let region = ev(
            "region",
            Payload::CloudRegion(CloudRegion {
                zone: "ap-northeast-2a".into(),
                ..Default::default()
            }),
        );
        let tls = ev("tls", Payload::TlsEndpoint(TlsEndpoint::default()));
        assert!(
            Converted::of(&tls, None).whole.is_none(),
            "not a form's probe"
        );
        let mut kept = Converted::of(&region, None);
        assert_eq!(
            kept.whole.as_deref(),
            Some(&region),
            "whole, payload included"
        );
        let earlier = kept.whole.clone().unwrap();
        let later = Some(gamsa_proto::Timestamp::from_unix_millis(1_700_000_600_000));
        kept.seen_again(&Evidence {
            payload: None,
            first_observed_at: region.observed_at,
            observed_at: later,
            ..region.clone()
        });
        let whole = kept.whole.as_deref().unwrap();
        assert_eq!(
            (whole.observed_at, whole.first_observed_at),
            (later, region.observed_at)
        );
        assert_eq!(whole.payload, region.payload);
        assert_eq!(
            *earlier, region,
            "the earlier evaluation's copy is untouched"
        );
    }

    #[test]
    fn evidence_seen_again_converts_as_if_read_again() {
        let first = ev(
            "tls",
            Payload::TlsEndpoint(TlsEndpoint {
                port: 443,
                ..Default::default()
            }),
        );
        let later = Evidence {
            first_observed_at: first.observed_at,
            observed_at: Some(gamsa_proto::Timestamp::from_unix_millis(1_700_000_600_000)),
            ..first.clone()
        };
        let mut kept = Converted::of(&first, None);
        let shared = kept.value.clone();
        kept.seen_again(&Evidence {
            payload: None,
            ..later.clone()
        });
        let again = Converted::of(&later, None);
        assert_eq!(kept.evidence, again.evidence);
        assert_eq!(kept.observed_ms, 1_700_000_600_000);
        assert!(same(
            kept.value.as_ref().unwrap(),
            again.value.as_ref().unwrap()
        ));
        // What an evaluation still holds of the earlier reading is untouched.
        assert!(same(
            shared.as_ref().unwrap(),
            Converted::of(&first, None).value.as_ref().unwrap()
        ));
    }

    /// Equal and of the same CEL types (`==` would let 5u equal 5).
    /// The `packages` list of a converted software evidence.
    fn packages(c: &Converted) -> Arc<Vec<Value>> {
        match c.value.as_ref() {
            Some(Value::Map(m)) => match &m.map[&Key::from("packages")] {
                Value::List(l) => l.clone(),
                other => panic!("packages: {other:?}"),
            },
            other => panic!("value: {other:?}"),
        }
    }

    fn same(a: &Value, b: &Value) -> bool {
        match (a, b) {
            (Value::Map(a), Value::Map(b)) => {
                a.map.len() == b.map.len()
                    && a.map
                        .iter()
                        .all(|(k, v)| b.map.get(k).is_some_and(|w| same(v, w)))
            }
            (Value::List(a), Value::List(b)) => {
                a.len() == b.len() && a.iter().zip(b.iter()).all(|(v, w)| same(v, w))
            }
            (a, b) => std::mem::discriminant(a) == std::mem::discriminant(b) && a == b,
        }
    }
}
