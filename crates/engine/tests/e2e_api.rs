//! The API path end to end against the in-process sandbox: Coupa's playbook scenarios 1.1 to 1.8,
//! the silent no-op caught by verification, a rerun after a partial failure, dry runs that send no
//! write, HR rows in error, the safety stop, the call budget of steady state, secrets that never
//! reach the store, runs reported into Coupa's Integrations APIs, and a work phone and approval
//! limit that change in HR next to a malformed phone that sends nothing. Users are read back from
//! the sandbox over raw HTTP (JSON), not through the engine's own client (which speaks XML here), so
//! a shared misunderstanding cannot pass both sides.

#![allow(clippy::unwrap_used)] // test helpers fail loudly by design

#[path = "support/e2e.rs"]
mod e2e;
#[path = "support/postgres.rs"]
mod postgres_server;
use coupa_sandbox::{ClientCredentials, Running, Sandbox, SandboxConfig};
use e2e::{
    PHONE_AND_LIMIT_COLUMNS, assert_phone_and_limit_outcome, json_of, person, phone_and_limit_rows,
    roles, row, user, verdict,
};
use engine::config::Config;
use engine::detect::Mode;
use engine::run::{Quiet, RunOptions, RunReport};
use engine::store::{AnyStore, CallRecord, Outcome, RunStatus, Store, Verdict};
use postgres_server::Postgres;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::Arc;

const CLIENT: &str = "coupa-sync";
/// A secret no test output may show.
const SECRET: &str = "e2e-Secret-6f1d9a2c77b04e13";
const HEADER: &str = "id,emp,login,email,first,last,dept,cc,status,roles";

const CONFIG: &str = r#"
[coupa]
url = "{url}"
client_id = "coupa-sync"
client_secret_env = "E2E_CLIENT_SECRET"
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
"#;

/// A sandbox (no rate limit, a mailbox, an access log), its company, and a folder for the
/// configuration, the HR file, the store and the sandbox's access log.
struct World {
    dir: tempfile::TempDir,
    sandbox: Sandbox,
    running: Running,
    extra: String,
    /// Lines added to `[coupa]`.
    coupa_extra: String,
    /// The PostgreSQL server holding the store, instead of the SQLite file.
    postgres: Option<Postgres>,
}

/// A Coupa user as the reference file takes it.
impl World {
    async fn new(users: Vec<Value>) -> World {
        let dir = tempfile::tempdir().unwrap();
        let sandbox = Sandbox::new(SandboxConfig {
            clients: vec![ClientCredentials {
                id: CLIENT.into(),
                secret: SECRET.to_string().into(),
                scopes: Vec::new(),
            }],
            rate_limit: None,
            smtp: Some("127.0.0.1:0".into()),
            access_log: Some(dir.path().join("access.log")),
            ..SandboxConfig::default()
        })
        .await
        .unwrap();
        let reference = json!({
            "departments": [{"name": "Finance"}, {"name": "Sales"}],
            "custom-fields": [{"name": "cost-center"}],
            "users": users,
        });
        sandbox
            .seed_reference(&reference.to_string())
            .await
            .unwrap();
        let running = sandbox.clone().spawn("127.0.0.1:0").await.unwrap();
        World {
            dir,
            sandbox,
            running,
            extra: String::new(),
            coupa_extra: String::new(),
            postgres: None,
        }
    }

    /// Adds configuration sections (`[sync]`, `[notify]`…).
    fn configure(&mut self, extra: &str) {
        self.extra.push_str(extra);
    }

    /// Notifications to the sandbox's mailbox: data errors and technical errors apart.
    fn notify_to_mailbox(&mut self) {
        let port = self.running.smtp_addr.unwrap().port();
        self.configure(&format!(
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

    /// Runs reported into the sandbox's Integrations APIs, as integration `HR_USERS`.
    fn report_to_coupa(&mut self) {
        self.coupa_extra.push_str(
            "scopes = [\"core.user.read\", \"core.user.write\", \"core.integration.read\", \"core.integration.write\"]\n",
        );
        self.configure("\n[integration]\ncode = \"HR_USERS\"\nend_system = \"Workday\"\n");
    }

    /// The store in a fresh PostgreSQL database (`[store] url_env`) instead of the SQLite file.
    fn store_in_postgres(&mut self) {
        self.postgres = Some(Postgres::start());
    }

    fn config(&self) -> Config {
        let mut text = CONFIG.replace("{url}", &self.running.url()).replace(
            "burst = 100\n",
            &format!("burst = 100\n{}", self.coupa_extra),
        ) + &self.extra;
        if self.postgres.is_some() {
            text = text.replace(
                "[store]\npath = \"coupa-sync.db\"\n",
                "[store]\nurl_env = \"E2E_DATABASE_URL\"\n",
            );
        }
        let path = self.dir.path().join("coupa-sync.toml");
        std::fs::write(&path, &text).unwrap();
        Config::parse(&text, &path, &|name| match name {
            "E2E_CLIENT_SECRET" => Some(SECRET.to_string()),
            "E2E_DATABASE_URL" => self.postgres.as_ref().map(Postgres::url_text),
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

    async fn run_with(&self, options: RunOptions) -> RunReport {
        let config = self.config();
        let store = Arc::new(AnyStore::open(&config.store).await.unwrap());
        let report = engine::run::run(&config, store.clone(), options, &Quiet)
            .await
            .unwrap();
        Arc::try_unwrap(store).unwrap().close().await.unwrap();
        report
    }

    async fn sync(&self) -> RunReport {
        self.run_with(RunOptions::default()).await
    }

    async fn store(&self) -> AnyStore {
        AnyStore::open(&self.config().store).await.unwrap()
    }

    async fn calls(&self, run_id: i64) -> Vec<CallRecord> {
        self.store().await.calls_for_run(run_id).await.unwrap()
    }

    /// A bearer token for raw requests.
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

    /// `GET path` on the sandbox's API, as JSON.
    async fn get(&self, path: &str) -> Value {
        json_of(
            reqwest::Client::new()
                .get(format!("{}{path}", self.running.url()))
                .bearer_auth(self.token().await)
                .header("Accept", "application/json"),
        )
        .await
    }

    /// Every user in the sandbox, by login, as Coupa JSON over raw HTTP.
    async fn users(&self) -> HashMap<String, Value> {
        let http = reqwest::Client::new();
        let token = self.token().await;
        let mut all = HashMap::new();
        for offset in (0..).step_by(50) {
            let page = json_of(
                http.get(format!(
                    "{}/api/users?limit=50&offset={offset}",
                    self.running.url()
                ))
                .bearer_auth(&token)
                .header("Accept", "application/json"),
            )
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

    /// Stops the sandbox (which flushes its access log) and returns the log's requests as
    /// `(method, path)`.
    async fn stop(self) -> Vec<(String, String)> {
        self.running.stop().await.unwrap();
        let text = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap();
        text.lines()
            .map(|line| {
                let v: Value = serde_json::from_str(line).unwrap();
                let field = |k: &str| v[k].as_str().unwrap().to_string();
                (field("method"), field("path"))
            })
            .collect()
    }

    /// The mailbox's messages, waiting a moment for the SMTP server to store them.
    async fn mail(&self) -> Vec<Value> {
        for _ in 0..50 {
            let list = json_of(
                reqwest::Client::new().get(format!("{}/mailbox/messages", self.running.url())),
            )
            .await;
            if !list.as_array().unwrap().is_empty() {
                return list.as_array().unwrap().clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        Vec::new()
    }
}

fn methods_for<'a>(calls: &'a [CallRecord], hr_key: &str) -> Vec<&'a str> {
    calls
        .iter()
        .filter(|c| c.hr_key.as_deref() == Some(hr_key))
        .map(|c| c.method.as_str())
        .collect()
}

#[tokio::test]
async fn scenario_1_1_a_new_hr_person_is_created_with_every_mapped_field() {
    let world = World::new(vec![]).await;
    world.hr(&["P1,E1,jdoe,jane.doe@example.com,Jane,Doe,Sales,CC-7,active,Buyer".into()]);
    let report = world.sync().await;

    assert_eq!(report.run.status, RunStatus::Succeeded, "{report:#?}");
    let jane = person(&report, "P1");
    assert_eq!(
        (jane.action.as_str(), jane.outcome),
        ("create", Outcome::Applied)
    );
    assert!(jane.fields.iter().all(|f| f.verdict == Verdict::Applied));
    let users = world.users().await;
    let u = &users["jdoe"];
    assert_eq!(u["email"], "jane.doe@example.com");
    assert_eq!(u["employee-number"], "E1");
    assert_eq!(u["department"]["name"], "Sales");
    assert_eq!(u["custom-fields"]["cost-center"], "CC-7");
    assert_eq!(u["active"], true);
    // Coupa gives every new user the User role; the connector asked for Buyer.
    assert_eq!(roles(u), ["Buyer", "User"]);
    assert_eq!(jane.coupa_id, u["id"].as_i64());
}

#[tokio::test]
async fn scenario_1_2_a_changed_last_name_and_email_are_put_and_nothing_else() {
    let world = World::new(vec![user("E1", "USER_TEST", "user", "test")]).await;
    world.hr(&[row("P1", "E1", "USER_TEST", "user", "test")]);
    assert_eq!(world.sync().await.run.status, RunStatus::Succeeded);

    world.hr(&[
        "P1,E1,USER_TEST,user_test.new@example.com,user,test new lastname,Finance,CC-1,active,"
            .into(),
    ]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(
        (change.action.as_str(), change.outcome),
        ("update", Outcome::Applied)
    );
    let fields: Vec<&str> = change.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["email", "lastname"]);

    let calls = world.calls(report.run.id).await;
    let put = calls.iter().find(|c| c.method == "PUT").unwrap();
    let body = put.request_body.as_deref().unwrap();
    assert!(
        body.contains("<lastname>test new lastname</lastname>"),
        "{body}"
    );
    assert!(
        body.contains("<email>user_test.new@example.com</email>"),
        "{body}"
    );
    assert!(
        !body.contains("firstname") && !body.contains("department"),
        "{body}"
    );
    assert_eq!(put.status, Some(200));

    let u = &world.users().await["USER_TEST"];
    assert_eq!(u["lastname"], "test new lastname");
    assert_eq!(u["email"], "user_test.new@example.com");
}

#[tokio::test]
async fn scenario_1_3_a_custom_field_is_updated_by_its_field_name() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Finance,CC-42,active,".into()]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(
        verdict(change, "custom-fields.cost-center"),
        Verdict::Applied
    );
    assert_eq!(change.fields.len(), 1, "{change:#?}");
    let u = &world.users().await["jdoe"];
    assert_eq!(u["custom-fields"]["cost-center"], "CC-42");
}

#[tokio::test]
async fn scenario_1_4_a_terminated_person_is_deactivated_not_deleted() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&[row("P1", "E1", "jdoe", "Jane", "Doe")]);
    world.sync().await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Finance,CC-1,terminated,".into()]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(
        (change.action.as_str(), change.outcome),
        ("deactivate", Outcome::Applied)
    );
    assert_eq!(verdict(change, "active"), Verdict::Applied);
    let users = world.users().await;
    assert_eq!(users["jdoe"]["active"], false);
    assert_eq!(report.run.counts.deactivated, 1);
}

#[tokio::test]
async fn scenario_1_5_a_returning_person_is_reactivated() {
    let mut gone = user("E1", "jdoe", "Jane", "Doe");
    gone["active"] = json!(false);
    let world = World::new(vec![gone]).await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Finance,CC-1,terminated,".into()]);
    let first = world.sync().await;
    assert_eq!(
        first.run.counts.unchanged, 1,
        "already inactive: {first:#?}"
    );
    world.hr(&[row("P1", "E1", "jdoe", "Jane", "Doe")]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(
        (change.action.as_str(), change.outcome),
        ("reactivate", Outcome::Applied)
    );
    assert_eq!(world.users().await["jdoe"]["active"], true);
}

#[tokio::test]
async fn scenario_1_6_a_role_is_added_and_coupa_keeps_the_others() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Finance,CC-1,active,Buyer".into()]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(verdict(change, "roles"), Verdict::Applied);
    let calls = world.calls(report.run.id).await;
    assert_eq!(methods_for(&calls, "P1"), ["PUT"], "adding needs one PUT");
    assert_eq!(roles(&world.users().await["jdoe"]), ["Buyer", "User"]);
}

#[tokio::test]
async fn scenario_1_7_a_role_is_removed_by_clearing_then_setting_the_roles_to_keep() {
    let mut buyer = user("E1", "jdoe", "Jane", "Doe");
    buyer["roles"] = json!([{"name": "Buyer"}, {"name": "Accounts Payable"}]);
    let world = World::new(vec![buyer]).await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Finance,CC-1,active,Buyer".into()]);
    let report = world.sync().await;
    let change = person(&report, "P1");
    assert_eq!(change.outcome, Outcome::Applied, "{change:#?}");
    let calls = world.calls(report.run.id).await;
    let puts: Vec<&str> = calls
        .iter()
        .filter(|c| c.method == "PUT")
        .map(|c| c.request_body.as_deref().unwrap())
        .collect();
    assert_eq!(puts.len(), 2, "{puts:#?}");
    assert!(
        !puts[0].contains("<role>"),
        "first the roles are cleared: {}",
        puts[0]
    );
    assert!(puts[1].contains("<name>Buyer</name>") && puts[1].contains("<name>User</name>"));
    assert!(!puts[1].contains("Accounts Payable"));
    assert_eq!(roles(&world.users().await["jdoe"]), ["Buyer", "User"]);
}

#[tokio::test]
async fn scenario_1_8_coupa_errors_reach_the_log_and_the_mailbox_with_person_field_value_and_message()
 {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe"),
        // Coupa refuses logins shorter than two characters.
        "P2,E2,k,kai@example.com,Kai,Müller,Finance,CC-1,active,".into(),
    ]);
    let report = world.sync().await;
    assert_eq!(report.run.status, RunStatus::Failed);

    let store = world.store().await;
    let errors = store.changes_for_run(report.run.id, true).await.unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let kai = &errors[0];
    assert_eq!((kai.hr_key.as_str(), kai.outcome), ("P2", Outcome::Failed));
    let login = kai.fields.iter().find(|f| f.field == "login").unwrap();
    assert_eq!(login.verdict, Verdict::Failed);
    assert_eq!(login.new.as_deref(), Some("k"));
    assert_eq!(
        login.message.as_deref(),
        Some("Login is too short (minimum is 2 characters)")
    );
    let calls = store.calls_for_run(report.run.id).await.unwrap();
    let post = calls
        .iter()
        .find(|c| c.hr_key.as_deref() == Some("P2"))
        .unwrap();
    assert_eq!(post.status, Some(400));
    assert_eq!(
        post.coupa_errors,
        ["Login is too short (minimum is 2 characters)"]
    );

    let mail = world.mail().await;
    assert_eq!(
        mail.len(),
        1,
        "one digest, to the data-errors list: {mail:#?}"
    );
    assert_eq!(mail[0]["to"], json!(["hr@example.com"]));
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "HR key P2, login k: login, sent \"k\": Login is too short (minimum is 2 characters)"
        ),
        "{body}"
    );
    assert!(
        !body.contains("P1"),
        "the applied person is not a problem: {body}"
    );
}

#[tokio::test]
async fn an_unknown_department_coupa_silently_ignores_is_reported_as_ignored_with_the_value_kept() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.notify_to_mailbox();
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Doe,Marketing,CC-1,active,".into()]);
    let report = world.sync().await;

    let change = person(&report, "P1");
    assert_eq!(change.outcome, Outcome::Failed);
    let department = &change.fields[0];
    assert_eq!(department.field, "department");
    assert_eq!(department.verdict, Verdict::Ignored);
    assert_eq!(department.kept.as_deref(), Some("Finance"));
    let calls = world.calls(report.run.id).await;
    let put = calls.iter().find(|c| c.method == "PUT").unwrap();
    assert_eq!(put.status, Some(200), "Coupa answered success");

    let mail = world.mail().await;
    let body = mail[0]["body"].as_str().unwrap();
    assert!(
        body.contains(
            "HR key P1, login jdoe: department, sent \"Marketing\": Coupa accepted the update but kept \"Finance\""
        ),
        "{body}"
    );
}

#[tokio::test]
async fn a_rerun_after_a_partial_failure_retries_exactly_the_failed_people() {
    let world = World::new(vec![
        user("E1", "ann", "Ann", "One"),
        user("E2", "bob", "Bob", "Two"),
        user("E3", "cid", "Cid", "Three"),
    ])
    .await;
    world.hr(&[
        row("P1", "E1", "ann", "Ann", "One"),
        row("P2", "E2", "bob", "Bob", "Two"),
        row("P3", "E3", "cid", "Cid", "Three"),
    ]);
    world.sync().await;

    // Two changes land; Bob's department does not exist in Coupa yet.
    world.hr(&[
        "P1,E1,ann,ann@example.com,Ann,Changed,Finance,CC-1,active,".into(),
        "P2,E2,bob,bob@example.com,Bob,Two,Marketing,CC-1,active,".into(),
        "P3,E3,cid,cid@example.com,Cid,Changed,Finance,CC-1,active,".into(),
    ]);
    let partial = world.sync().await;
    assert_eq!(partial.run.status, RunStatus::Failed);
    assert_eq!(person(&partial, "P1").outcome, Outcome::Applied);
    assert_eq!(person(&partial, "P2").outcome, Outcome::Failed);
    assert_eq!(person(&partial, "P3").outcome, Outcome::Applied);

    // The same extract again: only Bob is looked at and sent.
    let rerun = world.sync().await;
    let keys: Vec<&str> = rerun.changes.iter().map(|c| c.hr_key.as_str()).collect();
    assert_eq!(keys, ["P2"]);
    let calls = world.calls(rerun.run.id).await;
    assert_eq!(methods_for(&calls, "P1"), Vec::<&str>::new());
    assert_eq!(methods_for(&calls, "P3"), Vec::<&str>::new());
    assert_eq!(methods_for(&calls, "P2"), ["PUT"]);
    let lookup = calls.iter().find(|c| c.method == "GET").unwrap();
    assert!(
        lookup.path.contains("employee_number[in]=E2&"),
        "only Bob is looked up: {}",
        lookup.path
    );

    // Once Coupa knows the department, Bob goes through; then there is nothing left to do.
    world
        .sandbox
        .seed_reference(r#"{"departments": [{"name": "Marketing"}]}"#)
        .await
        .unwrap();
    let fixed = world.sync().await;
    assert_eq!(fixed.run.status, RunStatus::Succeeded);
    assert_eq!(person(&fixed, "P2").outcome, Outcome::Applied);
    let quiet = world.sync().await;
    assert!(quiet.changes.is_empty());
    assert_eq!(quiet.calls.total(), 0, "nothing changed: no call at all");
    assert_eq!(
        world.users().await["bob"]["department"]["name"],
        "Marketing"
    );
}

#[tokio::test]
async fn plan_looks_people_up_and_writes_nothing() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&[
        "P1,E1,jdoe,jdoe@example.com,Jane,Changed,Finance,CC-1,terminated,".into(),
        row("P2", "E2", "new", "New", "Person"),
    ]);
    let before = world.users().await;
    let report = world
        .run_with(RunOptions {
            dry_run: true,
            ..RunOptions::default()
        })
        .await;

    let plan = report.plan.as_ref().unwrap();
    assert_eq!((plan.summary.create, plan.summary.deactivate), (1, 1));
    let calls = world.calls(report.run.id).await;
    assert!(!calls.is_empty());
    for call in &calls {
        let token = call.method == "POST" && call.path == "/oauth2/token";
        assert!(
            call.method == "GET" || token,
            "a dry run sent {} {}",
            call.method,
            call.path
        );
    }
    assert_eq!(world.users().await, before, "Coupa is unchanged");
    assert!(report.run.dry_run);
    // Nothing was applied, so the next run looks at both people again.
    assert!(
        world
            .store()
            .await
            .applied_state()
            .await
            .unwrap()
            .is_empty()
    );
    // What the sandbox itself saw: reads and token requests, nothing else.
    let requests = world.stop().await;
    assert!(
        requests
            .iter()
            .any(|(m, p)| m == "GET" && p.contains("employee_number[in]="))
    );
    for (method, path) in &requests {
        assert!(
            method == "GET" || (method == "POST" && path == "/oauth2/token"),
            "the sandbox received {method} {path}"
        );
    }
}

#[tokio::test]
async fn hr_rows_in_error_are_recorded_and_notified_and_nothing_of_them_is_sent() {
    let mut world = World::new(vec![]).await;
    world.notify_to_mailbox();
    world.hr(&[
        row("P1", "E1", "ann", "Ann", "One"),
        "P2,E2,bob,bob@,Bob,Two,Finance,CC-1,active,".into(),
        "P3,E3,cid,cid@example.com,Cid,<b>Three</b>,Finance,CC-1,active,".into(),
    ]);
    let report = world.sync().await;

    assert_eq!(report.run.status, RunStatus::Failed);
    let keys: Vec<Option<&str>> = report.hr_errors.iter().map(|e| e.key.as_deref()).collect();
    assert_eq!(keys, [Some("P2"), Some("P3")]);
    assert_eq!(person(&report, "P1").outcome, Outcome::Applied);
    let calls = world.calls(report.run.id).await;
    assert!(methods_for(&calls, "P2").is_empty() && methods_for(&calls, "P3").is_empty());
    assert!(
        calls
            .iter()
            .all(|c| !c.path.contains("bob") && !c.path.contains("E2"))
    );
    let users = world.users().await;
    assert!(users.contains_key("ann") && !users.contains_key("bob") && !users.contains_key("cid"));

    let errors = world
        .store()
        .await
        .changes_for_run(report.run.id, true)
        .await
        .unwrap();
    let bob = errors.iter().find(|c| c.hr_key == "P2").unwrap();
    assert!(
        bob.errors[0].contains("hr.csv row 3, column email"),
        "{bob:#?}"
    );
    let body = world.mail().await[0]["body"].as_str().unwrap().to_string();
    assert!(
        body.contains("HR key P2: hr.csv row 3, column email"),
        "{body}"
    );
    assert!(
        body.contains("HR key P3: hr.csv row 4, column last"),
        "{body}"
    );
}

#[tokio::test]
async fn the_safety_threshold_stops_a_mass_deactivation_unless_forced() {
    let company: Vec<Value> = (1..=20)
        .map(|i| user(&format!("E{i}"), &format!("u{i}"), "Some", "One"))
        .collect();
    let mut world = World::new(company).await;
    world.notify_to_mailbox();
    world.configure("\n[sync]\nmax_deactivate_share = 0.1\nsafety_floor = 2\n");
    let rows = |status: &str| -> Vec<String> {
        (1..=20)
            .map(|i| {
                let s = if i <= 5 { status } else { "active" };
                format!("P{i},E{i},u{i},u{i}@example.com,Some,One,Finance,CC-1,{s},")
            })
            .collect()
    };
    world.hr(&rows("active"));
    world.sync().await;
    world.hr(&rows("terminated"));

    let stopped = world.sync().await;
    assert_eq!(stopped.run.status, RunStatus::Stopped);
    assert!(stopped.run.note.as_deref().unwrap().contains("safety stop"));
    let calls = world.calls(stopped.run.id).await;
    assert!(
        calls.iter().all(|c| c.method != "PUT"),
        "nothing deactivated"
    );
    assert!(world.users().await.values().all(|u| u["active"] == true));
    let mail = world.mail().await;
    assert_eq!(mail[0]["to"], json!(["ops@example.com"]), "{mail:#?}");
    assert!(mail[0]["body"].as_str().unwrap().contains("safety stop"));

    let forced = world
        .run_with(RunOptions {
            force: true,
            ..RunOptions::default()
        })
        .await;
    assert_eq!(forced.run.status, RunStatus::Succeeded);
    assert_eq!(forced.run.counts.deactivated, 5);
    let inactive = world
        .users()
        .await
        .values()
        .filter(|u| u["active"] == false)
        .count();
    assert_eq!(inactive, 5);
}

#[tokio::test]
async fn in_steady_state_a_changed_person_costs_one_write_and_a_share_of_a_lookup() {
    let company: Vec<Value> = (1..=120)
        .map(|i| user(&format!("E{i}"), &format!("u{i}"), "Some", "One"))
        .collect();
    let mut world = World::new(company).await;
    // Every user changes at once: past the default safety share on purpose.
    world.configure("\n[sync]\nmax_change_share = 1.0\n");
    let rows = |last: &str| -> Vec<String> {
        (1..=120)
            .map(|i| format!("P{i},E{i},u{i},u{i}@example.com,Some,{last},Finance,CC-1,active,"))
            .collect()
    };
    world.hr(&rows("One"));
    world.sync().await;
    world.hr(&rows("Changed"));
    let report = world.sync().await;

    assert_eq!(report.run.counts.updated, 120);
    // One token, three lookups of at most 50, one PUT each; verification reads the PUT answers.
    assert_eq!(report.calls.token, 1);
    assert_eq!(report.calls.get, 3);
    assert_eq!(report.calls.put, 120);
    assert!(report.calls.total() as f64 / 120.0 <= 1.05);
}

#[tokio::test]
async fn verify_reread_reads_each_written_user_back() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.configure("\n[sync]\nverify = \"reread\"\n");
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Smith,Finance,CC-1,active,".into()]);
    let report = world.sync().await;
    assert_eq!(verdict(person(&report, "P1"), "lastname"), Verdict::Applied);
    let calls = world.calls(report.run.id).await;
    assert_eq!(methods_for(&calls, "P1"), ["PUT", "GET"]);
    let get = calls.iter().rfind(|c| c.method == "GET").unwrap();
    assert!(get.path.starts_with("/api/users/"), "{}", get.path);
}

#[tokio::test]
async fn the_client_secret_never_reaches_the_store() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&["P1,E1,jdoe,jdoe@example.com,Jane,Smith,Finance,CC-1,active,".into()]);
    let report = world.sync().await;
    let calls = world.calls(report.run.id).await;
    let token = calls.iter().find(|c| c.path == "/oauth2/token").unwrap();
    let sent = token.request_body.as_deref().unwrap();
    assert!(
        sent.contains("client_secret=%5Bredacted%5D") || sent.contains("client_secret=[redacted]"),
        "{sent}"
    );
    assert!(
        token
            .response_body
            .as_deref()
            .unwrap()
            .contains("[redacted]")
    );
    let file = std::fs::read(world.dir.path().join("coupa-sync.db")).unwrap();
    let wal = std::fs::read(world.dir.path().join("coupa-sync.db-wal")).unwrap_or_default();
    for bytes in [file, wal] {
        assert!(
            !bytes.windows(SECRET.len()).any(|w| w == SECRET.as_bytes()),
            "the secret is in the store"
        );
    }
    assert!(!format!("{report:?}").contains(SECRET));
}

#[tokio::test]
async fn a_full_run_reconciles_people_whose_hr_data_did_not_change() {
    let world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.hr(&[row("P1", "E1", "jdoe", "Jane", "Doe")]);
    world.sync().await;
    // Someone changes the user in Coupa by hand; the HR data does not change.
    let id = world.users().await["jdoe"]["id"].as_i64().unwrap();
    reqwest::Client::new()
        .put(format!("{}/api/users/{id}", world.running.url()))
        .bearer_auth(world.token().await)
        .header("Content-Type", "application/json")
        .header("Accept", "application/json")
        .body(r#"{"lastname": "Edited"}"#)
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();

    assert!(
        world.sync().await.changes.is_empty(),
        "a delta run trusts the applied state"
    );
    let full = world
        .run_with(RunOptions {
            mode: Mode::Full,
            ..RunOptions::default()
        })
        .await;
    assert_eq!(person(&full, "P1").outcome, Outcome::Applied);
    assert_eq!(world.users().await["jdoe"]["lastname"], "Doe");
}

#[tokio::test]
async fn each_run_is_an_integration_run_in_coupa_whose_errors_alert_the_contacts() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.report_to_coupa();
    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe-Smith"),
        // Coupa refuses logins shorter than two characters.
        "P2,E2,k,kai@example.com,Kai,Müller,Finance,CC-1,active,".into(),
    ]);
    let first = world.sync().await;
    assert_eq!(first.run.status, RunStatus::Failed);
    let reported = first.integration.clone().expect("the run was reported");
    assert_eq!(reported.state, coupa_wire::RunState::Failed);
    assert_eq!((reported.errors, reported.alerts), (1, 1));
    assert_eq!(first.run.coupa_run_id, Some(reported.run_id));

    // coupa-sync registered the integration, and Coupa holds the run with Kai's error.
    let integrations = world.get("/api/integrations?code=HR_USERS").await;
    let integration = &integrations.as_array().unwrap()[0];
    assert_eq!(integration["direction"], "to_coupa");
    assert_eq!(integration["end-system"], "Workday");
    assert_eq!(integration["end-system-type"], "hr");
    assert_eq!(integration["integration-type"], "api");
    let run = world
        .get(&format!("/api/integration_runs/{}", reported.run_id))
        .await;
    assert_eq!(run["status"], "failed");
    assert_eq!(run["total-records"], 2);
    assert!(run["end-time"].is_string(), "{run}");
    let errors = world
        .get(&format!(
            "/api/integration_errors?integration-run-id={}",
            reported.run_id
        ))
        .await;
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    let kai = &errors[0];
    assert_eq!(kai["external-id"], "P2");
    assert_eq!(kai["document-type"], "User");
    assert_eq!(kai["contact-alert-type"], "Functional");
    assert_eq!(kai["responses"][0]["response-code"], "login");
    let message = kai["responses"][0]["response-message"].as_str().unwrap();
    assert!(
        message.contains("login sent \"k\": Login is too short (minimum is 2 characters)"),
        "{message}"
    );
    // Without contacts, Coupa's alert goes to its admin.
    let alert = world
        .mail()
        .await
        .into_iter()
        .find(|m| m["body"].as_str().unwrap().contains("Login is too short"))
        .expect("an alert e-mail");
    assert_eq!(alert["to"], json!([SandboxConfig::default().admin_email]));
    assert!(alert["body"].as_str().unwrap().contains("HR_USERS"));

    // Jane is the integration's functional contact from now on; Kai's login is fixed, and a new
    // person's e-mail is refused.
    let jane = world.users().await["jdoe"]["id"].as_i64().unwrap();
    let contact = json_of(
        reqwest::Client::new()
            .post(format!("{}/api/integration_contacts", world.running.url()))
            .bearer_auth(world.token().await)
            .header("Accept", "application/json")
            .header("Content-Type", "application/json")
            .body(
                json!({
                    "integration": {"code": "HR_USERS"},
                    "contactable-type": "User",
                    "contactable-id": jane,
                    "contact-alert-type": "Functional",
                })
                .to_string(),
            ),
    )
    .await;
    assert!(contact["id"].is_i64(), "{contact}");
    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe-Smith"),
        "P2,E2,kai,kai@example.com,Kai,Müller,Finance,CC-1,active,".into(),
    ]);
    let second = world.sync().await;
    assert!(second.succeeded(), "{:?}", second.run);
    let reported = second.integration.clone().unwrap();
    assert_eq!(reported.state, coupa_wire::RunState::Successful);
    assert_eq!(reported.errors, 0);
    let run = world
        .get(&format!("/api/integration_runs/{}", reported.run_id))
        .await;
    assert_eq!(run["status"], "successful");
    assert_eq!(run["total-records"], 1);

    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe-Smith"),
        "P2,E2,kai,kai@example.com,Kai,Müller,Finance,CC-1,active,".into(),
        "P3,E3,l,lee@example.com,Lee,Park,Finance,CC-1,active,".into(),
    ]);
    let third = world.sync().await;
    assert_eq!(third.integration.as_ref().unwrap().alerts, 1);
    let to_jane: Vec<Value> = world
        .mail()
        .await
        .into_iter()
        .filter(|m| m["to"] == json!(["jdoe@example.com"]))
        .collect();
    assert_eq!(to_jane.len(), 1, "{to_jane:#?}");
    assert!(to_jane[0]["body"].as_str().unwrap().contains("P3"));
}

#[tokio::test]
async fn a_run_coupa_cannot_be_reported_in_still_syncs_and_says_why_and_a_plan_reports_nothing() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.report_to_coupa();
    world.configure("create = false\n");
    world.hr(&[row("P1", "E1", "jdoe", "Jane", "Doe-Smith")]);

    let planned = world
        .run_with(RunOptions {
            dry_run: true,
            ..RunOptions::default()
        })
        .await;
    assert!(planned.integration.is_none());
    assert!(
        planned.run_problems.is_empty(),
        "{:?}",
        planned.run_problems
    );
    assert_eq!(planned.calls.post + planned.calls.put, 0);

    let report = world.sync().await;
    assert!(report.succeeded(), "{:?}", report.run);
    assert!(report.integration.is_none());
    let problem = report
        .run_problems
        .iter()
        .find(|p| {
            p.coupa_message
                .contains("no integration with code \"HR_USERS\"")
        })
        .expect("the reason the run was not reported");
    assert_eq!(problem.kind, engine::notify::ProblemKind::Technical);
    assert!(problem.coupa_message.contains("create = true"));
    assert_eq!(world.users().await["jdoe"]["lastname"], "Doe-Smith");
    let runs = world.get("/api/integration_runs").await;
    assert_eq!(runs, json!([]));
}

#[tokio::test]
async fn a_changed_work_phone_and_requisition_limit_land_in_coupa_and_a_malformed_phone_sends_nothing()
 {
    let mut jane = user("E1", "jdoe", "Jane", "Doe");
    jane["phone-work"] = json!({"area-code": "415", "number": "555-0100"});
    jane["requisition-approval-limit"] = json!({"amount": "1000", "currency": {"code": "USD"}});
    let mut world = World::new(vec![jane, user("E2", "bob", "Bob", "Two")]).await;
    world.configure(
        "\n[fields.phone-work]\ncolumn = \"phone\"\n\
         [fields.requisition-approval-limit]\ncolumn = \"limit\"\n",
    );
    // The same number and amount, spelled otherwise in HR: nothing to send.
    world.hr_with(
        "phone,limit",
        &[
            format!(
                "{},(415) 555-0100,1000 usd",
                row("P1", "E1", "jdoe", "Jane", "Doe")
            ),
            format!("{},,", row("P2", "E2", "bob", "Bob", "Two")),
        ],
    );
    let report = world.sync().await;
    assert_eq!(report.run.status, RunStatus::Succeeded, "{report:#?}");
    let calls = world.calls(report.run.id).await;
    assert!(methods_for(&calls, "P1").is_empty(), "{calls:#?}");

    world.hr_with(PHONE_AND_LIMIT_COLUMNS, &phone_and_limit_rows());
    let report = world.sync().await;
    assert_phone_and_limit_outcome(&report, &world.users().await);
    let calls = world.calls(report.run.id).await;
    assert!(methods_for(&calls, "P2").is_empty(), "{calls:#?}");
}

#[tokio::test]
async fn with_history_all_every_person_changed_gets_a_history_record_and_alerts_stop_at_max_alerts()
{
    let mut world = World::new(vec![
        user("E1", "jdoe", "Jane", "Doe"),
        user("E2", "asmith", "Ann", "Smith"),
    ])
    .await;
    world.report_to_coupa();
    world.configure("history = \"all\"\nmax_alerts = 1\n");
    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe-Smith"),
        row("P2", "E2", "asmith", "Ann", "Smith-Jones"),
        // Two people Coupa refuses: one-character logins.
        "P3,E3,k,kai@example.com,Kai,Müller,Finance,CC-1,active,".into(),
        "P4,E4,l,lee@example.com,Lee,Park,Finance,CC-1,active,".into(),
    ]);
    let report = world.sync().await;
    let reported = report.integration.clone().unwrap();
    assert_eq!(
        (reported.errors, reported.alerts, reported.history),
        (2, 1, 2)
    );

    let history = world
        .get(&format!(
            "/api/integration_history_records?integration-run-id={}",
            reported.run_id
        ))
        .await;
    let history = history.as_array().unwrap();
    let users = world.users().await;
    let mut documented: Vec<(String, i64)> = history
        .iter()
        .map(|h| {
            assert_eq!(h["status"], "Success");
            assert_eq!(h["document-type"], "User");
            assert_eq!(h["responses"][0]["response-code"], "OK");
            assert_eq!(h["responses"][0]["response-message"], "updated");
            (
                h["external-id"].as_str().unwrap().to_string(),
                h["document-id"].as_i64().unwrap(),
            )
        })
        .collect();
    documented.sort();
    assert_eq!(
        documented,
        [
            ("P1".to_string(), users["jdoe"]["id"].as_i64().unwrap()),
            ("P2".to_string(), users["asmith"]["id"].as_i64().unwrap()),
        ]
    );
    let errors = world
        .get(&format!(
            "/api/integration_errors?integration-run-id={}",
            reported.run_id
        ))
        .await;
    assert_eq!(errors.as_array().unwrap().len(), 2);
    let alerts: Vec<Value> = world
        .mail()
        .await
        .into_iter()
        .filter(|m| m["subject"].as_str().unwrap_or("").contains("HR_USERS"))
        .collect();
    assert_eq!(alerts.len(), 1, "max_alerts = 1: {alerts:#?}");
}

#[tokio::test]
async fn with_invite_new_users_coupa_emails_each_created_user_an_invitation_and_nobody_else() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.configure("\n[sync]\ninvite_new_users = true\n");
    world.hr(&[
        row("P1", "E1", "jdoe", "Jane", "Doe-Smith"),
        row("P2", "E2", "kmueller", "Kai", "Müller"),
    ]);
    let report = world.sync().await;
    assert!(report.succeeded(), "{:?}", report.run);
    let kai = person(&report, "P2");
    assert_eq!(
        (kai.action.as_str(), kai.outcome),
        ("create", Outcome::Applied)
    );
    let mail = world.mail().await;
    assert_eq!(mail.len(), 1, "{mail:#?}");
    assert_eq!(mail[0]["to"], json!(["kmueller@example.com"]));
    assert!(
        mail[0]["subject"]
            .as_str()
            .unwrap()
            .contains("set your password")
    );
    assert!(mail[0]["body"].as_str().unwrap().contains("login kmueller"));
    // The flag is write-only: Coupa keeps no trace of it on the user.
    assert!(
        world.users().await["kmueller"]
            .get("generate-password-and-notify")
            .is_none()
    );
}

#[tokio::test]
async fn a_run_that_fails_before_planning_is_a_failed_coupa_run_with_the_reason_as_its_error() {
    let mut world = World::new(vec![user("E1", "jdoe", "Jane", "Doe")]).await;
    world.report_to_coupa();
    // No HR file at all: the run cannot read its extract.
    let report = world.sync().await;
    assert_eq!(report.run.status, RunStatus::Failed);
    let reported = report.integration.clone().unwrap();
    assert_eq!(reported.state, coupa_wire::RunState::Failed);
    let run = world
        .get(&format!("/api/integration_runs/{}", reported.run_id))
        .await;
    assert_eq!(run["status"], "failed");
    assert!(run["total-records"].is_null(), "never running: {run}");
    let errors = world
        .get(&format!(
            "/api/integration_errors?integration-run-id={}",
            reported.run_id
        ))
        .await;
    let errors = errors.as_array().unwrap();
    assert_eq!(errors.len(), 1, "{errors:#?}");
    assert!(errors[0]["external-id"].is_null());
    assert_eq!(errors[0]["contact-alert-type"], "Technical");
    let message = errors[0]["responses"][0]["response-message"]
        .as_str()
        .unwrap();
    assert!(message.contains("hr.csv"), "{message}");
}

#[tokio::test]
async fn with_a_postgres_store_runs_calls_and_the_applied_state_carry_over_to_the_next_run() {
    let mut world = World::new(vec![user("E1", "USER_TEST", "user", "test")]).await;
    world.store_in_postgres();
    let jane = "P2,E2,jdoe,jane.doe@example.com,Jane,Doe,Sales,CC-7,active,Buyer";
    world.hr(&[row("P1", "E1", "USER_TEST", "user", "test"), jane.into()]);
    let first = world.sync().await;
    assert_eq!(first.run.status, RunStatus::Succeeded, "{first:#?}");
    assert_eq!(person(&first, "P2").action, "create");

    // Only P1's last name changes: P2 is known unchanged from the applied state in PostgreSQL.
    world.hr(&[
        row("P1", "E1", "USER_TEST", "user", "test new"),
        jane.into(),
    ]);
    let second = world.sync().await;
    assert_eq!(second.run.status, RunStatus::Succeeded, "{second:#?}");
    assert_eq!(second.run.counts.updated, 1, "{second:#?}");
    assert_eq!(second.run.counts.created, 0, "{second:#?}");
    assert!(
        second.changes.iter().all(|c| c.hr_key != "P2"),
        "{second:#?}"
    );
    assert_eq!(world.users().await["USER_TEST"]["lastname"], "test new");

    let store = world.store().await;
    assert!(
        store
            .location()
            .starts_with("postgres://coupa_sync@127.0.0.1:")
    );
    assert_eq!(store.last_run().await.unwrap(), Some(second.run.clone()));
    assert_eq!(store.recent_runs(10).await.unwrap().len(), 2);
    let calls = store.calls_for_run(second.run.id).await.unwrap();
    assert_eq!(methods_for(&calls, "P1"), ["PUT"], "{calls:#?}");
    assert!(methods_for(&calls, "P2").is_empty(), "{calls:#?}");
    let applied = store.applied_state().await.unwrap();
    assert_eq!(applied.len(), 2);
    for call in store
        .calls_for_run(first.run.id)
        .await
        .unwrap()
        .iter()
        .chain(&calls)
    {
        let text = format!("{call:?}");
        assert!(
            !text.contains(SECRET),
            "the client secret reached the store: {text}"
        );
    }
    store.close().await.unwrap();
}
