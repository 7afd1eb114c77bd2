//! The run journal and call log on both backends, each test once on a real SQLite file and once on
//! a real PostgreSQL server: what is recorded is read back after a reopen, queries select what
//! `coupa-sync log` promises, and secrets never reach the disk.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/postgres.rs"]
mod postgres_server;

use chrono::{TimeZone, Utc};
use engine::store::{
    AnyStore, AppliedRecord, CallRecord, ChangeRecord, FieldVerdict, Outcome, PostgresStore,
    RunCounts, RunMode, RunStatus, SqliteStore, Store, StoreError, Verdict,
};
use postgres_server::Postgres;
use secrecy::SecretString;
use std::sync::Arc;
use tempfile::TempDir;

/// A fresh, empty database of one backend.
enum Db {
    Sqlite(TempDir),
    Postgres(Postgres),
}

impl Db {
    fn sqlite() -> Db {
        Db::Sqlite(tempfile::tempdir().unwrap())
    }

    fn postgres() -> Db {
        Db::Postgres(Postgres::start())
    }

    /// Opens (or reopens) the store, as coupa-sync does at the start of a command.
    async fn open(&self) -> AnyStore {
        self.try_open().await.unwrap()
    }

    async fn try_open(&self) -> Result<AnyStore, StoreError> {
        Ok(match self {
            Db::Sqlite(dir) => AnyStore::Sqlite(SqliteStore::open(dir.path().join("s.db")).await?),
            Db::Postgres(pg) => AnyStore::Postgres(PostgresStore::open(&pg.url()).await?),
        })
    }

    /// Runs SQL behind the store's back (to age a schema, say).
    async fn sql(&self, sql: &'static str) {
        match self {
            Db::Sqlite(dir) => {
                let path = dir.path().join("s.db");
                let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
                    .await
                    .unwrap();
                sqlx::raw_sql(sql).execute(&pool).await.unwrap();
                pool.close().await;
            }
            Db::Postgres(pg) => {
                pg.sql(sql);
            }
        }
    }

    /// Every byte the database wrote to disk, as text (lossy), to look for what must not be there.
    fn on_disk(&self) -> String {
        let files = match self {
            // The database, and its WAL and shared-memory files if any are left.
            Db::Sqlite(dir) => std::fs::read_dir(dir.path())
                .unwrap()
                .map(|entry| entry.unwrap().path())
                .collect(),
            // Tables and write-ahead log, once PostgreSQL has written out what it holds in memory.
            Db::Postgres(pg) => {
                pg.checkpoint();
                pg.data_files()
            }
        };
        let mut bytes = Vec::new();
        for file in files {
            bytes.extend(std::fs::read(file).unwrap());
        }
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// Each test body runs once per backend: `sqlite::name` and `postgres::name`.
macro_rules! on_both_backends {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Db::sqlite()).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::Db::postgres()).await;
                }
            )*
        }
    };
}

on_both_backends!(
    a_run_is_read_back_after_reopening_the_store,
    an_unfinished_run_stays_running_and_newer_runs_come_first,
    a_persons_history_spans_runs_with_their_own_calls,
    errors_only_keeps_failed_people_and_refused_or_ignored_fields,
    applied_state_round_trips_and_later_saves_replace_earlier_ones,
    secrets_put_through_record_call_never_reach_the_disk,
    many_tasks_recording_calls_at_once_lose_none,
    one_unstorable_record_is_reported_and_does_not_lose_the_others,
    long_bodies_are_cut_and_say_so,
    a_database_from_a_newer_coupa_sync_is_refused,
    a_store_from_before_integration_reporting_is_upgraded_and_keeps_its_runs,
);

fn change(run_id: i64, hr_key: &str, outcome: Outcome, fields: Vec<FieldVerdict>) -> ChangeRecord {
    ChangeRecord {
        run_id,
        hr_key: hr_key.into(),
        login: Some(format!("{}.login", hr_key.to_lowercase())),
        coupa_id: Some(7),
        action: "update".into(),
        outcome,
        fields,
        errors: vec![],
        technical_error: None,
    }
}

fn field(name: &str, new: &str, verdict: Verdict) -> FieldVerdict {
    FieldVerdict {
        field: name.into(),
        old: Some("before".into()),
        new: Some(new.into()),
        verdict,
        kept: (verdict == Verdict::Ignored).then(|| "before".into()),
        message: (verdict == Verdict::Failed).then(|| format!("{name} is invalid")),
    }
}

fn call(run_id: i64, hr_key: Option<&str>, method: &str, path: &str, status: u16) -> CallRecord {
    CallRecord {
        run_id,
        hr_key: hr_key.map(Into::into),
        at: Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap(),
        method: method.into(),
        path: path.into(),
        status: Some(status),
        duration_ms: 41,
        attempt: 1,
        rate_wait_ms: 3,
        request_body: Some("<user><lastname>Doe</lastname></user>".into()),
        response_body: Some("<user><id type=\"integer\">7</id></user>".into()),
        coupa_errors: vec![],
        error: None,
    }
}

async fn a_run_is_read_back_after_reopening_the_store(db: Db) {
    let store = db.open().await;
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    assert_eq!(run.status, RunStatus::Running);
    let applied = change(
        run.id,
        "E1",
        Outcome::Applied,
        vec![field("lastname", "Doe", Verdict::Applied)],
    );
    let mut refused = change(
        run.id,
        "E2",
        Outcome::Failed,
        vec![field("email", "taken@x.test", Verdict::Failed)],
    );
    refused.errors = vec!["Email has already been taken".into()];
    store.record_change(applied.clone());
    store.record_change(refused.clone());
    let mut failed_call = call(run.id, Some("E2"), "PUT", "/api/users/8", 400);
    failed_call.coupa_errors = vec!["Email has already been taken".into()];
    let mut lost = call(run.id, Some("E3"), "PUT", "/api/users/9", 0);
    lost.status = None;
    lost.response_body = None;
    lost.error = Some("connection reset by peer".into());
    lost.attempt = 4;
    let calls = vec![
        call(run.id, Some("E1"), "PUT", "/api/users/7", 200),
        failed_call,
        lost,
    ];
    for c in &calls {
        store.record_call(c.clone());
    }
    let counts = RunCounts {
        people: 2,
        updated: 1,
        failed: 1,
        ..RunCounts::default()
    };
    let finished = store
        .finish_run(
            run.id,
            RunStatus::Failed,
            counts,
            Some("1 person failed".into()),
        )
        .await
        .unwrap();
    assert_eq!(finished.status, RunStatus::Failed);
    assert!(finished.finished_at.unwrap() >= finished.started_at);
    store.close().await.unwrap();

    let store = db.open().await;
    assert_eq!(store.last_run().await.unwrap(), Some(finished.clone()));
    assert_eq!(store.run(run.id).await.unwrap(), Some(finished));
    assert_eq!(store.run(run.id + 1).await.unwrap(), None);
    assert_eq!(
        store.changes_for_run(run.id, false).await.unwrap(),
        vec![applied, refused]
    );
    assert_eq!(store.calls_for_run(run.id).await.unwrap(), calls);
}

async fn an_unfinished_run_stays_running_and_newer_runs_come_first(db: Db) {
    let store = db.open().await;
    let first = store.begin_run(RunMode::Csv, true).await.unwrap();
    let second = store.begin_run(RunMode::Api, false).await.unwrap();
    store.close().await.unwrap();
    let store = db.open().await;
    let runs = store.recent_runs(10).await.unwrap();
    assert_eq!(runs, vec![second, first.clone()]);
    assert_eq!(runs[1].status, RunStatus::Running);
    assert!(runs[1].dry_run);
    assert_eq!(runs[1].mode, RunMode::Csv);
    assert_eq!(store.recent_runs(1).await.unwrap().len(), 1);
    let err = store
        .finish_run(999, RunStatus::Succeeded, RunCounts::default(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::NoRun(999)), "{err}");
}

async fn a_persons_history_spans_runs_with_their_own_calls(db: Db) {
    let store = db.open().await;

    // Run 1 creates E1: the POST carries E1's key; a batched lookup belongs to nobody.
    let run1 = store.begin_run(RunMode::Api, false).await.unwrap();
    let mut created = change(
        run1.id,
        "E1",
        Outcome::Applied,
        vec![field("login", "jdoe", Verdict::Applied)],
    );
    created.action = "create".into();
    created.coupa_id = None;
    store.record_change(created.clone());
    store.record_change(change(run1.id, "E2", Outcome::Applied, vec![]));
    let lookup = call(
        run1.id,
        None,
        "GET",
        "/api/users?login%5Bin%5D=jdoe,asmith",
        200,
    );
    let post = call(run1.id, Some("E1"), "POST", "/api/users", 201);
    store.record_call(lookup);
    store.record_call(post.clone());
    store
        .finish_run(run1.id, RunStatus::Succeeded, RunCounts::default(), None)
        .await
        .unwrap();

    // Run 2 updates E1 (Coupa id 7): the PUT is found by its path even without the key. E2's call
    // to another user is not E1's.
    let run2 = store.begin_run(RunMode::Api, false).await.unwrap();
    let updated = change(
        run2.id,
        "E1",
        Outcome::Applied,
        vec![field("lastname", "Doe", Verdict::Applied)],
    );
    store.record_change(updated.clone());
    let put = call(
        run2.id,
        None,
        "PUT",
        "/api/users/7?return_object=shallow",
        200,
    );
    let verify = call(run2.id, None, "GET", "/api/users/7", 200);
    store.record_call(put.clone());
    store.record_call(call(run2.id, Some("E2"), "PUT", "/api/users/70", 200));
    store.record_call(verify.clone());
    let run2 = store
        .finish_run(run2.id, RunStatus::Succeeded, RunCounts::default(), None)
        .await
        .unwrap();

    let history = store.person_history("E1").await.unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[0].run.id, run1.id);
    assert_eq!(history[0].change, created);
    assert_eq!(history[0].calls, vec![post]);
    assert_eq!(history[1].run, run2);
    assert_eq!(history[1].change, updated);
    assert_eq!(history[1].calls, vec![put, verify]);
    assert!(store.person_history("nobody").await.unwrap().is_empty());
}

async fn errors_only_keeps_failed_people_and_refused_or_ignored_fields(db: Db) {
    let store = db.open().await;
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    let fine = change(
        run.id,
        "E1",
        Outcome::Applied,
        vec![field("lastname", "Doe", Verdict::Applied)],
    );
    let refused = change(
        run.id,
        "E2",
        Outcome::Failed,
        vec![field("email", "x", Verdict::Failed)],
    );
    let ignored = change(
        run.id,
        "E3",
        Outcome::Applied,
        vec![
            field("lastname", "Roe", Verdict::Applied),
            field("department", "Sales EMEA", Verdict::Ignored),
        ],
    );
    let mut ambiguous = change(run.id, "E4", Outcome::Skipped, vec![]);
    ambiguous.action = "error".into();
    ambiguous.errors = vec!["2 Coupa users have login \"x\"".into()];
    let mut timed_out = change(run.id, "E5", Outcome::Failed, vec![]);
    timed_out.technical_error = Some("timed out after 4 attempts".into());
    for c in [&fine, &refused, &ignored, &ambiguous, &timed_out] {
        store.record_change(c.clone());
    }
    store.flush().await.unwrap();
    let errors = store.changes_for_run(run.id, true).await.unwrap();
    assert_eq!(errors, vec![refused, ignored, ambiguous, timed_out]);
    assert_eq!(store.changes_for_run(run.id, false).await.unwrap().len(), 5);
}

async fn applied_state_round_trips_and_later_saves_replace_earlier_ones(db: Db) {
    let store = db.open().await;
    assert!(store.applied_state().await.unwrap().is_empty());
    let at = Utc.with_ymd_and_hms(2026, 3, 1, 6, 0, 0).unwrap();
    let e1 = AppliedRecord {
        hr_key: "E1".into(),
        fingerprint: u64::MAX - 5,
        fields: serde_json::json!({"match_value": "jdoe", "active": true, "fields": {"lastname": "Doe"}}),
        coupa_id: Some(7),
        updated_at: at,
    };
    let e2 = AppliedRecord {
        hr_key: "E2".into(),
        fingerprint: 0,
        fields: serde_json::json!({}),
        coupa_id: None,
        updated_at: at,
    };
    store.save_applied(vec![e1.clone(), e2.clone()]);
    store.flush().await.unwrap();
    let state = store.applied_state().await.unwrap();
    assert_eq!(state.len(), 2);
    assert_eq!(state["E1"], e1);
    assert_eq!(state["E2"], e2);

    let e1_later = AppliedRecord {
        fingerprint: 42,
        fields: serde_json::json!({"match_value": "jdoe", "active": false}),
        updated_at: at + chrono::Duration::nanoseconds(1_500),
        ..e1
    };
    store.save_applied(vec![e1_later.clone()]);
    store.close().await.unwrap();
    let state = db.open().await.applied_state().await.unwrap();
    assert_eq!(state.len(), 2);
    assert_eq!(state["E1"], e1_later);
    assert_eq!(state["E2"], e2);
}

async fn secrets_put_through_record_call_never_reach_the_disk(db: Db) {
    let store = db.open().await;
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    let secrets = [
        "CLIENTSECRET1",
        "ACCESSTOKEN2",
        "BEARERTOKEN3",
        "XMLPASSWORD4",
        "JSONPASSWORD5",
        "APIKEY6",
        "QUERYTOKEN7",
    ];
    let token_request = CallRecord {
        request_body: Some(format!(
            "grant_type=client_credentials&client_id=sync&client_secret={}&scope=core.user.read",
            secrets[0]
        )),
        response_body: Some(format!(
            r#"{{"access_token":"{}","token_type":"bearer","expires_in":86399}}"#,
            secrets[1]
        )),
        error: Some(format!("sent Authorization: Bearer {}", secrets[2])),
        ..call(run.id, None, "POST", "/oauth2/token", 200)
    };
    let user_call = CallRecord {
        request_body: Some(format!(
            "<user><login>VISIBLE-LOGIN</login><password>{}</password></user>",
            secrets[3]
        )),
        response_body: Some(format!(r#"{{"user":{{"password":"{}"}}}}"#, secrets[4])),
        coupa_errors: vec![format!("X-COUPA-API-KEY: {}", secrets[5])],
        ..call(
            run.id,
            Some("E1"),
            "PUT",
            &format!("/api/users/7?access_token={}", secrets[6]),
            400,
        )
    };
    store.record_call(token_request);
    store.record_call(user_call);
    store
        .finish_run(run.id, RunStatus::Failed, RunCounts::default(), None)
        .await
        .unwrap();
    let stored = store.calls_for_run(run.id).await.unwrap();
    assert_eq!(stored.len(), 2);
    assert!(
        stored[1]
            .request_body
            .as_ref()
            .unwrap()
            .contains("<password>[redacted]</password>")
    );
    assert_eq!(stored[1].path, "/api/users/7?access_token=[redacted]");
    store.close().await.unwrap();

    let on_disk = db.on_disk();
    let contains = |needle: &str| on_disk.contains(needle);
    // The search itself works: what is not secret is there.
    assert!(contains("VISIBLE-LOGIN"));
    assert!(contains("[redacted]"));
    for secret in secrets {
        assert!(!contains(secret), "{secret} reached the database file");
    }
}

async fn many_tasks_recording_calls_at_once_lose_none(db: Db) {
    let store = Arc::new(db.open().await);
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    let tasks = 40;
    let per_task = 60;
    let started = std::time::Instant::now();
    let handles: Vec<_> = (0..tasks)
        .map(|t| {
            let store = Arc::clone(&store);
            tokio::spawn(async move {
                for n in 0..per_task {
                    store.record_call(call(
                        run.id,
                        Some(&format!("T{t}")),
                        "GET",
                        &format!("/api/users/{n}"),
                        200,
                    ));
                    tokio::task::yield_now().await;
                }
            })
        })
        .collect();
    for handle in handles {
        handle.await.unwrap();
    }
    store.flush().await.unwrap();
    eprintln!(
        "{} calls recorded and flushed in {:?}",
        tasks * per_task,
        started.elapsed()
    );
    let calls = store.calls_for_run(run.id).await.unwrap();
    assert_eq!(calls.len(), tasks * per_task);
    let mut seen: Vec<(String, String)> = calls
        .into_iter()
        .map(|c| (c.hr_key.unwrap(), c.path))
        .collect();
    seen.sort();
    seen.dedup();
    assert_eq!(seen.len(), tasks * per_task, "every call exactly once");
}

async fn one_unstorable_record_is_reported_and_does_not_lose_the_others(db: Db) {
    let store = db.open().await;
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    store.record_change(change(run.id, "E1", Outcome::Applied, vec![]));
    store.record_change(change(999, "E2", Outcome::Applied, vec![]));
    store.record_change(change(run.id, "E3", Outcome::Applied, vec![]));
    let err = store.flush().await.unwrap_err();
    assert!(err.to_string().contains("change of E2 in run 999"), "{err}");
    let kept: Vec<String> = store
        .changes_for_run(run.id, false)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.hr_key)
        .collect();
    assert_eq!(kept, ["E1", "E3"]);
    // The failure was reported once; the next flush is clean.
    store.flush().await.unwrap();
}

async fn long_bodies_are_cut_and_say_so(db: Db) {
    let store = db.open().await;
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    let body = "é".repeat(60_000); // 120,000 bytes
    store.record_call(CallRecord {
        response_body: Some(body),
        ..call(run.id, None, "GET", "/api/users", 200)
    });
    store.flush().await.unwrap();
    let stored = store
        .calls_for_run(run.id)
        .await
        .unwrap()
        .remove(0)
        .response_body
        .unwrap();
    assert!(stored.len() < 70_000);
    assert!(stored.starts_with("éé"));
    assert!(
        stored.ends_with("[cut: 120000 bytes in all]"),
        "{}",
        &stored[stored.len() - 40..]
    );
}

async fn a_database_from_a_newer_coupa_sync_is_refused(db: Db) {
    db.open().await.close().await.unwrap();
    db.sql("INSERT INTO schema_version (version) VALUES (99)")
        .await;
    let err = db.try_open().await.unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

async fn a_store_from_before_integration_reporting_is_upgraded_and_keeps_its_runs(db: Db) {
    let store = db.open().await;
    let old = store.begin_run(RunMode::Api, false).await.unwrap();
    store.close().await.unwrap();
    // Back to schema version 2, as a store written by the previous release.
    db.sql(
        "ALTER TABLE runs DROP COLUMN coupa_run_id; DELETE FROM schema_version WHERE version = 3;",
    )
    .await;

    let store = db.open().await;
    assert_eq!(store.run(old.id).await.unwrap().unwrap().coupa_run_id, None);
    let new = store.begin_run(RunMode::Api, false).await.unwrap();
    store.set_coupa_run(new.id, 12).await.unwrap();
    let finished = store
        .finish_run(new.id, RunStatus::Succeeded, RunCounts::default(), None)
        .await
        .unwrap();
    assert_eq!(finished.coupa_run_id, Some(12));
    assert!(matches!(
        store.set_coupa_run(999, 1).await,
        Err(StoreError::NoRun(999))
    ));
}

#[tokio::test]
async fn a_postgres_url_asking_for_tls_gets_encrypted_connections() {
    let pg = Postgres::start();
    let url = SecretString::from(format!("{}?sslmode=require", pg.url_text()));
    let store = PostgresStore::open(&url).await.unwrap();
    let run = store.begin_run(RunMode::Api, false).await.unwrap();
    let (tls, all) = pg.tls_connections();
    assert!(all > 0 && tls == all, "{tls} of {all} connections use TLS");
    store
        .finish_run(run.id, RunStatus::Succeeded, RunCounts::default(), None)
        .await
        .unwrap();
    store.close().await.unwrap();
}

#[tokio::test]
async fn the_postgres_password_appears_in_no_error_nor_debug_output() {
    let pg = Postgres::start();
    let store = PostgresStore::open(&pg.url()).await.unwrap();
    let shown = format!("{store:?} {}", store.location());
    assert!(shown.contains("coupa_sync@127.0.0.1"), "{shown}");
    assert!(!shown.contains(pg.password()), "{shown}");
    store.close().await.unwrap();

    // The server refuses a wrong password; the error says so without repeating it.
    let wrong = "wrong-secret-4711";
    let url = pg.url_text().replace(pg.password(), wrong);
    let err = PostgresStore::open(&SecretString::from(url))
        .await
        .unwrap_err();
    let message = format!("{err} {err:?}");
    assert!(
        message.contains("password authentication failed"),
        "{message}"
    );
    assert!(message.contains("127.0.0.1"), "{message}");
    assert!(!message.contains(wrong), "{message}");
}

#[tokio::test]
async fn postgres_stores_opened_at_once_on_a_new_database_migrate_it_once() {
    let pg = Postgres::start();
    let url = pg.url();
    // Several coupa-sync processes starting together on a fresh database: each open waits for the
    // migration in progress instead of failing on tables another one is creating.
    let opens = (0..4).map(|_| PostgresStore::open(&url));
    let stores = futures::future::join_all(opens).await;
    for store in stores {
        let store = store.unwrap();
        assert!(store.recent_runs(1).await.unwrap().is_empty());
        store.close().await.unwrap();
    }
    assert_eq!(
        pg.sql("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version")
            .trim(),
        "1,2,3"
    );
}
