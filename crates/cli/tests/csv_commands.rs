//! `--mode csv` as a user runs it: the `coupa-sync` binary against an in-process sandbox with its
//! SFTP server and users loader. `plan --mode csv` shows the users file it would upload and uploads
//! nothing; `sync --mode csv` uploads it, waits for the load and verifies; a configuration without
//! `[sftp]` is a usage error (exit 2) naming the section.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

use coupa_sandbox::{ClientCredentials, Sandbox, SandboxConfig, SftpConfig, SftpUser};
use std::path::PathBuf;
use std::process::Output;
use std::time::Duration;

const SECRET: &str = "cli-Secret-5d1e0c7a93b2";
const SFTP_PASSWORD: &str = "cli-Sftp-4f8a2b6d0e19";

const CONFIG: &str = r#"
[coupa]
url = "{url}"
client_id = "coupa-sync"
client_secret_env = "CLI_TEST_SECRET"
scopes = ["core.user.read", "core.user.write", "core.common.read"]
rate_per_second = 1000
burst = 100

[hr]
path = "hr.csv"
key_column = "id"
status_column = "status"

[match]
coupa_field = "login"

[fields]
login = "login"
email = "email"
firstname = "first"
lastname = "last"

[store]
path = "coupa-sync.db"
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

struct World {
    dir: tempfile::TempDir,
    sandbox: Sandbox,
}

impl World {
    async fn new(with_sftp_section: bool) -> World {
        let sandbox = Sandbox::new(SandboxConfig {
            clients: vec![ClientCredentials {
                id: "coupa-sync".into(),
                secret: SECRET.to_string().into(),
                scopes: Vec::new(),
            }],
            rate_limit: None,
            sftp: Some(SftpConfig {
                users: vec![SftpUser {
                    name: "acme".into(),
                    password: Some(SFTP_PASSWORD.to_string().into()),
                    authorized_keys: Vec::new(),
                }],
                ..SftpConfig::default()
            }),
            loader_interval: Duration::from_millis(100),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        sandbox.seed_reference(COMPANY).await.unwrap();
        let running = sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        let sftp = running.sftp.clone().unwrap();
        let mut config = CONFIG.replace("{url}", &running.url());
        if with_sftp_section {
            config.push_str(
                &SFTP
                    .replace("{port}", &sftp.addr.port().to_string())
                    .replace("{fingerprint}", &sftp.host_key_fingerprint),
            );
        }
        let world = World {
            dir: tempfile::tempdir().unwrap(),
            sandbox,
        };
        std::fs::write(world.config(), config).unwrap();
        world
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("coupa-sync.toml")
    }

    fn hr(&self, rows: &str) {
        std::fs::write(
            self.dir.path().join("hr.csv"),
            format!("id,login,email,first,last,status\n{rows}\n"),
        )
        .unwrap();
    }

    fn incoming_and_archived(&self) -> usize {
        let root = self.sandbox.drop_folder().unwrap().root().to_path_buf();
        ["Incoming/Users", "Incoming/Archive/Users"]
            .iter()
            .map(|f| std::fs::read_dir(root.join(f)).unwrap().count())
            .sum()
    }

    /// Runs `coupa-sync ARGS --config <the world's config>` with the secrets in the environment,
    /// off the async threads so the in-process sandbox keeps serving.
    async fn run(&self, args: &[&str]) -> Output {
        let mut all: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        all.push("--config".into());
        all.push(self.config().display().to_string());
        tokio::task::spawn_blocking(move || {
            std::process::Command::new(env!("CARGO_BIN_EXE_coupa-sync"))
                .args(&all)
                .env("CLI_TEST_SECRET", SECRET)
                .env("CLI_TEST_SFTP_PASSWORD", SFTP_PASSWORD)
                .env_remove("RUST_LOG")
                .output()
                .unwrap()
        })
        .await
        .unwrap()
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_shows_the_users_file_and_sync_uploads_loads_and_verifies_it() {
    let world = World::new(true).await;
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
    assert_eq!(world.incoming_and_archived(), 0);

    let sync = world.run(&["sync", "--mode", "csv"]).await;
    let out = stdout(&sync);
    assert_eq!(sync.status.code(), Some(0), "{out}{}", stderr(&sync));
    assert!(out.contains("_0001.csv: 2 rows, loaded by Coupa"), "{out}");
    assert!(
        out.contains("2 rows processed, creating 1 new rows and updating 1 rows."),
        "{out}"
    );
    assert_eq!(world.incoming_and_archived(), 1);
    let all = format!("{out}{}", stderr(&sync));
    assert!(!all.contains(SFTP_PASSWORD) && !all.contains(SECRET));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sync_in_csv_mode_without_an_sftp_section_says_what_is_missing() {
    let world = World::new(false).await;
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
    assert_eq!(world.incoming_and_archived(), 0);
    // The API path is unaffected by the flat-file settings.
    let api = world.run(&["sync"]).await;
    assert_eq!(api.status.code(), Some(0), "{}", stdout(&api));
}
