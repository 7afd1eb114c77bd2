//! The store both backends share, generic over the sqlx database: the background writer and every
//! query of `Store`. The SQL is portable (numbered parameters, `RETURNING`, `ON CONFLICT`), so only
//! opening a database and migrating it differ per backend (`sqlite.rs`, `postgres.rs`).

use super::common::{
    BATCH, Columns, Queued, applied_from, call_from, change_from, csv_file_from, describe, json_of,
    run_from, saturating_i64, stored_body, stored_coupa_errors, time_text,
};
use super::records::{
    AppliedRecord, CallRecord, ChangeRecord, CsvFileRecord, PersonChange, RunCounts, RunMode,
    RunRecord, RunStatus, name_of,
};
use super::{Store, StoreError, redact};
use chrono::Utc;
use sqlx::pool::PoolOptions;
use sqlx::{ColumnIndex, Connection, Decode, Encode, Executor, IntoArguments, Pool, Type};
use std::collections::HashMap;
use std::fmt::Debug;
use std::future::Future;
use tokio::sync::{mpsc, oneshot};

/// A sqlx database the store runs on. The bounds the shared queries need on the database's types
/// (executors, arguments, the column types read and written) are repeated on the `impl` blocks
/// below, since Rust does not carry a trait's `where` clauses to its users.
pub trait Backend: sqlx::Database<Row: Columns> {
    /// What the store was opened from: the SQLite file, the PostgreSQL URL without its password.
    type Location: Debug + Send + Sync;

    /// Brings the schema of the database `store` names up to date; true when a migration was
    /// applied.
    fn migrate(
        pool: &Pool<Self>,
        store: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

/// A store in a database of backend `DB`. Cheap to share by reference; `close` flushes and closes
/// it. Named `SqliteStore` and `PostgresStore` outside this module.
#[derive(Debug)]
pub struct SqlStore<DB: Backend> {
    location: DB::Location,
    pool: Pool<DB>,
    queue: mpsc::UnboundedSender<Queued>,
}

impl<DB: Backend> SqlStore<DB> {
    pub(super) fn location_of(&self) -> &DB::Location {
        &self.location
    }

    fn enqueue(&self, item: Queued) {
        // A send fails only when the writer is gone; `flush` reports that.
        let _ = self.queue.send(item);
    }
}

impl<DB> SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
{
    /// Opens a pool of connections with `options` (`store` names the database in errors), brings
    /// the schema up to date and starts the background writer.
    pub(super) async fn open_with(
        location: DB::Location,
        store: &str,
        options: <DB::Connection as Connection>::Options,
    ) -> Result<SqlStore<DB>, StoreError> {
        let open_error = |source| StoreError::Open {
            store: store.to_owned(),
            source,
        };
        let connect = || {
            PoolOptions::<DB>::new()
                .max_connections(4)
                .connect_with(options.clone())
        };
        let mut pool = connect().await.map_err(open_error)?;
        if DB::migrate(&pool, store).await? {
            // Connections opened before a migration may keep the old shape of a table (SQLite:
            // sqlx then panics reading a row of `SELECT *`; PostgreSQL: statements prepared against
            // it); every connection after it is opened anew.
            pool.close().await;
            pool = connect().await.map_err(open_error)?;
        }
        let (queue, receiver) = mpsc::unbounded_channel();
        tokio::spawn(Self::write_loop(pool.clone(), receiver));
        Ok(SqlStore {
            location,
            pool,
            queue,
        })
    }

    /// Stores everything queued, then closes the database.
    pub async fn close(self) -> Result<(), StoreError> {
        let flushed = self.flush().await;
        drop(self.queue);
        self.pool.close().await;
        flushed
    }

    async fn run_or_none(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        sqlx::query("SELECT * FROM runs WHERE id = $1")
            .bind(run_id)
            .fetch_optional(&self.pool)
            .await?
            .map(|row| run_from(&row))
            .transpose()
    }

    async fn write_loop(pool: Pool<DB>, mut receiver: mpsc::UnboundedReceiver<Queued>) {
        let mut failure: Option<String> = None;
        let mut batch = Vec::with_capacity(BATCH);
        while receiver.recv_many(&mut batch, BATCH).await > 0 {
            let mut flushes = Vec::new();
            let mut records = Vec::with_capacity(batch.len());
            for item in batch.drain(..) {
                match item {
                    Queued::Flush(answer) => flushes.push(answer),
                    record => records.push(record),
                }
            }
            if let Err(message) = Self::write_batch(&pool, &records).await {
                tracing::error!(error = %message, "store: records could not be stored");
                failure.get_or_insert(message);
            }
            for answer in flushes {
                let _ = answer.send(failure.take());
            }
        }
    }

    /// One transaction for the whole batch; if it fails, each record on its own, so that one bad record
    /// (say, for a run that does not exist) does not lose the others.
    async fn write_batch(pool: &Pool<DB>, records: &[Queued]) -> Result<(), String> {
        if records.is_empty() {
            return Ok(());
        }
        let together = async {
            let mut tx = pool.begin().await?;
            for record in records {
                Self::write_one(&mut tx, record).await?;
            }
            tx.commit().await
        };
        if together.await.is_ok() {
            return Ok(());
        }
        let mut first_failure = None;
        let mut failed = 0;
        for record in records {
            let alone = async {
                let mut conn = pool.acquire().await?;
                Self::write_one(&mut conn, record).await
            };
            if let Err(e) = alone.await {
                failed += 1;
                first_failure.get_or_insert_with(|| format!("{}: {e}", describe(record)));
            }
        }
        match first_failure {
            None => Ok(()),
            Some(first) if failed == 1 => Err(first),
            Some(first) => Err(format!("{failed} records, the first {first}")),
        }
    }

    async fn write_one(conn: &mut DB::Connection, record: &Queued) -> Result<(), sqlx::Error> {
        match record {
            Queued::Change(c) => {
                sqlx::query(
                    "INSERT INTO changes (run_id, hr_key, login, coupa_id, action, outcome, has_problem,
                        fields, errors, technical_error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
                )
                .bind(c.run_id)
                .bind(&c.hr_key)
                .bind(&c.login)
                .bind(c.coupa_id)
                .bind(&c.action)
                .bind(name_of(&c.outcome))
                .bind(c.has_problem())
                .bind(json_of(&c.fields))
                .bind(json_of(&c.errors))
                .bind(&c.technical_error)
                .execute(&mut *conn)
                .await?;
            }
            Queued::Call(c) => {
                sqlx::query(
                    "INSERT INTO calls (run_id, hr_key, at, method, path, status, duration_ms, attempt,
                        rate_wait_ms, request_body, response_body, coupa_errors, error)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(c.run_id)
                .bind(&c.hr_key)
                .bind(time_text(c.at))
                .bind(&c.method)
                .bind(redact(&c.path).into_owned())
                .bind(c.status.map(i64::from))
                .bind(saturating_i64(c.duration_ms))
                .bind(i64::from(c.attempt))
                .bind(saturating_i64(c.rate_wait_ms))
                .bind(c.request_body.as_deref().map(stored_body))
                .bind(c.response_body.as_deref().map(stored_body))
                .bind(stored_coupa_errors(c))
                .bind(c.error.as_deref().map(|e| redact(e).into_owned()))
                .execute(&mut *conn)
                .await?;
            }
            Queued::Applied(list) => {
                for a in list {
                    sqlx::query(
                        "INSERT INTO applied (hr_key, fingerprint, fields, coupa_id, updated_at)
                         VALUES ($1, $2, $3, $4, $5)
                         ON CONFLICT (hr_key) DO UPDATE SET fingerprint = excluded.fingerprint,
                            fields = excluded.fields, coupa_id = excluded.coupa_id,
                            updated_at = excluded.updated_at",
                    )
                    .bind(&a.hr_key)
                    .bind(format!("{:016x}", a.fingerprint))
                    .bind(a.fields.to_string())
                    .bind(a.coupa_id)
                    .bind(time_text(a.updated_at))
                    .execute(&mut *conn)
                    .await?;
                }
            }
            Queued::Flush(_) => {}
        }
        Ok(())
    }
}

/// The schema's version table, created with `create` (its column type differs per backend), tells
/// which of `migrations` are still to apply, numbered from 1; a schema newer than this build knows
/// is refused.
pub(super) async fn pending_migrations<DB>(
    conn: &mut DB::Connection,
    create: &'static str,
    migrations: &[&'static str],
    store: &str,
) -> Result<Vec<(i64, &'static str)>, StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Decode<'q, DB> + Type<DB>,
    usize: ColumnIndex<DB::Row>,
{
    let open_error = |source| StoreError::Open {
        store: store.to_owned(),
        source,
    };
    sqlx::raw_sql(create)
        .execute(&mut *conn)
        .await
        .map_err(open_error)?;
    let found: Option<i64> = sqlx::query_scalar("SELECT MAX(version) FROM schema_version")
        .fetch_one(&mut *conn)
        .await
        .map_err(open_error)?;
    let found = found.unwrap_or(0);
    let known = migrations.len() as i64;
    if found > known {
        return Err(StoreError::TooNew {
            store: store.to_owned(),
            found,
            known,
        });
    }
    Ok((1..)
        .zip(migrations.iter().copied())
        .skip(found as usize)
        .collect())
}

/// Applies one migration and records its version, on `conn` (the caller's transaction).
pub(super) async fn apply_migration<DB>(
    conn: &mut DB::Connection,
    version: i64,
    sql: &'static str,
    store: &str,
) -> Result<(), StoreError>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Type<DB>,
{
    let open_error = |source| StoreError::Open {
        store: store.to_owned(),
        source,
    };
    sqlx::raw_sql(sql)
        .execute(&mut *conn)
        .await
        .map_err(open_error)?;
    sqlx::query("INSERT INTO schema_version (version) VALUES ($1)")
        .bind(version)
        .execute(&mut *conn)
        .await
        .map_err(open_error)?;
    Ok(())
}

impl<DB> Store for SqlStore<DB>
where
    DB: Backend,
    for<'c> &'c mut DB::Connection: Executor<'c, Database = DB>,
    DB::Arguments: IntoArguments<DB>,
    for<'q> i64: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> bool: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> String: Encode<'q, DB> + Decode<'q, DB> + Type<DB>,
    for<'q> Option<i64>: Encode<'q, DB>,
    for<'q> Option<String>: Encode<'q, DB>,
    usize: ColumnIndex<DB::Row>,
{
    async fn begin_run(&self, mode: RunMode, dry_run: bool) -> Result<RunRecord, StoreError> {
        let started_at = Utc::now();
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO runs (started_at, mode, dry_run, status) VALUES ($1, $2, $3, $4)
             RETURNING id",
        )
        .bind(time_text(started_at))
        .bind(name_of(&mode))
        .bind(dry_run)
        .bind(name_of(&RunStatus::Running))
        .fetch_one(&self.pool)
        .await?;
        Ok(RunRecord {
            id,
            started_at,
            finished_at: None,
            mode,
            dry_run,
            status: RunStatus::Running,
            counts: RunCounts::default(),
            note: None,
            coupa_run_id: None,
        })
    }

    async fn set_coupa_run(&self, run_id: i64, coupa_run_id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE runs SET coupa_run_id = $2 WHERE id = $1 RETURNING id")
            .bind(run_id)
            .bind(coupa_run_id)
            .fetch_optional(&self.pool)
            .await?
            .ok_or(StoreError::NoRun(run_id))?;
        Ok(())
    }

    async fn finish_run(
        &self,
        run_id: i64,
        status: RunStatus,
        counts: RunCounts,
        note: Option<String>,
    ) -> Result<RunRecord, StoreError> {
        let flushed = self.flush().await;
        let row = sqlx::query(
            "UPDATE runs SET finished_at = $2, status = $3, people = $4, created = $5, updated = $6,
                deactivated = $7, reactivated = $8, unchanged = $9, failed = $10, note = $11
             WHERE id = $1 RETURNING *",
        )
        .bind(run_id)
        .bind(time_text(Utc::now()))
        .bind(name_of(&status))
        .bind(i64::from(counts.people))
        .bind(i64::from(counts.created))
        .bind(i64::from(counts.updated))
        .bind(i64::from(counts.deactivated))
        .bind(i64::from(counts.reactivated))
        .bind(i64::from(counts.unchanged))
        .bind(i64::from(counts.failed))
        .bind(note)
        .fetch_optional(&self.pool)
        .await?
        .ok_or(StoreError::NoRun(run_id))?;
        // The run is closed either way; a lost record is still worth reporting.
        flushed?;
        run_from(&row)
    }

    fn record_change(&self, change: ChangeRecord) {
        self.enqueue(Queued::Change(change));
    }

    fn record_call(&self, call: CallRecord) {
        self.enqueue(Queued::Call(call));
    }

    fn save_applied(&self, records: Vec<AppliedRecord>) {
        if !records.is_empty() {
            self.enqueue(Queued::Applied(records));
        }
    }

    async fn flush(&self) -> Result<(), StoreError> {
        let (answer, answered) = oneshot::channel();
        self.queue
            .send(Queued::Flush(answer))
            .map_err(|_| StoreError::WriterGone)?;
        match answered.await {
            Ok(None) => Ok(()),
            Ok(Some(message)) => Err(StoreError::Write(message)),
            Err(_) => Err(StoreError::WriterGone),
        }
    }

    async fn applied_state(&self) -> Result<HashMap<String, AppliedRecord>, StoreError> {
        let rows = sqlx::query("SELECT * FROM applied")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|row| applied_from(row).map(|a| (a.hr_key.clone(), a)))
            .collect()
    }

    async fn last_run(&self) -> Result<Option<RunRecord>, StoreError> {
        sqlx::query("SELECT * FROM runs ORDER BY id DESC LIMIT 1")
            .fetch_optional(&self.pool)
            .await?
            .map(|row| run_from(&row))
            .transpose()
    }

    async fn run(&self, run_id: i64) -> Result<Option<RunRecord>, StoreError> {
        self.run_or_none(run_id).await
    }

    async fn recent_runs(&self, limit: u32) -> Result<Vec<RunRecord>, StoreError> {
        sqlx::query("SELECT * FROM runs ORDER BY id DESC LIMIT $1")
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(run_from)
            .collect()
    }

    async fn changes_for_run(
        &self,
        run_id: i64,
        errors_only: bool,
    ) -> Result<Vec<ChangeRecord>, StoreError> {
        sqlx::query(
            "SELECT * FROM changes WHERE run_id = $1 AND (NOT $2 OR has_problem) ORDER BY id",
        )
        .bind(run_id)
        .bind(errors_only)
        .fetch_all(&self.pool)
        .await?
        .iter()
        .map(change_from)
        .collect()
    }

    async fn calls_for_run(&self, run_id: i64) -> Result<Vec<CallRecord>, StoreError> {
        sqlx::query("SELECT * FROM calls WHERE run_id = $1 ORDER BY id")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(call_from)
            .collect()
    }

    async fn person_history(&self, hr_key: &str) -> Result<Vec<PersonChange>, StoreError> {
        let changes: Vec<ChangeRecord> =
            sqlx::query("SELECT * FROM changes WHERE hr_key = $1 ORDER BY id")
                .bind(hr_key.to_owned())
                .fetch_all(&self.pool)
                .await?
                .iter()
                .map(change_from)
                .collect::<Result<_, _>>()?;
        let mut runs: HashMap<i64, RunRecord> = HashMap::new();
        let mut history = Vec::with_capacity(changes.len());
        for change in changes {
            let run = match runs.get(&change.run_id) {
                Some(run) => run.clone(),
                None => {
                    let run = self
                        .run_or_none(change.run_id)
                        .await?
                        .ok_or(StoreError::NoRun(change.run_id))?;
                    runs.insert(run.id, run.clone());
                    run
                }
            };
            // Calls made for the person: tagged with their HR key, or addressed to their Coupa user.
            let user_path = change.coupa_id.map(|id| format!("/api/users/{id}"));
            let calls = sqlx::query(
                "SELECT * FROM calls WHERE run_id = $1
                   AND (hr_key = $2 OR path = $3 OR path LIKE $4) ORDER BY id",
            )
            .bind(change.run_id)
            .bind(&change.hr_key)
            .bind(&user_path)
            .bind(user_path.as_ref().map(|p| format!("{p}?%")))
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(call_from)
            .collect::<Result<_, _>>()?;
            history.push(PersonChange { run, change, calls });
        }
        Ok(history)
    }

    async fn save_csv_file(&self, file: &CsvFileRecord) -> Result<(), StoreError> {
        sqlx::query(
            "INSERT INTO csv_files (name, run_id, status, written_at, uploaded_at, finished_at,
                row_count, rows, note)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
             ON CONFLICT (name) DO UPDATE SET status = excluded.status,
                uploaded_at = excluded.uploaded_at, finished_at = excluded.finished_at,
                note = excluded.note",
        )
        .bind(&file.name)
        .bind(file.run_id)
        .bind(name_of(&file.status))
        .bind(time_text(file.written_at))
        .bind(file.uploaded_at.map(time_text))
        .bind(file.finished_at.map(time_text))
        .bind(i64::from(file.row_count))
        .bind(file.rows.to_string())
        .bind(&file.note)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn open_csv_files(&self) -> Result<Vec<CsvFileRecord>, StoreError> {
        sqlx::query("SELECT * FROM csv_files WHERE status IN ('written', 'uploaded') ORDER BY name")
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(csv_file_from)
            .collect()
    }

    async fn csv_files_for_run(&self, run_id: i64) -> Result<Vec<CsvFileRecord>, StoreError> {
        sqlx::query("SELECT * FROM csv_files WHERE run_id = $1 ORDER BY name")
            .bind(run_id)
            .fetch_all(&self.pool)
            .await?
            .iter()
            .map(csv_file_from)
            .collect()
    }

    async fn last_csv_file_name(&self) -> Result<Option<String>, StoreError> {
        Ok(sqlx::query_scalar("SELECT MAX(name) FROM csv_files")
            .fetch_one(&self.pool)
            .await?)
    }
}
