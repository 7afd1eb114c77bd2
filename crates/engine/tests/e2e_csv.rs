//! The CSV path end to end against the in-process sandbox: its SFTP server, its users loader (a
//! short interval, or run by hand) and `/api/data_file_sources`. Coupa's playbook scenarios 1.1 to
//! 1.7 in one file; a file with bad rows whose errors reach the log and the mailbox; an SFTP server
//! that refuses the login or shows another host key; a load that never comes, then a rerun that
//! resumes; a run interrupted while it waits, or stopped between recording a file and uploading
//! it; a malformed file dropped by someone else; and an upload to OpenSSH's sshd with a key and a
//! known_hosts file; a work phone and approval limit in the file next to a malformed phone that
//! writes no row. Users and
//! loads are read back from the sandbox over raw HTTP (JSON), not through the engine's client.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/sshd.rs"]
#[allow(dead_code)]
mod sshd;

#[path = "support/e2e.rs"]
mod e2e;
use coupa_sandbox::{ClientCredentials, Running, Sandbox, SandboxConfig, SftpConfig, SftpUser};
use e2e::{
    PHONE_AND_LIMIT_COLUMNS, assert_phone_and_limit_outcome, json_of, person, phone_and_limit_rows,
    roles, row, user, verdict,
};
use engine::config::Config;
use engine::csv::{FileRow, RowKey};
use engine::fields::{Field, Standard, Value as FieldValue};
use engine::plan::FieldChange;
use engine::run::{Quiet, RunOptions, RunReport};
use engine::store::{
    CsvFileRecord, CsvFileStatus, Outcome, RunMode, RunStatus, SqliteStore, Store, Verdict,
};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

const CLIENT: &str = "coupa-sync";
/// Secrets no test output may show.
const SECRET: &str = "e2e-Secret-8a4c0f19d2e7";
const SFTP_PASSWORD: &str = "sftp-Pass-71b3e9a05c";
const HEADER: &str = "id,emp,login,email,first,last,dept,cc,status,roles";
/// The fingerprint of a key the sandbox does not have.
const OTHER_HOST_KEY: &str = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";

const CONFIG: &str = r#"
[coupa]
url = "{url}"
client_id = "coupa-sync"
client_secret_env = "E2E_CLIENT_SECRET"
scopes = ["core.user.read", "core.user.write", "core.common.read"]
rate_per_second = 1000
burst = 100

[hr]
path = "hr.csv"
key_column = "id"
status_column = "status"

[match]
coupa_field = "employee-number"

[fields]
login = "login"
email = "email"
firstname = "first"
lastname = "last"
employee-number = "emp"
department = "dept"

[custom_fields]
cost-center = "cc"

[roles]
column = "roles"
separator = ";"
managed = ["Buyer", "Accounts Payable"]

[store]
path = "coupa-sync.db"

[sftp]
host = "127.0.0.1"
port = {sftp_port}
username = "{sftp_user}"
{sftp_credentials}

[csv]
load_timeout_seconds = {timeout}
poll_seconds = 1

[csv.custom_field_headers]
cost-center = "Cost Center"
"#;

/// A sandbox with SFTP, its loader and a mailbox; its company; a folder for the configuration,
/// the HR file and the store.
struct World {
    dir: tempfile::TempDir,
    sandbox: Sandbox,
    running: Running,
    /// Replaces parts of the configuration (`{timeout}`, a wrong password…), in this order.
    settings: Vec<(&'static str, String)>,
    extra: String,
}

impl World {
    /// `loader`: how often the sandbox's loader polls its folder.
    async fn new(users: Vec<Value>, loader: Duration) -> World {
        let sandbox = Sandbox::new(SandboxConfig {
            clients: vec![ClientCredentials {
                id: CLIENT.into(),
                secret: SECRET.to_string().into(),
                scopes: Vec::new(),
            }],
            rate_limit: None,
            smtp: Some("127.0.0.1:0".into()),
            sftp: Some(SftpConfig {
                users: vec![SftpUser {
                    name: "acme".into(),
                    password: Some(SFTP_PASSWORD.to_string().into()),
                    authorized_keys: Vec::new(),
                }],
                ..SftpConfig::default()
            }),
            loader_interval: loader,
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let reference = json!({
            "departments": [{"name": "Finance"}, {"name": "Sales"}],
            "custom-fields": [{"name": "cost-center", "prompt": "Cost Center"}],
            "users": users,
        });
        sandbox
            .seed_reference(&reference.to_string())
            .await
            .unwrap();
        let running = sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        let sftp = running.sftp.clone().unwrap();
        let settings = Vec::from([
            (
                "{sftp_credentials}",
                "password_env = \"E2E_SFTP_PASSWORD\"\nhost_key_fingerprint = \"{fingerprint}\""
                    .to_string(),
            ),
            ("{url}", running.url()),
            ("{sftp_port}", sftp.addr.port().to_string()),
            ("{sftp_user}", "acme".to_string()),
            ("{fingerprint}", sftp.host_key_fingerprint),
            ("{timeout}", "60".to_string()),
        ]);
        World {
            dir: tempfile::tempdir().unwrap(),
            sandbox,
            running,
            settings,
            extra: String::new(),
        }
    }

    /// A sandbox whose loader runs every 100 ms.
    async fn quick(users: Vec<Value>) -> World {
        World::new(users, Duration::from_millis(100)).await
    }

    /// A sandbox whose loader never runs by itself within a test (`run_loader_once` runs it).
    async fn stalled(users: Vec<Value>) -> World {
        World::new(users, Duration::from_secs(3600)).await
    }

    fn set(&mut self, key: &'static str, value: &str) {
        match self.settings.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.settings.push((key, value.to_string())),
        }
    }

    /// Notifications to the sandbox's mailbox: data errors and technical errors apart.
    fn notify_to_mailbox(&mut self) {
        let port = self.running.smtp_addr.unwrap().port();
        self.extra.push_str(&format!(
            r#"
[notify]
data_errors_to = ["hr@example.com"]
technical_errors_to = ["ops@example.com"]

[notify.smtp]
host = "127.0.0.1"
port = {port}
from = "coupa-sync@example.com"
starttls = false
"#
        ));
    }

    fn config(&self) -> Config {
        let mut text = CONFIG.to_string();
        for (key, value) in &self.settings {
            text = text.replace(key, value);
        }
        text.push_str(&self.extra);
        let path = self.dir.path().join("coupa-sync.toml");
        std::fs::write(&path, &text).unwrap();
        Config::parse(&text, &path, &|name| match name {
            "E2E_CLIENT_SECRET" => Some(SECRET.to_string()),
            "E2E_SFTP_PASSWORD" => Some(SFTP_PASSWORD.to_string()),
            _ => None,
        })
        .unwrap()
    }

    fn hr(&self, rows: &[String]) {
        let text = format!("{HEADER}\n{}\n", rows.join("\n"));
        std::fs::write(self.dir.path().join("hr.csv"), text).unwrap();
    }

    /// The HR file with `columns` after the usual ones.
    fn hr_with(&self, columns: &str, rows: &[String]) {
        let text = format!("{HEADER},{columns}\n{}\n", rows.join("\n"));
        std::fs::write(self.dir.path().join("hr.csv"), text).unwrap();
    }

    /// Adds configuration sections (`[sync]`, `[fields.x]`…).
    fn configure(&mut self, extra: &str) {
        self.extra.push_str(extra);
    }

    async fn store(&self) -> Arc<SqliteStore> {
        Arc::new(
            SqliteStore::open(self.dir.path().join("coupa-sync.db"))
                .await
                .unwrap(),
        )
    }

    fn options() -> RunOptions {
        RunOptions {
            via: RunMode::Csv,
            ..RunOptions::default()
        }
    }

    async fn sync(&self) -> RunReport {
        let config = self.config();
        let store = self.store().await;
        let report = engine::run::run(&config, store.clone(), World::options(), &Quiet)
            .await
            .unwrap();
        Arc::try_unwrap(store).unwrap().close().await.unwrap();
        report
    }

    async fn token(&self) -> String {
        let answer = json_of(
            reqwest::Client::new()
                .post(format!("{}/oauth2/token", self.running.url()))
                .form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", CLIENT),
                    ("client_secret", SECRET),
                ]),
        )
        .await;
        answer["access_token"].as_str().unwrap().to_string()
    }

    async fn get(&self, path: &str) -> Value {
        json_of(
            reqwest::Client::new()
                .get(format!("{}{path}", self.running.url()))
                .bearer_auth(self.token().await)
                .header("Accept", "application/json"),
        )
        .await
    }

    /// Every user in the sandbox, by login.
    async fn users(&self) -> HashMap<String, Value> {
        let mut all = HashMap::new();
        for offset in (0..).step_by(50) {
            let page = self
                .get(&format!("/api/users?limit=50&offset={offset}"))
                .await;
            let page = page.as_array().unwrap().clone();
            let done = page.len() < 50;
            for u in page {
                all.insert(u["login"].as_str().unwrap().to_string(), u);
            }
            if done {
                break;
            }
        }
        all
    }

    /// Every load the sandbox recorded, oldest first.
    async fn loads(&self) -> Vec<Value> {
        self.get("/api/data_file_sources?source_for=User")
            .await
            .as_array()
            .unwrap()
            .clone()
    }

    fn folder(&self, sftp_path: &str) -> Vec<String> {
        let root = self.sandbox.drop_folder().unwrap().root().to_path_buf();
        let mut names: Vec<String> =
            std::fs::read_dir(root.join(sftp_path.trim_start_matches('/')))
                .unwrap()
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect();
        names.sort();
        names
    }

    /// The mailbox's messages to `to`, waiting a moment for the SMTP server to store them.
    async fn mail_to(&self, to: &str) -> Vec<Value> {
        for _ in 0..100 {
            let list = json_of(
                reqwest::Client::new().get(format!("{}/mailbox/messages", self.running.url())),
            )
            .await;
            let found: Vec<Value> = list
                .as_array()
                .unwrap()
                .iter()
                .filter(|m| m["to"].as_array().unwrap().iter().any(|t| t == to))
                .cloned()
                .collect();
            if !found.is_empty() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Vec::new()
    }
}

fn applied(report: &RunReport) -> bool {
    report.changes.iter().all(|c| {
        c.outcome == Outcome::Applied && c.fields.iter().all(|f| f.verdict == Verdict::Applied)
    })
}

#[tokio::test]
async fn scenarios_1_1_to_1_7_travel_in_one_users_file_and_are_verified() {
    let mut back = user("E4", "back", "Bo", "Back");
    back["active"] = json!(false);
    let mut buyer = user("E5", "buyer", "Bea", "Buyer");
    buyer["roles"] = json!([{"name": "User"}]);
    let mut payable = user("E6", "payable", "Pat", "Payable");
    payable["roles"] = json!([{"name": "User"}, {"name": "Buyer"}, {"name": "Accounts Payable"}]);
    let world = World::quick(vec![
        user("E1", "USER_TEST", "user", "test"),
        user("E2", "cfield", "Cy", "Field"),
        user("E3", "leaver", "Lee", "Ver"),
        back,
        buyer,
        payable,
        user("E7", "same", "Sam", "Same"),
    ])
    .await;
    world.hr(&[
        // 1.1: new in HR, with a comma, an apostrophe and non-ASCII letters.
        "P0,E0,jdoe,jane.doe@example.com,\"María, José\",O'Doe-Núñez,Sales,CC-7,active,Buyer"
            .into(),
        // 1.2: last name and e-mail changed.
        "P1,E1,USER_TEST,user_test.new@example.com,user,test new lastname,Finance,CC-1,active,"
            .into(),
        // 1.3: a custom field.
        "P2,E2,cfield,cfield@example.com,Cy,Field,Finance,CC-9,active,".into(),
        // 1.4: left.
        "P3,E3,leaver,leaver@example.com,Lee,Ver,Finance,CC-1,terminated,".into(),
        // 1.5: back.
        row("P4", "E4", "back", "Bo", "Back"),
        // 1.6: a role added.
        "P5,E5,buyer,buyer@example.com,Bea,Buyer,Finance,CC-1,active,Buyer".into(),
        // 1.7: a role removed, the others kept.
        "P6,E6,payable,payable@example.com,Pat,Payable,Finance,CC-1,active,Accounts Payable".into(),
        row("P7", "E7", "same", "Sam", "Same"),
    ]);
    let report = world.sync().await;

    assert_eq!(report.run.status, RunStatus::Succeeded, "{report:#?}");
    assert_eq!(report.run.mode, RunMode::Csv);
    let c = report.run.counts;
    assert_eq!(
        (
            c.created,
            c.updated,
            c.deactivated,
            c.reactivated,
            c.unchanged,
            c.failed
        ),
        (1, 4, 1, 1, 1, 0),
        "{c:?}"
    );
    assert!(applied(&report), "{:#?}", report.changes);
    // One file, uploaded once, loaded once by Coupa's loader.
    let files = &report.csv.as_ref().unwrap().files;
    assert_eq!(files.len(), 1, "{files:?}");
    assert_eq!(files[0].status, CsvFileStatus::Loaded);
    assert_eq!(files[0].rows, 7);
    assert!(files[0].name.starts_with("users_") && files[0].name.ends_with("_0001.csv"));
    assert_eq!(
        world.folder("/Incoming/Archive/Users"),
        [files[0].name.clone()]
    );
    let loads = world.loads().await;
    assert_eq!(loads.len(), 1);
    assert_eq!(
        loads[0]["file-file-name"],
        format!("_Incoming_Users_{}", files[0].name)
    );
    assert_eq!(
        loads[0]["result-text"],
        "7 rows processed, creating 1 new rows and updating 6 rows."
    );

    let users = world.users().await;
    let jane = &users["jdoe"];
    assert_eq!(
        (jane["firstname"].as_str(), jane["lastname"].as_str()),
        (Some("María, José"), Some("O'Doe-Núñez"))
    );
    assert_eq!(jane["custom-fields"]["cost-center"], "CC-7");
    assert_eq!(jane["department"]["name"], "Sales");
    assert_eq!(roles(jane), ["Buyer", "User"]);
    assert_eq!(person(&report, "P0").coupa_id, jane["id"].as_i64());
    let test = &users["USER_TEST"];
    assert_eq!(test["email"], "user_test.new@example.com");
    assert_eq!(test["lastname"], "test new lastname");
    assert_eq!(users["cfield"]["custom-fields"]["cost-center"], "CC-9");
    assert_eq!(users["leaver"]["active"], false);
    assert_eq!(users["back"]["active"], true);
    assert_eq!(roles(&users["buyer"]), ["Buyer", "User"]);
    assert_eq!(roles(&users["payable"]), ["Accounts Payable", "User"]);
    assert_eq!(verdict(person(&report, "P6"), "roles"), Verdict::Applied);
    assert_eq!(verdict(person(&report, "P3"), "active"), Verdict::Applied);

    // The polls and the read-back are in the call log, under no person.
    let store = world.store().await;
    let calls = store.calls_for_run(report.run.id).await.unwrap();
    assert!(
        calls
            .iter()
            .any(|c| c.path.starts_with("/api/data_file_sources?") && c.status == Some(200)),
        "{calls:#?}"
    );
    assert!(
        calls
            .iter()
            .all(|c| c.method == "GET" || c.path == "/oauth2/token")
    );

    // Nothing more to do: no file.
    let again = world.sync().await;
    assert_eq!(again.run.status, RunStatus::Succeeded, "{again:#?}");
    assert!(again.changes.is_empty(), "{:#?}", again.changes);
    assert!(again.csv.as_ref().is_none_or(|r| r.files.is_empty()));
    assert_eq!(world.loads().await.len(), 1);
}

#[tokio::test]
async fn a_file_with_bad_rows_reports_them_in_the_log_and_the_mailbox() {
    let mut world = World::quick(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    world.hr(&[
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe,Nowhere,CC-1,active,".into(),
        row("P2", "E2", "asmith", "Ann", "Smith"),
    ]);
    let report = world.sync().await;

    assert_eq!(report.run.status, RunStatus::Failed, "{report:#?}");
    let jane = person(&report, "P1");
    assert_eq!(jane.outcome, Outcome::Failed);
    assert_eq!(verdict(jane, "department"), Verdict::Failed);
    let message = jane.fields[0].message.clone().unwrap();
    assert!(
        message.contains("Department unable to find valid Department record"),
        "{message}"
    );
    assert!(jane.technical_error.is_none());
    // The good row of the same file was committed and verified.
    let ann = person(&report, "P2");
    assert_eq!(
        (ann.action.as_str(), ann.outcome),
        ("create", Outcome::Applied)
    );
    assert_eq!(world.users().await["jdoe"]["department"]["name"], "Finance");

    // The log keeps it; the digest tells HR who, which field, what was sent and Coupa's words.
    let store = world.store().await;
    let logged = store.changes_for_run(report.run.id, true).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(logged[0].hr_key, "P1");
    let mail = world.mail_to("hr@example.com").await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        body.contains("HR key P1, login jdoe: department, sent \"Nowhere\""),
        "{body}"
    );
    assert!(
        body.contains("unable to find valid Department record"),
        "{body}"
    );
    assert!(world.mail_to("ops@example.com").await.is_empty());
    // Coupa's loader told its admin too, as Coupa does.
    let notice = world.mail_to("admin@coupa-sandbox.invalid").await;
    assert_eq!(notice.len(), 1, "{notice:#?}");
}

#[tokio::test]
async fn a_refused_login_and_a_different_host_key_upload_nothing_and_the_rerun_uploads_once() {
    let mut world = World::quick(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into()]);

    world.set("{sftp_user}", "intruder");
    let refused = world.sync().await;
    assert_eq!(refused.run.status, RunStatus::Failed);
    let jane = person(&refused, "P1");
    let why = jane.technical_error.clone().unwrap();
    assert!(
        why.contains("not uploaded") && why.contains("authentication"),
        "{why}"
    );
    assert!(!why.contains(SFTP_PASSWORD));
    assert_eq!(verdict(jane, "lastname"), Verdict::Pending);

    world.set("{sftp_user}", "acme");
    world.set("{fingerprint}", OTHER_HOST_KEY);
    let spoofed = world.sync().await;
    assert_eq!(spoofed.run.status, RunStatus::Failed);
    let why = person(&spoofed, "P1").technical_error.clone().unwrap();
    assert!(why.contains("host key"), "{why}");
    assert!(world.folder("/Incoming/Users").is_empty());
    assert!(world.loads().await.is_empty());
    let store = world.store().await;
    let files = store.csv_files_for_run(spoofed.run.id).await.unwrap();
    assert_eq!(files[0].status, CsvFileStatus::NotUploaded);
    let ops = world.mail_to("ops@example.com").await;
    assert!(
        ops.iter()
            .any(|m| m["body"].as_str().unwrap().contains("host key")),
        "{ops:#?}"
    );

    let sftp = world.running.sftp.clone().unwrap();
    world.set("{fingerprint}", &sftp.host_key_fingerprint);
    let fixed = world.sync().await;
    assert_eq!(fixed.run.status, RunStatus::Succeeded, "{fixed:#?}");
    assert_eq!(world.users().await["jdoe"]["lastname"], "Doe-Smith");
    assert_eq!(world.loads().await.len(), 1);
}

#[tokio::test]
async fn a_load_that_never_comes_leaves_people_pending_and_the_rerun_resumes_without_uploading_again()
 {
    let mut world = World::stalled(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    world.set("{timeout}", "2");
    world.hr(&[
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into(),
        // Coupa's loader will refuse this row (no such department).
        "P2,E2,asmith,asmith@example.com,Ann,Smith,Nowhere,CC-1,active,".into(),
    ]);
    let waited = world.sync().await;

    assert_eq!(waited.run.status, RunStatus::Failed, "{waited:#?}");
    let jane = person(&waited, "P1");
    let why = jane.technical_error.clone().unwrap();
    assert!(
        why.contains("has not loaded") && why.contains("again"),
        "{why}"
    );
    assert_eq!(verdict(jane, "lastname"), Verdict::Pending);
    let name = waited.csv.as_ref().unwrap().files[0].name.clone();
    assert_eq!(
        waited.csv.as_ref().unwrap().files[0].status,
        CsvFileStatus::Uploaded
    );
    assert_eq!(world.folder("/Incoming/Users"), std::slice::from_ref(&name));
    let ops = world.mail_to("ops@example.com").await;
    assert!(
        ops.iter()
            .any(|m| m["body"].as_str().unwrap().contains(&name)),
        "{ops:#?}"
    );

    // Still not loaded: the next run waits again, and does not plan or upload the person twice.
    let still = world.sync().await;
    assert_eq!(still.run.status, RunStatus::Failed);
    assert!(still.csv.as_ref().unwrap().files.is_empty());
    assert_eq!(still.csv.as_ref().unwrap().resumed[0].name, name);
    assert_eq!(world.folder("/Incoming/Users"), std::slice::from_ref(&name));

    // Coupa's job runs; the next run finds the load, verifies and keeps the applied state. The
    // refused row is reported, and not sent again by the same run.
    world.sandbox.run_loader_once().await.unwrap();
    let resumed = world.sync().await;
    assert_eq!(resumed.run.status, RunStatus::Failed, "{resumed:#?}");
    assert_eq!(
        verdict(person(&resumed, "P2"), "department"),
        Verdict::Failed
    );
    assert_eq!(resumed.changes.len(), 2, "{:#?}", resumed.changes);
    let c = resumed.run.counts;
    assert_eq!(
        (c.people, c.updated, c.failed, c.unchanged),
        (2, 1, 1, 0),
        "{c:?}"
    );
    let jane = person(&resumed, "P1");
    assert_eq!(
        (jane.action.as_str(), jane.outcome),
        ("update", Outcome::Applied)
    );
    assert_eq!(verdict(jane, "lastname"), Verdict::Applied);
    assert_eq!(
        resumed.csv.as_ref().unwrap().resumed[0].status,
        CsvFileStatus::Loaded
    );
    assert!(resumed.csv.as_ref().unwrap().files.is_empty());
    assert_eq!(world.loads().await.len(), 1);
    assert_eq!(world.folder("/Incoming/Archive/Users"), [name]);
    // The run after tries the refused person again, and only them.
    world.hr(&[
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into(),
        "P2,E2,asmith,asmith@example.com,Ann,Smith,Sales,CC-1,active,".into(),
    ]);
    let retried = world.sync().await;
    assert_eq!(retried.changes.len(), 1, "{:#?}", retried.changes);
    assert_eq!(person(&retried, "P2").action, "create");
    assert_eq!(retried.csv.as_ref().unwrap().files[0].rows, 1);
}

#[tokio::test]
async fn a_run_interrupted_while_it_waits_is_resumed_by_the_next_one() {
    let world = World::stalled(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&[
        "P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into(),
        row("P2", "E2", "asmith", "Ann", "Smith"),
    ]);
    let config = world.config();
    let store = world.store().await;
    let run = engine::run::run(&config, store.clone(), World::options(), &Quiet);
    // The run is dropped, as a killed process would be, once its file is in Coupa's folder under
    // its final name.
    let complete = || -> Vec<String> {
        (world.folder("/Incoming/Users").into_iter())
            .filter(|n| !n.ends_with(".part"))
            .collect()
    };
    let uploaded = async {
        while complete().is_empty() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::select! {
        report = run => panic!("the run should still be waiting for its load: {report:#?}"),
        () = uploaded => {}
    }
    store.flush().await.unwrap();
    drop(store);
    let name = complete()[0].clone();

    world.sandbox.run_loader_once().await.unwrap();
    let resumed = world.sync().await;
    assert_eq!(resumed.run.status, RunStatus::Succeeded, "{resumed:#?}");
    assert_eq!(resumed.csv.as_ref().unwrap().resumed[0].name, name);
    assert_eq!(
        (
            person(&resumed, "P1").outcome,
            person(&resumed, "P2").outcome
        ),
        (Outcome::Applied, Outcome::Applied)
    );
    assert_eq!(world.loads().await.len(), 1);
    let users = world.users().await;
    assert_eq!(users["jdoe"]["lastname"], "Doe-Smith");
    assert!(users.contains_key("asmith"));
}

#[tokio::test]
async fn a_malformed_file_dropped_by_someone_else_is_not_taken_for_ours() {
    let mut world = World::quick(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    // Someone else's file sorts first and is not even CSV.
    let root = world.sandbox.drop_folder().unwrap().root().to_path_buf();
    std::fs::write(
        root.join("Incoming/Users/aaa_manual_load.csv"),
        "\"Login\",\"Email\n\"broken",
    )
    .unwrap();
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into()]);
    let report = world.sync().await;

    assert_eq!(report.run.status, RunStatus::Succeeded, "{report:#?}");
    assert!(applied(&report));
    let loads = world.loads().await;
    let failed: Vec<&Value> = loads.iter().filter(|l| l["status"] == "failed").collect();
    assert_eq!(failed.len(), 1, "{loads:#?}");
    assert_eq!(
        failed[0]["file-file-name"],
        "_Incoming_Users_aaa_manual_load.csv"
    );
    // Coupa's admin hears about the broken file; the people who run coupa-sync do not.
    assert_eq!(world.mail_to("admin@coupa-sandbox.invalid").await.len(), 1);
    assert!(world.mail_to("ops@example.com").await.is_empty());
    assert!(world.mail_to("hr@example.com").await.is_empty());
}

/// A file recorded before its upload, as a run that stopped between the two leaves it.
async fn written_record(world: &World, name: &str, row: FileRow) {
    let store = world.store().await;
    let run = store.begin_run(RunMode::Csv, false).await.unwrap();
    store
        .save_csv_file(&CsvFileRecord {
            name: name.into(),
            run_id: run.id,
            status: CsvFileStatus::Written,
            written_at: chrono::Utc::now(),
            uploaded_at: None,
            finished_at: None,
            row_count: 1,
            rows: serde_json::to_value(vec![row]).unwrap(),
            note: None,
        })
        .await
        .unwrap();
    Arc::try_unwrap(store).unwrap().close().await.unwrap();
}

fn last_name_row(coupa_id: i64) -> FileRow {
    FileRow {
        hr_key: "P1".into(),
        login: Some("jdoe".into()),
        coupa_id: Some(coupa_id),
        action: "update".into(),
        key: RowKey::EmployeeNumber,
        changes: vec![FieldChange {
            field: Field::Standard(Standard::Lastname),
            old: Some(FieldValue::Text("Doe".into())),
            new: FieldValue::Text("Doe-Smith".into()),
        }],
        applied: None,
    }
}

#[tokio::test]
async fn an_unconfirmed_upload_is_looked_for_before_its_people_are_planned_again() {
    let world = World::quick(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    let id = world.users().await["jdoe"]["id"].as_i64().unwrap();
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe-Smith,Finance,CC-1,active,".into()]);

    // The earlier run stopped after its upload: the file is in Coupa's folder and gets loaded.
    let arrived = "users_20200101T000000Z_0001.csv";
    let root = world.sandbox.drop_folder().unwrap().root().to_path_buf();
    std::fs::write(
        root.join("Incoming/Users").join(arrived),
        "\"Last Name\",\"Employee Number\"\r\n\"Doe-Smith\",\"E1\"\r\n",
    )
    .unwrap();
    written_record(&world, arrived, last_name_row(id)).await;
    let resumed = world.sync().await;
    assert_eq!(resumed.run.status, RunStatus::Succeeded, "{resumed:#?}");
    let report = resumed.csv.as_ref().unwrap();
    assert_eq!(report.resumed[0].status, CsvFileStatus::Loaded);
    assert!(report.files.is_empty(), "{report:#?}");
    assert_eq!(
        verdict(person(&resumed, "P1"), "lastname"),
        Verdict::Applied
    );
    assert_eq!(world.loads().await.len(), 1);

    // The earlier run stopped before its upload: nothing anywhere, so the person is planned again.
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe-Jones,Finance,CC-1,active,".into()]);
    let mut lost = last_name_row(id);
    lost.changes[0].new = FieldValue::Text("Doe-Jones".into());
    written_record(&world, "users_20200101T000001Z_0001.csv", lost).await;
    let replanned = world.sync().await;
    assert_eq!(replanned.run.status, RunStatus::Succeeded, "{replanned:#?}");
    let report = replanned.csv.as_ref().unwrap();
    assert_eq!(report.resumed[0].status, CsvFileStatus::NotUploaded);
    assert_eq!(report.files.len(), 1);
    assert_eq!(report.files[0].status, CsvFileStatus::Loaded);
    assert_eq!(world.users().await["jdoe"]["lastname"], "Doe-Jones");
    assert_eq!(world.loads().await.len(), 2);
}

#[tokio::test]
async fn the_csv_path_uploads_to_openssh_with_a_key_and_known_hosts_and_never_twice() {
    let sshd = sshd::Sshd::start();
    let mut world = World::stalled(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    let known_hosts = sshd.keyscan("known_hosts", &[]);
    world.set("{timeout}", "1");
    world.set(
        "{sftp_credentials}",
        &format!(
            "private_key_file = {:?}\nknown_hosts_file = {:?}\nremote_folder = {:?}",
            sshd.client_key.display().to_string(),
            known_hosts.display().to_string(),
            sshd.remote_folder()
        ),
    );
    world.set("{sftp_port}", &sshd.port.to_string());
    world.set("{sftp_user}", &whoami());
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,\"Doe, Jr.\",Finance,CC-1,active,".into()]);

    let first = world.sync().await;
    let files: Vec<String> = std::fs::read_dir(&sshd.folder)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let name = first.csv.as_ref().unwrap().files[0].name.clone();
    assert_eq!(files, std::slice::from_ref(&name), "{}", sshd.log());
    let content = std::fs::read_to_string(sshd.folder.join(&name)).unwrap();
    assert_eq!(
        content,
        "\"Login\",\"Last Name\",\"Employee Number\"\r\n\"jdoe\",\"Doe, Jr.\",\"E1\"\r\n"
    );
    // No Coupa loads the file here: the person stays pending, and the rerun waits, not re-uploads.
    assert_eq!(first.run.status, RunStatus::Failed);
    assert_eq!(verdict(person(&first, "P1"), "lastname"), Verdict::Pending);
    let second = world.sync().await;
    assert!(second.csv.as_ref().unwrap().files.is_empty());
    assert_eq!(std::fs::read_dir(&sshd.folder).unwrap().count(), 1);
}

fn whoami() -> String {
    let out = std::process::Command::new("id")
        .arg("-un")
        .output()
        .unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

#[tokio::test]
async fn a_changed_work_phone_and_requisition_limit_travel_in_the_file_and_a_malformed_phone_sends_no_row()
 {
    let mut jane = user("E1", "jdoe", "Jane", "Doe");
    jane["phone-work"] = json!({"area-code": "415", "number": "555-0100"});
    jane["requisition-approval-limit"] = json!({"amount": "1000", "currency": {"code": "USD"}});
    let mut world = World::quick(vec![jane, user("E2", "bob", "Bob", "Two")]).await;
    world.configure(
        "\n[fields.phone-work]\ncolumn = \"phone\"\n\
         [fields.requisition-approval-limit]\ncolumn = \"limit\"\n",
    );
    world.hr_with(PHONE_AND_LIMIT_COLUMNS, &phone_and_limit_rows());
    let report = world.sync().await;
    // Bob's row error is the HR file's, and the users file carried Jane's row alone.
    assert_phone_and_limit_outcome(&report, &world.users().await);
    let loads = world.loads().await;
    assert_eq!(loads.len(), 1);
    assert_eq!(
        loads[0]["result-text"],
        "1 rows processed, creating 0 new rows and updating 1 rows."
    );
}
