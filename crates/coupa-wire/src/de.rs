//! Lenient field decoders: Coupa writes the same field as `true`, `"true"`, `<x type="boolean">true</x>`
//! or `<x>true</x>`, and an absent value as `null`, `nil="true"` or an empty element. These helpers accept
//! every such spelling so one model reads XML and JSON alike, and reject anything else with a clear message.

use chrono::{DateTime, FixedOffset};
use serde::de::{DeserializeOwned, Error};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an element with children",
    }
}

pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(v) => Err(D::Error::custom(format!(
            "expected text, found {}",
            kind(&v)
        ))),
    }
}

pub fn parse_bool(s: &str) -> Option<bool> {
    match s.trim().to_ascii_lowercase().as_str() {
        "true" | "t" | "yes" | "y" | "1" => Some(true),
        "false" | "f" | "no" | "n" | "0" => Some(false),
        _ => None,
    }
}

pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => parse_bool(&s)
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected true or false, found {s:?}"))),
        Some(v) => Err(D::Error::custom(format!(
            "expected a boolean, found {}",
            kind(&v)
        ))),
    }
}

pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("expected a whole number, found {n}"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("expected a whole number, found {s:?}"))),
        Some(v) => Err(D::Error::custom(format!(
            "expected a number, found {}",
            kind(&v)
        ))),
    }
}

pub fn opt_datetime<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<DateTime<FixedOffset>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s.trim())
            .map(Some)
            .map_err(|e| {
                D::Error::custom(format!("expected an ISO-8601 date-time, found {s:?}: {e}"))
            }),
        Some(v) => Err(D::Error::custom(format!(
            "expected a date-time, found {}",
            kind(&v)
        ))),
    }
}

/// A nested record (`<department>…</department>`); an empty element is no record.
pub fn opt_object<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(v @ Value::Object(_)) => serde_json::from_value(v)
            .map(Some)
            .map_err(D::Error::custom),
        Some(v) => Err(D::Error::custom(format!(
            "expected an element with children, found {}",
            kind(&v)
        ))),
    }
}

/// A collection. `<roles/>` and `[]` are an empty list (which clears roles on a PUT), not "absent".
/// `<roles><role>…</role></roles>` without `type="array"` arrives as `{"role": …}` and is unwrapped.
pub fn opt_vec<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    let items = match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Array(items)) => items,
        Some(Value::String(s)) if s.trim().is_empty() => Vec::new(),
        Some(Value::Object(map)) if map.len() == 1 => match map.into_iter().next() {
            Some((_, Value::Array(items))) => items,
            Some((_, one)) => vec![one],
            None => Vec::new(),
        },
        Some(v) => {
            return Err(D::Error::custom(format!(
                "expected a list, found {}",
                kind(&v)
            )));
        }
    };
    items
        .into_iter()
        .enumerate()
        .map(|(i, v)| {
            serde_json::from_value(v).map_err(|e| D::Error::custom(format!("item {i}: {e}")))
        })
        .collect::<Result<Vec<T>, _>>()
        .map(Some)
}

/// `<custom-fields>`: field name → value. An empty element is no fields.
pub fn opt_map<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<serde_json::Map<String, Value>>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(Some(serde_json::Map::new())),
        Some(Value::Object(map)) => Ok(Some(map)),
        Some(v) => Err(D::Error::custom(format!(
            "expected named fields, found {}",
            kind(&v)
        ))),
    }
}
