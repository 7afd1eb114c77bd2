//! The PostgreSQL backend, for deployments without a persistent disk or where several operators
//! share the run history: the same tables, queries and background writer as the SQLite backend
//! (all in `sql.rs`), on a server named by a URL. The URL holds a password, so it stays a
//! `SecretString`; errors, logs and `Debug` name the database by its URL without the password.

use super::StoreError;
use super::schema::POSTGRES_MIGRATIONS;
use super::sql::{Backend, SqlStore, apply_migration, pending_migrations};
use secrecy::{ExposeSecret, SecretString};
use sqlx::postgres::PgConnectOptions;
use sqlx::{PgPool, Postgres};
use std::future::Future;
use std::str::FromStr;

/// Taken for the length of a migration, so that two coupa-sync processes opening the same new
/// database at once do not both migrate it (an arbitrary number: "coupa" in ASCII).
const MIGRATION_LOCK: i64 = 0x63_6f_75_70_61;

/// A store in a PostgreSQL database. Cheap to share by reference; `close` flushes and closes it.
pub type PostgresStore = SqlStore<Postgres>;

impl Backend for Postgres {
    /// The URL without its password, for messages.
    type Location = String;

    fn migrate(
        pool: &PgPool,
        store: &str,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        migrate(pool, store)
    }
}

/// A PostgreSQL URL's connection options and a password-free name for it; an error that does not
/// repeat the URL (it holds the password).
pub(crate) fn parse_postgres_url(url: &SecretString) -> Result<(PgConnectOptions, String), String> {
    let text = url.expose_secret();
    if !(text.starts_with("postgres://") || text.starts_with("postgresql://")) {
        return Err("expected postgres://user:password@host:port/database".into());
    }
    // sqlx's messages name the part that is wrong, never the URL itself.
    let options =
        PgConnectOptions::from_str(text).map_err(|e| format!("not a valid PostgreSQL URL: {e}"))?;
    let location = format!(
        "postgres://{}@{}:{}/{}",
        options.get_username(),
        options.get_host(),
        options.get_port(),
        options.get_database().unwrap_or_default()
    );
    Ok((options, location))
}

impl SqlStore<Postgres> {
    /// Connects to the database at `url` and brings its schema up to date. The database must
    /// exist; its tables are created by the first open.
    pub async fn open(url: &SecretString) -> Result<PostgresStore, StoreError> {
        let (options, location) = parse_postgres_url(url).map_err(|message| StoreError::Open {
            store: "(PostgreSQL URL)".into(),
            source: sqlx::Error::Configuration(message.into()),
        })?;
        let store = location.clone();
        SqlStore::open_with(location, &store, options).await
    }

    /// The database's URL without its password.
    pub fn location(&self) -> &str {
        self.location_of()
    }
}

/// Brings the schema up to date in one transaction, under an advisory lock so that concurrent
/// opens wait for each other; true when a migration was applied.
async fn migrate(pool: &PgPool, location: &str) -> Result<bool, StoreError> {
    let open_error = |source| StoreError::Open {
        store: location.to_owned(),
        source,
    };
    let mut tx = pool.begin().await.map_err(open_error)?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await
        .map_err(open_error)?;
    let pending = pending_migrations::<Postgres>(
        &mut tx,
        "CREATE TABLE IF NOT EXISTS schema_version (version BIGINT NOT NULL)",
        POSTGRES_MIGRATIONS,
        location,
    )
    .await?;
    for &(version, sql) in &pending {
        apply_migration::<Postgres>(&mut tx, version, sql, location).await?;
    }
    tx.commit().await.map_err(open_error)?;
    Ok(!pending.is_empty())
}
