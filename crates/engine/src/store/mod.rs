//! The run journal and call log: runs, each person's changes with their per-field verdicts, every API
//! call, and the state last applied successfully per person (which the next run's change detection
//! reads). `Store` is the backend-neutral interface; `SqliteStore` (one file, the default) and
//! `PostgresStore` (a shared server) are its backends, and `AnyStore` is whichever `[store]` names.
//!
//! Writes on the hot path (`record_call`, `record_change`, `save_applied`) are queued and stored in
//! batches by a background writer, so the apply loop never waits on the disk; `flush` waits for
//! everything queued so far and reports any write that failed.

mod any;
mod common;
mod postgres;
mod records;
mod redact;
pub mod report;
mod schema;
mod sql;
mod sqlite;

pub use any::AnyStore;
pub use postgres::PostgresStore;
pub(crate) use postgres::parse_postgres_url;
pub use records::{
    AppliedRecord, CallRecord, ChangeRecord, CsvFileRecord, CsvFileStatus, FieldVerdict, Outcome,
    PersonChange, RunCounts, RunMode, RunRecord, RunStatus, Verdict,
};
pub use redact::redact;
pub use sqlite::SqliteStore;

use std::collections::HashMap;
use std::future::Future;

/// Where runs, changes, calls and the applied state are kept. The SQL is portable (numbered
/// parameters, `RETURNING`, `ON CONFLICT`): both backends run the same queries.
pub trait Store: Send + Sync {
    /// Starts a run: status `running`, `started_at` now.
    fn begin_run(
        &self,
        mode: RunMode,
        dry_run: bool,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Links the run to the integration run in Coupa it is reported in, as soon as that exists.
    fn set_coupa_run(
        &self,
        run_id: i64,
        coupa_run_id: i64,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Stores everything queued, then closes the run with its status, counts and note.
    fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: RunCounts,
        note: Option<String>,
    ) -> impl Future<Output = Result<RunRecord, StoreError>> + Send;

    /// Queues one person's outcome. Cheap; a failure to store it is reported by `flush`.
    fn record_change(&self, change: ChangeRecord);

    /// Queues one API call, after redacting secrets from it. Cheap enough for the client's call hook.
    fn record_call(&self, call: CallRecord);

    /// Queues the applied state of people whose changes were verified (replacing their previous one).
    fn save_applied(&self, records: Vec<AppliedRecord>);

    /// Waits until everything queued so far is stored; the first write that failed since the last
    /// flush is the error.
    fn flush(&self) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The state last applied per person, by HR key.
    fn applied_state(
        &self,
    ) -> impl Future<Output = Result<HashMap<String, AppliedRecord>, StoreError>> + Send;

    /// The most recently started run.
    fn last_run(&self) -> impl Future<Output = Result<Option<RunRecord>, StoreError>> + Send;

    fn run(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Option<RunRecord>, StoreError>> + Send;

    /// The latest `limit` runs, newest first.
    fn recent_runs(
        &self,
        limit: u32,
    ) -> impl Future<Output = Result<Vec<RunRecord>, StoreError>> + Send;

    /// A run's changes in the order they were recorded; with `errors_only`, only people whose
    /// outcome failed or who have a field Coupa ignored or refused.
    fn changes_for_run(
        &self,
        run_id: i64,
        errors_only: bool,
    ) -> impl Future<Output = Result<Vec<ChangeRecord>, StoreError>> + Send;

    /// A run's API calls in the order they were made.
    fn calls_for_run(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<CallRecord>, StoreError>> + Send;

    /// One person's changes across runs, oldest first, each with the API calls made for them.
    fn person_history(
        &self,
        hr_key: &str,
    ) -> impl Future<Output = Result<Vec<PersonChange>, StoreError>> + Send;

    /// Stores a users file's record at once (not queued): the record must be safe on disk before
    /// the file is uploaded. A later save of the same name updates its status, times and note; the
    /// rows are the file's for good and are kept from the first save.
    fn save_csv_file(
        &self,
        file: &CsvFileRecord,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Users files whose fate is not known yet (written or uploaded, not loaded), oldest first.
    fn open_csv_files(&self)
    -> impl Future<Output = Result<Vec<CsvFileRecord>, StoreError>> + Send;

    /// A run's users files, in name order.
    fn csv_files_for_run(
        &self,
        run_id: i64,
    ) -> impl Future<Output = Result<Vec<CsvFileRecord>, StoreError>> + Send;

    /// The greatest users file name ever recorded, so new names sort after it.
    fn last_csv_file_name(&self)
    -> impl Future<Output = Result<Option<String>, StoreError>> + Send;
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// `store` names the database: the SQLite file, or the PostgreSQL URL without its password.
    #[error("store {store}: {source}")]
    Open { store: String, source: sqlx::Error },
    #[error(
        "store {store}: schema version {found} is newer than this coupa-sync knows ({known}); use a newer coupa-sync"
    )]
    TooNew {
        store: String,
        found: i64,
        known: i64,
    },
    #[error("store: {0}")]
    Database(#[from] sqlx::Error),
    #[error("store: records could not be stored: {0}")]
    Write(String),
    #[error("store: no run {0}")]
    NoRun(i64),
    #[error("store: {table} row {id}: {message}")]
    Corrupt {
        table: &'static str,
        id: String,
        message: String,
    },
    #[error("store: the writer has stopped; records queued since the last flush are lost")]
    WriterGone,
}
