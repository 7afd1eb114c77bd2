//! The store the configuration names, SQLite or PostgreSQL, as one type: the CLI opens it from
//! `[store]` and hands it to `run()`, which stays generic over `Store`.

use super::records::{
    AppliedRecord, CallRecord, ChangeRecord, CsvFileRecord, PersonChange, RunCounts, RunMode,
    RunRecord, RunStatus,
};
use super::{PostgresStore, SqliteStore, Store, StoreError};
use crate::config::{StoreBackend, StoreConfig};
use std::collections::HashMap;

/// Either backend; every `Store` method goes to the one opened.
#[derive(Debug)]
pub enum AnyStore {
    Sqlite(SqliteStore),
    Postgres(PostgresStore),
}

/// Calls the same method on whichever backend is open.
macro_rules! each {
    ($self:ident, $store:ident => $call:expr) => {
        match $self {
            AnyStore::Sqlite($store) => $call,
            AnyStore::Postgres($store) => $call,
        }
    };
}

impl AnyStore {
    /// Opens the store `[store]` names: the SQLite file at `path`, or the PostgreSQL database at
    /// `url` / `url_env`.
    pub async fn open(config: &StoreConfig) -> Result<AnyStore, StoreError> {
        Ok(match config.backend() {
            StoreBackend::Sqlite(path) => AnyStore::Sqlite(SqliteStore::open(path).await?),
            StoreBackend::Postgres(url) => AnyStore::Postgres(PostgresStore::open(url).await?),
        })
    }

    /// The SQLite file, or the PostgreSQL URL without its password.
    pub fn location(&self) -> String {
        match self {
            AnyStore::Sqlite(store) => store.path().display().to_string(),
            AnyStore::Postgres(store) => store.location().to_owned(),
        }
    }

    /// Stores everything queued, then closes the database.
    pub async fn close(self) -> Result<(), StoreError> {
        each!(self, store => store.close().await)
    }
}

impl Store for AnyStore {
    async fn begin_run(&self, mode: RunMode, dry_run: bool) -> Result<RunRecord, StoreError> {
        each!(self, store => store.begin_run(mode, dry_run).await)
    }

    async fn set_coupa_run(&self, run_id: i64, coupa_run_id: i64) -> Result<(), StoreError> {
        each!(self, store => store.set_coupa_run(run_id, coupa_run_id).await)
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: RunCounts,
        note: Option<String>,
    ) -> Result<RunRecord, StoreError> {
        each!(self, store => store.finish_run(run_id, status, counts, note).await)
    }

    fn record_change(&self, change: ChangeRecord) {
        each!(self, store => store.record_change(change))
    }

    fn record_call(&self, call: CallRecord) {
        each!(self, store => store.record_call(call))
    }

    fn save_applied(&self, records: Vec<AppliedRecord>) {
        each!(self, store => store.save_applied(records))
    }

    async fn flush(&self) -> Result<(), StoreError> {
        each!(self, store => store.flush().await)
    }

    async fn applied_state(&self) -> Result<HashMap<String, AppliedRecord>, StoreError> {
        each!(self, store => store.applied_state().await)
    }

    async fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        each!(self, store => store.last_run().await)
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        each!(self, store => store.run(run_id).await)
    }

    async fn recent_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        each!(self, store => store.recent_runs(limit).await)
    }

    async fn changes_for_run(
        &self,
        run_id: i64,
        errors_only: bool,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        each!(self, store => store.changes_for_run(run_id, errors_only).await)
    }

    async fn calls_for_run(&self, run_id: i64) -> Result<Vec<CallRecord>, StoreError> {
        each!(self, store => store.calls_for_run(run_id).await)
    }

    async fn person_history(&self, hr_key: &str) -> Result<Vec<PersonChange>, StoreError> {
        each!(self, store => store.person_history(hr_key).await)
    }

    async fn save_csv_file(&self, file: &CsvFileRecord) -> Result<(), StoreError> {
        each!(self, store => store.save_csv_file(file).await)
    }

    async fn open_csv_files(&self) -> Result<Vec<CsvFileRecord>, StoreError> {
        each!(self, store => store.open_csv_files().await)
    }

    async fn csv_files_for_run(&self, run_id: i64) -> Result<Vec<CsvFileRecord>, StoreError> {
        each!(self, store => store.csv_files_for_run(run_id).await)
    }

    async fn last_csv_file_name(&self) -> Result<Option<String>, StoreError> {
        each!(self, store => store.last_csv_file_name().await)
    }
}
