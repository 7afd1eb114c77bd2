//! Coupa XML ↔ the intermediate `serde_json::Value`.
//!
//! Reading uses Coupa's attributes: `type="integer"` and `type="boolean"` become numbers and booleans,
//! `nil="true"` becomes null, `type="array"` (or a plural element holding its singular, such as
//! `<roles><role>`) becomes a list; `decimal`, `dateTime` and `symbol` stay text, as in Coupa JSON.
//! Writing puts the same attributes back, so decode → encode → decode is the identity.

use crate::WireError;
use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use serde_json::{Map, Value};

/// Deeper nesting than any Coupa record has: refusing it keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 32;

/// Elements whose text is a date-time (`type="dateTime"`).
const DATETIME_KEYS: &[&str] = &[
    "created-at",
    "updated-at",
    "start-time",
    "end-time",
    "last-login",
];
/// Elements whose text is a decimal (`type="decimal"`); JSON carries them as strings.
const DECIMAL_KEYS: &[&str] = &["amount"];
/// Elements Coupa marks `type="symbol"`.
const SYMBOL_KEYS: &[&str] = &["authentication-method"];

/// The element name of one item of a collection (`roles` → `role`).
pub fn singular(collection: &str) -> String {
    match collection {
        "expenses-delegated-to" | "can-expense-for" => "user".to_string(),
        "addresses" => "address".to_string(),
        c if c.ends_with("ies") => format!("{}y", &c[..c.len() - 3]),
        c if c.ends_with("sses") => c[..c.len() - 2].to_string(),
        c if c.ends_with('s') => c[..c.len() - 1].to_string(),
        _ => "item".to_string(),
    }
}

struct Node {
    name: String,
    typ: Option<String>,
    nil: bool,
    text: String,
    children: Vec<(String, Value)>,
}

impl Node {
    fn open(start: &BytesStart<'_>, reader: &Reader<&[u8]>) -> Result<Node, WireError> {
        let name = start.name().as_ref().to_string();
        let mut typ = None;
        let mut nil = false;
        for attr in start.attributes() {
            let attr = attr.map_err(|e| xml_err(reader, e.to_string()))?;
            let value = attr
                .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                .map_err(|e| xml_err(reader, e.to_string()))?;
            match attr.key.as_ref() {
                "type" => typ = Some(value.into_owned()),
                "nil" => nil = value == "true",
                _ => {}
            }
        }
        Ok(Node {
            name,
            typ,
            nil,
            text: String::new(),
            children: Vec::new(),
        })
    }

    fn close(self) -> Result<Value, WireError> {
        if self.nil {
            return Ok(Value::Null);
        }
        let is_array = self.typ.as_deref() == Some("array");
        if is_array || self.looks_like_collection() {
            return Ok(Value::Array(
                self.children.into_iter().map(|(_, v)| v).collect(),
            ));
        }
        if !self.children.is_empty() {
            let mut map = Map::new();
            for (key, value) in self.children {
                // A repeated element in a record keeps every occurrence, in order.
                match map.get_mut(&key) {
                    Some(Value::Array(items)) => items.push(value),
                    Some(first) => {
                        let first = first.take();
                        map.insert(key, Value::Array(vec![first, value]));
                    }
                    None => {
                        map.insert(key, value);
                    }
                }
            }
            return Ok(Value::Object(map));
        }
        let text = self.text;
        match self.typ.as_deref() {
            Some("integer") => {
                let t = text.trim();
                if t.is_empty() {
                    return Ok(Value::Null);
                }
                t.parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| WireError::Field {
                        path: self.name.clone(),
                        message: format!("expected a whole number, found {t:?}"),
                    })
            }
            Some("boolean") => match crate::de::parse_bool(&text) {
                Some(b) => Ok(Value::Bool(b)),
                None if text.trim().is_empty() => Ok(Value::Null),
                None => Err(WireError::Field {
                    path: self.name.clone(),
                    message: format!("expected true or false, found {:?}", text.trim()),
                }),
            },
            Some(_) => Ok(Value::String(text.trim().to_string())),
            None => Ok(Value::String(text)),
        }
    }

    /// `<roles><role>…</role></roles>` sent without `type="array"`, as Coupa's own samples do.
    fn looks_like_collection(&self) -> bool {
        let Some((first, _)) = self.children.first() else {
            return false;
        };
        *first == singular(&self.name) && self.children.iter().all(|(k, _)| k == first)
    }
}

fn xml_err(reader: &Reader<&[u8]>, message: String) -> WireError {
    WireError::Xml {
        position: reader.error_position().max(reader.buffer_position()),
        message,
    }
}

/// Reads an XML document into its root element's name and value.
pub fn read(body: &[u8]) -> Result<(String, Value), WireError> {
    let text = std::str::from_utf8(body).map_err(|e| WireError::Xml {
        position: e.valid_up_to() as u64,
        message: "the document is not valid UTF-8".to_string(),
    })?;
    let mut reader = Reader::from_str(text);
    let mut stack: Vec<Node> = Vec::new();
    let mut root: Option<(String, Value)> = None;
    loop {
        let event = reader
            .read_event()
            .map_err(|e| xml_err(&reader, e.to_string()))?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(xml_err(&reader, "content after the root element".into()));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(xml_err(
                        &reader,
                        format!("nesting deeper than {MAX_DEPTH} elements"),
                    ));
                }
                stack.push(Node::open(&start, &reader)?);
            }
            Event::Empty(start) => {
                let node = Node::open(&start, &reader)?;
                finish(node, &mut stack, &mut root, &reader)?;
            }
            Event::End(_) => {
                let node = stack
                    .pop()
                    .ok_or_else(|| xml_err(&reader, "unexpected end tag".into()))?;
                finish(node, &mut stack, &mut root, &reader)?;
            }
            Event::Text(t) => match stack.last_mut() {
                Some(node) => node.text.push_str(&t.xml10_content()),
                None if t.trim().is_empty() => {}
                None => return Err(xml_err(&reader, "text outside the root element".into())),
            },
            Event::CData(t) => match stack.last_mut() {
                Some(node) => node.text.push_str(&t.into_inner()),
                None => return Err(xml_err(&reader, "CDATA outside the root element".into())),
            },
            Event::GeneralRef(r) => {
                let Some(node) = stack.last_mut() else {
                    return Err(xml_err(
                        &reader,
                        "entity reference outside the root element".into(),
                    ));
                };
                let ch = match r
                    .resolve_char_ref()
                    .map_err(|e| xml_err(&reader, e.to_string()))?
                {
                    Some(ch) => ch,
                    None => match r.as_ref() {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => {
                            return Err(xml_err(&reader, format!("unknown entity &{other};")));
                        }
                    },
                };
                node.text.push(ch);
            }
            Event::Eof => break,
            Event::Decl(_) | Event::Comment(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(xml_err(
            &reader,
            "the document ends inside an element".into(),
        ));
    }
    root.ok_or(WireError::Empty("XML"))
}

fn finish(
    node: Node,
    stack: &mut [Node],
    root: &mut Option<(String, Value)>,
    reader: &Reader<&[u8]>,
) -> Result<(), WireError> {
    let name = node.name.clone();
    let value = node.close().map_err(|e| match e {
        WireError::Field { path, message } => {
            let prefix: Vec<&str> = stack.iter().skip(1).map(|n| n.name.as_str()).collect();
            let path = if prefix.is_empty() {
                path
            } else {
                format!("{}.{path}", prefix.join("."))
            };
            WireError::Field { path, message }
        }
        other => other,
    })?;
    match stack.last_mut() {
        Some(parent) => parent.children.push((name, value)),
        None if root.is_none() => *root = Some((name, value)),
        None => return Err(xml_err(reader, "more than one root element".into())),
    }
    Ok(())
}

/// Writes `value` as a Coupa XML document whose root element is `root`.
pub fn write(root: &str, value: &Value) -> String {
    let mut out = String::with_capacity(1024);
    out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    write_element(&mut out, root, value);
    out.push('\n');
    out
}

fn write_element(out: &mut String, name: &str, value: &Value) {
    let name = element_name(name);
    let name = name.as_ref();
    match value {
        Value::Null => push_tag(out, name, " nil=\"true\"", None),
        Value::Bool(b) => push_tag(
            out,
            name,
            " type=\"boolean\"",
            Some(if *b { "true" } else { "false" }),
        ),
        Value::Number(n) => {
            let typ = if n.is_f64() {
                " type=\"decimal\""
            } else {
                " type=\"integer\""
            };
            push_tag(out, name, typ, Some(&n.to_string()));
        }
        Value::String(s) => {
            let typ = if DATETIME_KEYS.contains(&name) {
                " type=\"dateTime\""
            } else if DECIMAL_KEYS.contains(&name) {
                " type=\"decimal\""
            } else if SYMBOL_KEYS.contains(&name) {
                " type=\"symbol\""
            } else {
                ""
            };
            push_tag(
                out,
                name,
                typ,
                Some(&quick_xml::escape::escape(strip_invalid(s).as_ref())),
            );
        }
        Value::Array(items) => {
            if items.is_empty() {
                push_tag(out, name, " type=\"array\"", None);
                return;
            }
            let item = singular(name);
            open_tag(out, name, " type=\"array\"");
            for v in items {
                write_element(out, &item, v);
            }
            close_tag(out, name);
        }
        Value::Object(map) => {
            if map.is_empty() {
                push_tag(out, name, "", None);
                return;
            }
            open_tag(out, name, "");
            for (k, v) in map {
                write_element(out, k, v);
            }
            close_tag(out, name);
        }
    }
}

// Written piece by piece rather than with `format!`: a user has ~100 elements and the sandbox
// writes thousands of users a second.
fn open_tag(out: &mut String, name: &str, attrs: &str) {
    out.push('<');
    out.push_str(name);
    out.push_str(attrs);
    out.push('>');
}

fn close_tag(out: &mut String, name: &str) {
    out.push_str("</");
    out.push_str(name);
    out.push('>');
}

fn push_tag(out: &mut String, name: &str, attrs: &str, text: Option<&str>) {
    match text {
        None => {
            out.push('<');
            out.push_str(name);
            out.push_str(attrs);
            out.push_str("/>");
        }
        Some(t) => {
            open_tag(out, name, attrs);
            out.push_str(t);
            close_tag(out, name);
        }
    }
}

/// Characters XML 1.0 cannot carry at all are dropped rather than producing a document no parser reads.
fn strip_invalid(s: &str) -> std::borrow::Cow<'_, str> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if s.chars().all(ok) {
        s.into()
    } else {
        s.chars().filter(|c| ok(*c)).collect::<String>().into()
    }
}

/// A key that is not a valid XML name (a custom field called `2nd cost center`) is written with its
/// offending characters replaced, so the document stays well-formed.
fn element_name(key: &str) -> std::borrow::Cow<'_, str> {
    let valid_char = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    let valid_start = |c: char| c.is_alphabetic() || c == '_';
    if key.chars().all(valid_char) && key.starts_with(valid_start) {
        return key.into();
    }
    let mut name: String = key
        .chars()
        .map(|c| if valid_char(c) { c } else { '_' })
        .collect();
    if !name.starts_with(valid_start) {
        name.insert(0, '_');
    }
    name.into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn typed_leaves_nil_and_arrays() {
        let (root, v) = read(
            br#"<user><id type="integer">7</id><active type="boolean">true</active>
            <phone-work nil="true"/><roles type="array"/><login>a&amp;b</login>
            <x><![CDATA[<i>ok</i>]]></x></user>"#,
        )
        .unwrap();
        assert_eq!(root, "user");
        assert_eq!(
            v,
            json!({"id": 7, "active": true, "phone-work": null, "roles": [], "login": "a&b", "x": "<i>ok</i>"})
        );
    }

    #[test]
    fn untyped_plural_is_a_collection() {
        let (_, v) = read(b"<user><roles><role><name>Buyer</name></role></roles></user>").unwrap();
        assert_eq!(v, json!({"roles": [{"name": "Buyer"}]}));
    }

    #[test]
    fn write_then_read_is_identity() {
        let v = json!({"id": 1, "login": "<&>\"'", "active": false, "created-at": "2016-06-30T07:51:11Z",
            "roles": [{"name": "User"}, {"name": "Buyer"}], "content-groups": [], "manager": null,
            "requisition-approval-limit": {"amount": "10.00"}});
        let xml = write("user", &v);
        assert!(xml.contains(r#"<created-at type="dateTime">"#), "{xml}");
        assert!(
            xml.contains(r#"<amount type="decimal">10.00</amount>"#),
            "{xml}"
        );
        assert_eq!(read(xml.as_bytes()).unwrap(), ("user".to_string(), v));
    }

    #[test]
    fn keys_that_are_not_xml_names_are_written_as_names() {
        let xml = write("user", &json!({"2nd cost center": "x", "cost-center": "y"}));
        assert!(
            xml.contains("<_2nd_cost_center>x</_2nd_cost_center>"),
            "{xml}"
        );
        assert!(xml.contains("<cost-center>y</cost-center>"), "{xml}");
        assert!(read(xml.as_bytes()).is_ok());
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            &b"<user><login>x</user>"[..],
            b"<user>",
            b"",
            b"<a/><b/>",
            b"<user>&nope;</user>",
        ] {
            assert!(read(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(read(deep.as_bytes()).is_err());
    }

    #[test]
    fn bad_integer_names_the_field() {
        let err =
            read(br#"<user><manager><id type="integer">x</id></manager></user>"#).unwrap_err();
        assert_eq!(
            err.to_string(),
            r#"field `manager.id`: expected a whole number, found "x""#
        );
    }
}
