//! The API path's cost, against the in-process sandbox. Prints its figures.
//!
//! (a) API calls per changed person in steady state (existing users, one field changed), against
//!     the 3 of Coupa's playbook done literally (GET by login, PUT, GET to check); with
//!     `verify = "response"` (the default) and `"reread"`.
//! (b) 2,000 changed people with the sandbox limiting at Coupa's 25 requests/s, burst 20: the run's
//!     wall time against the floor those calls and that rate set. Takes about 80 s.
//!
//! `cargo bench -p coupa-sync-engine --bench api_sync` runs both; `-- calls` or `-- paced` one.

use coupa_sandbox::{ClientCredentials, RateLimit, Running, Sandbox, SandboxConfig};
use engine::config::Config;
use engine::run::{ApiCalls, Quiet, RunOptions, RunReport};
use engine::store::{AnyStore, SqliteStore, Store};
use serde_json::json;
use std::sync::Arc;
use std::time::{Duration, Instant};

const SECRET: &str = "bench-secret";

const CONFIG: &str = r#"
[coupa]
url = "{url}"
client_id = "bench"
client_secret_env = "BENCH_SECRET"
rate_per_second = {rate}
burst = {burst}

[hr]
path = "hr.csv"
key_column = "id"

[match]
coupa_field = "employee-number"

[fields]
login = "login"
email = "email"
firstname = "first"
lastname = "last"
employee-number = "emp"

[sync]
concurrency = 4
verify = "{verify}"
max_change_share = 1.0

[store]
path = "coupa-sync.db"
"#;

/// A company of `people` users in a sandbox limiting (or not) at `limit`.
struct Company {
    dir: tempfile::TempDir,
    running: Running,
    people: usize,
    limit: Option<RateLimit>,
}

impl Company {
    async fn new(people: usize, limit: Option<RateLimit>) -> Company {
        let sandbox = Sandbox::new(SandboxConfig {
            clients: vec![ClientCredentials {
                id: "bench".into(),
                secret: SECRET.to_string().into(),
                scopes: Vec::new(),
            }],
            rate_limit: limit,
            ..SandboxConfig::default()
        })
        .await
        .expect("sandbox");
        let users: Vec<_> = (0..people)
            .map(|i| {
                json!({"login": format!("u{i}"), "email": format!("u{i}@example.com"),
                       "firstname": "Some", "lastname": "Body", "employee-number": format!("E{i}")})
            })
            .collect();
        sandbox
            .seed_reference(&json!({ "users": users }).to_string())
            .await
            .expect("seed");
        let running = sandbox.spawn("127.0.0.1:0").await.expect("spawn");
        Company {
            dir: tempfile::tempdir().expect("temp dir"),
            running,
            people,
            limit,
        }
    }

    /// Writes the HR extract with everyone's last name set to `last`, and syncs it.
    async fn sync(&self, last: &str, verify: &str) -> RunReport {
        let mut hr = String::from("id,emp,login,email,first,last\n");
        for i in 0..self.people {
            hr.push_str(&format!("P{i},E{i},u{i},u{i}@example.com,Some,{last}\n"));
        }
        std::fs::write(self.dir.path().join("hr.csv"), hr).expect("hr file");
        // The connector's governor follows the sandbox's limit, or stays out of the way.
        let (rate, burst) = self
            .limit
            .map_or((10_000, 1_000), |l| (l.per_second, l.burst));
        let text = CONFIG
            .replace("{url}", &self.running.url())
            .replace("{rate}", &rate.to_string())
            .replace("{burst}", &burst.to_string())
            .replace("{verify}", verify);
        let path = self.dir.path().join("coupa-sync.toml");
        let config = Config::parse(&text, &path, &|name| {
            (name == "BENCH_SECRET").then(|| SECRET.to_string())
        })
        .expect("config");
        let store = Arc::new(AnyStore::open(&config.store).await.expect("store"));
        let report = engine::run::run(&config, store.clone(), RunOptions::default(), &Quiet)
            .await
            .expect("run");
        store.flush().await.expect("flush");
        report
    }

    /// How many of a run's calls Coupa answered with 429.
    async fn throttled(&self, run_id: i64) -> usize {
        let store = SqliteStore::open(self.dir.path().join("coupa-sync.db"))
            .await
            .expect("store");
        let calls = store.calls_for_run(run_id).await.expect("calls");
        calls.iter().filter(|c| c.status == Some(429)).count()
    }
}

fn describe(c: &ApiCalls) -> String {
    format!(
        "{} ({} token, {} GET, {} POST, {} PUT)",
        c.total(),
        c.token,
        c.get,
        c.post,
        c.put
    )
}

async fn calls_per_person() {
    const PEOPLE: usize = 500;
    let company = Company::new(PEOPLE, None).await;
    company.sync("Body", "response").await;
    println!(
        "(a) API calls per changed person, steady state: {PEOPLE} existing users, last name changed"
    );
    for (round, verify) in [("Changed", "response"), ("Again", "reread")] {
        let report = company.sync(round, verify).await;
        let changed = report.run.counts.updated as usize;
        assert_eq!(changed, PEOPLE, "every person changed: {:?}", report.run);
        println!(
            "    verify = {verify:<8}  calls {}  = {:.3} per changed person",
            describe(&report.calls),
            report.calls.total() as f64 / changed as f64
        );
    }
    println!(
        "    Coupa's playbook done literally (GET by login, PUT, GET to check): 3 per person = {} calls",
        3 * PEOPLE
    );
}

async fn paced_sync() {
    const PEOPLE: usize = 2_000;
    let limit = RateLimit::default();
    let company = Company::new(PEOPLE, Some(limit)).await;
    company.sync("Body", "response").await;
    // Let the sandbox's bucket refill, so the measured run starts with a full burst.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    let report = company.sync("Changed", "response").await;
    let wall = started.elapsed().as_secs_f64();
    let total = report.calls.total();
    let floor = total.saturating_sub(u64::from(limit.burst)) as f64 / f64::from(limit.per_second);
    println!(
        "(b) {PEOPLE} changed people against the sandbox at {}/s, burst {}:",
        limit.per_second, limit.burst
    );
    println!(
        "    calls {}; 429 answers: {}; {} updated, {} failed",
        describe(&report.calls),
        company.throttled(report.run.id).await,
        report.run.counts.updated,
        report.run.counts.failed
    );
    println!(
        "    wall time {wall:.2} s; floor ({total} calls - {} burst) / {}/s = {floor:.2} s; {:+.2} % over the floor",
        limit.burst,
        limit.per_second,
        (wall / floor - 1.0) * 100.0
    );
}

fn main() {
    let which: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let wants = |name: &str| which.is_empty() || which.iter().any(|w| w == name);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        if wants("calls") {
            calls_per_person().await;
        }
        if wants("paced") {
            paced_sync().await;
        }
    });
}
