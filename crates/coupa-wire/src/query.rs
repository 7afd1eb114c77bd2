//! Coupa's query-string syntax: `attribute[operator]=value`, associations in brackets
//! (`manager[login]=jdoe`), paging (`limit`, `offset`), ordering (`order_by`, `dir`),
//! `return_object` and `fields`.
//!
//! Attribute names are kept in Coupa's element spelling (`employee-number`); they are rendered with
//! underscores as Coupa's documentation writes them, and both spellings parse.

use crate::WireError;
use serde_json::Value;
use std::fmt::Write as _;

/// The most records Coupa returns in one call.
pub const MAX_LIMIT: u32 = 50;

/// A comparison operator (reference §1.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    /// No operator: exact match.
    Eq,
    Contains,
    StartsWith,
    EndsWith,
    Gt,
    Lt,
    GtOrEq,
    LtOrEq,
    NotEq,
    /// One of a comma-separated list.
    In,
    /// None of a comma-separated list.
    NotIn,
    /// `true`: the attribute is empty; `false`: it is not.
    Blank,
}

impl Op {
    pub const ALL: [Op; 12] = [
        Op::Eq,
        Op::Contains,
        Op::StartsWith,
        Op::EndsWith,
        Op::Gt,
        Op::Lt,
        Op::GtOrEq,
        Op::LtOrEq,
        Op::NotEq,
        Op::In,
        Op::NotIn,
        Op::Blank,
    ];

    /// The operator's name in brackets; `None` for exact match, which has none.
    pub fn name(self) -> Option<&'static str> {
        Some(match self {
            Op::Eq => return None,
            Op::Contains => "contains",
            Op::StartsWith => "starts_with",
            Op::EndsWith => "ends_with",
            Op::Gt => "gt",
            Op::Lt => "lt",
            Op::GtOrEq => "gt_or_eq",
            Op::LtOrEq => "lt_or_eq",
            Op::NotEq => "not_eq",
            Op::In => "in",
            Op::NotIn => "not_in",
            Op::Blank => "blank",
        })
    }

    pub fn from_name(name: &str) -> Option<Op> {
        Op::ALL.into_iter().find(|op| op.name() == Some(name))
    }
}

/// One condition: `path[op]=value`. `path` is the attribute, then association attributes
/// (`["manager", "login"]`, `["custom-fields", "cost-center"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub path: Vec<String>,
    pub op: Op,
    pub value: String,
}

impl Condition {
    pub fn new(path: &str, op: Op, value: impl Into<String>) -> Condition {
        Condition {
            path: path.split('.').map(normalize).collect(),
            op,
            value: value.into(),
        }
    }

    /// `path[in]=a,b,c`. Values are joined as given: a value holding a comma cannot be expressed,
    /// which callers must check (see [`Condition::in_list_allows`]).
    pub fn in_list<S: AsRef<str>>(path: &str, values: &[S]) -> Condition {
        let joined = values
            .iter()
            .map(AsRef::as_ref)
            .collect::<Vec<_>>()
            .join(",");
        Condition::new(path, Op::In, joined)
    }

    /// Whether a value can travel inside an `[in]` list (Coupa splits the list on commas).
    pub fn in_list_allows(value: &str) -> bool {
        !value.contains(',')
    }

    /// The values of an `in` / `not_in` list.
    pub fn values(&self) -> Vec<&str> {
        self.value.split(',').collect()
    }
}

/// Sort direction for `order_by`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Dir {
    #[default]
    Asc,
    Desc,
}

/// How much of each record Coupa returns (`return_object=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReturnObject {
    /// Only ids.
    Limited,
    /// Own attributes, and only ids and natural keys of first-level associations.
    Shallow,
    /// An empty body (writes only).
    None,
}

impl ReturnObject {
    pub fn name(self) -> &'static str {
        match self {
            ReturnObject::Limited => "limited",
            ReturnObject::Shallow => "shallow",
            ReturnObject::None => "none",
        }
    }

    pub fn from_name(name: &str) -> Option<ReturnObject> {
        [
            ReturnObject::Limited,
            ReturnObject::Shallow,
            ReturnObject::None,
        ]
        .into_iter()
        .find(|r| r.name() == name)
    }
}

/// A Coupa query: conditions (AND-ed) plus paging and shaping.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pub conditions: Vec<Condition>,
    pub limit: Option<u32>,
    pub offset: Option<u32>,
    pub order_by: Option<String>,
    pub dir: Option<Dir>,
    pub return_object: Option<ReturnObject>,
    /// `fields=["id","login",{"roles":["name"]}]`.
    pub fields: Option<Value>,
    /// The name of an API response filter.
    pub filter: Option<String>,
}

/// Coupa's element spelling of an attribute name: underscores become dashes.
pub fn normalize(name: &str) -> String {
    name.trim().replace('_', "-")
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn enc(value: &str) -> String {
    form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

impl Query {
    pub fn new() -> Query {
        Query::default()
    }

    /// Adds `path[op]=value`.
    pub fn filter_by(mut self, path: &str, op: Op, value: impl Into<String>) -> Query {
        self.conditions.push(Condition::new(path, op, value));
        self
    }

    /// Adds an exact match, `path=value`.
    pub fn eq(self, path: &str, value: impl Into<String>) -> Query {
        self.filter_by(path, Op::Eq, value)
    }

    pub fn limit(mut self, limit: u32) -> Query {
        self.limit = Some(limit);
        self
    }

    pub fn offset(mut self, offset: u32) -> Query {
        self.offset = Some(offset);
        self
    }

    pub fn order_by(mut self, attribute: &str, dir: Dir) -> Query {
        self.order_by = Some(normalize(attribute));
        self.dir = Some(dir);
        self
    }

    pub fn return_object(mut self, r: ReturnObject) -> Query {
        self.return_object = Some(r);
        self
    }

    pub fn fields(mut self, fields: Value) -> Query {
        self.fields = Some(fields);
        self
    }

    /// The query string, without the leading `?`.
    pub fn to_query_string(&self) -> String {
        let mut out = String::new();
        let sep = |out: &mut String| {
            if !out.is_empty() {
                out.push('&');
            }
        };
        for c in &self.conditions {
            sep(&mut out);
            let mut parts = c.path.iter().map(|p| p.replace('-', "_"));
            if let Some(first) = parts.next() {
                out.push_str(&first);
            }
            for p in parts {
                // Custom field names keep their own spelling; Coupa's examples bracket them.
                let _ = write!(out, "[{p}]");
            }
            if let Some(op) = c.op.name() {
                let _ = write!(out, "[{op}]");
            }
            let _ = write!(out, "={}", enc(&c.value));
        }
        let param = |out: &mut String, k: &str, v: String| {
            sep(out);
            let _ = write!(out, "{k}={v}");
        };
        if let Some(o) = &self.order_by {
            param(&mut out, "order_by", o.replace('-', "_"));
        }
        if let Some(d) = self.dir {
            param(
                &mut out,
                "dir",
                if d == Dir::Asc { "asc" } else { "desc" }.into(),
            );
        }
        if let Some(l) = self.limit {
            param(&mut out, "limit", l.to_string());
        }
        if let Some(o) = self.offset {
            param(&mut out, "offset", o.to_string());
        }
        if let Some(r) = self.return_object {
            param(&mut out, "return_object", r.name().into());
        }
        if let Some(f) = &self.fields {
            param(&mut out, "fields", enc(&f.to_string()));
        }
        if let Some(f) = &self.filter {
            param(&mut out, "filter", enc(f));
        }
        out
    }

    /// Parses a query string (with or without the leading `?`).
    pub fn parse(query: &str) -> Result<Query, WireError> {
        let query = query.strip_prefix('?').unwrap_or(query);
        let mut q = Query::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            let err = |m: String| WireError::Query(m);
            match key.as_ref() {
                "limit" => {
                    q.limit = Some(value.parse().map_err(|_| {
                        err(format!("limit must be a whole number, found {value:?}"))
                    })?)
                }
                "offset" => {
                    q.offset = Some(value.parse().map_err(|_| {
                        err(format!("offset must be a whole number, found {value:?}"))
                    })?)
                }
                "order_by" => {
                    if !valid_name(&value) {
                        return Err(err(format!(
                            "order_by must name an attribute, found {value:?}"
                        )));
                    }
                    q.order_by = Some(normalize(&value));
                }
                "dir" => {
                    q.dir = Some(match value.to_ascii_lowercase().as_str() {
                        "asc" => Dir::Asc,
                        "desc" => Dir::Desc,
                        _ => return Err(err(format!("dir must be asc or desc, found {value:?}"))),
                    })
                }
                "return_object" => {
                    q.return_object = Some(ReturnObject::from_name(&value).ok_or_else(|| {
                        err(format!(
                            "return_object must be limited, shallow or none, found {value:?}"
                        ))
                    })?)
                }
                "fields" => {
                    let v: Value = serde_json::from_str(&value)
                        .map_err(|e| err(format!("fields must be a JSON array: {e}")))?;
                    if !v.is_array() {
                        return Err(err("fields must be a JSON array".into()));
                    }
                    q.fields = Some(v);
                }
                "filter" => q.filter = Some(value),
                key => q.conditions.push(parse_condition(key, value)?),
            }
        }
        Ok(q)
    }
}

fn parse_condition(key: &str, value: String) -> Result<Condition, WireError> {
    let (head, mut rest) = match key.find('[') {
        Some(i) => (&key[..i], &key[i..]),
        None => (key, ""),
    };
    if !valid_name(head) {
        return Err(WireError::Query(format!(
            "{key:?} is not an attribute name"
        )));
    }
    let mut parts = vec![normalize(head)];
    while !rest.is_empty() {
        let inner = rest
            .strip_prefix('[')
            .and_then(|r| r.find(']').map(|end| (&r[..end], &r[end + 1..])))
            .ok_or_else(|| WireError::Query(format!("unbalanced brackets in {key:?}")))?;
        parts.push(inner.0.to_string());
        rest = inner.1;
    }
    // The last bracket is an operator when it names one; otherwise it is an association attribute.
    let op = match parts.last().and_then(|p| Op::from_name(p)) {
        Some(op) if parts.len() > 1 => {
            parts.pop();
            op
        }
        _ => Op::Eq,
    };
    for p in parts.iter_mut().skip(1) {
        if !valid_name(p) {
            return Err(WireError::Query(format!(
                "unknown operator or attribute [{p}] in {key:?}"
            )));
        }
        *p = normalize(p);
    }
    Ok(Condition {
        path: parts,
        op,
        value,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn renders_coupa_syntax() {
        let q = Query::new()
            .eq("login", "USER_TEST")
            .filter_by("manager.login", Op::Contains, "a b")
            .filter_by("employee-number", Op::In, "1,2")
            .order_by("updated-at", Dir::Desc)
            .limit(50)
            .offset(100)
            .return_object(ReturnObject::Shallow)
            .fields(json!(["id", {"roles": ["name"]}]));
        let s = q.to_query_string();
        assert_eq!(
            s,
            "login=USER_TEST&manager[login][contains]=a+b&employee_number[in]=1%2C2&order_by=updated_at\
             &dir=desc&limit=50&offset=100&return_object=shallow&fields=%5B%22id%22%2C%7B%22roles%22%3A%5B%22name%22%5D%7D%5D"
        );
        assert_eq!(Query::parse(&s).unwrap(), q);
    }

    #[test]
    fn every_operator_parses() {
        for op in Op::ALL {
            let q = Query::new().filter_by("created_at", op, "2020-01-01T00:00:00Z");
            assert_eq!(Query::parse(&q.to_query_string()).unwrap(), q, "{op:?}");
        }
    }

    #[test]
    fn dashed_and_underscored_names_are_the_same() {
        assert_eq!(
            Query::parse("employee-number=1").unwrap(),
            Query::parse("employee_number=1").unwrap()
        );
        let q = Query::parse("custom_fields[cost_center][starts_with]=CC").unwrap();
        assert_eq!(q.conditions[0].path, ["custom-fields", "cost-center"]);
        assert_eq!(q.conditions[0].op, Op::StartsWith);
    }

    #[test]
    fn rejects_bad_syntax() {
        for bad in [
            "limit=x",
            "dir=up",
            "login[=x",
            "return_object=all",
            "fields=1",
            "lo%20gin=x",
            "login[bogus!]=x",
        ] {
            assert!(Query::parse(bad).is_err(), "{bad}");
        }
    }
}
