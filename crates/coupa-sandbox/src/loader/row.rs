//! One data row turned into a user write, as Coupa's loader reads it: which user it is (reference
//! §5.4), the values it sets (§5.5) and the records it names, which must exist.
//!
//! Choices where Coupa is silent: a blank cell leaves the value unchanged; `--NULL--` clears text,
//! list and custom-field cells, and is refused on yes/no, status, number and single-reference cells
//! (Department, Approver Login, Default Currency), which the API path cannot clear either. A name
//! that finds no record fails the row (the API would keep the old value without a word).
//!
//! Phone Work and Phone Mobile are read in the documented form `xxx-yyy-zzzz` or
//! `+aa xxx-yyy-zzzz` (country code, area code, then the number's two groups), with an extension
//! after ` x` or ` ext` (`415-555-0100 x12`), which Coupa does not document; anything else fails the
//! row. An approval-limit cell is an amount and a currency code (`1000.00 USD`) or the name of an
//! existing approval limit; an unknown currency or limit fails the row, as the API refuses it.
//! `--NULL--` clears a phone number or an approval limit. A known Coupa column the sandbox keeps no
//! value for (Receipt and Sourcing approval limits, Pcard…) fails the row when filled, rather than
//! dropping the value.

use super::file::{Column, Row, Table};
use crate::store::{State, StoredUser, UniqueKey};
use crate::validate::humanize;
use coupa_wire::User;
use coupa_wire::flatfile::{self, Kind, NULL};
use serde_json::{Map, Value, json};

/// The user a row writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Target {
    Create,
    Update(i64),
}

/// What a row asks the store to do.
#[derive(Debug)]
pub(crate) struct Write {
    pub target: Target,
    pub input: User,
}

/// What is wrong with one field of a row: the API element (or `base`), the cell as sent, messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub field: String,
    pub value: String,
    pub messages: Vec<String>,
}

/// The associations a cell names by natural key, and how Coupa would name the record it looks for.
const REFERENCES: &[(&str, &str, &str)] = &[
    ("department", "Department", "name"),
    ("manager", "User", "login"),
    ("default-currency", "Currency", "code"),
];

/// Ruby's inspect of a string, as Coupa's lookup messages quote keys.
fn ruby_string(value: &str) -> String {
    format!("\"{}\"", value.replace('\\', "\\\\").replace('"', "\\\""))
}

fn not_found(association: &str, model: &str, key: &str, value: &str) -> String {
    format!(
        "{} unable to find valid {model} record with keys {{{}=>{}}}",
        humanize(association),
        ruby_string(key),
        ruby_string(value)
    )
}

/// A cell that carries a value: not blank.
fn given<'a>(table: &Table, row: &'a Row, header: &str) -> Option<&'a str> {
    table
        .position(header)
        .map(|i| row.cells[i].trim())
        .filter(|c| !c.is_empty())
}

/// The user the row is about (§5.4): by `Id` when given; else by `Employee Number`, with which the
/// row may change the login; else by `Login`, with which it may not change the employee number
/// (Coupa then treats the row as a new user, whose login is taken). No match: a new user.
fn target(state: &State, table: &Table, row: &Row) -> Result<Target, Problem> {
    if let Some(id) = given(table, row, "Id") {
        let problem = |message: String| Problem {
            field: "id".into(),
            value: id.into(),
            messages: vec![message],
        };
        let number: i64 = id
            .parse()
            .map_err(|_| problem(format!("Id must be a whole number, not {id:?}")))?;
        return state
            .user(number)
            .map(|u| Target::Update(u.id()))
            .ok_or_else(|| {
                problem(format!(
                    "Id unable to find valid User record with keys {{\"id\"=>{number}}}"
                ))
            });
    }
    let employee_number = given(table, row, "Employee Number").filter(|&c| c != NULL);
    if let Some(found) = employee_number.and_then(|n| state.find_by(UniqueKey::EmployeeNumber, n)) {
        return Ok(Target::Update(found.id()));
    }
    let by_login = given(table, row, "Login")
        .filter(|&c| c != NULL)
        .and_then(|login| state.find_by(UniqueKey::Login, login));
    match by_login {
        Some(found) if given(table, row, "Employee Number").is_none() => {
            Ok(Target::Update(found.id()))
        }
        _ => Ok(Target::Create),
    }
}

/// Reads a row against the current state: the user it targets and the body of the write.
pub(crate) fn prepare(state: &State, table: &Table, row: &Row) -> Result<Write, Vec<Problem>> {
    let mut problems = Vec::new();
    let target = target(state, table, row).unwrap_or_else(|p| {
        problems.push(p);
        Target::Create
    });
    let current = match target {
        Target::Update(id) => state.user(id),
        Target::Create => None,
    };
    let mut body = Body {
        state,
        current,
        current_own: None,
        map: Map::new(),
        objects: Map::new(),
    };
    for (column, raw) in table.columns.iter().zip(&row.cells) {
        if raw.trim().is_empty() {
            continue;
        }
        if let Err(messages) = body.set(column, raw) {
            let field = column.field().unwrap_or_else(|| match column {
                Column::Coupa(c) => c.header.to_string(),
                Column::CustomField(name) => name.clone(),
            });
            problems.push(Problem {
                field,
                value: raw.clone(),
                messages,
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut map = body.map;
    map.extend(body.objects);
    let input: User = serde_json::from_value(Value::Object(map)).map_err(|e| {
        vec![Problem {
            field: "base".into(),
            value: String::new(),
            messages: vec![format!("The row cannot be read as a user: {e}")],
        }]
    })?;
    Ok(Write { target, input })
}

/// The write's body as Coupa JSON, built cell by cell.
struct Body<'a> {
    state: &'a State,
    current: Option<&'a StoredUser>,
    /// The current user's own attributes as JSON, read when a nested cell first needs them.
    current_own: Option<Map<String, Value>>,
    map: Map<String, Value>,
    /// Nested own records (`default-address`, `custom-fields`…) being filled in.
    objects: Map<String, Value>,
}

impl Body<'_> {
    fn set(&mut self, column: &Column, raw: &str) -> Result<(), Vec<String>> {
        let clear = raw.trim() == NULL;
        let c = match column {
            Column::CustomField(name) => {
                let text = if clear { "" } else { raw };
                self.put_nested(&["custom-fields", name], Some(Value::String(text.into())));
                return Ok(());
            }
            Column::Coupa(c) => c,
        };
        let Some(field) = c.field else {
            return Err(vec![format!(
                "{}: the sandbox keeps no value for this column; leave it blank",
                c.header
            )]);
        };
        if field == "id" {
            return Ok(()); // a key, used to find the user
        }
        let value = cell_value(c, field, raw, clear).map_err(|m| vec![m])?;
        let path: Vec<&str> = field.split('.').collect();
        let head = path[0];
        if let Some(&(_, model, key)) = REFERENCES.iter().find(|(a, _, _)| *a == head) {
            if clear {
                return Err(vec![format!(
                    "{} cannot be cleared with {NULL}; the sandbox, like Coupa's API, keeps the \
                     current value",
                    c.header
                )]);
            }
            self.check_reference(head, model, key, raw.trim())?;
            self.map.insert(head.into(), json!({ key: raw.trim() }));
            return Ok(());
        }
        match head {
            "roles" => self.check_names(head, "Role", &value)?,
            "content-groups" => self.check_names(head, "BusinessGroup", &value)?,
            _ => {}
        }
        if path.len() == 1 {
            self.map.insert(head.into(), value);
        } else {
            self.put_nested(&path, (!clear).then_some(value));
        }
        Ok(())
    }

    /// Sets (or with `None` removes) `path` inside a nested record. The record starts as the user's
    /// current one, so that one cell of an address changes that part only; custom fields start
    /// empty because the store merges them by name.
    fn put_nested(&mut self, path: &[&str], value: Option<Value>) {
        let head = path[0];
        if !self.objects.contains_key(head) {
            let start = match (self.current, head) {
                (Some(u), h) if h != "custom-fields" => self
                    .current_own
                    .get_or_insert_with(|| match serde_json::to_value(&u.user) {
                        Ok(Value::Object(map)) => map,
                        _ => Map::new(),
                    })
                    .get(head)
                    .filter(|v| v.is_object())
                    .cloned(),
                _ => None,
            };
            self.objects.insert(
                head.into(),
                start.unwrap_or_else(|| Value::Object(Map::new())),
            );
        }
        put(&mut self.objects, path, value);
    }

    fn check_reference(
        &self,
        association: &str,
        model: &str,
        key: &str,
        value: &str,
    ) -> Result<(), Vec<String>> {
        let setup = &self.state.setup;
        let found = match association {
            "department" => setup.departments.find(value).is_some(),
            "default-currency" => setup.currencies.find(value).is_some(),
            _ => self.state.find_by(UniqueKey::Login, value).is_some(),
        };
        if found {
            Ok(())
        } else {
            Err(vec![not_found(association, model, key, value)])
        }
    }

    /// Every name of a role or content-group list must exist.
    fn check_names(&self, association: &str, model: &str, list: &Value) -> Result<(), Vec<String>> {
        let setup = &self.state.setup;
        let missing: Vec<String> = list
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|item| item["name"].as_str())
            .filter(|name| match association {
                "roles" => setup.roles.find(name).is_none(),
                _ => setup.content_groups.find(name).is_none(),
            })
            .map(|name| not_found(association, model, "name", name))
            .collect();
        if missing.is_empty() {
            Ok(())
        } else {
            Err(missing)
        }
    }
}

/// Sets or removes `path` in `node`, making the objects on the way.
fn put(node: &mut Map<String, Value>, path: &[&str], value: Option<Value>) {
    match path {
        [] => {}
        [leaf] => {
            match value {
                Some(v) => node.insert((*leaf).into(), v),
                None => node.remove(*leaf),
            };
        }
        [head, rest @ ..] => {
            let child = node
                .entry(*head)
                .or_insert_with(|| Value::Object(Map::new()));
            if !child.is_object() {
                *child = Value::Object(Map::new());
            }
            if let Value::Object(map) = child {
                put(map, rest, value);
            }
        }
    }
}

/// A cell's value in the API's terms, or why it cannot be one.
fn cell_value(c: &flatfile::Column, field: &str, raw: &str, clear: bool) -> Result<Value, String> {
    let refuse_clear = || {
        Err(format!(
            "{} cannot be cleared with {NULL}; give a value or leave the cell blank",
            c.header
        ))
    };
    match c.kind {
        Kind::Phone if clear => Ok(json!({ "number": "" })),
        Kind::Phone => phone_cell(raw).ok_or_else(|| {
            format!(
                "{} must be written xxx-yyy-zzzz or +aa xxx-yyy-zzzz (an extension after \" x\"), \
                 not {raw:?}",
                c.header
            )
        }),
        Kind::ApprovalLimit if clear => Ok(json!({ "name": "", "amount": "" })),
        Kind::ApprovalLimit => limit_cell(raw).ok_or_else(|| {
            format!(
                "{} must be an amount and a currency code (1000.00 USD) or the name of an \
                 approval limit, not {raw:?}",
                c.header
            )
        }),
        Kind::Text if clear => Ok(Value::String(String::new())),
        // Coupa's template spells the methods `Coupa_Credentials`, `LDAP`, `SAML`; the API's are lowercase.
        Kind::Text if field == "authentication-method" => {
            Ok(Value::String(raw.trim().to_lowercase()))
        }
        Kind::Text => Ok(Value::String(raw.into())),
        Kind::Bool | Kind::Status | Kind::Integer if clear => refuse_clear(),
        Kind::Bool => flatfile::parse_bool_cell(raw)
            .map(Value::Bool)
            .ok_or_else(|| {
                format!(
                    "{} must be Yes or No (or True/False, Y/N, T/F), not {raw:?}",
                    c.header
                )
            }),
        Kind::Status => flatfile::parse_status_cell(raw)
            .map(Value::Bool)
            .ok_or_else(|| format!("Status must be active or inactive, not {raw:?}")),
        Kind::Integer => raw
            .trim()
            .parse::<i64>()
            .map(Value::from)
            .map_err(|_| format!("{} must be a whole number, not {raw:?}", c.header)),
        Kind::List if clear => Ok(Value::Array(Vec::new())),
        Kind::List => {
            let mut names: Vec<&str> = Vec::new();
            for name in raw.split(',').map(str::trim).filter(|n| !n.is_empty()) {
                if !names.iter().any(|n| n.eq_ignore_ascii_case(name)) {
                    names.push(name);
                }
            }
            Ok(Value::Array(
                names.into_iter().map(|n| json!({ "name": n })).collect(),
            ))
        }
    }
}

fn all_digits(text: &str) -> bool {
    !text.is_empty() && text.chars().all(|c| c.is_ascii_digit())
}

/// The number and its extension (` x12`, ` ext 12`).
fn split_extension(text: &str) -> (&str, Option<&str>) {
    if let Some((rest, last)) = text.rsplit_once(' ') {
        if let Some(ext) = last.strip_prefix(['x', 'X']).filter(|e| all_digits(e)) {
            return (rest.trim_end(), Some(ext));
        }
        let marker = rest
            .len()
            .checked_sub(4)
            .and_then(|at| rest.get(at..))
            .is_some_and(|m| m.eq_ignore_ascii_case(" ext"));
        if all_digits(last) && marker {
            return (rest[..rest.len() - 4].trim_end(), Some(last));
        }
    }
    (text, None)
}

/// A phone cell as the API's nested `PhoneNumber`: `[+aa ]xxx-yyy-zzzz[ x123]`.
fn phone_cell(raw: &str) -> Option<Value> {
    let (main, extension) = split_extension(raw.trim());
    let (country, local) = match main.strip_prefix('+') {
        Some(rest) => {
            let (code, local) = rest.split_once(' ')?;
            (
                Some(code).filter(|c| all_digits(c) && c.len() <= 3)?.into(),
                local.trim(),
            )
        }
        None => (None, main),
    };
    let groups: Vec<&str> = local.split('-').collect();
    let [area, exchange, line] = groups[..] else {
        return None;
    };
    if ![area, exchange, line].into_iter().all(all_digits) {
        return None;
    }
    let mut phone = Map::new();
    if let Some(code) = country {
        phone.insert("country-code".into(), json!(code));
    }
    phone.insert("area-code".into(), json!(area));
    phone.insert("number".into(), json!(format!("{exchange}-{line}")));
    if let Some(ext) = extension {
        phone.insert("extension".into(), json!(ext));
    }
    Some(Value::Object(phone))
}

/// An approval-limit cell as the API's nested `ApprovalLimit`: an amount and a currency code, or
/// a limit's name. A cell that starts like a number must be an amount.
fn limit_cell(raw: &str) -> Option<Value> {
    let text = raw.trim();
    if !text.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '.' | '-' | '+')) {
        return Some(json!({ "name": text }));
    }
    let (amount, code) = text.split_once(char::is_whitespace)?;
    let code = code.trim();
    let amount = crate::nested::amount(amount)?;
    (code.len() == 3 && code.chars().all(|c| c.is_ascii_alphabetic()))
        .then(|| json!({ "amount": amount, "currency": { "code": code.to_ascii_uppercase() } }))
}

/// Coupa's validation messages of a refused write, grouped by the element each names (`Email has
/// already been taken` → `email`), with the row's cell for it. A message naming no column of the
/// file is about the whole row (`base`).
pub(crate) fn attribute(table: &Table, row: &Row, messages: Vec<String>) -> Vec<Problem> {
    let mut candidates: Vec<(String, String)> = ["login", "email", "firstname", "lastname"]
        .into_iter()
        .map(|f| (f.to_string(), humanize(f)))
        .collect();
    for column in &table.columns {
        let Some(field) = column.field() else {
            continue;
        };
        candidates.push((field.clone(), humanize(&field.replace('.', " "))));
        if let Some(head) = field.split('.').next() {
            candidates.push((field.clone(), humanize(head)));
        }
        if let Column::CustomField(name) = column {
            candidates.push((field.clone(), humanize(name)));
        }
    }
    let mut problems: Vec<Problem> = Vec::new();
    for message in messages {
        let field = candidates
            .iter()
            .filter(|(_, prefix)| {
                message
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|rest| rest.starts_with(' '))
            })
            .max_by_key(|(_, prefix)| prefix.len())
            .map_or_else(|| "base".to_string(), |(field, _)| field.clone());
        let value = table
            .columns
            .iter()
            .position(|c| c.field().as_deref() == Some(field.as_str()))
            .map(|i| row.cells[i].clone())
            .unwrap_or_default();
        match problems.iter_mut().find(|p| p.field == field) {
            Some(p) => p.messages.push(message),
            None => problems.push(Problem {
                field,
                value,
                messages: vec![message],
            }),
        }
    }
    problems
}
