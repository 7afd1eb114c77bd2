//! `--mode csv` as a user runs it: the `coupa-sync` binary against an in-process sandbox with its
//! SFTP server and users loader. `plan --mode csv` shows the users file it would upload and uploads
//! nothing; `sync --mode csv` uploads it, waits for the load and verifies; a configuration without
//! `[sftp]` is a usage error (exit 2) naming the section.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

mod support;

use coupa_sandbox::{SandboxConfig, SftpConfig, SftpUser};
use std::time::Duration;
use support::{SECRET, World, stderr, stdout};

const SFTP_PASSWORD: &str = "cli-Sftp-4f8a2b6d0e19";

const SCOPES: &str = r#"scopes = ["core.user.read", "core.user.write", "core.common.read"]"#;

const FIELDS: &str = r#"
login = "login"
email = "email"
firstname = "first"
lastname = "last"
"#;

const SFTP: &str = r#"
[sftp]
host = "127.0.0.1"
port = {port}
username = "acme"
password_env = "CLI_TEST_SFTP_PASSWORD"
host_key_fingerprint = "{fingerprint}"

[csv]
load_timeout_seconds = 60
poll_seconds = 1
"#;

const COMPANY: &str = r#"{
  "users": [
    {"login": "jdoe", "email": "jdoe@example.com", "firstname": "Jane", "lastname": "Doe"}
  ]
}"#;

/// A sandbox with an SFTP server for `acme` and a quick users loader, Jane Doe in it, and a
/// configuration for the sandbox (with its `[sftp]` section or without).
async fn world(with_sftp_section: bool) -> World {
    let settings = SandboxConfig {
        sftp: Some(SftpConfig {
            users: vec![SftpUser {
                name: "acme".into(),
                password: Some(SFTP_PASSWORD.to_string().into()),
                authorized_keys: Vec::new(),
            }],
            ..SftpConfig::default()
        }),
        loader_interval: Duration::from_millis(100),
        ..support::sandbox_settings()
    };
    let mut world = World::start(settings, COMPANY, "id,login,email,first,last,status").await;
    world.env.push(("CLI_TEST_SFTP_PASSWORD", SFTP_PASSWORD));
    let mut config = support::config(&world.running.url(), SCOPES, FIELDS);
    if with_sftp_section {
        let sftp = world.running.sftp.as_ref().unwrap();
        config.push_str(
            &SFTP
                .replace("{port}", &sftp.addr.port().to_string())
                .replace("{fingerprint}", &sftp.host_key_fingerprint),
        );
    }
    world.write_config(&config);
    world
}

/// How many users files are in the drop folder, waiting or loaded.
fn incoming_and_archived(world: &World) -> usize {
    let root = world.sandbox.drop_folder().unwrap().root().to_path_buf();
    ["Incoming/Users", "Incoming/Archive/Users"]
        .iter()
        .map(|f| std::fs::read_dir(root.join(f)).unwrap().count())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_users_file_and_sync_uploads_loads_and_verifies_it() {
    let world = world(true).await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,\"Doe, Jr.\",active\nP2,asmith,asmith@example.com,Ann,Smith,active");

    let plan = world.run(&["plan", "--mode", "csv"]).await;
    let out = stdout(&plan);
    assert_eq!(plan.status.code(), Some(0), "{out}{}", stderr(&plan));
    assert!(out.contains("Users file users_"), "{out}");
    assert!(out.contains("_0001.csv (2 rows, "), "{out}");
    assert!(
        out.contains("\"Login\",\"Email\",\"First Name\",\"Last Name\""),
        "{out}"
    );
    assert!(out.contains("\"jdoe\",\"\",\"\",\"Doe, Jr.\""), "{out}");
    assert!(
        out.contains("\"asmith\",\"asmith@example.com\",\"Ann\",\"Smith\""),
        "{out}"
    );
    assert_eq!(incoming_and_archived(&world), 0);

    let sync = world.run(&["sync", "--mode", "csv"]).await;
    let out = stdout(&sync);
    assert_eq!(sync.status.code(), Some(0), "{out}{}", stderr(&sync));
    assert!(out.contains("_0001.csv: 2 rows, loaded by Coupa"), "{out}");
    assert!(
        out.contains("2 rows processed, creating 1 new rows and updating 1 rows."),
        "{out}"
    );
    assert_eq!(incoming_and_archived(&world), 1);
    let all = format!("{out}{}", stderr(&sync));
    assert!(!all.contains(SFTP_PASSWORD) && !all.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_in_csv_mode_without_an_sftp_section_says_what_is_missing() {
    let world = world(false).await;
    world.hr("P1,jdoe,jdoe@example.com,Jane,Smith,active");
    let sync = world.run(&["sync", "--mode", "csv"]).await;
    assert_eq!(sync.status.code(), Some(2));
    let all = format!("{}{}", stdout(&sync), stderr(&sync));
    assert!(
        all.contains("--mode csv: ") && all.contains("needs an [sftp] section"),
        "{all}"
    );
    // A dry run needs no SFTP server: it only shows the file.
    let plan = world.run(&["plan", "--mode", "csv"]).await;
    assert_eq!(plan.status.code(), Some(0), "{}", stderr(&plan));
    assert_eq!(incoming_and_archived(&world), 0);
    // The API path is unaffected by the flat-file settings.
    let api = world.run(&["sync"]).await;
    assert_eq!(api.status.code(), Some(0), "{}", stdout(&api));
}
