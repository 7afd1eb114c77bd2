//! The sandbox's state in SQLite (`<data_dir>/sandbox.db`): one JSON row per user, per setup record,
//! per flat-file load (data file source) and per integration record (integrations, contacts, runs,
//! history records, errors), read whole at start and written through on every change.

use crate::SandboxError;
use crate::setup::{CustomField, SetupRecord};
use crate::store::{State, StoredUser};
use coupa_wire::{ApprovalLimit, ContentGroup, Currency, Department, Role};
use serde::Serialize;
use sqlx::Row;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use std::path::{Path, PathBuf};
use std::time::Duration;

const SCHEMA: &[&str] = &[
    "CREATE TABLE IF NOT EXISTS users (id INTEGER PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS setup (kind TEXT NOT NULL, id INTEGER NOT NULL, \
     record TEXT NOT NULL, PRIMARY KEY (kind, id))",
    "CREATE TABLE IF NOT EXISTS data_file_sources (id INTEGER PRIMARY KEY, record TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS integration_records (kind TEXT NOT NULL, id INTEGER NOT NULL, \
     record TEXT NOT NULL, PRIMARY KEY (kind, id))",
];

/// Cheap to clone: clones share one connection pool.
#[derive(Debug, Clone)]
pub(crate) struct Db {
    pool: SqlitePool,
    path: PathBuf,
}

impl Db {
    pub async fn open(dir: &Path) -> Result<Db, SandboxError> {
        let path = dir.join("sandbox.db");
        let fail = |message: String| SandboxError::Data {
            path: path.display().to_string(),
            message,
        };
        std::fs::create_dir_all(dir).map_err(|e| fail(format!("cannot create the folder: {e}")))?;
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            // WAL with NORMAL sync: a committed change survives the process ending, which is what
            // a restart needs, without an fsync per write.
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(Duration::from_secs(5));
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(|e| fail(format!("cannot open the database: {e}")))?;
        for statement in SCHEMA {
            sqlx::query(*statement)
                .execute(&pool)
                .await
                .map_err(|e| fail(format!("cannot create the tables: {e}")))?;
        }
        Ok(Db { pool, path })
    }

    fn error(&self, message: String) -> SandboxError {
        SandboxError::Data {
            path: self.path.display().to_string(),
            message,
        }
    }

    /// Reads every saved record into `state`.
    pub async fn load(&self, state: &mut State) -> Result<(), SandboxError> {
        let rows = sqlx::query("SELECT id, record FROM users ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(format!("cannot read users: {e}")))?;
        for row in rows {
            let (id, text) = self.columns(&row, "users")?;
            let mut user: StoredUser = serde_json::from_str(&text)
                .map_err(|e| self.error(format!("users row {id} is not a user record: {e}")))?;
            user.user.id = Some(id);
            state.restore_user(user);
        }
        let rows = sqlx::query("SELECT kind, id, record FROM setup ORDER BY kind, id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(format!("cannot read setup records: {e}")))?;
        for row in rows {
            let kind: String = row
                .try_get("kind")
                .map_err(|e| self.error(format!("setup row: {e}")))?;
            let (id, text) = self.columns(&row, "setup")?;
            match kind.as_str() {
                Role::KIND => self.restore::<Role>(state, id, &text)?,
                Currency::KIND => self.restore::<Currency>(state, id, &text)?,
                Department::KIND => self.restore::<Department>(state, id, &text)?,
                ContentGroup::KIND => self.restore::<ContentGroup>(state, id, &text)?,
                CustomField::KIND => self.restore::<CustomField>(state, id, &text)?,
                ApprovalLimit::KIND => self.restore::<ApprovalLimit>(state, id, &text)?,
                other => {
                    return Err(self.error(format!("setup row {id} has unknown kind {other:?}")));
                }
            }
        }
        Ok(())
    }

    fn columns(
        &self,
        row: &sqlx::sqlite::SqliteRow,
        table: &str,
    ) -> Result<(i64, String), SandboxError> {
        let id: i64 = row
            .try_get("id")
            .map_err(|e| self.error(format!("{table} row: {e}")))?;
        let text: String = row
            .try_get("record")
            .map_err(|e| self.error(format!("{table} row {id}: {e}")))?;
        Ok((id, text))
    }

    fn restore<T: SetupRecord>(
        &self,
        state: &mut State,
        id: i64,
        text: &str,
    ) -> Result<(), SandboxError> {
        let mut record: T = serde_json::from_str(text)
            .map_err(|e| self.error(format!("{} row {id} is not a record: {e}", T::KIND)))?;
        record.set_id(id);
        state.restore_setup(record);
        Ok(())
    }

    pub async fn save_user(&self, user: &StoredUser) -> Result<(), String> {
        let text = serde_json::to_string(user).map_err(|e| e.to_string())?;
        sqlx::query("INSERT OR REPLACE INTO users (id, record) VALUES (?, ?)")
            .bind(user.id())
            .bind(text)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Stores `users` in one transaction: all of them or, on any failure, none. The statement is
    /// prepared once (sqlx caches it on the connection) and run per user, in order, so a user
    /// listed twice keeps its last version.
    pub async fn save_users(&self, users: &[&StoredUser]) -> Result<(), String> {
        let mut transaction = self.pool.begin().await.map_err(|e| e.to_string())?;
        for user in users {
            let text = serde_json::to_string(user).map_err(|e| e.to_string())?;
            sqlx::query("INSERT OR REPLACE INTO users (id, record) VALUES (?, ?)")
                .bind(user.id())
                .bind(text)
                .execute(&mut *transaction)
                .await
                .map_err(|e| format!("user {}: {e}", user.id()))?;
        }
        transaction.commit().await.map_err(|e| e.to_string())
    }

    pub async fn save_setup<T: SetupRecord>(&self, record: &T) -> Result<(), String> {
        let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
        sqlx::query("INSERT OR REPLACE INTO setup (kind, id, record) VALUES (?, ?, ?)")
            .bind(T::KIND)
            .bind(record.id().unwrap_or_default())
            .bind(text)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Every saved data file source, as `(id, JSON record)`, in id order.
    pub async fn load_data_file_sources(&self) -> Result<Vec<(i64, String)>, SandboxError> {
        let rows = sqlx::query("SELECT id, record FROM data_file_sources ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.error(format!("cannot read data file sources: {e}")))?;
        rows.iter()
            .map(|row| self.columns(row, "data_file_sources"))
            .collect()
    }

    pub async fn save_data_file_source<T: Serialize>(
        &self,
        id: i64,
        record: &T,
    ) -> Result<(), String> {
        let text = serde_json::to_string(record).map_err(|e| e.to_string())?;
        sqlx::query("INSERT OR REPLACE INTO data_file_sources (id, record) VALUES (?, ?)")
            .bind(id)
            .bind(text)
            .execute(&self.pool)
            .await
            .map(drop)
            .map_err(|e| e.to_string())
    }

    /// Every saved integration record, as `(kind, id, JSON record)`, in kind and id order.
    pub async fn load_integration_records(
        &self,
    ) -> Result<Vec<(String, i64, String)>, SandboxError> {
        let rows =
            sqlx::query("SELECT kind, id, record FROM integration_records ORDER BY kind, id")
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.error(format!("cannot read integration records: {e}")))?;
        rows.iter()
            .map(|row| {
                let kind: String = row
                    .try_get("kind")
                    .map_err(|e| self.error(format!("integration_records row: {e}")))?;
                let (id, text) = self.columns(row, "integration_records")?;
                Ok((kind, id, text))
            })
            .collect()
    }

    pub async fn save_integration_record(
        &self,
        kind: &str,
        id: i64,
        text: &str,
    ) -> Result<(), String> {
        sqlx::query(
            "INSERT OR REPLACE INTO integration_records (kind, id, record) VALUES (?, ?, ?)",
        )
        .bind(kind)
        .bind(id)
        .bind(text)
        .execute(&self.pool)
        .await
        .map(drop)
        .map_err(|e| e.to_string())
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}
