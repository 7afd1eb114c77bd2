//! Coupa's error bodies: `<errors><error>…</error></errors>` and `{"errors":{"user":[…]}}`.

use crate::{Format, WireError, xml};
use serde_json::{Value, json};

/// The message of the 404 that an XML query with no match answers (JSON answers `[]` instead).
pub const NO_RESULTS: &str = "No results match your search criteria.";

/// The messages of an error answer, in Coupa's order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ErrorsBody {
    pub messages: Vec<String>,
}

impl ErrorsBody {
    pub fn new(messages: impl IntoIterator<Item = impl Into<String>>) -> ErrorsBody {
        ErrorsBody {
            messages: messages.into_iter().map(Into::into).collect(),
        }
    }

    /// True for the XML "No results match your search criteria." answer to a query.
    pub fn is_no_results(&self) -> bool {
        self.messages.len() == 1 && self.messages[0] == NO_RESULTS
    }

    /// Encodes the body. `resource` is the JSON key Coupa uses (`user`); XML messages are CDATA-wrapped
    /// as in Coupa's user samples.
    pub fn encode(&self, format: Format, resource: &str) -> Vec<u8> {
        match format {
            Format::Xml => {
                let mut out =
                    String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<errors>\n");
                for m in &self.messages {
                    // "]]>" cannot appear inside CDATA; split it across two sections.
                    let m = m.replace("]]>", "]]]]><![CDATA[>");
                    out.push_str(&format!("  <error><![CDATA[{m}]]></error>\n"));
                }
                out.push_str("</errors>\n");
                out.into_bytes()
            }
            Format::Json => json!({ "errors": { resource: self.messages } })
                .to_string()
                .into_bytes(),
        }
    }

    /// Reads an error body in either format. JSON accepts any resource key and a bare list.
    pub fn decode(format: Format, body: &[u8]) -> Result<ErrorsBody, WireError> {
        let value = match format {
            Format::Xml => {
                let (root, value) = xml::read(body)?;
                if root != "errors" {
                    return Err(WireError::UnexpectedRoot {
                        expected: "errors".into(),
                        found: root,
                    });
                }
                value
            }
            Format::Json => {
                let v: Value =
                    serde_json::from_slice(body).map_err(|e| WireError::Json(e.to_string()))?;
                match v {
                    Value::Object(mut map) => {
                        map.remove("errors").ok_or_else(|| WireError::Field {
                            path: "errors".into(),
                            message: "missing".into(),
                        })?
                    }
                    other => other,
                }
            }
        };
        let mut messages = Vec::new();
        collect(&value, &mut messages);
        Ok(ErrorsBody { messages })
    }
}

fn collect(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) if !s.trim().is_empty() => out.push(s.trim().to_string()),
        Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
        Value::Object(map) => map.values().for_each(|i| collect(i, out)),
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_in_both_formats() {
        let body = ErrorsBody::new(["Login has already been taken", "odd ]]> text"]);
        for format in [Format::Xml, Format::Json] {
            let back = ErrorsBody::decode(format, &body.encode(format, "user")).unwrap();
            assert_eq!(back, body);
        }
    }
}
