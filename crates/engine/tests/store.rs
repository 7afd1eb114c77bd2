//! The run journal and call log on a real SQLite file: what is recorded is read back after a reopen,
//! queries select what `coupa-sync log` promises, and secrets never reach the file.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use chrono::{TimeZone, Utc};
use engine::store::{
    AppliedRecord, CallRecord, ChangeRecord, FieldVerdict, Outcome, RunCounts, RunMode, RunStatus,
    SqliteStore, Store, StoreError, Verdict,
};
use std::sync::Arc;

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

#[tokio::test]
async fn a_run_is_read_back_after_reopening_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupa-sync.db");
    let store = SqliteStore::open(&path).await.unwrap();
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

    let store = SqliteStore::open(&path).await.unwrap();
    assert_eq!(store.last_run().await.unwrap(), Some(finished.clone()));
    assert_eq!(store.run(run.id).await.unwrap(), Some(finished));
    assert_eq!(store.run(run.id + 1).await.unwrap(), None);
    assert_eq!(
        store.changes_for_run(run.id, false).await.unwrap(),
        vec![applied, refused]
    );
    assert_eq!(store.calls_for_run(run.id).await.unwrap(), calls);
}

#[tokio::test]
async fn an_unfinished_run_stays_running_and_newer_runs_come_first() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let first = store.begin_run(RunMode::Csv, true).await.unwrap();
    let second = store.begin_run(RunMode::Api, false).await.unwrap();
    store.close().await.unwrap();
    let store = SqliteStore::open(&path).await.unwrap();
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

#[tokio::test]
async fn a_persons_history_spans_runs_with_their_own_calls() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();

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

#[tokio::test]
async fn errors_only_keeps_failed_people_and_refused_or_ignored_fields() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();
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

#[tokio::test]
async fn applied_state_round_trips_and_later_saves_replace_earlier_ones() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
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
    let state = SqliteStore::open(&path)
        .await
        .unwrap()
        .applied_state()
        .await
        .unwrap();
    assert_eq!(state.len(), 2);
    assert_eq!(state["E1"], e1_later);
    assert_eq!(state["E2"], e2);
}

#[tokio::test]
async fn secrets_put_through_record_call_never_reach_the_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();
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

    // Every byte SQLite wrote: the database, and its WAL and shared-memory files if any are left.
    let mut bytes = Vec::new();
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        bytes.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let contains = |needle: &str| bytes.windows(needle.len()).any(|w| w == needle.as_bytes());
    // The search itself works: what is not secret is there.
    assert!(contains("VISIBLE-LOGIN"));
    assert!(contains("[redacted]"));
    for secret in secrets {
        assert!(!contains(secret), "{secret} reached the database file");
    }
}

#[tokio::test]
async fn many_tasks_recording_calls_at_once_lose_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(SqliteStore::open(dir.path().join("s.db")).await.unwrap());
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

#[tokio::test]
async fn one_unstorable_record_is_reported_and_does_not_lose_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();
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

#[tokio::test]
async fn long_bodies_are_cut_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("s.db")).await.unwrap();
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

#[tokio::test]
async fn a_database_from_a_newer_coupa_sync_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    SqliteStore::open(&path)
        .await
        .unwrap()
        .close()
        .await
        .unwrap();
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::query("INSERT INTO schema_version (version) VALUES (99)")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let err = SqliteStore::open(&path).await.unwrap_err();
    assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    assert!(err.to_string().contains("schema version 99"), "{err}");
}

#[tokio::test]
async fn a_store_from_before_integration_reporting_is_upgraded_and_keeps_its_runs() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.db");
    let store = SqliteStore::open(&path).await.unwrap();
    let old = store.begin_run(RunMode::Api, false).await.unwrap();
    store.close().await.unwrap();
    // Back to schema version 2, as a store written by the previous release.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}", path.display()))
        .await
        .unwrap();
    sqlx::raw_sql(
        "ALTER TABLE runs DROP COLUMN coupa_run_id; DELETE FROM schema_version WHERE version = 3;",
    )
    .execute(&pool)
    .await
    .unwrap();
    pool.close().await;

    let store = SqliteStore::open(&path).await.unwrap();
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
