//! `GET /api/data_file_sources` and `/api/data_file_sources/{id}`: Coupa's read-only API over the
//! loads, in XML (default) or JSON.
//!
//! Conditions work on the record's own attributes with Coupa's operators (`file_file_name=…`,
//! `file_file_name[ends_with]=…`, `created_at[gt]='2015-04-16 22:00:00'`, `status[in]=done,failed`);
//! text compares case-insensitively, as Coupa's MySQL does. Paging and ordering as for users: at most
//! 50 per call, `limit`/`offset`, `order_by`/`dir` (default: by id, ascending).

use super::DataFileSource;
use crate::ApiError;
use crate::body;
use crate::query::parse_datetime;
use crate::server::{AppState, Wants};
use crate::store::fold_text;
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use chrono::{DateTime, FixedOffset};
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{Condition, Dir, Format, Op, Query};
use serde_json::Value;
use std::cmp::Ordering;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/data_file_sources", get(list).fallback(not_allowed))
        .route(
            "/api/data_file_sources/{id}",
            get(show).fallback(not_allowed),
        )
}

/// Errors about data file sources; JSON puts the messages under `data_file_source`.
fn error(status: StatusCode, format: Format, message: String) -> ApiError {
    let mut e = ApiError::new(status, format, vec![message]);
    e.resource = "data_file_source";
    e
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    DateTime,
}

/// The attributes a condition or `order_by` may name (element spelling; `_` works too).
const ATTRIBUTES: &[(&str, Kind)] = &[
    ("id", Kind::Integer),
    ("created-at", Kind::DateTime),
    ("updated-at", Kind::DateTime),
    ("type", Kind::Text),
    ("source-for", Kind::Text),
    ("status", Kind::Text),
    ("file-file-name", Kind::Text),
    ("file-content-type", Kind::Text),
    ("file-file-size", Kind::Integer),
    ("result-text", Kind::Text),
    ("start-time", Kind::DateTime),
    ("end-time", Kind::DateTime),
    ("records-count", Kind::Integer),
    ("records-created", Kind::Integer),
    ("records-updated", Kind::Integer),
    ("upload-errors-count", Kind::Integer),
];

/// One attribute value of a load.
#[derive(Debug, Clone, PartialEq)]
enum Scalar {
    Null,
    Text(String),
    Integer(i64),
    DateTime(DateTime<FixedOffset>),
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
            (Scalar::DateTime(a), Scalar::DateTime(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// A condition checked against the attribute table, ready to run.
struct Test {
    name: &'static str,
    kind: Kind,
    op: Op,
    operands: Vec<Scalar>,
}

fn attribute(name: &str) -> Option<(&'static str, Kind)> {
    ATTRIBUTES.iter().copied().find(|(n, _)| *n == name)
}

fn compile(c: &Condition) -> Result<Test, String> {
    let shown = c.path.join("][").replace('-', "_");
    let (name, kind) = match c.path.as_slice() {
        [name] => attribute(name),
        _ => None,
    }
    .ok_or_else(|| format!("Unknown search attribute {shown} for data file sources"))?;
    let text_only = matches!(c.op, Op::Contains | Op::StartsWith | Op::EndsWith);
    if text_only && kind != Kind::Text {
        return Err(format!(
            "Operator {} does not apply to {shown}, which is not text",
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
    if c.op == Op::Blank && !matches!(c.value.trim(), "true" | "false") {
        return Err(format!(
            "{shown}[blank]: expected true or false, found {:?}",
            c.value
        ));
    }
    Ok(Test {
        name,
        kind,
        op: c.op,
        operands,
    })
}

impl Test {
    fn holds(&self, record: &serde_json::Map<String, Value>, blank_wanted: bool) -> bool {
        let value = Scalar::of(self.kind, record.get(self.name));
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
                blank == blank_wanted
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

fn as_map(load: &DataFileSource) -> serde_json::Map<String, Value> {
    match serde_json::to_value(load) {
        Ok(Value::Object(map)) => map,
        _ => serde_json::Map::new(),
    }
}

/// The page of loads a query selects, as wire values.
fn search(loads: &[DataFileSource], query: &Query) -> Result<Vec<Value>, String> {
    if query.return_object.is_some() || query.fields.is_some() || query.filter.is_some() {
        return Err(
            "return_object, fields and filter are not supported on data file sources by the sandbox"
                .into(),
        );
    }
    let tests = query
        .conditions
        .iter()
        .map(|c| compile(c).map(|t| (t, c.value.trim() == "true")))
        .collect::<Result<Vec<_>, _>>()?;
    let order = match &query.order_by {
        Some(name) => attribute(name)
            .ok_or_else(|| format!("Unknown order_by attribute {}", name.replace('-', "_")))?,
        None => ("id", Kind::Integer),
    };
    let limit = match query.limit {
        Some(0) => return Err("limit must be at least 1".into()),
        Some(n) => n.min(MAX_LIMIT),
        None => MAX_LIMIT,
    } as usize;
    let offset = query.offset.unwrap_or(0) as usize;
    let mut selected: Vec<serde_json::Map<String, Value>> = loads
        .iter()
        .map(as_map)
        .filter(|record| tests.iter().all(|(t, blank)| t.holds(record, *blank)))
        .collect();
    let key = |r: &serde_json::Map<String, Value>| Scalar::of(order.1, r.get(order.0));
    let id = |r: &serde_json::Map<String, Value>| r.get("id").and_then(Value::as_i64);
    selected.sort_by(|a, b| {
        let by = key(a).compare(&key(b)).then(id(a).cmp(&id(b)));
        if query.dir == Some(Dir::Desc) {
            by.reverse()
        } else {
            by
        }
    });
    Ok(selected
        .into_iter()
        .skip(offset)
        .take(limit)
        .map(Value::Object)
        .collect())
}

async fn list(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, format, m);
    let query = Query::parse(raw.as_deref().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let page = search(&state.data_sources.all(), &query).map_err(bad)?;
    if page.is_empty() && format == Format::Xml {
        // As for users: an XML query without results is a 404, JSON gets an empty list.
        return Err(error(
            StatusCode::NOT_FOUND,
            format,
            coupa_wire::NO_RESULTS.into(),
        ));
    }
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value_list(
            format,
            "data-file-sources",
            page,
        )),
    ))
}

async fn show(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let load = raw_id
        .parse::<i64>()
        .ok()
        .and_then(|id| state.data_sources.get(id))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format,
                format!("Couldn't find DataFileSource with 'id'={raw_id}"),
            )
        })?;
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value(
            format,
            "data-file-source",
            &Value::Object(as_map(&load)),
        )),
    ))
}

/// Coupa: creating or updating a data file source through the API is not supported.
async fn not_allowed(Wants(format): Wants, method: Method) -> ApiError {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format,
        format!(
            "{method} is not supported on data file sources: they are made by loading a file \
             dropped in /Incoming/Users"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_sources::{LoadStatus, file_file_name};

    fn load(id: i64, name: &str, status: LoadStatus, created: &str) -> DataFileSource {
        let at = DateTime::parse_from_rfc3339(created).unwrap();
        DataFileSource {
            id,
            created_at: at,
            updated_at: at,
            kind: "DataFileSource".into(),
            source_for: "User".into(),
            status,
            file_file_name: file_file_name(name),
            file_content_type: "text/csv".into(),
            file_file_size: "10".into(),
            result_text: None,
            start_time: None,
            end_time: None,
            records_count: 0,
            records_created: 0,
            records_updated: 0,
            upload_errors_count: 0,
            integration_id: None,
            integration_run_id: None,
            created_by: coupa_wire::UserRef::default(),
            updated_by: coupa_wire::UserRef::default(),
            upload_errors: Vec::new(),
        }
    }

    fn ids(query: &str) -> Result<Vec<i64>, String> {
        let loads = vec![
            load(1, "a.csv", LoadStatus::Done, "2026-01-01T10:00:00Z"),
            load(2, "b.csv", LoadStatus::Failed, "2026-01-02T10:00:00Z"),
            load(3, "users_b.csv", LoadStatus::Done, "2026-01-03T10:00:00Z"),
        ];
        let page = search(&loads, &Query::parse(query).map_err(|e| e.to_string())?)?;
        Ok(page.iter().filter_map(|v| v["id"].as_i64()).collect())
    }

    #[test]
    fn filters_with_coupas_operators_and_date_forms() {
        assert_eq!(ids("file_file_name=_incoming_users_b.csv"), Ok(vec![2]));
        assert_eq!(ids("file_file_name[ends_with]=b.csv"), Ok(vec![2, 3]));
        assert_eq!(ids("status=done&source_for=User"), Ok(vec![1, 3]));
        assert_eq!(ids("status[not_eq]=done"), Ok(vec![2]));
        assert_eq!(ids("created_at[gt]='2026-01-01 10:00:00'"), Ok(vec![2, 3]));
        assert_eq!(ids("created_at[lt]=2026-01-02T10:00:00Z"), Ok(vec![1]));
        assert_eq!(ids("id[in]=1,3&order_by=id&dir=desc"), Ok(vec![3, 1]));
        assert_eq!(ids("result_text[blank]=true&limit=1&offset=1"), Ok(vec![2]));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        assert!(
            ids("owner=me")
                .unwrap_err()
                .contains("Unknown search attribute owner")
        );
        assert!(ids("id[contains]=1").unwrap_err().contains("not text"));
        assert!(
            ids("created_at[gt]=yesterday")
                .unwrap_err()
                .contains("date-time")
        );
        assert!(ids("limit=0").unwrap_err().contains("at least 1"));
        assert!(ids("order_by=owner").unwrap_err().contains("order_by"));
    }
}
