//! From an HR row to the user Coupa should have: `[fields]`, `[custom_fields]`, `[roles]`,
//! `[content_groups]`, `[match]` and the status column applied to one `HrRecord`, and each value
//! checked against the field catalog (lengths, e-mail, flags, managed role names).

use crate::config::{Config, FieldSpec, Piece, SetConfig, Source, Transform};
use crate::fields::{Field, Value};
use crate::hr::{Cell, Column, HrRecord, HrSource, Problem, ReadError, RowError};
use serde::Serialize;
use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

/// The user Coupa should have for one HR person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DesiredUser {
    pub hr_key: String,
    /// The HR row it came from.
    pub row: usize,
    /// False when the status column says the person left.
    pub active: bool,
    /// The value of the `[match]` field, used to find the person in Coupa.
    pub match_value: String,
    /// Every mapped field, roles and content groups included. Empty text means HR has no value.
    pub fields: BTreeMap<Field, Value>,
}

/// The mapping sections of a configuration, bound to the columns they read.
#[derive(Debug, Clone)]
pub struct Mapping {
    hr_file: PathBuf,
    columns: Vec<Column>,
    terminated: Option<(usize, Vec<String>)>,
    rules: Vec<Rule>,
    sets: Vec<SetRule>,
    match_field: Field,
    match_column: Option<usize>,
}

#[derive(Debug, Clone)]
struct Rule {
    field: Field,
    source: Bound,
    transform: Vec<Transform>,
    lookup: Option<BTreeMap<String, String>>,
    default: Option<String>,
    /// Where the value comes from, for error messages: the column, or the configuration key.
    origin: String,
}

#[derive(Debug, Clone)]
enum Bound {
    Column(usize),
    Constant(String),
    Template(Vec<BoundPiece>),
}

#[derive(Debug, Clone)]
enum BoundPiece {
    Text(String),
    Column(usize),
}

#[derive(Debug, Clone)]
struct SetRule {
    field: Field,
    section: &'static str,
    column: usize,
    separator: String,
    /// Managed names by their lower-case form, to accept HR's spelling and send Coupa's.
    managed: BTreeMap<String, String>,
}

impl Mapping {
    pub fn new(config: &Config) -> Mapping {
        let mut columns = Vec::new();
        let mut index = |name: &str, used_by: String| -> usize {
            if let Some(i) = columns.iter().position(|c: &Column| c.name == name) {
                return i;
            }
            columns.push(Column {
                name: name.to_string(),
                used_by,
            });
            columns.len() - 1
        };
        // The HR key is always column 0 (see `hr::open`).
        index(&config.hr.key_column, "[hr].key_column".into());
        let terminated = config.hr.status_column.as_ref().map(|status| {
            let i = index(status, "[hr].status_column".into());
            let values = config
                .hr
                .terminated_values
                .iter()
                .map(|v| v.trim().to_lowercase())
                .collect();
            (i, values)
        });
        let mut bind = |field: Field, key: String, spec: &FieldSpec| -> Rule {
            let (source, origin) = match &spec.source {
                Source::Column(c) => (Bound::Column(index(c, key)), c.clone()),
                Source::Constant(v) => (Bound::Constant(v.clone()), key),
                Source::Template(t) => {
                    let pieces = t
                        .pieces
                        .iter()
                        .map(|p| match p {
                            Piece::Text(s) => BoundPiece::Text(s.clone()),
                            Piece::Column(c) => BoundPiece::Column(index(c, key.clone())),
                        })
                        .collect();
                    (Bound::Template(pieces), key)
                }
            };
            Rule {
                field,
                source,
                transform: spec.transform.clone(),
                lookup: spec.lookup.clone(),
                default: spec.default.clone(),
                origin,
            }
        };
        let mut rules: Vec<Rule> = config
            .fields
            .iter()
            .map(|(field, spec)| bind(field.clone(), format!("[fields].{field}"), spec))
            .collect();
        rules.extend(config.custom_fields.iter().map(|(name, spec)| {
            bind(
                Field::Custom(name.clone()),
                format!("[custom_fields].{name}"),
                spec,
            )
        }));
        let mut set = |field: Field, section: &'static str, c: &SetConfig| SetRule {
            field,
            section,
            column: index(&c.column, format!("[{section}].column")),
            separator: c.separator.clone(),
            managed: c
                .managed
                .iter()
                .map(|n| (n.trim().to_lowercase(), n.trim().to_string()))
                .collect(),
        };
        let mut sets = Vec::new();
        if let Some(c) = &config.roles {
            sets.push(set(Field::Roles, "roles", c));
        }
        if let Some(c) = &config.content_groups {
            sets.push(set(Field::ContentGroups, "content_groups", c));
        }
        let match_field = config.match_rule.coupa_field.clone();
        // Config validation guarantees a column when the field is not mapped.
        let match_column = match (config.spec_for(&match_field), &config.match_rule.hr_column) {
            (None, Some(column)) => Some(index(column, "[match].hr_column".into())),
            _ => None,
        };
        Mapping {
            hr_file: config.hr.path.clone(),
            columns,
            terminated,
            rules,
            sets,
            match_field,
            match_column,
        }
    }

    /// The columns to read from the extract, the HR key first.
    pub fn columns(&self) -> Vec<Column> {
        self.columns.clone()
    }

    pub fn key_column(&self) -> &str {
        self.columns.first().map_or("", |c| c.name.as_str())
    }

    pub fn hr_file(&self) -> &std::path::Path {
        &self.hr_file
    }

    pub fn match_field(&self) -> &Field {
        &self.match_field
    }

    /// The names the connector owns for a set field (roles, content groups), in Coupa's spelling.
    pub fn managed(&self, field: &Field) -> Option<BTreeSet<String>> {
        self.sets
            .iter()
            .find(|s| &s.field == field)
            .map(|s| s.managed.values().cloned().collect())
    }

    /// Every set field with its managed names.
    pub fn managed_sets(&self) -> BTreeMap<Field, BTreeSet<String>> {
        self.sets
            .iter()
            .map(|s| (s.field.clone(), s.managed.values().cloned().collect()))
            .collect()
    }

    /// The desired users of an extract, row by row.
    pub fn read(
        &self,
        source: HrSource,
    ) -> impl Iterator<Item = Result<DesiredUser, ReadError>> + '_ {
        source.map(|row| row.and_then(|record| self.map(&record).map_err(ReadError::Row)))
    }

    /// Maps one HR row, reporting every problem found in it.
    pub fn map(&self, record: &HrRecord) -> Result<DesiredUser, RowError> {
        let mut problems = Vec::new();
        let mut fields = BTreeMap::new();
        for rule in &self.rules {
            match self.value(rule, record).and_then(|text| {
                rule.field
                    .parse(&text)
                    .map_err(|m| format!("{}: {m}", rule.field))
            }) {
                Ok(Some(value)) => {
                    fields.insert(rule.field.clone(), value);
                }
                Ok(None) => {}
                Err(message) => problems.push(Problem::in_column(&rule.origin, message)),
            }
        }
        for set in &self.sets {
            match self.set_value(set, record) {
                Ok(value) => {
                    fields.insert(set.field.clone(), value);
                }
                Err(message) => {
                    problems.push(Problem::in_column(&self.columns[set.column].name, message))
                }
            }
        }
        let match_value = match self.match_column {
            Some(i) => text_of(record, i).map(|t| t.trim().to_string()),
            None => Ok(fields
                .get(&self.match_field)
                .and_then(Value::as_text)
                .unwrap_or_default()
                .to_string()),
        };
        match &match_value {
            Ok(v) if v.is_empty() && problems.is_empty() => {
                problems.push(Problem::in_row(format!(
                    "the {} to match in Coupa is empty; the person cannot be looked up",
                    self.match_field
                )))
            }
            Err(m) => problems.push(Problem::in_row(m.clone())),
            Ok(_) => {}
        }
        let active = match &self.terminated {
            Some((i, terminated)) => match text_of(record, *i) {
                Ok(status) => !terminated.contains(&status.trim().to_lowercase()),
                Err(m) => {
                    problems.push(Problem::in_column(&self.columns[*i].name, m));
                    true
                }
            },
            None => true,
        };
        if !problems.is_empty() {
            return Err(RowError {
                file: self.hr_file.clone(),
                row: record.row,
                key: Some(record.key.clone()),
                problems,
            });
        }
        Ok(DesiredUser {
            hr_key: record.key.clone(),
            row: record.row,
            active,
            match_value: match_value.unwrap_or_default(),
            fields,
        })
    }

    fn value<'a>(&self, rule: &'a Rule, record: &'a HrRecord) -> Result<Cow<'a, str>, String> {
        let mut value = match &rule.source {
            Bound::Column(i) => Cow::Borrowed(text_of(record, *i)?),
            Bound::Constant(v) => Cow::Borrowed(v.as_str()),
            Bound::Template(pieces) => {
                let mut out = String::new();
                for piece in pieces {
                    match piece {
                        BoundPiece::Text(t) => out.push_str(t),
                        BoundPiece::Column(i) => out.push_str(text_of(record, *i)?),
                    }
                }
                Cow::Owned(out)
            }
        };
        for t in &rule.transform {
            value = t.apply(value);
        }
        let default = rule.default.as_deref().map(Cow::Borrowed);
        match (&rule.lookup, default) {
            (_, Some(default)) if value.is_empty() => Ok(default),
            (Some(table), default) if !value.is_empty() => match table.get(value.as_ref()) {
                Some(mapped) => Ok(Cow::Borrowed(mapped.as_str())),
                None => default.ok_or_else(|| {
                    format!(
                        "{}: no entry for {value:?} in the lookup table, and no default",
                        rule.field
                    )
                }),
            },
            _ => Ok(value),
        }
    }

    fn set_value(&self, set: &SetRule, record: &HrRecord) -> Result<Value, String> {
        let names: Vec<&str> = match record.cell(set.column) {
            Some(Cell::Text(t)) => t.split(set.separator.as_str()).collect(),
            Some(Cell::List(items)) => items.iter().map(String::as_str).collect(),
            None => Vec::new(),
        };
        let mut out = BTreeSet::new();
        let mut unknown = Vec::new();
        for name in names.into_iter().map(str::trim).filter(|n| !n.is_empty()) {
            match set.managed.get(&name.to_lowercase()) {
                Some(canonical) => {
                    out.insert(canonical.clone());
                }
                None => unknown.push(format!("{name:?}")),
            }
        }
        if unknown.is_empty() {
            Ok(Value::Set(out))
        } else {
            Err(format!(
                "{} not in [{}].managed ({})",
                unknown.join(", "),
                set.section,
                set.managed.values().cloned().collect::<Vec<_>>().join(", ")
            ))
        }
    }
}

fn text_of(record: &HrRecord, index: usize) -> Result<&str, String> {
    match record.cell(index) {
        Some(Cell::Text(t)) => Ok(t),
        Some(Cell::List(_)) => Err("holds a list; expected one value".into()),
        None => Ok(""),
    }
}
