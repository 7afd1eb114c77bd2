//! The SQLite backend: one file in WAL mode, migrations at open, and a background writer that stores
//! queued records in batches of one transaction each (WAL with `synchronous=NORMAL` does not fsync on
//! commit, so a batch costs little). A crash loses at most the last batch: those people are simply
//! not recorded as applied and are tried again by the next run.

use super::StoreError;
use super::schema::SQLITE_MIGRATIONS;
use super::sql::{Backend, SqlStore, apply_migration, pending_migrations};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A store in one SQLite file. Cheap to share by reference; `close` flushes and closes it.
pub type SqliteStore = SqlStore<Sqlite>;

impl Backend for Sqlite {
    type Location = PathBuf;

    fn migrate(
        pool: &SqlitePool,
        store: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        migrate(pool, store)
    }
}

impl SqlStore<Sqlite> {
    /// Opens the database at `path`, creating it and bringing its schema up to date.
    pub async fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        let options = SqliteConnectOptions::new()
            .filename(&path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let store = path.display().to_string();
        SqlStore::open_with(path, &store, options).await
    }

    pub fn path(&self) -> &Path {
        self.location_of()
    }
}

/// Brings the schema up to date, one transaction a migration; true when a migration was applied.
async fn migrate(pool: &SqlitePool, store: &str) -> Result<bool, StoreError> {
    let open_error = |source| StoreError::Open {
        store: store.to_owned(),
        source,
    };
    let mut conn = pool.acquire().await.map_err(open_error)?;
    let pending = pending_migrations::<Sqlite>(
        &mut conn,
        "CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)",
        SQLITE_MIGRATIONS,
        store,
    )
    .await?;
    drop(conn);
    for &(version, sql) in &pending {
        let mut tx = pool.begin().await.map_err(open_error)?;
        apply_migration::<Sqlite>(&mut tx, version, sql, store).await?;
        tx.commit().await.map_err(open_error)?;
    }
    Ok(!pending.is_empty())
}
