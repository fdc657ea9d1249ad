//! Evidence messages as CEL values, serialised straight from the serde impls
//! that write their canonical JSON (so the two forms cannot drift apart),
//! with the rule input's two changes made on the way: 64-bit integers, which
//! JSON writes as strings, become numbers, and non-finite floats, which JSON
//! cannot hold, become null. Numbers are typed as JSON numbers reach CEL
//! (`uint` when non-negative, `int` when negative, `double`).
//!
//! Why not `serde_json::to_value` then `cel_interpreter::to_value`: building
//! the JSON tree, rewriting it and building the CEL tree from it (which
//! allocates every key and hashes every map twice) was most of the time
//! spent evaluating a large fleet. Here every map is built once, with field
//! names shared rather than allocated per evidence.
//!
//! A rule input also leaves out the message fields that no rule names
//! (`to_value_keeping`): most of an evidence's fields (certificate chains, process
//! paths, hashes) are for auditors, not rules, and building and freeing them
//! for every host was the next largest cost. Map entries (labels) are kept
//! whole; a rule comparing whole messages sees only the fields rules name.

use cel_interpreter::objects::{Key, Map};
use cel_interpreter::Value;
use serde::ser::{self, Impossible, Serialize};
use std::cell::RefCell;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};

/// `value` (a gamsa.v1 message or a field of one) as a CEL value.
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<Value, Error> {
    to_value_keeping(value, None)
}

/// `value` as a CEL value with only the message fields named in `keep` (by
/// JSON name); `None` keeps all.
pub fn to_value_keeping<T: Serialize + ?Sized>(
    value: &T,
    keep: Option<&HashSet<String>>,
) -> Result<Value, Error> {
    value.serialize(ToCel { keep })
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Error(String);

impl ser::Error for Error {
    fn custom<T: std::fmt::Display>(msg: T) -> Self {
        Error(msg.to_string())
    }
}

/// JSON names of 64-bit integer fields: canonical JSON writes them as
/// strings, rules compare them as numbers. Matched by name wherever they
/// appear, map keys included, as the rule input always has.
pub(crate) fn int64_fields() -> &'static HashSet<String> {
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

/// A struct field's map key, and whether it holds a 64-bit integer: looked
/// up once per field name and thread, so evidence shares its key strings.
fn field(name: &'static str) -> (Key, bool) {
    thread_local! {
        static FIELDS: RefCell<HashMap<usize, (Key, bool)>> = RefCell::default();
    }
    FIELDS.with_borrow_mut(|fields| {
        fields
            .entry(name.as_ptr() as usize)
            .or_insert_with(|| (Key::from(name), int64_fields().contains(name)))
            .clone()
    })
}

/// A 64-bit integer field's string as a number.
fn number(s: Arc<String>) -> Value {
    match s.parse::<i64>() {
        Ok(n) if n < 0 => Value::Int(n),
        Ok(n) => Value::UInt(n as u64),
        Err(_) => s
            .parse::<u64>()
            .map(Value::UInt)
            .unwrap_or(Value::String(s)),
    }
}

#[derive(Clone, Copy)]
struct ToCel<'k> {
    keep: Option<&'k HashSet<String>>,
}

pub struct Seq<'k> {
    items: Vec<Value>,
    keep: Option<&'k HashSet<String>>,
}

pub struct Fields<'k> {
    map: HashMap<Key, Value>,
    key: Option<Key>,
    keep: Option<&'k HashSet<String>>,
}

impl Fields<'_> {
    fn insert(&mut self, key: Key, int64: bool, value: Value) {
        let value = match value {
            Value::String(s) if int64 => number(s),
            v => v,
        };
        self.map.insert(key, value);
    }
}

fn unsupported(what: &str) -> Error {
    Error(format!("{what} has no place in the evidence JSON form"))
}

impl<'k> ser::Serializer for ToCel<'k> {
    type Ok = Value;
    type Error = Error;
    type SerializeSeq = Seq<'k>;
    type SerializeTuple = Seq<'k>;
    type SerializeTupleStruct = Seq<'k>;
    type SerializeTupleVariant = Impossible<Value, Error>;
    type SerializeMap = Fields<'k>;
    type SerializeStruct = Fields<'k>;
    type SerializeStructVariant = Impossible<Value, Error>;

    fn serialize_bool(self, v: bool) -> Result<Value, Error> {
        Ok(Value::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i16(self, v: i16) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i32(self, v: i32) -> Result<Value, Error> {
        self.serialize_i64(v.into())
    }
    fn serialize_i64(self, v: i64) -> Result<Value, Error> {
        Ok(if v < 0 {
            Value::Int(v)
        } else {
            Value::UInt(v as u64)
        })
    }
    fn serialize_u8(self, v: u8) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u16(self, v: u16) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u32(self, v: u32) -> Result<Value, Error> {
        self.serialize_u64(v.into())
    }
    fn serialize_u64(self, v: u64) -> Result<Value, Error> {
        Ok(Value::UInt(v))
    }
    fn serialize_f32(self, v: f32) -> Result<Value, Error> {
        self.serialize_f64(v.into())
    }
    fn serialize_f64(self, v: f64) -> Result<Value, Error> {
        Ok(if v.is_finite() {
            Value::Float(v)
        } else {
            Value::Null
        })
    }
    fn serialize_char(self, v: char) -> Result<Value, Error> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<Value, Error> {
        Ok(Value::from(v.to_string()))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<Value, Error> {
        Ok(Value::List(Arc::new(
            v.iter().map(|b| Value::UInt((*b).into())).collect(),
        )))
    }
    fn serialize_none(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, v: &T) -> Result<Value, Error> {
        v.serialize(self)
    }
    fn serialize_unit(self) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_struct(self, _: &'static str) -> Result<Value, Error> {
        Ok(Value::Null)
    }
    fn serialize_unit_variant(
        self,
        _: &'static str,
        _: u32,
        variant: &'static str,
    ) -> Result<Value, Error> {
        self.serialize_str(variant)
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        v: &T,
    ) -> Result<Value, Error> {
        v.serialize(self)
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: &T,
    ) -> Result<Value, Error> {
        Err(unsupported("an enum with data"))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<Seq<'k>, Error> {
        Ok(Seq {
            items: Vec::with_capacity(len.unwrap_or(0)),
            keep: self.keep,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<Seq<'k>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_struct(self, _: &'static str, len: usize) -> Result<Seq<'k>, Error> {
        self.serialize_seq(Some(len))
    }
    fn serialize_tuple_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeTupleVariant, Error> {
        Err(unsupported("an enum with data"))
    }
    fn serialize_map(self, len: Option<usize>) -> Result<Fields<'k>, Error> {
        Ok(Fields {
            map: HashMap::with_capacity(len.unwrap_or(0)),
            key: None,
            keep: self.keep,
        })
    }
    fn serialize_struct(self, _: &'static str, len: usize) -> Result<Fields<'k>, Error> {
        // Sized for every field only when every field is kept: a rule input
        // keeps a few, and maps sized for all were most of its memory.
        self.serialize_map(self.keep.is_none().then_some(len))
    }
    fn serialize_struct_variant(
        self,
        _: &'static str,
        _: u32,
        _: &'static str,
        _: usize,
    ) -> Result<Self::SerializeStructVariant, Error> {
        Err(unsupported("an enum with data"))
    }
}

impl ser::SerializeSeq for Seq<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        self.items.push(to_value_keeping(v, self.keep)?);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::List(Arc::new(self.items)))
    }
}

impl ser::SerializeTuple for Seq<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeTupleStruct for Seq<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        ser::SerializeSeq::serialize_element(self, v)
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeSeq::end(self)
    }
}

impl ser::SerializeMap for Fields<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<(), Error> {
        // JSON object keys are strings, whatever the map's key type.
        self.key = Some(match to_value(key)? {
            Value::String(s) => Key::String(s),
            Value::Bool(b) => Key::String(Arc::new(b.to_string())),
            Value::Int(n) => Key::String(Arc::new(n.to_string())),
            Value::UInt(n) => Key::String(Arc::new(n.to_string())),
            other => return Err(Error(format!("{other:?} cannot be a map key"))),
        });
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, v: &T) -> Result<(), Error> {
        let key = self
            .key
            .take()
            .ok_or_else(|| Error("a map value without its key".into()))?;
        let int64 = matches!(&key, Key::String(k) if int64_fields().contains(k.as_str()));
        let v = to_value_keeping(v, self.keep)?;
        self.insert(key, int64, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        Ok(Value::Map(Map {
            map: Arc::new(self.map),
        }))
    }
}

impl ser::SerializeStruct for Fields<'_> {
    type Ok = Value;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        name: &'static str,
        v: &T,
    ) -> Result<(), Error> {
        if self.keep.is_some_and(|k| !k.contains(name)) {
            return Ok(());
        }
        let (key, int64) = field(name);
        let v = to_value_keeping(v, self.keep)?;
        self.insert(key, int64, v);
        Ok(())
    }
    fn end(self) -> Result<Value, Error> {
        ser::SerializeMap::end(self)
    }
}
