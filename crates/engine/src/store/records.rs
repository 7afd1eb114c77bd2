//! The store's records: plain serde data, the same for every backend and for `coupa-sync log --json`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// A value's serde name (`"api"`, `"failed"`…): the database and the tables show the same words as
/// `--json`.
pub(super) fn name_of<T: Serialize + ?Sized>(value: &T) -> String {
    match serde_json::to_value(value) {
        Ok(serde_json::Value::String(s)) => s,
        Ok(other) => other.to_string(),
        Err(e) => format!("<{e}>"),
    }
}

/// How a run reached Coupa.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunMode {
    #[default]
    Api,
    Csv,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    /// Started and not finished: still going, or the process died.
    Running,
    Succeeded,
    /// Finished with errors, or failed outright (see the note).
    Failed,
    /// Stopped before applying anything, by a safety threshold.
    Stopped,
}

/// How many people a run handled, by what happened to them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunCounts {
    pub people: u32,
    pub created: u32,
    pub updated: u32,
    pub deactivated: u32,
    pub reactivated: u32,
    pub unchanged: u32,
    pub failed: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    pub id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub mode: RunMode,
    pub dry_run: bool,
    pub status: RunStatus,
    pub counts: RunCounts,
    /// Why a run failed or stopped, in words (the safety stop, the technical failure).
    pub note: Option<String>,
    /// The integration run in Coupa this run is reported in (`[integration]`).
    pub coupa_run_id: Option<i64>,
}

/// What happened to a person as a whole.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Every call succeeded and verification found the values.
    Applied,
    Failed,
    /// Nothing was sent (dry run, or nothing to do).
    Skipped,
}

/// What Coupa did with one field.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    /// Coupa holds the value sent.
    Applied,
    /// Coupa answered success but kept another value (`kept`).
    Ignored,
    /// Coupa refused it (`message`).
    Failed,
    /// Not sent or not verified yet.
    Pending,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldVerdict {
    /// The Coupa field, as the mapping names it (`email`, `employee-number`, `roles`…).
    pub field: String,
    /// Coupa's value before the run.
    pub old: Option<String>,
    /// The value sent.
    pub new: Option<String>,
    pub verdict: Verdict,
    /// The value Coupa kept, for an ignored field.
    pub kept: Option<String>,
    /// Coupa's message about this field, or why it is pending.
    pub message: Option<String>,
}

/// One person in one run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChangeRecord {
    pub run_id: i64,
    pub hr_key: String,
    pub login: Option<String>,
    pub coupa_id: Option<i64>,
    /// `create`, `update`, `reactivate`, `deactivate`, `nothing` or `error` (the plan's action).
    pub action: String,
    pub outcome: Outcome,
    pub fields: Vec<FieldVerdict>,
    /// Coupa's error messages and the plan's own refusals (ambiguous match, key taken): problems
    /// with the data, for the people who own it.
    pub errors: Vec<String>,
    /// A technical failure for this person (timeout, 5xx after retries, lost connection): a
    /// problem for the people who run coupa-sync.
    pub technical_error: Option<String>,
}

impl ChangeRecord {
    /// Whether the person belongs in an errors-only listing and in the run's digest.
    pub fn has_problem(&self) -> bool {
        self.outcome == Outcome::Failed
            || !self.errors.is_empty()
            || self.technical_error.is_some()
            || self
                .fields
                .iter()
                .any(|f| matches!(f.verdict, Verdict::Ignored | Verdict::Failed))
    }
}

/// One HTTP exchange with Coupa.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CallRecord {
    pub run_id: i64,
    /// The person the call was made for, when it was for one person (lookups batch many).
    pub hr_key: Option<String>,
    pub at: DateTime<Utc>,
    pub method: String,
    /// Path and query.
    pub path: String,
    /// `None` when no answer came (see `error`).
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// 1 for the first attempt, 2 for the first retry…
    pub attempt: u32,
    /// Time spent waiting for the rate governor before sending.
    pub rate_wait_ms: u64,
    pub request_body: Option<String>,
    pub response_body: Option<String>,
    /// Coupa's error messages parsed from the answer.
    pub coupa_errors: Vec<String>,
    /// The transport error, when no answer came.
    pub error: Option<String>,
}

impl CallRecord {
    /// The call log's record of an exchange the Coupa client reports to its call hook.
    pub fn from_exchange(
        run_id: i64,
        hr_key: Option<String>,
        exchange: &coupa_client::CallRecord<'_>,
    ) -> CallRecord {
        let duration = chrono::Duration::from_std(exchange.duration).unwrap_or_default();
        let millis = |d: std::time::Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        CallRecord {
            run_id,
            hr_key,
            // The hook runs when the answer has been read: the call started `duration` earlier.
            at: Utc::now() - duration,
            method: exchange.method.to_string(),
            path: exchange.path.to_string(),
            status: exchange.status.map(|s| s.as_u16()),
            duration_ms: millis(exchange.duration),
            attempt: exchange.attempt,
            rate_wait_ms: millis(exchange.rate_limit_wait),
            request_body: exchange.request_text().map(|b| b.into_owned()),
            response_body: exchange.response_text().map(|b| b.into_owned()),
            coupa_errors: exchange.messages.to_vec(),
            error: exchange.transport_error.map(str::to_string),
        }
    }
}

/// What was last applied successfully for one person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedRecord {
    pub hr_key: String,
    /// Equal fingerprints mean the person's desired values did not change.
    pub fingerprint: u64,
    /// The applied values, as the change detection serialises them.
    pub fields: serde_json::Value,
    pub coupa_id: Option<i64>,
    pub updated_at: DateTime<Utc>,
}

/// Where a users file of the flat-file path stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CsvFileStatus {
    /// Recorded before its upload; whether it reached Coupa's folder is not confirmed yet.
    Written,
    /// In Coupa's folder; Coupa's load of it has not been seen yet.
    Uploaded,
    /// Coupa's load finished and its results are recorded.
    Loaded,
    /// It never reached Coupa's folder; its people are planned again by the next run.
    NotUploaded,
}

impl CsvFileStatus {
    /// Still waiting: a run must find out what became of the file before planning its people again.
    pub fn is_open(self) -> bool {
        matches!(self, CsvFileStatus::Written | CsvFileStatus::Uploaded)
    }
}

/// One users file of the flat-file path: its name, who is on which row, and where it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CsvFileRecord {
    /// The file name in Coupa's folder (`users_20261128T120000Z_0001.csv`).
    pub name: String,
    /// The run that wrote it.
    pub run_id: i64,
    pub status: CsvFileStatus,
    pub written_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
    /// When its load was seen finished (or the upload given up).
    pub finished_at: Option<DateTime<Utc>>,
    pub row_count: u32,
    /// The rows in file order: each person's HR key and requested changes, as the flat-file path
    /// serialises them. Written once; a later save keeps them (a caller may drop them from memory,
    /// e.g. to `Null`, once saved).
    pub rows: serde_json::Value,
    /// What happened, in words (Coupa's result text, the upload error).
    pub note: Option<String>,
}

/// One person's change in one run, with the run and the calls made for them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PersonChange {
    pub run: RunRecord,
    pub change: ChangeRecord,
    pub calls: Vec<CallRecord>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn an_exchange_reported_by_the_client_becomes_a_call_record() {
        let method = reqwest::Method::PUT;
        let messages = vec!["Email has already been taken".to_string()];
        let exchange = coupa_client::CallRecord {
            method: &method,
            path: "/api/users/7?return_object=shallow",
            status: Some(reqwest::StatusCode::BAD_REQUEST),
            transport_error: None,
            duration: Duration::from_millis(1500),
            attempt: 2,
            rate_limit_wait: Duration::from_millis(40),
            request_body: Some(b"<user><email>x@y</email></user>"),
            response_body: Some(b"<errors><error>Email has already been taken</error></errors>"),
            messages: &messages,
        };
        let before = Utc::now();
        let call = CallRecord::from_exchange(3, Some("E1".into()), &exchange);
        let after = Utc::now();
        let took = chrono::Duration::milliseconds(1500);
        assert!(call.at >= before - took && call.at <= after - took);
        assert_eq!(
            call,
            CallRecord {
                run_id: 3,
                hr_key: Some("E1".into()),
                at: call.at,
                method: "PUT".into(),
                path: "/api/users/7?return_object=shallow".into(),
                status: Some(400),
                duration_ms: 1500,
                attempt: 2,
                rate_wait_ms: 40,
                request_body: Some("<user><email>x@y</email></user>".into()),
                response_body: Some(
                    "<errors><error>Email has already been taken</error></errors>".into()
                ),
                coupa_errors: messages.clone(),
                error: None,
            }
        );
    }
}
