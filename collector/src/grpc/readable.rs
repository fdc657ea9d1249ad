//! Whether every field of an encoded gamsa.v1 message can be read
//! (`validate.rs` says why each check matters).
//!
//! The walk reads the protobuf wire bytes against the message's descriptor,
//! so a payload added to the schema is checked without code here. It reads
//! the bytes in place: decoding each evidence into a reflective message
//! first was a quarter of ingest's CPU.

use crate::config::IngestConfig;
use prost_reflect::{FieldDescriptor, Kind, MessageDescriptor};

/// A field's path (JSON names, starting with `.`) and what is wrong with
/// it. Paths are built on the way out of an error only: valid evidence
/// costs no allocation here.
pub type Problem = (String, String);

/// Seconds of 0001-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the range of
/// RFC 3339, which the canonical JSON form of a timestamp uses.
pub const FIRST_SECOND: i64 = -62_135_596_800;
pub const LAST_SECOND: i64 = 253_402_300_799;

/// Every field of `bytes`, an encoded message of type `descriptor`: text
/// within `max_field_bytes` and without NUL, bytes within it, enum values
/// the schema names, finite numbers, timestamps within years 0001-9999.
pub fn message(
    bytes: &[u8],
    descriptor: &MessageDescriptor,
    limits: &IngestConfig,
) -> Result<(), Problem> {
    let mut rest = bytes;
    while !rest.is_empty() {
        let at = bytes.len() - rest.len();
        let (number, value) = field(&mut rest).map_err(|e| (String::new(), e))?;
        let Some(f) = descriptor.get_field(number) else {
            continue;
        };
        occurrence(&f, value, limits).map_err(|(within, (path, problem))| {
            let index = if f.is_list() {
                format!("[{}]", elements_before(bytes, at, &f) + within)
            } else {
                String::new()
            };
            (format!(".{}{index}{path}", f.json_name()), problem)
        })?;
    }
    Ok(())
}

/// One value on the wire.
#[derive(Clone, Copy)]
enum Wire<'a> {
    Varint(u64),
    Fixed64(u64),
    Bytes(&'a [u8]),
    Fixed32(u32),
}

const TRUNCATED: &str = "does not decode: the message ends inside a field";

fn varint(buf: &mut &[u8]) -> Result<u64, String> {
    let mut value = 0u64;
    for (i, byte) in buf.iter().enumerate().take(10) {
        if i == 9 && *byte > 1 {
            return Err("does not decode: a varint longer than 64 bits".into());
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *buf = &buf[i + 1..];
            return Ok(value);
        }
    }
    Err(TRUNCATED.into())
}

fn take<'a>(buf: &mut &'a [u8], n: usize) -> Result<&'a [u8], String> {
    if buf.len() < n {
        return Err(TRUNCATED.into());
    }
    let (head, tail) = buf.split_at(n);
    *buf = tail;
    Ok(head)
}

/// The next field of `buf`: its number and value.
fn field<'a>(buf: &mut &'a [u8]) -> Result<(u32, Wire<'a>), String> {
    let key = varint(buf)?;
    let number = u32::try_from(key >> 3)
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| format!("does not decode: field number {}", key >> 3))?;
    let value = match key & 7 {
        0 => Wire::Varint(varint(buf)?),
        1 => Wire::Fixed64(u64::from_le_bytes(
            take(buf, 8)?.try_into().unwrap_or_default(),
        )),
        2 => {
            let len = usize::try_from(varint(buf)?).map_err(|_| TRUNCATED.to_string())?;
            Wire::Bytes(take(buf, len)?)
        }
        5 => Wire::Fixed32(u32::from_le_bytes(
            take(buf, 4)?.try_into().unwrap_or_default(),
        )),
        other => {
            return Err(format!(
                "does not decode: wire type {other} in field {number}"
            ))
        }
    };
    Ok((number, value))
}

/// Whether a list of `kind` may come packed: numbers, bools and enums.
fn packable(kind: &Kind) -> bool {
    !matches!(kind, Kind::String | Kind::Bytes | Kind::Message(_))
}

/// The next element of a packed list of `kind`.
fn packed<'a>(kind: &Kind, buf: &mut &'a [u8]) -> Result<Wire<'a>, String> {
    Ok(match kind {
        Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Wire::Fixed64(u64::from_le_bytes(
            take(buf, 8)?.try_into().unwrap_or_default(),
        )),
        Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Wire::Fixed32(u32::from_le_bytes(
            take(buf, 4)?.try_into().unwrap_or_default(),
        )),
        _ => Wire::Varint(varint(buf)?),
    })
}

/// One occurrence of field `f`: a value, a packed run of list elements, or
/// a map entry. A problem comes with the index of its element within the
/// run (0 but in a packed run), its path relative to the element.
fn occurrence(
    f: &FieldDescriptor,
    value: Wire,
    limits: &IngestConfig,
) -> Result<(), (usize, Problem)> {
    let kind = f.kind();
    if f.is_map() {
        let Wire::Bytes(entry) = value else {
            return Err((0, wrong_wire(f.full_name())));
        };
        return map_entry(f, entry, limits).map_err(|p| (0, p));
    }
    if let (true, Wire::Bytes(mut run)) = (f.is_list() && packable(&kind), value) {
        let mut i = 0;
        while !run.is_empty() {
            let element = packed(&kind, &mut run).map_err(|e| (i, (String::new(), e)))?;
            scalar(&kind, element, limits).map_err(|p| (i, p))?;
            i += 1;
        }
        return Ok(());
    }
    scalar(&kind, value, limits).map_err(|p| (0, p))
}

/// A map entry: its key (field 1) and value (field 2), both optional.
fn map_entry(f: &FieldDescriptor, mut entry: &[u8], limits: &IngestConfig) -> Result<(), Problem> {
    let Kind::Message(descriptor) = f.kind() else {
        return Err(wrong_wire(f.full_name()));
    };
    let value_kind = descriptor.map_entry_value_field().kind();
    let mut key: Option<&str> = None;
    let mut value = None;
    while !entry.is_empty() {
        match field(&mut entry).map_err(|e| (String::new(), e))? {
            (1, Wire::Bytes(k)) => {
                let k = std::str::from_utf8(k)
                    .map_err(|_| (" key".to_string(), "is not UTF-8".to_string()))?;
                text(k, limits).map_err(|(_, problem)| (" key".to_string(), problem))?;
                key = Some(k);
            }
            (1, _) => return Err((" key".to_string(), wrong_wire(f.full_name()).1)),
            (2, v) => value = Some(v),
            _ => {}
        }
    }
    match value {
        Some(v) => scalar(&value_kind, v, limits)
            .map_err(|(path, problem)| (format!("[{:?}]{path}", key.unwrap_or_default()), problem)),
        None => Ok(()),
    }
}

/// A value whose wire type is not that of `what` (a field or a kind).
fn wrong_wire(what: impl std::fmt::Display) -> Problem {
    (
        String::new(),
        format!("does not decode: wrong wire type for {what}"),
    )
}

/// One value of kind `kind`.
fn scalar(kind: &Kind, value: Wire, limits: &IngestConfig) -> Result<(), Problem> {
    match (kind, value) {
        (Kind::String, Wire::Bytes(b)) => {
            let s =
                std::str::from_utf8(b).map_err(|_| (String::new(), "is not UTF-8".to_string()))?;
            text(s, limits)
        }
        (Kind::Bytes, Wire::Bytes(b)) => size(b.len(), limits),
        (Kind::Message(m), Wire::Bytes(b)) if m.full_name() == "google.protobuf.Timestamp" => {
            timestamp(b)
        }
        (Kind::Message(m), Wire::Bytes(b)) => message(b, m, limits),
        (Kind::Enum(e), Wire::Varint(n)) => {
            // Protobuf reads an enum's varint as an int32.
            let n = n as i32;
            match e.get_value(n) {
                Some(_) => Ok(()),
                None => Err((
                    String::new(),
                    format!("{n} is not a value of {}", e.full_name()),
                )),
            }
        }
        (Kind::Float, Wire::Fixed32(bits)) => finite(f64::from(f32::from_bits(bits)), || {
            f32::from_bits(bits).to_string()
        }),
        (Kind::Double, Wire::Fixed64(bits)) => {
            finite(f64::from_bits(bits), || f64::from_bits(bits).to_string())
        }
        (Kind::Fixed64 | Kind::Sfixed64, Wire::Fixed64(_))
        | (Kind::Fixed32 | Kind::Sfixed32, Wire::Fixed32(_))
        | (
            Kind::Int32
            | Kind::Int64
            | Kind::Uint32
            | Kind::Uint64
            | Kind::Sint32
            | Kind::Sint64
            | Kind::Bool,
            Wire::Varint(_),
        ) => Ok(()),
        _ => Err(wrong_wire(format_args!("{kind:?}"))),
    }
}

fn finite(x: f64, shown: impl Fn() -> String) -> Result<(), Problem> {
    if x.is_finite() {
        Ok(())
    } else {
        Err((String::new(), format!("{} is not a finite number", shown())))
    }
}

/// How many elements of list `f` come before the occurrence at byte `at`
/// of `bytes` (read again on the way out of an error only).
fn elements_before(bytes: &[u8], at: usize, f: &FieldDescriptor) -> usize {
    let kind = f.kind();
    let mut rest = &bytes[..at];
    let mut count = 0;
    while let Ok((number, value)) = field(&mut rest) {
        if number != f.number() {
            continue;
        }
        match value {
            Wire::Bytes(mut run) if packable(&kind) => {
                while packed(&kind, &mut run).is_ok() {
                    count += 1;
                }
            }
            _ => count += 1,
        }
    }
    count
}

fn size(len: usize, limits: &IngestConfig) -> Result<(), Problem> {
    if len > limits.max_field_bytes {
        return Err((
            String::new(),
            format!(
                "is {len} bytes, more than ingest.max_field_bytes ({})",
                limits.max_field_bytes
            ),
        ));
    }
    Ok(())
}

fn text(s: &str, limits: &IngestConfig) -> Result<(), Problem> {
    size(s.len(), limits)?;
    if s.contains('\0') {
        return Err((String::new(), "contains a NUL byte".into()));
    }
    Ok(())
}

/// A `google.protobuf.Timestamp`: seconds (field 1) and nanos (field 2).
fn timestamp(mut b: &[u8]) -> Result<(), Problem> {
    let (mut seconds, mut nanos) = (0i64, 0i32);
    while !b.is_empty() {
        match field(&mut b).map_err(|e| (String::new(), e))? {
            (1, Wire::Varint(s)) => seconds = s as i64,
            (2, Wire::Varint(n)) => nanos = n as i32,
            (1 | 2, _) => {
                return Err((
                    String::new(),
                    "does not decode: wrong wire type in a timestamp".into(),
                ))
            }
            _ => {}
        }
    }
    if !(FIRST_SECOND..=LAST_SECOND).contains(&seconds) || !(0..1_000_000_000).contains(&nanos) {
        return Err((
            String::new(),
            format!("timestamp outside years 0001-9999 (seconds {seconds}, nanos {nanos})"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The walk against the reflective one it replaced (decode into a
    //! `DynamicMessage`, then walk its values), on random messages of every
    //! gamsa.v1 type, with faults of every kind put in at random.

    use super::*;
    use prost::Message;
    use prost_reflect::{DynamicMessage, MapKey, ReflectMessage, Value};
    use rand::{rngs::StdRng, Rng, SeedableRng};
    use std::collections::HashMap;

    fn limits() -> IngestConfig {
        IngestConfig {
            max_field_bytes: 40,
            ..IngestConfig::default()
        }
    }

    /// The reflective walk.
    fn oracle(m: &DynamicMessage, limits: &IngestConfig) -> Result<(), Problem> {
        for (field, value) in m.fields() {
            oracle_value(&field.kind(), value, limits)
                .map_err(|(path, problem)| (format!(".{}{path}", field.json_name()), problem))?;
        }
        Ok(())
    }

    fn oracle_value(kind: &Kind, value: &Value, limits: &IngestConfig) -> Result<(), Problem> {
        let not_finite = |x: String| Err((String::new(), format!("{x} is not a finite number")));
        match value {
            Value::String(s) => text(s, limits),
            Value::Bytes(b) => size(b.len(), limits),
            Value::EnumNumber(n) => match kind.as_enum() {
                Some(e) if e.get_value(*n).is_none() => Err((
                    String::new(),
                    format!("{n} is not a value of {}", e.full_name()),
                )),
                _ => Ok(()),
            },
            Value::Message(m) if m.descriptor().full_name() == "google.protobuf.Timestamp" => {
                let get = |name| m.get_field_by_name(name).map(|v| v.into_owned());
                let seconds = get("seconds").and_then(|v| v.as_i64()).unwrap_or(0);
                let nanos = get("nanos").and_then(|v| v.as_i32()).unwrap_or(0);
                if (FIRST_SECOND..=LAST_SECOND).contains(&seconds)
                    && (0..1_000_000_000).contains(&nanos)
                {
                    return Ok(());
                }
                Err((
                    String::new(),
                    format!("timestamp outside years 0001-9999 (seconds {seconds}, nanos {nanos})"),
                ))
            }
            Value::Message(m) => oracle(m, limits),
            Value::F32(x) if !x.is_finite() => not_finite(x.to_string()),
            Value::F64(x) if !x.is_finite() => not_finite(x.to_string()),
            Value::List(items) => items.iter().enumerate().try_for_each(|(i, v)| {
                oracle_value(kind, v, limits)
                    .map_err(|(path, problem)| (format!("[{i}]{path}"), problem))
            }),
            Value::Map(entries) => {
                let value_kind = kind.as_message().unwrap().map_entry_value_field().kind();
                entries.iter().try_for_each(|(key, v)| {
                    let MapKey::String(k) = key else {
                        panic!("gamsa.v1 maps have string keys")
                    };
                    text(k, limits).map_err(|(_, problem)| (" key".to_string(), problem))?;
                    oracle_value(&value_kind, v, limits)
                        .map_err(|(path, problem)| (format!("[{k:?}]{path}"), problem))
                })
            }
            _ => Ok(()),
        }
    }

    /// Random values, some of them unreadable: one in `FAULT` at random,
    /// or (`at`) the one at that place in the order of generation.
    struct Gen {
        rng: StdRng,
        faults: usize,
        at: Option<usize>,
        places: usize,
    }

    const FAULT: u32 = 60;

    impl Gen {
        fn random(seed: u64) -> Self {
            Gen {
                rng: StdRng::seed_from_u64(seed),
                faults: 0,
                at: None,
                places: 0,
            }
        }

        /// Every field set, lists and maps of two, a fault at place `at`.
        fn one_fault_at(at: usize) -> Self {
            Gen {
                at: Some(at),
                ..Gen::random(17)
            }
        }

        fn fault(&mut self) -> bool {
            let yes = match self.at {
                Some(at) => self.places == at,
                None => self.rng.random_ratio(1, FAULT),
            };
            self.places += 1;
            self.faults += usize::from(yes);
            yes
        }

        fn count(&mut self) -> usize {
            match self.at {
                Some(_) => 2,
                None => self.rng.random_range(0..4),
            }
        }

        fn message(&mut self, d: &MessageDescriptor, depth: u32) -> DynamicMessage {
            let mut m = DynamicMessage::new(d.clone());
            if d.full_name() == "google.protobuf.Timestamp" {
                let (seconds, nanos) = if self.fault() {
                    match self.rng.random_range(0..3) {
                        0 => (LAST_SECOND + 1, 0),
                        1 => (FIRST_SECOND - 1, 0),
                        _ => (0, if self.rng.random() { -1 } else { 1_000_000_000 }),
                    }
                } else {
                    (
                        self.rng.random_range(FIRST_SECOND..=LAST_SECOND),
                        self.rng.random_range(0..1_000_000_000),
                    )
                };
                m.set_field_by_name("seconds", Value::I64(seconds));
                m.set_field_by_name("nanos", Value::I32(nanos));
                return m;
            }
            for f in d.fields() {
                if self.at.is_none() && !self.rng.random_ratio(2, 3) {
                    continue;
                }
                let kind = f.kind();
                if depth >= 3 && matches!(kind, Kind::Message(_)) {
                    continue;
                }
                let value = if f.is_map() {
                    let entry = kind.as_message().unwrap().map_entry_value_field().kind();
                    let n = self.count();
                    Value::Map(
                        (0..n)
                            .map(|_| (MapKey::String(self.text()), self.value(&entry, depth)))
                            .collect::<HashMap<_, _>>(),
                    )
                } else if f.is_list() {
                    let n = self.count();
                    Value::List((0..n).map(|_| self.value(&kind, depth)).collect())
                } else {
                    self.value(&kind, depth)
                };
                m.set_field(&f, value);
            }
            m
        }

        fn text(&mut self) -> String {
            if self.fault() {
                return match self.rng.random() {
                    true => "a\0b".into(),
                    false => "x".repeat(41),
                };
            }
            let words = ["", "web-1", "감사 증적", "TLSv1.3", &"y".repeat(40)];
            words[self.rng.random_range(0..words.len())].to_string()
        }

        fn value(&mut self, kind: &Kind, depth: u32) -> Value {
            match kind {
                Kind::String => Value::String(self.text()),
                Kind::Bytes => {
                    let n = if self.fault() {
                        41
                    } else {
                        self.rng.random_range(0..=40)
                    };
                    Value::Bytes(vec![7u8; n].into())
                }
                Kind::Enum(e) => {
                    if self.fault() {
                        Value::EnumNumber(if self.rng.random() { 99 } else { -7 })
                    } else {
                        let values: Vec<i32> = e.values().map(|v| v.number()).collect();
                        Value::EnumNumber(values[self.rng.random_range(0..values.len())])
                    }
                }
                Kind::Message(m) => Value::Message(self.message(m, depth + 1)),
                Kind::Float => Value::F32(if self.fault() {
                    [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][self.rng.random_range(0..3)]
                } else {
                    self.rng.random_range(-1e6..1e6)
                }),
                Kind::Double => Value::F64(if self.fault() {
                    [f64::NAN, f64::INFINITY, f64::NEG_INFINITY][self.rng.random_range(0..3)]
                } else {
                    self.rng.random_range(-1e9..1e9)
                }),
                Kind::Bool => Value::Bool(self.rng.random()),
                Kind::Int32 | Kind::Sint32 | Kind::Sfixed32 => Value::I32(self.rng.random()),
                Kind::Int64 | Kind::Sint64 | Kind::Sfixed64 => Value::I64(self.rng.random()),
                Kind::Uint32 | Kind::Fixed32 => Value::U32(self.rng.random()),
                Kind::Uint64 | Kind::Fixed64 => Value::U64(self.rng.random()),
            }
        }
    }

    fn types() -> Vec<MessageDescriptor> {
        gamsa_proto::descriptor_pool()
            .all_messages()
            .filter(|m| m.package_name() == "gamsa.v1" && !m.is_map_entry())
            .collect()
    }

    #[test]
    fn the_walk_finds_what_the_reflective_walk_finds() {
        let limits = limits();
        let mut gen = Gen::random(15);
        let (mut refused, mut compared) = (0, 0);
        for d in types() {
            for _ in 0..300 {
                gen.faults = 0;
                let m = gen.message(&d, 0);
                let bytes = m.encode_to_vec();
                let ours = message(&bytes, &d, &limits);
                let theirs = oracle(
                    &DynamicMessage::decode(d.clone(), &*bytes).unwrap(),
                    &limits,
                );
                assert_eq!(
                    ours.is_ok(),
                    theirs.is_ok(),
                    "{}: {ours:?} {theirs:?}",
                    d.full_name()
                );
                refused += usize::from(ours.is_err());
                // With one fault there is one answer; with more, the walks
                // may meet them in another order.
                if gen.faults == 1 {
                    assert_eq!(ours, theirs, "{}", d.full_name());
                    compared += 1;
                }
            }
        }
        assert!(refused > 1_000, "{refused} refused: too few faults put in");
        assert!(compared > 500, "{compared} single faults compared");
    }

    #[test]
    fn a_fault_in_any_place_is_found_as_the_reflective_walk_finds_it() {
        let limits = limits();
        let mut refused = 0;
        for d in types() {
            for at in 0.. {
                let mut gen = Gen::one_fault_at(at);
                let m = gen.message(&d, 0);
                if gen.faults == 0 {
                    break;
                }
                let bytes = m.encode_to_vec();
                let ours = message(&bytes, &d, &limits);
                let theirs = oracle(
                    &DynamicMessage::decode(d.clone(), &*bytes).unwrap(),
                    &limits,
                );
                assert_eq!(ours, theirs, "{} with a fault at {at}", d.full_name());
                refused += usize::from(ours.is_err());
            }
        }
        assert!(refused > 1_000, "{refused} refused");
    }

    #[test]
    fn damaged_bytes_are_never_accepted_where_decoding_fails() {
        let limits = limits();
        let mut gen = Gen::random(16);
        let mut refused = 0;
        for d in types() {
            for _ in 0..100 {
                let mut bytes = gen.message(&d, 0).encode_to_vec();
                if bytes.is_empty() {
                    continue;
                }
                match gen.rng.random_range(0..3) {
                    0 => bytes.truncate(gen.rng.random_range(0..bytes.len())),
                    1 => {
                        let at = gen.rng.random_range(0..bytes.len());
                        bytes[at] = gen.rng.random();
                    }
                    _ => bytes.insert(gen.rng.random_range(0..bytes.len()), 0x80),
                }
                let ours = message(&bytes, &d, &limits);
                let theirs = DynamicMessage::decode(d.clone(), &*bytes)
                    .map_err(|e| e.to_string())
                    .and_then(|m| oracle(&m, &limits).map_err(|p| p.1));
                if ours.is_ok() {
                    assert!(
                        theirs.is_ok(),
                        "{}: accepted, but {theirs:?}",
                        d.full_name()
                    );
                } else {
                    refused += 1;
                }
            }
        }
        assert!(refused > 100, "{refused} refused");
    }

    #[test]
    fn paths_name_list_elements_across_packed_runs() {
        let d = gamsa_proto::descriptor_pool()
            .get_message_by_name("gamsa.v1.TlsEndpoint")
            .unwrap();
        let f = d.get_field_by_name("accepted_versions").unwrap();
        // Two packed runs of versions: 2 elements, then 2 more, the last
        // one unknown.
        let mut bytes = Vec::new();
        for run in [[3u8, 4], [4, 99]] {
            bytes.extend([(f.number() << 3 | 2) as u8, 2]);
            bytes.extend(run);
        }
        let (path, problem) = message(&bytes, &d, &limits()).unwrap_err();
        assert_eq!(path, ".acceptedVersions[3]");
        assert_eq!(problem, "99 is not a value of gamsa.v1.TlsVersion");
    }
}
