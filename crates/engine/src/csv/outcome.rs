//! What came of a loaded file's rows. Coupa's row errors are tied to the person by the row's place
//! in the file and to the field they name; every other row's person is read back through the API
//! (batched) and judged field by field as on the API path: applied, ignored with the value Coupa
//! kept, or failed with Coupa's message.

use super::files::{FileRow, Layout};
use crate::fields::Field;
use crate::notify::names_field;
use crate::store::{ChangeRecord, FieldVerdict, Outcome, Verdict};
use crate::verify::{judge, pending};
use coupa_client::{DataFileSource, LoadStatus, UploadError, Users};
use coupa_wire::User;
use std::collections::{BTreeMap, BTreeSet, HashMap};

/// Which data row (0 for the first after the header) an upload error's `row` is about. Coupa counts
/// rows as a spreadsheet shows them: the header is row 1, so the first data row is row 2 (UNCONFIRMED:
/// Coupa's documentation shows only a sample; the sandbox's loader counts the same way).
pub fn data_row(row: i64) -> Option<usize> {
    usize::try_from(row.checked_sub(2)?).ok()
}

/// The users read back after a load, by id and by login.
#[derive(Debug, Default)]
pub struct ReadBack {
    by_id: HashMap<i64, User>,
    by_login: HashMap<String, i64>,
}

impl ReadBack {
    /// Reads back every person of `rows`: by Coupa id when the row had one, by login for new users.
    pub async fn fetch<'a>(
        users: &Users,
        rows: impl Iterator<Item = &'a FileRow>,
    ) -> Result<ReadBack, coupa_client::Error> {
        let mut ids = Vec::new();
        let mut logins = Vec::new();
        for row in rows {
            match (row.coupa_id, &row.login) {
                (Some(id), _) => ids.push(id.to_string()),
                (None, Some(login)) => logins.push(login.clone()),
                (None, None) => {}
            }
        }
        let mut found = Vec::new();
        if !ids.is_empty() {
            found.extend(users.find_by("id", &ids).await?);
        }
        if !logins.is_empty() {
            found.extend(users.find_by("login", &logins).await?);
        }
        let mut back = ReadBack::default();
        for user in found {
            let Some(id) = user.id else { continue };
            if let Some(login) = &user.login {
                back.by_login.insert(Field::key_form(login), id);
            }
            back.by_id.insert(id, user);
        }
        Ok(back)
    }

    fn find(&self, row: &FileRow) -> Option<&User> {
        let id = row.coupa_id.or_else(|| {
            row.login
                .as_ref()
                .and_then(|l| self.by_login.get(&Field::key_form(l)).copied())
        })?;
        self.by_id.get(&id)
    }
}

/// Coupa's errors for one row, split by the field they name.
#[derive(Debug, Default, PartialEq, Eq)]
struct RowErrors {
    /// Index in `FileRow::changes` → messages.
    by_field: BTreeMap<usize, Vec<String>>,
    /// Messages about no field the row changed (a key column, the row as a whole).
    other: Vec<String>,
}

/// The load's errors by data row; errors naming no row of the file (a malformed file, an unknown
/// header) are the file's.
fn attribute(
    load: &DataFileSource,
    rows: &[FileRow],
    layout: &Layout,
) -> (BTreeMap<usize, RowErrors>, Vec<String>) {
    let mut by_row: BTreeMap<usize, RowErrors> = BTreeMap::new();
    let mut file = Vec::new();
    for error in load.errors() {
        let messages = messages_of(error);
        let Some(index) = error.row.and_then(data_row).filter(|&i| i < rows.len()) else {
            file.extend(messages);
            continue;
        };
        let row = &rows[index];
        let errors = by_row.entry(index).or_default();
        let named = error
            .field_with_error
            .as_deref()
            .and_then(|name| field_named(name, row, layout));
        for message in messages {
            let field = named.or_else(|| {
                row.changes
                    .iter()
                    .position(|c| names_field(&message, &c.field.to_string()))
            });
            match field {
                Some(i) => errors.by_field.entry(i).or_default().push(message),
                None => errors.other.push(message),
            }
        }
    }
    (by_row, file)
}

/// Coupa's messages for one error, with the field and value when Coupa names no message.
fn messages_of(error: &UploadError) -> Vec<String> {
    if !error.messages().is_empty() {
        return error.messages().to_vec();
    }
    let field = error.field_with_error.as_deref().unwrap_or("the row");
    vec![match &error.value {
        Some(value) => format!("{field}: value {value:?} refused, without a message"),
        None => format!("{field}: refused, without a message"),
    }]
}

/// The change of `row` that Coupa's `field-with-error` names: a CSV header (`Email`), an API
/// element (`email`, `employee_number`) or an element path (`department.name`).
fn field_named(name: &str, row: &FileRow, layout: &Layout) -> Option<usize> {
    let name = name.trim();
    let dashed = name.replace('_', "-");
    row.changes.iter().position(|c| {
        layout
            .header(&c.field)
            .is_some_and(|h| h.eq_ignore_ascii_case(name))
            || c.field.to_string().eq_ignore_ascii_case(&dashed)
            || super::files::flatfile_path(&c.field)
                .is_some_and(|p| p.eq_ignore_ascii_case(&dashed))
    })
}

/// One person's record after their file's load, and whether every field holds.
#[derive(Debug)]
pub struct RowOutcome<'a> {
    pub row: &'a FileRow,
    pub change: ChangeRecord,
}

/// Judges every row of a loaded file. `read_back` is `Err` when reading the people back failed:
/// rows without errors then stay pending, with the failure as their technical error.
pub fn judge_rows<'a>(
    run_id: i64,
    file: &str,
    load: &DataFileSource,
    rows: &'a [FileRow],
    layout: &Layout,
    read_back: Result<&ReadBack, &str>,
    managed: &BTreeMap<Field, BTreeSet<String>>,
) -> Vec<RowOutcome<'a>> {
    let (mut by_row, file_errors) = attribute(load, rows, layout);
    let failed_load = load.load_status() == LoadStatus::Failed;
    let load_note = || {
        let mut note = format!(
            "Coupa's load of {file} ended {:?}",
            load.status.as_deref().unwrap_or("without a status")
        );
        if let Some(text) = &load.result_text {
            note.push_str(&format!(": {text}"));
        }
        if !file_errors.is_empty() {
            note.push_str(&format!(" ({})", file_errors.join("; ")));
        }
        note
    };
    // A file refused as a whole is ours to fix, not the HR data's.
    let refused_whole = failed_load && by_row.is_empty();
    rows.iter()
        .enumerate()
        .map(|(i, row)| {
            let mut fields: Vec<FieldVerdict> = row.changes.iter().map(pending).collect();
            let mut errors = Vec::new();
            let mut technical = None;
            let user = read_back.ok().and_then(|back| back.find(row));
            if refused_whole {
                technical = Some(load_note());
                for f in &mut fields {
                    f.message = Some(format!("not applied: Coupa did not load {file}"));
                }
            } else if let Some(row_errors) = by_row.remove(&i) {
                for (index, messages) in &row_errors.by_field {
                    fields[*index].verdict = Verdict::Failed;
                    fields[*index].message = Some(messages.join("; "));
                }
                for f in fields.iter_mut().filter(|f| f.verdict == Verdict::Pending) {
                    f.message = Some("not applied: Coupa refused the row".into());
                }
                errors.extend(row_errors.by_field.into_values().flatten());
                errors.extend(row_errors.other);
            } else {
                match (read_back, user) {
                    (Err(failure), _) => {
                        technical = Some(format!(
                            "reading the user back to verify failed: {failure}"
                        ));
                    }
                    (Ok(_), None) => {
                        technical = Some(format!(
                            "Coupa reported no error for the row of {file}, but the user is not found{}",
                            row.login
                                .as_ref()
                                .map(|l| format!(" (login {l})"))
                                .unwrap_or_default()
                        ));
                    }
                    (Ok(_), Some(user)) => {
                        for (f, change) in fields.iter_mut().zip(&row.changes) {
                            judge(f, change, user, managed);
                            // A failed load committed nothing it did not report: not "ignored".
                            if failed_load && f.verdict == Verdict::Ignored {
                                f.verdict = Verdict::Failed;
                                f.message = Some(load_note());
                            }
                        }
                    }
                }
            }
            let applied = technical.is_none()
                && errors.is_empty()
                && fields.iter().all(|f| f.verdict == Verdict::Applied);
            RowOutcome {
                row,
                change: ChangeRecord {
                    run_id,
                    hr_key: row.hr_key.clone(),
                    login: user.and_then(|u| u.login.clone()).or_else(|| row.login.clone()),
                    coupa_id: row.coupa_id.or_else(|| user.and_then(|u| u.id)),
                    action: row.action.clone(),
                    outcome: if applied {
                        Outcome::Applied
                    } else {
                        Outcome::Failed
                    },
                    fields,
                    errors,
                    technical_error: technical,
                },
            }
        })
        .collect()
}

/// The record of a person whose file was not uploaded or is not loaded yet: every field pending
/// with `field_message`, and `why` as the technical problem.
pub fn unsettled(run_id: i64, row: &FileRow, why: String, field_message: &str) -> ChangeRecord {
    ChangeRecord {
        run_id,
        hr_key: row.hr_key.clone(),
        login: row.login.clone(),
        coupa_id: row.coupa_id,
        action: row.action.clone(),
        outcome: Outcome::Failed,
        fields: row
            .changes
            .iter()
            .map(|c| FieldVerdict {
                message: Some(field_message.to_string()),
                ..pending(c)
            })
            .collect(),
        errors: Vec::new(),
        technical_error: Some(why),
    }
}
