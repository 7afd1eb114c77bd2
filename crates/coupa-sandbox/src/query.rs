//! `GET /api/users` search: Coupa's conditions (reference §1.4) checked against the stored users,
//! then ordering and paging.
//!
//! Text compares case-insensitively (Coupa runs on MySQL with a case-insensitive collation), numbers
//! numerically, date-times as instants, booleans from `true`/`false`. A missing value (null) matches
//! no comparison, as in SQL; only `[blank]=true` finds it. On a list (roles, content groups) a
//! condition holds when any item meets it, except `not_eq`/`not_in`, which hold when no item equals.
//! Exact and `[in]` conditions on login, email, employee number and mention name use an index.

use crate::render::fullname;
use crate::store::{State, StoredUser, UniqueKey, fold_text};
use chrono::{DateTime, FixedOffset, NaiveDate, NaiveDateTime};
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{Condition, Dir, Op, Query};
use std::borrow::Cow;
use std::cmp::Ordering;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Text,
    Integer,
    Boolean,
    DateTime,
}

impl Kind {
    fn describe(self) -> &'static str {
        match self {
            Kind::Text => "text",
            Kind::Integer => "a number",
            Kind::Boolean => "a boolean",
            Kind::DateTime => "a date-time",
        }
    }

    /// Coupa: `contains`, `starts_with`, `ends_with` and `blank` are not for date-times; substring
    /// operators only make sense on text.
    fn allows(self, op: Op) -> bool {
        match op {
            Op::Contains | Op::StartsWith | Op::EndsWith => self == Kind::Text,
            Op::Gt | Op::Lt | Op::GtOrEq | Op::LtOrEq => self != Kind::Boolean,
            Op::Blank => self != Kind::DateTime,
            Op::Eq | Op::NotEq | Op::In | Op::NotIn => true,
        }
    }
}

/// One attribute value of a user.
#[derive(Debug, Clone, PartialEq)]
enum Scalar<'a> {
    Null,
    Text(Cow<'a, str>),
    Integer(i64),
    Boolean(bool),
    DateTime(DateTime<FixedOffset>),
}

impl<'a> Scalar<'a> {
    fn text(value: Option<&'a str>) -> Scalar<'a> {
        value.map_or(Scalar::Null, |s| Scalar::Text(Cow::Borrowed(s)))
    }

    fn is_blank(&self) -> bool {
        match self {
            Scalar::Null => true,
            Scalar::Text(s) => s.trim().is_empty(),
            _ => false,
        }
    }

    /// Order between two values of one kind; text compares folded. Null sorts first.
    fn compare(&self, other: &Scalar<'_>) -> Ordering {
        match (self, other) {
            (Scalar::Null, Scalar::Null) => Ordering::Equal,
            (Scalar::Null, _) => Ordering::Less,
            (_, Scalar::Null) => Ordering::Greater,
            (Scalar::Text(a), Scalar::Text(b)) => fold_text(a).cmp(&fold_text(b)),
            (Scalar::Integer(a), Scalar::Integer(b)) => a.cmp(b),
            (Scalar::Boolean(a), Scalar::Boolean(b)) => a.cmp(b),
            (Scalar::DateTime(a), Scalar::DateTime(b)) => a.cmp(b),
            _ => Ordering::Equal,
        }
    }
}

/// An attribute of a user that can be searched and ordered on.
struct Field {
    name: &'static str,
    kind: Kind,
    get: for<'a> fn(&'a StoredUser) -> Scalar<'a>,
}

macro_rules! fields {
    ($($name:literal: $kind:ident = |$u:ident| $get:expr;)*) => {
        &[$(Field { name: $name, kind: Kind::$kind, get: |$u| $get },)*]
    };
}

fn flag(value: Option<bool>) -> Scalar<'static> {
    value.map_or(Scalar::Null, Scalar::Boolean)
}

fn int(value: Option<i64>) -> Scalar<'static> {
    value.map_or(Scalar::Null, Scalar::Integer)
}

fn date(value: Option<DateTime<FixedOffset>>) -> Scalar<'static> {
    value.map_or(Scalar::Null, Scalar::DateTime)
}

/// The user's own searchable attributes, by element name (queries may use `_` for `-`).
const FIELDS: &[Field] = fields! {
    "id": Integer = |u| int(u.user.id);
    "created-at": DateTime = |u| date(u.user.created_at);
    "updated-at": DateTime = |u| date(u.user.updated_at);
    "login": Text = |u| Scalar::text(u.user.login.as_deref());
    "email": Text = |u| Scalar::text(u.user.email.as_deref());
    "firstname": Text = |u| Scalar::text(u.user.firstname.as_deref());
    "lastname": Text = |u| Scalar::text(u.user.lastname.as_deref());
    "middlename": Text = |u| Scalar::text(u.user.middlename.as_deref());
    "fullname": Text = |u| fullname(&u.user).map_or(Scalar::Null, |s| Scalar::Text(Cow::Owned(s)));
    "employee-number": Text = |u| Scalar::text(u.user.employee_number.as_deref());
    "mention-name": Text = |u| Scalar::text(u.user.mention_name.as_deref());
    "active": Boolean = |u| flag(u.user.active);
    // Coupa's Users article queries `status=active` / `status=inactive`.
    "status": Text = |u| Scalar::Text(Cow::Borrowed(if u.user.active == Some(false) { "inactive" } else { "active" }));
    "salesforce-id": Text = |u| Scalar::text(u.user.salesforce_id.as_deref());
    "api-user": Boolean = |u| flag(u.user.api_user);
    "authentication-method": Text = |u| Scalar::text(u.user.authentication_method.as_deref());
    "sso-identifier": Text = |u| Scalar::text(u.user.sso_identifier.as_deref());
    "account-security-type": Integer = |u| int(u.user.account_security_type);
    "business-group-security-type": Integer = |u| int(u.user.business_group_security_type);
    "default-locale": Text = |u| Scalar::text(u.user.default_locale.as_deref());
    "seniority-level": Text = |u| Scalar::text(u.user.seniority_level.as_deref());
    "business-function": Text = |u| Scalar::text(u.user.business_function.as_deref());
    "employee-payment-channel": Text = |u| Scalar::text(u.user.employee_payment_channel.as_deref());
    "purchasing-user": Boolean = |u| flag(u.user.purchasing_user);
    "expense-user": Boolean = |u| flag(u.user.expense_user);
    "sourcing-user": Boolean = |u| flag(u.user.sourcing_user);
    "inventory-user": Boolean = |u| flag(u.user.inventory_user);
    "contracts-user": Boolean = |u| flag(u.user.contracts_user);
    "analytics-user": Boolean = |u| flag(u.user.analytics_user);
    "ccw-user": Boolean = |u| flag(u.user.ccw_user);
    "risk-assess-user": Boolean = |u| flag(u.user.risk_assess_user);
    "supply-chain-user": Boolean = |u| flag(u.user.supply_chain_user);
    "travel-user": Boolean = |u| flag(u.user.travel_user);
    "treasury-user": Boolean = |u| flag(u.user.treasury_user);
    "clm-advanced-user": Boolean = |u| flag(u.user.clm_advanced_user);
    "category-planner-user": Boolean = |u| flag(u.user.category_planner_user);
    "edit-invoice-on-quick-entry": Boolean = |u| flag(u.user.edit_invoice_on_quick_entry);
    // Coupa's foreign-key shorthand (`manager_id=1`).
    "manager-id": Integer = |u| int(u.manager);
    "department-id": Integer = |u| int(u.department);
    "default-currency-id": Integer = |u| int(u.default_currency);
};

fn field(name: &str) -> Option<&'static Field> {
    FIELDS.iter().find(|f| f.name == name)
}

/// An attribute of a setup record a user refers to.
#[derive(Debug, Clone, Copy)]
enum SetupAttr {
    Id,
    Name,
    Description,
    Active,
    Code,
}

impl SetupAttr {
    fn parse(association: &str, name: &str) -> Option<SetupAttr> {
        Some(match (association, name) {
            (_, "id") => SetupAttr::Id,
            ("department" | "roles" | "content-groups", "name") => SetupAttr::Name,
            ("roles" | "content-groups", "description") => SetupAttr::Description,
            ("department", "active") => SetupAttr::Active,
            ("default-currency", "code") => SetupAttr::Code,
            ("default-currency", "name") => SetupAttr::Name,
            _ => return None,
        })
    }

    fn kind(self) -> Kind {
        match self {
            SetupAttr::Id => Kind::Integer,
            SetupAttr::Active => Kind::Boolean,
            _ => Kind::Text,
        }
    }
}

/// What a condition looks at.
enum Target {
    Own(&'static Field),
    Manager(&'static Field),
    Department(SetupAttr),
    Currency(SetupAttr),
    Roles(SetupAttr),
    ContentGroups(SetupAttr),
    CustomField(String),
}

impl Target {
    fn kind(&self) -> Kind {
        match self {
            Target::Own(f) | Target::Manager(f) => f.kind,
            Target::Department(a)
            | Target::Currency(a)
            | Target::Roles(a)
            | Target::ContentGroups(a) => a.kind(),
            Target::CustomField(_) => Kind::Text,
        }
    }

    fn is_list(&self) -> bool {
        matches!(self, Target::Roles(_) | Target::ContentGroups(_))
    }

    /// The values the condition sees on `u`: one (maybe null) for an attribute, any number for a list.
    fn values<'a>(&self, state: &'a State, u: &'a StoredUser) -> Vec<Scalar<'a>> {
        let setup = &state.setup;
        let text = |s: &'a Option<String>| Scalar::text(s.as_deref());
        match self {
            Target::Own(f) => vec![(f.get)(u)],
            Target::Manager(f) => vec![
                u.manager
                    .and_then(|id| state.user(id))
                    .map_or(Scalar::Null, f.get),
            ],
            Target::Department(a) => vec![
                u.department
                    .and_then(|id| setup.departments.get(id))
                    .map_or(Scalar::Null, |d| match a {
                        SetupAttr::Id => int(d.id),
                        SetupAttr::Active => flag(d.active),
                        _ => text(&d.name),
                    }),
            ],
            Target::Currency(a) => vec![
                u.default_currency
                    .and_then(|id| setup.currencies.get(id))
                    .map_or(Scalar::Null, |c| match a {
                        SetupAttr::Id => int(c.id),
                        SetupAttr::Name => text(&c.name),
                        _ => text(&c.code),
                    }),
            ],
            Target::Roles(a) => u
                .roles
                .iter()
                .filter_map(|&id| setup.roles.get(id))
                .map(|r| match a {
                    SetupAttr::Id => int(r.id),
                    SetupAttr::Description => text(&r.description),
                    _ => text(&r.name),
                })
                .collect(),
            Target::ContentGroups(a) => u
                .content_groups
                .iter()
                .filter_map(|&id| setup.content_groups.get(id))
                .map(|g| match a {
                    SetupAttr::Id => int(g.id),
                    SetupAttr::Description => text(&g.description),
                    _ => text(&g.name),
                })
                .collect(),
            Target::CustomField(name) => vec![Scalar::text(
                u.user
                    .custom_fields
                    .as_ref()
                    .and_then(|m| m.get(name))
                    .and_then(|v| v.as_str()),
            )],
        }
    }
}

/// A condition checked and ready to run.
struct Test {
    target: Target,
    op: Op,
    /// The value(s) to compare with, already parsed to the target's kind (text folded).
    operands: Vec<Scalar<'static>>,
    /// For `[blank]`.
    blank: bool,
}

/// `manager[login]`, as the caller wrote it.
fn display(c: &Condition) -> String {
    let mut parts = c.path.iter().map(|p| p.replace('-', "_"));
    let mut out = parts.next().unwrap_or_default();
    for p in parts {
        out.push_str(&format!("[{p}]"));
    }
    if let Some(op) = c.op.name() {
        out.push_str(&format!("[{op}]"));
    }
    out
}

fn compile(state: &State, c: &Condition) -> Result<Test, String> {
    let shown = display(c);
    let unknown = || format!("Unknown search attribute {shown}: users have no such attribute");
    let unknown_op = |word: &str| format!("Unknown operator [{word}] in {shown}");
    let (head, rest) = c.path.split_first().ok_or_else(unknown)?;
    let target = match (head.as_str(), rest) {
        (name, []) => Target::Own(field(name).ok_or_else(unknown)?),
        ("manager", [attr]) => Target::Manager(field(attr).ok_or_else(unknown)?),
        (assoc @ ("department" | "default-currency" | "roles" | "content-groups"), [attr]) => {
            let a = SetupAttr::parse(assoc, attr).ok_or_else(unknown)?;
            match assoc {
                "department" => Target::Department(a),
                "default-currency" => Target::Currency(a),
                "roles" => Target::Roles(a),
                _ => Target::ContentGroups(a),
            }
        }
        ("custom-fields", [name]) => {
            let def = state
                .setup
                .custom_fields
                .find(name)
                .and_then(|f| f.name.clone());
            Target::CustomField(def.ok_or_else(unknown)?)
        }
        (name, [.., extra]) if field(name).is_some() || rest.len() > 1 => {
            return Err(unknown_op(extra));
        }
        _ => return Err(unknown()),
    };
    let kind = target.kind();
    if !kind.allows(c.op) {
        let op = c.op.name().unwrap_or("exact match");
        return Err(format!(
            "Operator {op} does not apply to {shown}, which is {}",
            kind.describe()
        ));
    }
    let mut test = Test {
        target,
        op: c.op,
        operands: Vec::new(),
        blank: false,
    };
    match c.op {
        Op::Blank => {
            test.blank = parse_bool(&c.value)
                .ok_or_else(|| format!("{shown}: expected true or false, found {:?}", c.value))?;
        }
        Op::In | Op::NotIn => {
            for v in c.values() {
                test.operands
                    .push(operand(kind, v).map_err(|e| format!("{shown}: {e}"))?);
            }
        }
        _ => test
            .operands
            .push(operand(kind, &c.value).map_err(|e| format!("{shown}: {e}"))?),
    }
    Ok(test)
}

fn parse_bool(value: &str) -> Option<bool> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Some(true),
        "false" => Some(false),
        _ => None,
    }
}

/// A date-time in any form Coupa's examples use: ISO-8601 with an offset, a bare date (midnight
/// UTC), or `2015-04-16 22:00:00` (UTC), optionally in single quotes.
pub(crate) fn parse_datetime(value: &str) -> Option<DateTime<FixedOffset>> {
    let v = value.trim().trim_matches('\'');
    if let Ok(d) = DateTime::parse_from_rfc3339(v) {
        return Some(d);
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S"] {
        if let Ok(d) = NaiveDateTime::parse_from_str(v, format) {
            return Some(d.and_utc().fixed_offset());
        }
    }
    NaiveDate::parse_from_str(v, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc().fixed_offset())
}

fn operand(kind: Kind, value: &str) -> Result<Scalar<'static>, String> {
    match kind {
        Kind::Text => Ok(Scalar::Text(Cow::Owned(fold_text(value)))),
        Kind::Integer => value
            .trim()
            .parse()
            .map(Scalar::Integer)
            .map_err(|_| format!("expected a whole number, found {value:?}")),
        Kind::Boolean => parse_bool(value)
            .map(Scalar::Boolean)
            .ok_or_else(|| format!("expected true or false, found {value:?}")),
        Kind::DateTime => parse_datetime(value)
            .map(Scalar::DateTime)
            .ok_or_else(|| format!("expected an ISO-8601 date-time, found {value:?}")),
    }
}

impl Test {
    fn matches(&self, state: &State, u: &StoredUser) -> bool {
        let values = self.target.values(state, u);
        if self.op == Op::Blank {
            let blank = if self.target.is_list() {
                values.is_empty()
            } else {
                values.iter().all(Scalar::is_blank)
            };
            return blank == self.blank;
        }
        let present = values.iter().filter(|v| **v != Scalar::Null);
        match self.op {
            // Negative tests hold when no item equals; a missing value matches nothing, as in SQL.
            Op::NotEq | Op::NotIn if self.target.is_list() => {
                !values.iter().any(|v| self.equals_any(v))
            }
            Op::NotEq | Op::NotIn => values
                .iter()
                .all(|v| *v != Scalar::Null && !self.equals_any(v)),
            _ => present.into_iter().any(|v| self.holds(v)),
        }
    }

    fn equals_any(&self, value: &Scalar<'_>) -> bool {
        self.operands
            .iter()
            .any(|o| value.compare(o) == Ordering::Equal)
    }

    fn holds(&self, value: &Scalar<'_>) -> bool {
        let Some(first) = self.operands.first() else {
            return false;
        };
        let text = |f: fn(&str, &str) -> bool| match (value, first) {
            (Scalar::Text(v), Scalar::Text(o)) => f(&fold_text(v), o),
            _ => false,
        };
        match self.op {
            Op::Eq | Op::In => self.equals_any(value),
            Op::Gt => value.compare(first) == Ordering::Greater,
            Op::Lt => value.compare(first) == Ordering::Less,
            Op::GtOrEq => value.compare(first) != Ordering::Less,
            Op::LtOrEq => value.compare(first) != Ordering::Greater,
            Op::Contains => text(|v, o| v.contains(o)),
            Op::StartsWith => text(|v, o| v.starts_with(o)),
            Op::EndsWith => text(|v, o| v.ends_with(o)),
            Op::NotEq | Op::NotIn | Op::Blank => false,
        }
    }

    /// The users an index finds for this test, when it is an exact or `[in]` test on a unique key.
    fn indexed<'a>(&self, state: &'a State) -> Option<Vec<&'a StoredUser>> {
        let Target::Own(f) = self.target else {
            return None;
        };
        let key = UniqueKey::from_element(f.name)?;
        if !matches!(self.op, Op::Eq | Op::In) {
            return None;
        }
        let mut found: Vec<&StoredUser> = self
            .operands
            .iter()
            .filter_map(|o| match o {
                Scalar::Text(v) => state.find_by(key, v),
                _ => None,
            })
            .collect();
        found.sort_by_key(|u| u.id());
        found.dedup_by_key(|u| u.id());
        Some(found)
    }
}

/// The page of users a query selects, in order.
pub(crate) fn search<'a>(state: &'a State, query: &Query) -> Result<Vec<&'a StoredUser>, String> {
    if let Some(name) = &query.filter {
        return Err(format!("API filter {name:?} does not exist"));
    }
    let tests = query
        .conditions
        .iter()
        .map(|c| compile(state, c))
        .collect::<Result<Vec<_>, _>>()?;
    let order = match &query.order_by {
        Some(name) => Some(
            field(name)
                .ok_or_else(|| format!("Unknown order_by attribute {}", name.replace('-', "_")))?,
        ),
        None => None,
    };
    let limit = match query.limit {
        Some(0) => return Err("limit must be at least 1".into()),
        Some(n) => n.min(MAX_LIMIT),
        None => MAX_LIMIT,
    } as usize;
    let offset = query.offset.unwrap_or(0) as usize;
    let desc = query.dir == Some(Dir::Desc);
    let keep = |u: &&StoredUser| tests.iter().all(|t| t.matches(state, u));
    let candidates: Box<dyn DoubleEndedIterator<Item = &StoredUser>> =
        match tests.iter().find_map(|t| t.indexed(state)) {
            Some(found) => Box::new(found.into_iter()),
            None => Box::new(state.users.values().map(|u| &**u)),
        };
    let Some(order) = order.filter(|f| f.name != "id") else {
        // Candidates come in id order: page without collecting everything.
        let page: Vec<&StoredUser> = if desc {
            candidates
                .rev()
                .filter(keep)
                .skip(offset)
                .take(limit)
                .collect()
        } else {
            candidates.filter(keep).skip(offset).take(limit).collect()
        };
        return Ok(page);
    };
    let mut all: Vec<&StoredUser> = candidates.filter(keep).collect();
    all.sort_by(|a, b| {
        let by = (order.get)(a).compare(&(order.get)(b));
        let by = if desc { by.reverse() } else { by };
        by.then(a.id().cmp(&b.id()))
    });
    Ok(all.into_iter().skip(offset).take(limit).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_coupa_date_forms() {
        let want = DateTime::parse_from_rfc3339("2015-04-16T22:00:00Z").unwrap();
        for v in [
            "2015-04-16T22:00:00Z",
            "2015-04-16T15:00:00-07:00",
            "'2015-04-16 22:00:00'",
            "2015-04-16T22:00:00",
        ] {
            assert_eq!(parse_datetime(v), Some(want), "{v}");
        }
        assert_eq!(
            parse_datetime("2015-04-16").map(|d| d.to_rfc3339()),
            Some("2015-04-16T00:00:00+00:00".into())
        );
        assert_eq!(parse_datetime("yesterday"), None);
    }

    #[test]
    fn every_field_name_is_unique() {
        for (i, f) in FIELDS.iter().enumerate() {
            assert!(
                FIELDS[i + 1..].iter().all(|g| g.name != f.name),
                "{}",
                f.name
            );
        }
    }
}
