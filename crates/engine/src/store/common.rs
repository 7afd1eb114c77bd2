//! What the SQLite and PostgreSQL backends share: the records queued for the background writer, how
//! a record's values are stored (times as fixed-width RFC 3339 text, lists as JSON, secrets redacted,
//! long bodies cut) and how a row becomes a record again. Both backends keep the same columns, so a
//! row is read the same way from either.

use super::records::{
    AppliedRecord, CallRecord, ChangeRecord, CsvFileRecord, RunCounts, RunRecord,
};
use super::{StoreError, redact};
use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use sqlx::postgres::PgRow;
use sqlx::sqlite::SqliteRow;
use std::fmt::Display;
use tokio::sync::oneshot;

/// Records stored per transaction at most.
pub(super) const BATCH: usize = 500;
/// Bodies longer than this are cut (a page of users can be large; the log is for people to read).
const MAX_BODY_BYTES: usize = 64 * 1024;

#[derive(Debug)]
pub(super) enum Queued {
    Change(ChangeRecord),
    Call(CallRecord),
    Applied(Vec<AppliedRecord>),
    /// Answered with the first failure since the previous flush, once everything before it is stored.
    Flush(oneshot::Sender<Option<String>>),
}

/// What a record that could not be stored was, for the flush error.
pub(super) fn describe(record: &Queued) -> String {
    match record {
        Queued::Change(c) => format!("change of {} in run {}", c.hr_key, c.run_id),
        Queued::Call(c) => format!("call {} {} in run {}", c.method, c.path, c.run_id),
        Queued::Applied(list) => format!("applied state of {} people", list.len()),
        Queued::Flush(_) => "flush".into(),
    }
}

/// A call's error messages as stored: secrets redacted.
pub(super) fn stored_coupa_errors(call: &CallRecord) -> String {
    let errors: Vec<String> = call
        .coupa_errors
        .iter()
        .map(|m| redact(m).into_owned())
        .collect();
    json_of(&errors)
}

/// A body as stored: secrets redacted, cut at `MAX_BODY_BYTES`.
pub(super) fn stored_body(body: &str) -> String {
    let body = redact(body);
    if body.len() <= MAX_BODY_BYTES {
        return body.into_owned();
    }
    let mut cut = MAX_BODY_BYTES;
    while !body.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}\n… [cut: {} bytes in all]", &body[..cut], body.len())
}

/// A column value either backend can read into the same Rust type. `pub` (in this private module)
/// because `sql::Backend` names `Columns` in its bounds.
pub trait Stored: Sized {
    fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self, sqlx::Error>;
    fn from_postgres(row: &PgRow, column: &str) -> Result<Self, sqlx::Error>;
}

macro_rules! stored {
    ($($t:ty),*) => {$(
        impl Stored for $t {
            fn from_sqlite(row: &SqliteRow, column: &str) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, column)
            }
            fn from_postgres(row: &PgRow, column: &str) -> Result<Self, sqlx::Error> {
                sqlx::Row::try_get(row, column)
            }
        }
    )*};
}
stored!(String, Option<String>, i64, Option<i64>, bool);

/// A row of either backend, read by column name.
pub trait Columns {
    fn column<T: Stored>(&self, column: &str) -> Result<T, sqlx::Error>;
}

impl Columns for SqliteRow {
    fn column<T: Stored>(&self, column: &str) -> Result<T, sqlx::Error> {
        T::from_sqlite(self, column)
    }
}

impl Columns for PgRow {
    fn column<T: Stored>(&self, column: &str) -> Result<T, sqlx::Error> {
        T::from_postgres(self, column)
    }
}

pub(super) fn time_text(at: DateTime<Utc>) -> String {
    // Fixed width, so text order is time order.
    at.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

pub(super) fn saturating_i64(n: u64) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

pub(super) fn json_of<T: Serialize + ?Sized>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "[]".into())
}

fn corrupt(table: &'static str, id: &dyn Display, message: &dyn Display) -> StoreError {
    StoreError::Corrupt {
        table,
        id: id.to_string(),
        message: message.to_string(),
    }
}

fn parse_time(
    table: &'static str,
    id: &dyn Display,
    text: &str,
) -> Result<DateTime<Utc>, StoreError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| corrupt(table, &id, &format!("time {text:?}: {e}")))
}

fn word<T: DeserializeOwned>(table: &'static str, id: i64, text: String) -> Result<T, StoreError> {
    serde_json::from_value(serde_json::Value::String(text)).map_err(|e| corrupt(table, &id, &e))
}

fn json<T: DeserializeOwned>(table: &'static str, id: i64, text: &str) -> Result<T, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(table, &id, &e))
}

fn count(
    table: &'static str,
    id: i64,
    row: &impl Columns,
    column: &str,
) -> Result<u32, StoreError> {
    let n: i64 = row.column(column)?;
    u32::try_from(n).map_err(|_| corrupt(table, &id, &format!("{column} = {n}")))
}

pub(super) fn run_from(row: &impl Columns) -> Result<RunRecord, StoreError> {
    let id: i64 = row.column("id")?;
    let t = "runs";
    let finished: Option<String> = row.column("finished_at")?;
    Ok(RunRecord {
        id,
        started_at: parse_time(t, &id, &row.column::<String>("started_at")?)?,
        finished_at: finished.map(|f| parse_time(t, &id, &f)).transpose()?,
        mode: word(t, id, row.column("mode")?)?,
        dry_run: row.column("dry_run")?,
        status: word(t, id, row.column("status")?)?,
        counts: RunCounts {
            people: count(t, id, row, "people")?,
            created: count(t, id, row, "created")?,
            updated: count(t, id, row, "updated")?,
            deactivated: count(t, id, row, "deactivated")?,
            reactivated: count(t, id, row, "reactivated")?,
            unchanged: count(t, id, row, "unchanged")?,
            failed: count(t, id, row, "failed")?,
        },
        note: row.column("note")?,
        coupa_run_id: row.column("coupa_run_id")?,
    })
}

pub(super) fn change_from(row: &impl Columns) -> Result<ChangeRecord, StoreError> {
    let id: i64 = row.column("id")?;
    let t = "changes";
    Ok(ChangeRecord {
        run_id: row.column("run_id")?,
        hr_key: row.column("hr_key")?,
        login: row.column("login")?,
        coupa_id: row.column("coupa_id")?,
        action: row.column("action")?,
        outcome: word(t, id, row.column("outcome")?)?,
        fields: json(t, id, &row.column::<String>("fields")?)?,
        errors: json(t, id, &row.column::<String>("errors")?)?,
        technical_error: row.column("technical_error")?,
    })
}

pub(super) fn call_from(row: &impl Columns) -> Result<CallRecord, StoreError> {
    let id: i64 = row.column("id")?;
    let t = "calls";
    let status: Option<i64> = row.column("status")?;
    let non_negative = |column: &str| -> Result<u64, StoreError> {
        let n: i64 = row.column(column)?;
        u64::try_from(n).map_err(|_| corrupt(t, &id, &format!("{column} = {n}")))
    };
    Ok(CallRecord {
        run_id: row.column("run_id")?,
        hr_key: row.column("hr_key")?,
        at: parse_time(t, &id, &row.column::<String>("at")?)?,
        method: row.column("method")?,
        path: row.column("path")?,
        status: status
            .map(|s| u16::try_from(s).map_err(|_| corrupt(t, &id, &format!("status = {s}"))))
            .transpose()?,
        duration_ms: non_negative("duration_ms")?,
        attempt: count(t, id, row, "attempt")?,
        rate_wait_ms: non_negative("rate_wait_ms")?,
        request_body: row.column("request_body")?,
        response_body: row.column("response_body")?,
        coupa_errors: json(t, id, &row.column::<String>("coupa_errors")?)?,
        error: row.column("error")?,
    })
}

pub(super) fn applied_from(row: &impl Columns) -> Result<AppliedRecord, StoreError> {
    let t = "applied";
    let hr_key: String = row.column("hr_key")?;
    let fingerprint: String = row.column("fingerprint")?;
    let fields: String = row.column("fields")?;
    Ok(AppliedRecord {
        fingerprint: u64::from_str_radix(&fingerprint, 16)
            .map_err(|e| corrupt(t, &hr_key, &format!("fingerprint {fingerprint:?}: {e}")))?,
        fields: serde_json::from_str(&fields).map_err(|e| corrupt(t, &hr_key, &e))?,
        coupa_id: row.column("coupa_id")?,
        updated_at: parse_time(t, &hr_key, &row.column::<String>("updated_at")?)?,
        hr_key,
    })
}

pub(super) fn csv_file_from(row: &impl Columns) -> Result<CsvFileRecord, StoreError> {
    let t = "csv_files";
    let name: String = row.column("name")?;
    let time = |column: &str| -> Result<Option<DateTime<Utc>>, StoreError> {
        let text: Option<String> = row.column(column)?;
        text.map(|text| parse_time(t, &name, &text)).transpose()
    };
    let status: String = row.column("status")?;
    let rows: String = row.column("rows")?;
    let row_count: i64 = row.column("row_count")?;
    Ok(CsvFileRecord {
        run_id: row.column("run_id")?,
        status: serde_json::from_value(serde_json::Value::String(status))
            .map_err(|e| corrupt(t, &name, &e))?,
        written_at: time("written_at")?.ok_or_else(|| corrupt(t, &name, &"no written_at"))?,
        uploaded_at: time("uploaded_at")?,
        finished_at: time("finished_at")?,
        row_count: u32::try_from(row_count)
            .map_err(|_| corrupt(t, &name, &format!("row_count = {row_count}")))?,
        rows: serde_json::from_str(&rows).map_err(|e| corrupt(t, &name, &e))?,
        note: row.column("note")?,
        name,
    })
}
