//! The API path's commands as a user runs them: the `coupa-sync` binary against an in-process
//! sandbox. Exit codes (0 every person applied, 1 any failed, 2 a bad configuration or flag), what
//! `plan`, `sync`, `log`, `check` and `init` print, `demo` running to the end, and a known secret that
//! appears in no output and no file.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "../../engine/tests/support/postgres.rs"]
mod postgres_server;
mod support;

use serde_json::Value;
use std::path::Path;
use support::{SECRET, SECRET_ENV, World, code, coupa_sync, stderr, stdout};

const FIELDS: &str = r#"
login = "login"
email = "email"
firstname = "first"
lastname = "last"
department = "dept"
"#;

const COMPANY: &str = r#"{
  "departments": [{"name": "Finance"}],
  "users": [
    {"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane", "lastname": "Doe",
     "department": {"name": "Finance"}}
  ]
}"#;

/// A sandbox with Jane Doe in Finance, and a configuration for the API path that maps the department.
async fn world() -> World {
    let world = World::start(
        support::sandbox_settings(),
        COMPANY,
        "id,login,email,first,last,dept,status",
    )
    .await;
    world.write_config(&support::config(&world.running.url(), "", FIELDS));
    world
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_exits_0_when_everyone_is_applied_1_when_anyone_failed() {
    let world = world().await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Finance,active");
    let ok = world.run(&["sync"]).await;
    assert_eq!(code(&ok), 0, "{}{}", stdout(&ok), stderr(&ok));
    let out = stdout(&ok);
    assert!(out.contains("1 updated"), "{out}");
    assert!(out.contains("lastname") && out.contains("applied"), "{out}");

    // A department Coupa does not know: accepted with a 200, ignored, caught by verification.
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Nowhere,active");
    let failed = world.run(&["sync"]).await;
    assert_eq!(code(&failed), 1, "{}{}", stdout(&failed), stderr(&failed));
    let out = stdout(&failed);
    assert!(
        out.contains("ignored") && out.contains("Coupa kept \"Finance\""),
        "{out}"
    );
    assert!(stderr(&failed).contains("coupa-sync log --run 2 --errors"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_configuration_exits_2_naming_the_file_and_the_key() {
    let world = world().await;
    let text = std::fs::read_to_string(world.config()).unwrap();
    world.write_config(&text.replace("rate_per_second", "rate_per_secnod"));
    for command in ["sync", "plan", "check", "log"] {
        let out = world.run(&[command]).await;
        assert_eq!(code(&out), 2, "{command}: {}", stderr(&out));
        let err = stderr(&out);
        assert!(
            err.contains("coupa-sync.toml") && err.contains("rate_per_secnod"),
            "{command}: {err}"
        );
    }
    let missing = coupa_sync(
        vec![
            "sync".into(),
            "--config".into(),
            "/nonexistent/x.toml".into(),
        ],
        &[],
    )
    .await;
    assert_eq!(code(&missing), 2);
    assert!(stderr(&missing).contains("/nonexistent/x.toml"));
    let unknown_flag = world.run(&["sync", "--fulll"]).await;
    assert_eq!(code(&unknown_flag), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_prints_each_field_old_to_new_and_json_without_writing() {
    let world = world().await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Finance,active\nP2,asmith,ann@example.com,Ann,Smith,Finance,active");
    let out = world.run(&["plan"]).await;
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("lastname: \"Doe\" → \"Smith\""), "{text}");
    assert!(text.contains("create person P2"), "{text}");
    assert!(text.contains("nothing was sent to Coupa"), "{text}");

    let json = world.run(&["plan", "--json"]).await;
    assert_eq!(code(&json), 0);
    let value: Value = serde_json::from_str(&stdout(&json)).unwrap();
    let people = value["plan"]["people"].as_array().unwrap();
    assert_eq!(people.len(), 2);
    assert_eq!(people[0]["action"]["action"], "update");
    assert_eq!(people[0]["action"]["changes"][0]["field"], "lastname");
    assert_eq!(people[0]["action"]["changes"][0]["new"], "Smith");

    // Still the same plan: nothing was applied.
    let again = world.run(&["plan"]).await;
    assert!(stdout(&again).contains("lastname: \"Doe\" → \"Smith\""));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn log_shows_the_last_run_a_person_errors_only_and_json() {
    let world = world().await;
    let empty = world.run(&["log"]).await;
    assert_eq!(code(&empty), 0);
    assert!(stdout(&empty).contains("No runs recorded yet"));

    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Nowhere,active\nP2,asmith,ann@example.com,Ann,Smith,Finance,active");
    assert_eq!(code(&world.run(&["sync"]).await), 1);

    let last = stdout(&world.run(&["log"]).await);
    assert!(
        last.contains("Run 1: failed") && last.contains("P2"),
        "{last}"
    );
    let errors = stdout(&world.run(&["log", "--errors", "--calls"]).await);
    assert!(
        errors.contains("P1") && !errors.contains("\"ann@example.com\""),
        "{errors}"
    );
    assert!(
        errors.contains("PUT") && errors.contains("/oauth2/token"),
        "{errors}"
    );
    let person = stdout(&world.run(&["log", "--person", "P2"]).await);
    assert!(
        person.contains("Run 1") && person.contains("create"),
        "{person}"
    );
    let json: Value =
        serde_json::from_str(&stdout(&world.run(&["log", "--run", "1", "--json"]).await)).unwrap();
    assert_eq!(json["run"]["id"], 1);
    assert_eq!(json["run"]["status"], "failed");
    assert_eq!(json["changes"].as_array().unwrap().len(), 2);
    let list = stdout(&world.run(&["log", "--list"]).await);
    assert!(list.starts_with("RUN"), "{list}");
    let none = world.run(&["log", "--run", "99"]).await;
    assert_eq!(code(&none), 1);
    assert!(stderr(&none).contains("no run 99"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_reports_each_part_and_fails_on_wrong_credentials() {
    let world = world().await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Doe,Finance,active");
    let ok = world.run(&["check"]).await;
    assert_eq!(code(&ok), 0, "{}{}", stdout(&ok), stderr(&ok));
    let text = stdout(&ok);
    assert!(text.contains("ok    credentials"), "{text}");
    assert!(text.contains("ok    read scope"), "{text}");
    assert!(text.contains("ok    HR extract"), "{text}");

    let wrong = world
        .run_with(&["check"], &[(SECRET_ENV, "not-the-secret")])
        .await;
    assert_eq!(code(&wrong), 1);
    let text = stdout(&wrong);
    assert!(
        text.contains("FAIL  credentials") && text.contains("invalid_client"),
        "{text}"
    );
    assert!(!text.contains("not-the-secret"));

    std::fs::remove_file(world.dir.path().join("hr.csv")).unwrap();
    let no_hr = world.run(&["check"]).await;
    assert_eq!(code(&no_hr), 1);
    assert!(stdout(&no_hr).contains("FAIL  HR extract"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_looks_the_integration_up_and_a_sync_registers_it() {
    let world = world().await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,active");
    let scopes = r#"scopes = ["core.user.read", "core.user.write", "core.integration.read", "core.integration.write"]"#;
    let config = support::config(&world.running.url(), scopes, FIELDS);
    world.write_config(&(config + "\n[integration]\ncode = \"HR_USERS\"\n"));

    let before = world.run(&["check"]).await;
    assert_eq!(code(&before), 0, "{}{}", stdout(&before), stderr(&before));
    assert!(
        stdout(&before).contains(
            "ok    integration    Coupa has no integration HR_USERS yet; the first run registers it"
        ),
        "{}",
        stdout(&before)
    );

    let sync = world.run(&["sync"]).await;
    assert_eq!(code(&sync), 0, "{}{}", stdout(&sync), stderr(&sync));
    assert!(
        stdout(&sync).contains(
            "Reported to Coupa: integration HR_USERS run 1 (successful), 0 integration errors"
        ),
        "{}",
        stdout(&sync)
    );
    let after = world.run(&["check"]).await;
    assert!(
        stdout(&after).contains("ok    integration    Coupa has integration HR_USERS (id 1)"),
        "{}",
        stdout(&after)
    );
    let log = world.run(&["log"]).await;
    assert!(
        stdout(&log).contains("Reported in Coupa as integration run 1"),
        "{}",
        stdout(&log)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn init_writes_the_commented_example_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("new.toml");
    let args = || {
        vec![
            "init".to_string(),
            "--config".into(),
            path.display().to_string(),
        ]
    };
    let first = coupa_sync(args(), &[]).await;
    assert_eq!(code(&first), 0, "{}", stderr(&first));
    let written = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        written,
        std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/quickstart.toml")
        )
        .unwrap()
    );
    let again = coupa_sync(args(), &[]).await;
    assert_eq!(code(&again), 2);
    assert!(stderr(&again).contains("--force"));
    let mut forced = args();
    forced.push("--force".into());
    assert_eq!(code(&coupa_sync(forced, &[]).await), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_known_secret_is_in_no_output_and_no_file() {
    let world = world().await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Finance,active\nP2,k,k@example.com,Kai,K,Finance,active");
    let mut outputs = Vec::new();
    for args in [
        vec!["plan"],
        vec!["sync"],
        vec!["log", "--calls"],
        vec!["check"],
    ] {
        outputs.push(world.run_with(&args, &[("RUST_LOG", "debug")]).await);
    }
    for out in &outputs {
        assert!(!stdout(out).contains(SECRET) && !stderr(out).contains(SECRET));
    }
    assert!(
        stdout(&outputs[2]).contains("/oauth2/token"),
        "the token call is in the log, without its secret"
    );
    for entry in std::fs::read_dir(world.dir.path()).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        assert!(!bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn demo_runs_to_the_end_and_leaves_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let folder = dir.path().join("demo");
    let out = coupa_sync(
        vec!["demo".into(), "--dir".into(), folder.display().to_string()],
        &[],
    )
    .await;
    assert_eq!(code(&out), 0, "{}{}", stdout(&out), stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("Demo complete"), "{text}");
    assert!(!text.contains("[MISSING]"), "{text}");
    assert!(
        text.contains("Login is too short"),
        "the Coupa error is shown: {text}"
    );
    assert!(
        text.contains("Subject: coupa-sync run 3"),
        "the digest is shown: {text}"
    );
    assert!(
        text.contains(
            "To: hana.ruiz@example.com  Subject: Coupa integration alert: HR_USERS run 2"
        ),
        "Coupa's alert to the integration's contact is shown: {text}"
    );
    for file in [
        "coupa-sync.toml",
        "hr.csv",
        "coupa-sync.db",
        "access.log",
        "reference.json",
    ] {
        assert!(folder.join(file).exists(), "{file}");
    }
    // A folder already in use is refused.
    let busy = coupa_sync(
        vec!["demo".into(), "--dir".into(), folder.display().to_string()],
        &[],
    )
    .await;
    assert_eq!(code(&busy), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_postgres_store_sync_log_and_check_work_and_its_password_is_never_shown() {
    let pg = postgres_server::Postgres::start();
    let world = world().await;
    let text = std::fs::read_to_string(world.config()).unwrap().replace(
        "[store]\npath = \"coupa-sync.db\"\n",
        "[store]\nurl_env = \"COUPA_SYNC_DATABASE_URL\"\n",
    );
    world.write_config(&text);
    let url = pg.url_text();
    let database = [("COUPA_SYNC_DATABASE_URL", url.as_str())];
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,Finance,active");

    let sync = world.run_with(&["sync"], &database).await;
    assert_eq!(code(&sync), 0, "{}{}", stdout(&sync), stderr(&sync));
    let log = world.run_with(&["log"], &database).await;
    assert_eq!(code(&log), 0, "{}", stderr(&log));
    assert!(
        stdout(&log).contains("Run 1: succeeded"),
        "{}",
        stdout(&log)
    );
    assert!(
        !world.dir.path().join("coupa-sync.db").exists(),
        "no SQLite file beside the configuration"
    );
    let check = world.run_with(&["check"], &database).await;
    assert_eq!(code(&check), 0, "{}{}", stdout(&check), stderr(&check));
    let shown = stdout(&check);
    assert!(
        shown.contains(&format!(
            "PostgreSQL postgres://coupa_sync@127.0.0.1:{}/coupa_sync",
            pg.port
        )),
        "{shown}"
    );

    // `log` needs no Coupa secret, but it does need the database.
    let unset = world.run(&["log"]).await;
    assert_eq!(code(&unset), 2, "{}", stderr(&unset));
    assert!(
        stderr(&unset)
            .contains("store.url_env: the environment variable COUPA_SYNC_DATABASE_URL is not set"),
        "{}",
        stderr(&unset)
    );

    // A wrong password: the run fails at the store, saying why, without showing either password.
    let wrong_url = url.replace(pg.password(), "wrong-db-secret");
    let wrong = world
        .run_with(
            &["sync"],
            &[("COUPA_SYNC_DATABASE_URL", wrong_url.as_str())],
        )
        .await;
    assert_ne!(code(&wrong), 0);
    let err = stderr(&wrong);
    assert!(err.contains("password authentication failed"), "{err}");
    for out in [&sync, &log, &check, &wrong] {
        let all = format!("{}{}", stdout(out), stderr(out));
        assert!(!all.contains(pg.password()), "{all}");
        assert!(!all.contains("wrong-db-secret"), "{all}");
    }
}
