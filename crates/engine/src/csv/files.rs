//! The users files of a plan, as Coupa's users import documents them (reference §5): Coupa's
//! headers in their documented order, every field quoted, UTF-8 without BOM, at most 5,000 rows and
//! 8 MB per file, named so that they sort in the order they must load.
//!
//! A row carries only what changes, plus the columns that find the user: Coupa leaves a blank cell
//! alone, so the row is the same delta the API path would PUT. The key follows Coupa's matching
//! rules (§5.4): `Employee Number` when the user has one that does not change (then `Login` may
//! change), `Login` when neither changes, and Coupa's `Id` otherwise, so that no row can be taken
//! for a new user and create a duplicate. A new user's row has no `Id`: nothing matches it, and
//! Coupa creates it.

use crate::config::Config;
use crate::detect::{AppliedPerson, AppliedState};
use crate::fields::{Field, Kind, Standard, Value};
use crate::plan::{Action, FieldChange, Plan};
use crate::verify::{action_name, requested};
use coupa_wire::User;
use coupa_wire::flatfile::{self, MAX_BYTES, MAX_ROWS, NULL, USER_COLUMNS};
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};

/// Every users file name starts so; the rest is a timestamp and a sequence number.
pub const FILE_PREFIX: &str = "users_";

/// Which CSV column carries each field.
#[derive(Debug, Clone)]
pub struct Layout {
    /// Every standard field, roles, content groups and the mapped custom fields, with their column.
    columns: Vec<(Field, Column)>,
}

/// A column of a file: its place in Coupa's documented order (custom fields after) and header.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Column {
    order: usize,
    header: Cow<'static, str>,
}

impl Layout {
    /// Fails, naming the configuration key, when a mapped custom field has no header.
    pub fn new(config: &Config) -> Result<Layout, String> {
        let missing: Vec<&str> = config
            .custom_fields
            .keys()
            .filter(|name| !config.csv.custom_field_headers.contains_key(*name))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            return Err(format!(
                "[csv.custom_field_headers] has no column header for the custom field(s) {}: Coupa's \
                 CSV names a custom field by its prompt (e.g. cost-center = \"Cost Center\")",
                missing.join(", ")
            ));
        }
        let standard = Standard::ALL
            .into_iter()
            .map(Field::Standard)
            .chain([Field::Roles, Field::ContentGroups])
            .filter_map(|field| {
                let path = flatfile_path(&field)?;
                let order = USER_COLUMNS.iter().position(|c| c.field == Some(path))?;
                let header = Cow::Borrowed(USER_COLUMNS[order].header);
                Some((field, Column { order, header }))
            });
        let custom =
            config
                .csv
                .custom_field_headers
                .iter()
                .enumerate()
                .map(|(i, (name, header))| {
                    let column = Column {
                        order: USER_COLUMNS.len() + i,
                        header: Cow::Owned(header.clone()),
                    };
                    (Field::Custom(name.clone()), column)
                });
        Ok(Layout {
            columns: standard.chain(custom).collect(),
        })
    }

    fn column(&self, field: &Field) -> Option<&Column> {
        self.columns
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, c)| c)
    }

    /// The header of the column carrying `field`.
    pub fn header(&self, field: &Field) -> Option<&str> {
        self.column(field).map(|c| c.header.as_ref())
    }

    fn key_column(header: &'static str) -> Column {
        let order = USER_COLUMNS
            .iter()
            .position(|c| c.header == header)
            .unwrap_or_default();
        Column {
            order,
            header: Cow::Borrowed(header),
        }
    }
}

/// The API element a standard field's column sets, as `coupa_wire::flatfile` names it.
pub(super) fn flatfile_path(field: &Field) -> Option<&'static str> {
    Some(match field {
        Field::Standard(s) => match s {
            Standard::Department => "department.name",
            Standard::Manager => "manager.login",
            Standard::DefaultCurrency => "default-currency.code",
            Standard::CountryOfResidence => "country-of-residence.code",
            Standard::LegalEntity => "legal-entity.name",
            other => other.name(),
        },
        Field::Roles => "roles",
        Field::ContentGroups => "content-groups",
        Field::Custom(_) => return None,
    })
}

/// How Coupa finds the user a row is about (§5.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RowKey {
    /// A new user: nothing matches, Coupa creates it.
    New,
    EmployeeNumber,
    Login,
    /// Coupa's own id: every field, login and employee number included, may change.
    Id,
}

/// A row as written: whose it is, and how Coupa finds the user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrittenRow {
    /// Index in `Plan::people`.
    pub person: usize,
    pub key: RowKey,
    /// The user's login once loaded (as written), when known: a created user is found by it.
    pub login: Option<String>,
}

/// One person's row as the store keeps it, so that Coupa's row errors and the read-back can be
/// attributed to them and judged, even by a later run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileRow {
    pub hr_key: String,
    /// The user's login once loaded (as written), when known: a created user is found by it.
    pub login: Option<String>,
    pub coupa_id: Option<i64>,
    /// The plan's action (`create`, `update`…).
    pub action: String,
    pub key: RowKey,
    /// What the row asks of Coupa; `new` is the value Coupa should hold once the row is loaded
    /// (neutralised formulas included).
    pub changes: Vec<FieldChange>,
    /// What to remember as applied once the person is verified.
    pub applied: Option<AppliedPerson>,
}

impl FileRow {
    /// The stored form of a written row of `plan`; `applied` is the state before the run.
    pub fn of(plan: &Plan, row: &WrittenRow, applied: &AppliedState) -> FileRow {
        let person = &plan.people[row.person];
        FileRow {
            hr_key: person.hr_key.clone(),
            login: row.login.clone(),
            coupa_id: person.coupa_id(),
            action: action_name(&person.action).into(),
            key: row.key,
            changes: requested(&person.action)
                .into_iter()
                .map(|c| FieldChange {
                    new: expected(&c.field, &c.new),
                    ..c
                })
                .collect(),
            applied: person.applied_after(applied.get(&person.hr_key)),
        }
    }
}

/// One users file.
#[derive(Debug, Clone)]
pub struct UsersFile {
    pub name: String,
    pub content: Vec<u8>,
    /// Its data rows, in file order.
    pub rows: Vec<WrittenRow>,
}

/// A person the plan wanted changed whose change no users file can carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    /// Index in `Plan::people`.
    pub person: usize,
    pub message: String,
}

/// The files of a plan, and the people left out of them.
#[derive(Debug, Clone, Default)]
pub struct Batch {
    pub files: Vec<UsersFile>,
    pub refused: Vec<Refused>,
}

impl Batch {
    pub fn rows(&self) -> usize {
        self.files.iter().map(|f| f.rows.len()).sum()
    }
}

static ACTIVE: Field = Field::ACTIVE;
static INACTIVE: Value = Value::Bool(false);

/// The fields a person's action writes, borrowed from the plan: a deactivation writes
/// `Status = inactive`.
fn written(action: &Action) -> Vec<(&Field, &Value)> {
    match action {
        Action::Create { changes }
        | Action::Update { changes, .. }
        | Action::Reactivate { changes, .. } => {
            changes.iter().map(|c| (&c.field, &c.new)).collect()
        }
        Action::Deactivate { .. } => vec![(&ACTIVE, &INACTIVE)],
        Action::Nothing { .. } | Action::Error { .. } => Vec::new(),
    }
}

/// The column asking Coupa to e-mail a new user a password invitation.
const INVITE_HEADER: &str = "Generate Password And Notify User";

/// Whether this row asks for the invitation: a create, with `[sync].invite_new_users`.
fn invites(plan: &Plan, action: &Action) -> bool {
    plan.invite_new_users && matches!(action, Action::Create { .. })
}

/// Writes the users files of `plan`. `coupa` holds the users the plan was built against (a row is
/// keyed by what Coupa holds), `stamp` is the files' timestamp (see [`next_stamp`]). Rows are
/// rendered straight into the files' text: 100,000 people cost little more than the text itself.
pub fn write(plan: &Plan, coupa: &[User], layout: &Layout, stamp: &str) -> Batch {
    let by_id: HashMap<i64, &User> = coupa
        .iter()
        .filter_map(|u| u.id.map(|id| (id, u)))
        .collect();
    let mut batch = Batch::default();

    // The header: every column some row fills, in Coupa's order.
    let mut columns: BTreeSet<Column> = BTreeSet::new();
    let mut keyed = Vec::with_capacity(plan.people.len());
    for (i, person) in plan.people.iter().enumerate() {
        let current = person.coupa_id().and_then(|id| by_id.get(&id).copied());
        let fields = written(&person.action);
        if fields.is_empty() {
            continue;
        }
        let key = key_of(person.coupa_id(), &fields, current);
        let mut refused = None;
        for (field, _) in &fields {
            match layout.column(field) {
                Some(column) => {
                    columns.insert(column.clone());
                }
                None => {
                    refused = Some(format!(
                        "{field} has no column in Coupa's users CSV (a custom field needs a header in [csv.custom_field_headers])"
                    ));
                }
            }
        }
        if let Some(message) = refused {
            batch.refused.push(Refused { person: i, message });
            continue;
        }
        for (header, value) in repeated_keys(&fields, current) {
            if value.is_some() {
                columns.insert(Layout::key_column(header));
            }
        }
        if key == RowKey::Id {
            columns.insert(Layout::key_column("Id"));
        }
        if invites(plan, &person.action) {
            columns.insert(Layout::key_column(INVITE_HEADER));
        }
        keyed.push((i, key, current));
    }
    let header: Vec<Column> = columns.into_iter().collect();
    let slot = |column: &Column| header.binary_search(column).ok();
    let id_at = slot(&Layout::key_column("Id"));
    let key_at = ["Login", "Employee Number"].map(|h| slot(&Layout::key_column(h)));
    let invite_at = slot(&Layout::key_column(INVITE_HEADER));
    let mut head = String::new();
    flatfile::write_record(
        &mut head,
        &header.iter().map(|c| c.header.as_ref()).collect::<Vec<_>>(),
    );

    let mut content = head.clone();
    let mut rows: Vec<WrittenRow> = Vec::new();
    let mut line = String::new();
    let mut cells: Vec<Cow<'_, str>> = Vec::with_capacity(header.len());
    for (i, key, current) in keyed {
        let person = &plan.people[i];
        let fields = written(&person.action);
        cells.clear();
        cells.resize(header.len(), Cow::Borrowed(""));
        let mut refused = None;
        let mut login = current.and_then(|u| u.login.clone());
        for (field, value) in &fields {
            match cell(field, value) {
                Ok(text) => {
                    if **field == Field::LOGIN {
                        login = Some(text.clone().into_owned());
                    }
                    if let Some(at) = layout.column(field).and_then(slot) {
                        cells[at] = text;
                    }
                }
                Err(message) => refused = Some(message),
            }
        }
        if let Some(message) = refused {
            batch.refused.push(Refused { person: i, message });
            continue;
        }
        for ((_, value), at) in repeated_keys(&fields, current).into_iter().zip(key_at) {
            if let (Some(value), Some(at)) = (value, at) {
                cells[at] = Cow::Borrowed(value);
            }
        }
        if let (RowKey::Id, Some(id), Some(at)) = (key, person.coupa_id(), id_at) {
            cells[at] = Cow::Owned(id.to_string());
        }
        if let (true, Some(at)) = (invites(plan, &person.action), invite_at) {
            cells[at] = Cow::Borrowed("Yes");
        }
        line.clear();
        flatfile::write_record(&mut line, &cells);
        if head.len() + line.len() > MAX_BYTES {
            batch.refused.push(Refused {
                person: i,
                message: format!(
                    "the person's row alone is {} bytes, more than Coupa's {MAX_BYTES}-byte file limit",
                    line.len()
                ),
            });
            continue;
        }
        if rows.len() == MAX_ROWS || content.len() + line.len() > MAX_BYTES {
            let full = std::mem::replace(&mut content, head.clone());
            batch.files.push(UsersFile {
                name: file_name(stamp, batch.files.len() + 1),
                content: full.into_bytes(),
                rows: std::mem::take(&mut rows),
            });
        }
        content.push_str(&line);
        rows.push(WrittenRow {
            person: i,
            key,
            login,
        });
    }
    if !rows.is_empty() {
        batch.files.push(UsersFile {
            name: file_name(stamp, batch.files.len() + 1),
            content: content.into_bytes(),
            rows,
        });
    }
    batch.refused.sort_by_key(|r| r.person);
    batch
}

/// `users_20261128T120000Z_0001.csv`: the timestamp, then the place in the batch.
pub fn file_name(stamp: &str, sequence: usize) -> String {
    format!("{FILE_PREFIX}{stamp}_{sequence:04}.csv")
}

/// The timestamp for a new batch: now (`20261128T120000Z`), or one second after the newest file
/// ever written when that is not earlier, so new names sort after every earlier one, which is the
/// order Coupa loads files in, and are never reused.
pub fn next_stamp(now: chrono::DateTime<chrono::Utc>, newest: Option<&str>) -> String {
    const FORMAT: &str = "%Y%m%dT%H%M%SZ";
    let newest = newest
        .and_then(|name| name.strip_prefix(FILE_PREFIX))
        .and_then(|rest| rest.split('_').next())
        .and_then(|stamp| chrono::NaiveDateTime::parse_from_str(stamp, FORMAT).ok())
        .map(|t| t.and_utc());
    let at = match newest {
        Some(last) if last >= now => last + chrono::Duration::seconds(1),
        _ => now,
    };
    at.format(FORMAT).to_string()
}

/// What Coupa holds now for a key field, when a cell can repeat it exactly (a formula-like value
/// cannot: its cell would differ, and a key cell that differs is a change, or a new user).
fn held<'a>(user: Option<&'a User>, field: &Field) -> Option<&'a str> {
    let value = match field {
        Field::Standard(Standard::Login) => user?.login.as_deref(),
        Field::Standard(Standard::EmployeeNumber) => user?.employee_number.as_deref(),
        _ => None,
    }?;
    (!value.is_empty() && flatfile::neutralise_formula(value) == value).then_some(value)
}

/// Coupa's rules (§5.4): a new user has no key; `Employee Number` when it does not change and can
/// be repeated; `Login` when neither changes; the id otherwise.
fn key_of(id: Option<i64>, fields: &[(&Field, &Value)], current: Option<&User>) -> RowKey {
    let changes = |field: &Field| fields.iter().any(|(f, _)| *f == field);
    match id {
        None => RowKey::New,
        Some(_) if changes(&Field::EMPLOYEE_NUMBER) => RowKey::Id,
        Some(_) if held(current, &Field::EMPLOYEE_NUMBER).is_some() => RowKey::EmployeeNumber,
        Some(_) if !changes(&Field::LOGIN) && held(current, &Field::LOGIN).is_some() => {
            RowKey::Login
        }
        Some(_) => RowKey::Id,
    }
}

/// The key columns a row repeats from Coupa because it does not change them: the row is found by
/// them.
fn repeated_keys<'a>(
    fields: &[(&Field, &Value)],
    current: Option<&'a User>,
) -> [(&'static str, Option<&'a str>); 2] {
    let repeat = |field: &Field| {
        if fields.iter().any(|(f, _)| *f == field) {
            None
        } else {
            held(current, field)
        }
    };
    [
        ("Login", repeat(&Field::LOGIN)),
        ("Employee Number", repeat(&Field::EMPLOYEE_NUMBER)),
    ]
}

/// A value's cell in Coupa's words: `Yes`/`No`, `active`/`inactive`, names joined by commas,
/// phone numbers as `+aa xxx-yyy-zzzz x123`, approval limits as `1000.00 USD` or a name,
/// `--NULL--` to clear, and formula prefixes neutralised.
fn cell<'a>(field: &Field, value: &'a Value) -> Result<Cow<'a, str>, String> {
    Ok(match value {
        Value::Bool(b) if *field == Field::ACTIVE => Cow::Borrowed(flatfile::status_cell(*b)),
        Value::Bool(b) => Cow::Borrowed(flatfile::bool_cell(*b)),
        Value::Text(t) if t.is_empty() => Cow::Borrowed(NULL),
        // `+41 44-668-1800 x12` is built from digits only: no formula, and Coupa must read it as is.
        Value::Text(t) if field.kind() == Kind::Phone => Cow::Borrowed(t),
        Value::Text(t) => flatfile::neutralise_formula(t),
        Value::Set(names) if names.is_empty() => Cow::Borrowed(NULL),
        Value::Set(names) => {
            if let Some(bad) = names.iter().find(|n| n.contains(',')) {
                return Err(format!(
                    "{field}: the name {bad:?} holds a comma, which Coupa's CSV uses between names"
                ));
            }
            let joined = names
                .iter()
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(",");
            Cow::Owned(flatfile::neutralise_formula(&joined).into_owned())
        }
    })
}

/// The value Coupa holds once `value`'s cell is loaded.
fn expected(field: &Field, value: &Value) -> Value {
    match (value, cell(field, value)) {
        (Value::Text(t), _) if t.is_empty() => value.clone(),
        (Value::Set(names), _) if names.is_empty() => value.clone(),
        (Value::Text(_), Ok(text)) => Value::Text(text.into_owned()),
        (Value::Set(_), Ok(text)) => Value::Set(text.split(',').map(str::to_string).collect()),
        _ => value.clone(),
    }
}
