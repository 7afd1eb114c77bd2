//! The store's schema as plain SQL migrations, applied in order at open; `schema_version` records the
//! last one applied. One list per backend, migration for migration: version `n` means the same
//! tables and columns in SQLite and in PostgreSQL. Never edit a migration once released; add the
//! next one to both lists.

/// SQLite: migration `n` (1-based) brings the schema from version `n - 1` to `n`.
pub(super) const SQLITE_MIGRATIONS: &[&str] = &[
    // 1: runs, changes, calls, applied state.
    "
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        mode TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        status TEXT NOT NULL,
        people INTEGER NOT NULL DEFAULT 0,
        created INTEGER NOT NULL DEFAULT 0,
        updated INTEGER NOT NULL DEFAULT 0,
        deactivated INTEGER NOT NULL DEFAULT 0,
        reactivated INTEGER NOT NULL DEFAULT 0,
        unchanged INTEGER NOT NULL DEFAULT 0,
        failed INTEGER NOT NULL DEFAULT 0,
        note TEXT
    );
    CREATE TABLE changes (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        hr_key TEXT NOT NULL,
        login TEXT,
        coupa_id INTEGER,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        has_problem INTEGER NOT NULL,
        fields TEXT NOT NULL,
        errors TEXT NOT NULL,
        technical_error TEXT
    );
    CREATE INDEX changes_by_run ON changes (run_id, has_problem);
    CREATE INDEX changes_by_person ON changes (hr_key);
    CREATE TABLE calls (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        hr_key TEXT,
        at TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status INTEGER,
        duration_ms INTEGER NOT NULL,
        attempt INTEGER NOT NULL,
        rate_wait_ms INTEGER NOT NULL,
        request_body TEXT,
        response_body TEXT,
        coupa_errors TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX calls_by_run ON calls (run_id);
    CREATE INDEX calls_by_person ON calls (hr_key);
    CREATE TABLE applied (
        hr_key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        fields TEXT NOT NULL,
        coupa_id INTEGER,
        updated_at TEXT NOT NULL
    );
    ",
    // 2: the flat-file path's users files, so a run left while Coupa loads them can be resumed.
    "
    CREATE TABLE csv_files (
        name TEXT PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs (id),
        status TEXT NOT NULL,
        written_at TEXT NOT NULL,
        uploaded_at TEXT,
        finished_at TEXT,
        row_count INTEGER NOT NULL,
        rows TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX csv_files_by_status ON csv_files (status);
    ",
    // 3: the integration run in Coupa a run is reported in (`[integration]`).
    "
    ALTER TABLE runs ADD COLUMN coupa_run_id INTEGER;
    ",
];

/// PostgreSQL: the same migrations with identity columns, `BIGINT` (sqlx reads `i64` only from
/// `BIGINT`) and `BOOLEAN`. Times stay RFC 3339 text in UTC, fixed width as in SQLite, so they sort
/// as text and keep their nanoseconds (a `TIMESTAMPTZ` would round them to microseconds).
pub(super) const POSTGRES_MIGRATIONS: &[&str] = &[
    // 1: runs, changes, calls, applied state.
    "
    CREATE TABLE runs (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        mode TEXT NOT NULL,
        dry_run BOOLEAN NOT NULL,
        status TEXT NOT NULL,
        people BIGINT NOT NULL DEFAULT 0,
        created BIGINT NOT NULL DEFAULT 0,
        updated BIGINT NOT NULL DEFAULT 0,
        deactivated BIGINT NOT NULL DEFAULT 0,
        reactivated BIGINT NOT NULL DEFAULT 0,
        unchanged BIGINT NOT NULL DEFAULT 0,
        failed BIGINT NOT NULL DEFAULT 0,
        note TEXT
    );
    CREATE TABLE changes (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id BIGINT NOT NULL REFERENCES runs (id),
        hr_key TEXT NOT NULL,
        login TEXT,
        coupa_id BIGINT,
        action TEXT NOT NULL,
        outcome TEXT NOT NULL,
        has_problem BOOLEAN NOT NULL,
        fields TEXT NOT NULL,
        errors TEXT NOT NULL,
        technical_error TEXT
    );
    CREATE INDEX changes_by_run ON changes (run_id, has_problem);
    CREATE INDEX changes_by_person ON changes (hr_key);
    CREATE TABLE calls (
        id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        run_id BIGINT NOT NULL REFERENCES runs (id),
        hr_key TEXT,
        at TEXT NOT NULL,
        method TEXT NOT NULL,
        path TEXT NOT NULL,
        status BIGINT,
        duration_ms BIGINT NOT NULL,
        attempt BIGINT NOT NULL,
        rate_wait_ms BIGINT NOT NULL,
        request_body TEXT,
        response_body TEXT,
        coupa_errors TEXT NOT NULL,
        error TEXT
    );
    CREATE INDEX calls_by_run ON calls (run_id);
    CREATE INDEX calls_by_person ON calls (hr_key);
    CREATE TABLE applied (
        hr_key TEXT PRIMARY KEY,
        fingerprint TEXT NOT NULL,
        fields TEXT NOT NULL,
        coupa_id BIGINT,
        updated_at TEXT NOT NULL
    );
    ",
    // 2: the flat-file path's users files, so a run left while Coupa loads them can be resumed.
    "
    CREATE TABLE csv_files (
        name TEXT PRIMARY KEY,
        run_id BIGINT NOT NULL REFERENCES runs (id),
        status TEXT NOT NULL,
        written_at TEXT NOT NULL,
        uploaded_at TEXT,
        finished_at TEXT,
        row_count BIGINT NOT NULL,
        rows TEXT NOT NULL,
        note TEXT
    );
    CREATE INDEX csv_files_by_status ON csv_files (status);
    ",
    // 3: the integration run in Coupa a run is reported in (`[integration]`).
    "
    ALTER TABLE runs ADD COLUMN coupa_run_id BIGINT;
    ",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_backends_know_the_same_schema_versions() {
        assert_eq!(SQLITE_MIGRATIONS.len(), POSTGRES_MIGRATIONS.len());
    }
}
