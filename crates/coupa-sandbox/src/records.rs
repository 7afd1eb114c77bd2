//! Conditions, ordering and paging for the resources the sandbox keeps as plain records (data file
//! sources, integrations, runs, contacts, history records and errors), read as JSON maps with
//! Coupa's element names.
//!
//! Conditions work on the attributes a resource lists, with Coupa's operators (`status=done`,
//! `file_file_name[ends_with]=…`, `created_at[gt]='2015-04-16 22:00:00'`, `status[in]=done,failed`),
//! and on the attributes of an association through brackets (`integration[code]=HR_USERS`, listed
//! as `integration.code`). Text compares case-insensitively, as Coupa's MySQL does. Paging and
//! ordering as for users: at most 50 per call, `limit`/`offset`, `order_by`/`dir` (default: by id,
//! ascending).

use crate::query::parse_datetime;
use crate::store::fold_text;
use chrono::{DateTime, FixedOffset};
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{Condition, Dir, Op, Query};
use serde::Serialize;
use serde_json::{Map, Value};
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Text,
    Integer,
    Boolean,
    DateTime,
}

/// A searchable attribute: its element name (`file-file-name`), or `association.attribute` for an
/// association's (`integration.code`), and how its values compare.
pub(crate) type Attribute = (&'static str, Kind);

/// One attribute value of a record.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Text(String),
    Integer(i64),
    Boolean(bool),
    DateTime(DateTime<FixedOffset>),
}

fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Some(true),
        "false" | "0" => Some(false),
        _ => None,
    }
}

impl Scalar {
    fn of(kind: Kind, value: Option<&Value>) -> Scalar {
        match (kind, value) {
            (_, None | Some(Value::Null)) => Scalar::Null,
            (Kind::Integer, Some(Value::Number(n))) => {
                n.as_i64().map_or(Scalar::Null, Scalar::Integer)
            }
            (Kind::Integer, Some(Value::String(s))) => {
                s.parse().map_or(Scalar::Null, Scalar::Integer)
            }
            (Kind::Boolean, Some(Value::Bool(b))) => Scalar::Boolean(*b),
            (Kind::Boolean, Some(Value::String(s))) => {
                parse_bool(s).map_or(Scalar::Null, Scalar::Boolean)
            }
            (Kind::DateTime, Some(Value::String(s))) => {
                parse_datetime(s).map_or(Scalar::Null, Scalar::DateTime)
            }
            (_, Some(Value::String(s))) => Scalar::Text(fold_text(s)),
            (_, Some(other)) => Scalar::Text(fold_text(&other.to_string())),
        }
    }

    /// A condition's operand, read as `kind`.
    fn operand(kind: Kind, text: &str) -> Result<Scalar, String> {
        match kind {
            Kind::Text => Ok(Scalar::Text(fold_text(text))),
            Kind::Integer => text
                .trim()
                .parse()
                .map(Scalar::Integer)
                .map_err(|_| format!("expected a whole number, found {text:?}")),
            Kind::Boolean => parse_bool(text)
                .map(Scalar::Boolean)
                .ok_or_else(|| format!("expected true or false, found {text:?}")),
            Kind::DateTime => parse_datetime(text).map(Scalar::DateTime).ok_or_else(|| {
                format!(
                    "expected a date-time such as 2026-01-31T22:00:00Z or '2026-01-31 22:00:00', \
                     found {text:?}"
                )
            }),
        }
    }

    /// Null sorts first; values of one kind compare naturally.
    fn compare(&self, other: &Scalar) -> Ordering {
        match (self, other) {
            (Scalar::Null, Scalar::Null) => Ordering::Equal,
            (Scalar::Null, _) => Ordering::Less,
            (_, Scalar::Null) => Ordering::Greater,
            (Scalar::Text(a), Scalar::Text(b)) => a.cmp(b),
            (Scalar::Integer(a), Scalar::Integer(b)) => a.cmp(b),
            (Scalar::Boolean(a), Scalar::Boolean(b)) => a.cmp(b),
            (Scalar::DateTime(a), Scalar::DateTime(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// The value at a dotted attribute name (`integration.code`).
fn lookup<'a>(record: &'a Map<String, Value>, name: &str) -> Option<&'a Value> {
    let mut parts = name.split('.');
    let first = record.get(parts.next()?)?;
    parts.try_fold(first, |value, part| value.as_object()?.get(part))
}

/// A condition checked against the attribute table, ready to run.
struct Test {
    name: &'static str,
    kind: Kind,
    op: Op,
    operands: Vec<Scalar>,
    /// For `[blank]`: whether blank values are wanted.
    blank_wanted: bool,
}

fn attribute(attributes: &[Attribute], name: &str) -> Option<Attribute> {
    attributes.iter().copied().find(|(n, _)| *n == name)
}

fn compile(attributes: &[Attribute], what: &str, c: &Condition) -> Result<Test, String> {
    let shown = match c.path.as_slice() {
        [one] => one.replace('-', "_"),
        [first, rest @ ..] => format!(
            "{}[{}]",
            first.replace('-', "_"),
            rest.join("][").replace('-', "_")
        ),
        [] => String::new(),
    };
    let (name, kind) = attribute(attributes, &c.path.join("."))
        .ok_or_else(|| format!("Unknown search attribute {shown} for {what}"))?;
    let text_only = matches!(c.op, Op::Contains | Op::StartsWith | Op::EndsWith);
    if text_only && kind != Kind::Text {
        return Err(format!(
            "Operator {} does not apply to {shown}, which is not text",
            c.op.name().unwrap_or_default()
        ));
    }
    let ordered = matches!(c.op, Op::Gt | Op::Lt | Op::GtOrEq | Op::LtOrEq);
    if ordered && kind == Kind::Boolean {
        return Err(format!(
            "Operator {} does not apply to {shown}, which is true or false",
            c.op.name().unwrap_or_default()
        ));
    }
    let operands = match c.op {
        Op::Blank => Ok(Vec::new()),
        Op::In | Op::NotIn => c
            .values()
            .into_iter()
            .map(|v| Scalar::operand(kind, v))
            .collect::<Result<_, _>>(),
        _ => Scalar::operand(kind, &c.value).map(|o| vec![o]),
    }
    .map_err(|e| format!("{shown}: {e}"))?;
    let blank_wanted = match (c.op, c.value.trim()) {
        (Op::Blank, "true") => true,
        (Op::Blank, "false") => false,
        (Op::Blank, _) => {
            return Err(format!(
                "{shown}[blank]: expected true or false, found {:?}",
                c.value
            ));
        }
        _ => false,
    };
    Ok(Test {
        name,
        kind,
        op: c.op,
        operands,
        blank_wanted,
    })
}

impl Test {
    fn holds(&self, record: &Map<String, Value>) -> bool {
        let value = Scalar::of(self.kind, lookup(record, self.name));
        let equals_any = || {
            self.operands
                .iter()
                .any(|o| value.compare(o) == Ordering::Equal)
        };
        let first = self.operands.first();
        let text = |f: fn(&str, &str) -> bool| match (&value, first) {
            (Scalar::Text(v), Some(Scalar::Text(o))) => f(v, o),
            _ => false,
        };
        let order = |want: &[Ordering]| {
            value != Scalar::Null && first.is_some_and(|o| want.contains(&value.compare(o)))
        };
        match self.op {
            Op::Blank => {
                let blank = matches!(&value, Scalar::Null)
                    || matches!(&value, Scalar::Text(t) if t.trim().is_empty());
                blank == self.blank_wanted
            }
            Op::Eq | Op::In => equals_any(),
            // A missing value matches no comparison, as in SQL.
            Op::NotEq | Op::NotIn => value != Scalar::Null && !equals_any(),
            Op::Gt => order(&[Ordering::Greater]),
            Op::Lt => order(&[Ordering::Less]),
            Op::GtOrEq => order(&[Ordering::Greater, Ordering::Equal]),
            Op::LtOrEq => order(&[Ordering::Less, Ordering::Equal]),
            Op::Contains => text(|v, o| v.contains(o)),
            Op::StartsWith => text(|v, o| v.starts_with(o)),
            Op::EndsWith => text(|v, o| v.ends_with(o)),
        }
    }
}

/// A record as a JSON map with its element names.
pub(crate) fn as_map<T: Serialize>(record: &T) -> Map<String, Value> {
    match serde_json::to_value(record) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// The page of `records` a query selects. `what` names the resource in messages (`data file
/// sources`).
pub(crate) fn search(
    records: Vec<Map<String, Value>>,
    attributes: &[Attribute],
    what: &str,
    query: &Query,
) -> Result<Vec<Map<String, Value>>, String> {
    if query.return_object.is_some() || query.fields.is_some() || query.filter.is_some() {
        return Err(format!(
            "return_object, fields and filter are not supported on {what} by the sandbox"
        ));
    }
    let tests = query
        .conditions
        .iter()
        .map(|c| compile(attributes, what, c))
        .collect::<Result<Vec<_>, _>>()?;
    let order = match &query.order_by {
        Some(name) => attribute(attributes, name)
            .ok_or_else(|| format!("Unknown order_by attribute {}", name.replace('-', "_")))?,
        None => ("id", Kind::Integer),
    };
    let limit = match query.limit {
        Some(0) => return Err("limit must be at least 1".into()),
        Some(n) => n.min(MAX_LIMIT),
        None => MAX_LIMIT,
    } as usize;
    let offset = query.offset.unwrap_or(0) as usize;
    let mut selected: Vec<Map<String, Value>> = records
        .into_iter()
        .filter(|record| tests.iter().all(|t| t.holds(record)))
        .collect();
    let key = |r: &Map<String, Value>| Scalar::of(order.1, lookup(r, order.0));
    let id = |r: &Map<String, Value>| r.get("id").and_then(Value::as_i64);
    selected.sort_by(|a, b| {
        let by = key(a).compare(&key(b)).then(id(a).cmp(&id(b)));
        if query.dir == Some(Dir::Desc) {
            by.reverse()
        } else {
            by
        }
    });
    Ok(selected.into_iter().skip(offset).take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const ATTRIBUTES: &[Attribute] = &[
        ("id", Kind::Integer),
        ("resolved", Kind::Boolean),
        ("integration.code", Kind::Text),
    ];

    fn ids(query: &str) -> Result<Vec<i64>, String> {
        let records = [
            json!({"id": 1, "resolved": false, "integration": {"code": "HR_USERS"}}),
            json!({"id": 2, "resolved": true, "integration": {"code": "hr_users"}}),
            json!({"id": 3, "resolved": false, "integration": null}),
        ]
        .iter()
        .map(as_map)
        .collect();
        let query = Query::parse(query).map_err(|e| e.to_string())?;
        let page = search(records, ATTRIBUTES, "integration errors", &query)?;
        Ok(page.iter().filter_map(|r| r["id"].as_i64()).collect())
    }

    #[test]
    fn association_attributes_and_booleans() {
        assert_eq!(ids("integration[code]=HR_USERS"), Ok(vec![1, 2]));
        assert_eq!(ids("resolved=false"), Ok(vec![1, 3]));
        assert_eq!(ids("integration[code][blank]=true"), Ok(vec![3]));
        assert_eq!(ids("order_by=resolved&dir=desc"), Ok(vec![2, 3, 1]));
        assert!(ids("resolved=maybe").unwrap_err().contains("true or false"));
        assert!(
            ids("resolved[gt]=true")
                .unwrap_err()
                .contains("true or false")
        );
        assert!(
            ids("integration[name]=x")
                .unwrap_err()
                .contains("Unknown search attribute integration[name] for integration errors")
        );
    }
}
