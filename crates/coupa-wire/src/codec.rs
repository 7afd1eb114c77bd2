//! Decoding and encoding Coupa documents in either format, through the intermediate value.

use crate::{Format, WireError, xml};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Reads a document into the intermediate value. For XML, `root` is the element the document must
/// have (`user`); Coupa JSON has no root.
pub fn decode_value(format: Format, body: &[u8], root: &str) -> Result<Value, WireError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(WireError::Empty(match format {
            Format::Xml => "XML",
            Format::Json => "JSON",
        }));
    }
    match format {
        Format::Xml => {
            let (found, value) = xml::read(body)?;
            if found != root {
                return Err(WireError::UnexpectedRoot {
                    expected: root.to_string(),
                    found,
                });
            }
            Ok(value)
        }
        Format::Json => serde_json::from_slice(body).map_err(|e| WireError::Json(e.to_string())),
    }
}

/// Turns the intermediate value into a model; a failure names the field (`roles[0].name`).
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, WireError> {
    serde_path_to_error::deserialize(value).map_err(|e| WireError::Field {
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

/// Decodes one record whose XML root is `root` (`user`).
pub fn decode<T: DeserializeOwned>(
    format: Format,
    body: &[u8],
    root: &str,
) -> Result<T, WireError> {
    from_value(decode_value(format, body, root)?)
}

/// Decodes a list (`<users type="array">`, or a JSON array). A lone record is accepted as a list of one.
pub fn decode_list<T: DeserializeOwned>(
    format: Format,
    body: &[u8],
    collection: &str,
) -> Result<Vec<T>, WireError> {
    match decode_value(format, body, collection)? {
        Value::Array(items) => items.into_iter().map(from_value).collect(),
        Value::String(s) if s.trim().is_empty() => Ok(Vec::new()),
        other => Err(WireError::Field {
            path: collection.to_string(),
            message: format!("expected a list of records, found {}", short(&other)),
        }),
    }
}

fn short(v: &Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 60 {
        format!("{}…", s.chars().take(60).collect::<String>())
    } else {
        s
    }
}

/// Encodes a value as a document whose XML root is `root`.
pub fn encode_value(format: Format, root: &str, value: &Value) -> Vec<u8> {
    match format {
        Format::Xml => xml::write(root, value).into_bytes(),
        Format::Json => value.to_string().into_bytes(),
    }
}

/// Encodes a list as `<collection type="array">` or a JSON array.
pub fn encode_value_list(format: Format, collection: &str, items: Vec<Value>) -> Vec<u8> {
    encode_value(format, collection, &Value::Array(items))
}

/// Encodes one record.
pub fn encode<T: Serialize>(format: Format, root: &str, record: &T) -> Vec<u8> {
    encode_value(format, root, &to_value(record))
}

/// Encodes a list of records.
pub fn encode_list<T: Serialize>(format: Format, collection: &str, records: &[T]) -> Vec<u8> {
    encode_value_list(format, collection, records.iter().map(to_value).collect())
}

fn to_value<T: Serialize>(record: &T) -> Value {
    // Our models only hold strings, numbers, booleans, maps and lists, which always serialise.
    serde_json::to_value(record).unwrap_or(Value::Null)
}
