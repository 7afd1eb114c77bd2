//! `coupa-sync demo`: the API path end to end on a fresh machine, in seconds. It starts the sandbox
//! in this process (API and SMTP mailbox), loads a small company, syncs a first HR extract that
//! matches Coupa (day 1), then a second one with the playbook's changes and errors (day 2): plan,
//! sync, verification, the run's call log, the digest that reached the mailbox, and the run as Coupa
//! keeps it in its Integrations APIs with the alerts Coupa sent the integration's contact. Day 3
//! takes the CSV path (the sandbox's SFTP server and a loader polling every half second). It checks
//! that every change landed and every error was caught and reported, and leaves its files behind.

mod csv_day;

use crate::Failure;
use crate::common::runtime;
use crate::{plan, sync};
use anyhow::{Context, anyhow};
use coupa_sandbox::{ClientCredentials, Sandbox, SandboxConfig, SftpConfig, SftpUser};
use coupa_wire::{AlertType, IntegrationContact, IntegrationRef, RunState};
use engine::config::Config;
use engine::run::{Quiet, RunOptions, RunReport};
use engine::store::report::calls_table;
use engine::store::{AnyStore, ChangeRecord, Outcome, Store, Verdict};
use rand::RngExt;
use serde::Deserialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

const REFERENCE: &str = include_str!("../demo/reference.json");
const CONFIG: &str = include_str!("../demo/config.toml");
const DAY_1: &str = include_str!("../demo/hr-day1.csv");
const DAY_2: &str = include_str!("../demo/hr-day2.csv");
/// The environment variable the demo's configuration names for the client secret.
const SECRET_ENV: &str = "COUPA_SYNC_DEMO_SECRET";
/// The environment variable the demo's configuration names for the SFTP password.
const SFTP_PASSWORD_ENV: &str = "COUPA_SYNC_DEMO_SFTP_PASSWORD";
const DATA_ERRORS_TO: &str = "hr-data@example.com";
/// The demo company's HR systems owner, whom the demo makes the integration's functional contact.
const CONTACT_LOGIN: &str = "hruiz";
const CONTACT_EMAIL: &str = "hana.ruiz@example.com";
/// The start of the subject of Coupa's integration alerts.
const ALERT_SUBJECT: &str = "Coupa integration alert";

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Where to leave the demo's files (configuration, HR extracts, store, sandbox access log); it
    /// must be empty or not exist. Default: a new folder in the system's temporary directory.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

/// A message as the sandbox's mailbox lists it.
#[derive(Debug, Deserialize)]
struct Mail {
    to: Vec<String>,
    subject: Option<String>,
    body: String,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let dir = folder(args.dir)?;
    let secret = format!("{:032x}", rand::rng().random::<u128>());
    let sftp_password = format!("{:032x}", rand::rng().random::<u128>());
    let write = |name: &str, text: &str| {
        std::fs::write(dir.join(name), text)
            .with_context(|| format!("cannot write {}", dir.join(name).display()))
            .map_err(runtime)
    };
    write("reference.json", REFERENCE)?;
    write("hr-day1.csv", DAY_1)?;
    write("hr-day2.csv", DAY_2)?;
    write("hr-day3.csv", csv_day::DAY_3)?;

    let sandbox = Sandbox::new(SandboxConfig {
        clients: vec![ClientCredentials {
            id: "coupa-sync-demo".into(),
            secret: secret.clone().into(),
            scopes: Vec::new(),
        }],
        reference: Some(dir.join("reference.json")),
        access_log: Some(dir.join("access.log")),
        smtp: Some("127.0.0.1:0".into()),
        sftp: Some(SftpConfig {
            users: vec![SftpUser {
                name: "coupa-sync-demo".into(),
                password: Some(sftp_password.clone().into()),
                authorized_keys: Vec::new(),
            }],
            ..SftpConfig::default()
        }),
        loader_interval: Duration::from_millis(500),
        ..SandboxConfig::default()
    })
    .await
    .map_err(runtime)?;
    let running = sandbox.spawn("127.0.0.1:0").await.map_err(runtime)?;
    let smtp_port = running
        .smtp_addr
        .map(|a| a.port())
        .ok_or_else(|| runtime(anyhow!("the sandbox started without its mailbox")))?;
    println!(
        "Sandbox: Coupa API at {}, mailbox SMTP on port {smtp_port}; a small company loaded from reference.json.",
        running.url()
    );

    let sftp = running
        .sftp
        .clone()
        .ok_or_else(|| runtime(anyhow!("the sandbox started without its SFTP server")))?;
    let config_text = CONFIG
        .replace("{url}", &running.url())
        .replace("{smtp_port}", &smtp_port.to_string())
        .replace("{sftp_port}", &sftp.addr.port().to_string())
        .replace("{sftp_fingerprint}", &sftp.host_key_fingerprint);
    write("coupa-sync.toml", &config_text)?;
    let config = Config::parse(
        &config_text,
        &dir.join("coupa-sync.toml"),
        &|name| match name {
            SECRET_ENV => Some(secret.clone()),
            SFTP_PASSWORD_ENV => Some(sftp_password.clone()),
            _ => None,
        },
    )
    .map_err(runtime)?;
    let store = Arc::new(AnyStore::open(&config.store).await.map_err(runtime)?);

    let outcome = match days(&config, &store, &running.url()).await {
        Ok(mut checks) => csv_day::day_3(&config, &store, &running.url())
            .await
            .map(|more| {
                checks.extend(more);
                checks
            }),
        Err(e) => Err(e),
    };
    running.stop().await.map_err(runtime)?;
    if let Ok(store) = Arc::try_unwrap(store) {
        store.close().await.map_err(runtime)?;
    }
    let checks = outcome?;

    heading("What the demo checked");
    for (ok, what) in &checks {
        println!("  [{}] {what}", if *ok { "ok" } else { "MISSING" });
    }
    println!(
        "\nFiles left in {}:\n  coupa-sync.toml, hr.csv (day 3), hr-day1.csv, hr-day2.csv, hr-day3.csv, reference.json,\n  coupa-sync.db (the store), access.log (the sandbox's access log)\n\
         Read the store again with: coupa-sync log --config {} --errors --calls",
        dir.display(),
        dir.join("coupa-sync.toml").display()
    );
    let missing = checks.iter().filter(|(ok, _)| !ok).count();
    if missing == 0 {
        println!("\nDemo complete: every change landed and every error was caught and reported.");
        Ok(())
    } else {
        Err(runtime(anyhow!(
            "{missing} expected outcome(s) did not happen (see above)"
        )))
    }
}

/// The demo's folder: the one given (empty or new), or a new one in the temporary directory.
fn folder(dir: Option<PathBuf>) -> Result<PathBuf, Failure> {
    match dir {
        Some(dir) => {
            let busy = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
            if busy {
                return Err(Failure::Usage(anyhow!(
                    "{} is not empty; give --dir a new or empty folder",
                    dir.display()
                )));
            }
            std::fs::create_dir_all(&dir)
                .with_context(|| format!("cannot create {}", dir.display()))
                .map_err(runtime)?;
            Ok(dir)
        }
        None => tempfile::Builder::new()
            .prefix("coupa-sync-demo-")
            .tempdir()
            .map(tempfile::TempDir::keep)
            .context("cannot create a folder in the temporary directory")
            .map_err(runtime),
    }
}

fn heading(title: &str) {
    println!("\n=== {title} ===\n");
}

/// Day 1 (baseline), then day 2 (plan, sync, call log, mailbox); the checks of day 2.
async fn days(
    config: &Config,
    store: &Arc<AnyStore>,
    url: &str,
) -> Result<Vec<(bool, &'static str)>, Failure> {
    let hr = config.hr.path.clone();
    let sync_once = |dry_run: bool| {
        let options = RunOptions {
            dry_run,
            ..RunOptions::default()
        };
        engine::run::run(config, store.clone(), options, &Quiet)
    };

    heading("Day 1: the HR extract matches Coupa (coupa-sync sync)");
    copy(DAY_1, &hr)?;
    let day1 = sync_once(false).await.map_err(runtime)?;
    let c = day1.run.counts;
    println!(
        "Run {}: {} people compared with Coupa, {} already up to date, {} API calls (lookups only).\n\
         The store now remembers what was applied: tomorrow, only changes are looked at.",
        day1.run.id,
        c.people,
        c.unchanged,
        day1.calls.total()
    );
    let day1_reported = day1
        .integration
        .as_ref()
        .is_some_and(|r| r.state == RunState::Successful);
    if let Some(r) = &day1.integration {
        println!(
            "Coupa lists it as run {} of integration {}, {} (coupa-sync registered the integration).",
            r.run_id,
            r.code,
            r.state.as_str()
        );
    }
    let contact = make_contact(config).await?;
    println!(
        "In Coupa, Hana Ruiz ({CONTACT_LOGIN}, HR systems) becomes the integration's functional contact \
         (POST /api/integration_contacts, id {contact}): Coupa alerts her about people in error."
    );

    heading("Day 2: the new HR extract, planned (coupa-sync plan: GETs only)");
    copy(DAY_2, &hr)?;
    let planned = sync_once(true).await.map_err(runtime)?;
    print!("{}", plan::render(&planned));

    heading("Day 2: applied and verified (coupa-sync sync)");
    // Real runs are hours apart; the demo's follow each other within a second, each with its own
    // rate governor, while Coupa's bucket (25/s, burst 20) is per OAuth client: let it refill.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let day2 = sync_once(false).await.map_err(runtime)?;
    print!("{}", sync::summary(&day2));

    heading(&format!(
        "Day 2: the call log of run {} (coupa-sync log --calls)",
        day2.run.id
    ));
    let calls = store.calls_for_run(day2.run.id).await.map_err(runtime)?;
    print!("{}", calls_table(&calls));

    heading("Day 2: the digest in the sandbox's mailbox (GET /mailbox/messages)");
    let mails = mailbox(url).await?;
    let (alerts, digests): (Vec<&Mail>, Vec<&Mail>) = mails.iter().partition(|m| is_alert(m));
    for mail in &digests {
        println!("To: {}", mail.to.join(", "));
        println!("Subject: {}\n", mail.subject.as_deref().unwrap_or(""));
        println!("{}", mail.body.trim_end());
    }
    if digests.is_empty() {
        println!("(no message arrived)");
    }

    heading("Day 2: the run in Coupa's Integrations APIs, and Coupa's alerts to its contact");
    let reported_in_coupa = match &day2.integration {
        Some(r) => {
            let run = engine::run::client(&config.coupa, &config.file.display().to_string(), None)
                .map_err(runtime)?
                .integrations()
                .run(r.run_id)
                .await
                .map_err(runtime)?;
            println!(
                "GET /api/integration_runs/{}: status {}, total-records {}, {} integration errors ({} alerted).",
                r.run_id,
                run.status.as_deref().unwrap_or("?"),
                run.total_records.unwrap_or_default(),
                r.errors,
                r.alerts
            );
            for mail in &alerts {
                println!(
                    "To: {}  Subject: {}",
                    mail.to.join(", "),
                    mail.subject.as_deref().unwrap_or("")
                );
            }
            if let Some(first) = alerts.first() {
                println!("\n{}", first.body.trim_end());
            }
            run.status.as_deref() == Some("failed") && r.errors == 4
        }
        None => {
            println!("(the run was not reported into Coupa)");
            false
        }
    };
    let mut checks = checks(&planned, &day2, &calls, &mails);
    let to_contact = alerts
        .iter()
        .filter(|m| m.to.iter().any(|t| t == CONTACT_EMAIL))
        .count();
    checks.push((
        day1_reported && reported_in_coupa && to_contact == 4,
        "each run is an integration run in Coupa; day 2's four people in error alerted Hana Ruiz",
    ));
    Ok(checks)
}

fn is_alert(mail: &Mail) -> bool {
    mail.subject
        .as_deref()
        .is_some_and(|s| s.starts_with(ALERT_SUBJECT))
}

/// Makes the demo's HR systems owner the integration's functional contact; returns the contact's id.
async fn make_contact(config: &Config) -> Result<i64, Failure> {
    let client = engine::run::client(&config.coupa, &config.file.display().to_string(), None)
        .map_err(runtime)?;
    let found = client
        .users()
        .find_by("login", &[CONTACT_LOGIN])
        .await
        .map_err(runtime)?;
    let id = found
        .first()
        .and_then(|u| u.id)
        .ok_or_else(|| runtime(anyhow!("the demo company has no user {CONTACT_LOGIN}")))?;
    let code = config
        .integration
        .as_ref()
        .map(|i| i.code.clone())
        .ok_or_else(|| runtime(anyhow!("the demo configuration has no [integration]")))?;
    let contact = client
        .integrations()
        .add_contact(&IntegrationContact {
            integration: Some(IntegrationRef::code(code)),
            contactable_type: Some("User".into()),
            contactable_id: Some(id),
            contact_alert_type: Some(AlertType::Functional.as_str().into()),
            ..IntegrationContact::default()
        })
        .await
        .map_err(runtime)?;
    Ok(contact.id.unwrap_or_default())
}

fn copy(text: &str, to: &Path) -> Result<(), Failure> {
    std::fs::write(to, text)
        .with_context(|| format!("cannot write {}", to.display()))
        .map_err(runtime)
}

/// The mailbox's messages. The digest is sent before the run returns; the server may still be
/// storing it, so an empty mailbox is asked again for a moment.
async fn mailbox(url: &str) -> Result<Vec<Mail>, Failure> {
    let http = reqwest::Client::new();
    let mut mails = Vec::new();
    for _ in 0..20 {
        mails = http
            .get(format!("{url}/mailbox/messages"))
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(runtime)?
            .json::<Vec<Mail>>()
            .await
            .map_err(runtime)?;
        if !mails.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(mails)
}

/// What day 2 must show: each playbook scenario applied, each error caught and reported.
fn checks(
    planned: &RunReport,
    day2: &RunReport,
    calls: &[engine::store::CallRecord],
    mails: &[Mail],
) -> Vec<(bool, &'static str)> {
    let person = |key: &str| day2.changes.iter().find(|c| c.hr_key == key);
    let applied = |key: &str, action: &str| {
        person(key).is_some_and(|c| c.action == action && c.outcome == Outcome::Applied)
    };
    let field = |c: &ChangeRecord, name: &str| c.fields.iter().find(|f| f.field == name).cloned();
    let refused_login = person("P1011")
        .and_then(|c| field(c, "login"))
        .is_some_and(|f| {
            f.verdict == Verdict::Failed
                && f.message
                    .as_deref()
                    .is_some_and(|m| m.contains("Login is too short"))
        });
    let ignored_department = person("P1007")
        .and_then(|c| field(c, "department"))
        .is_some_and(|f| f.verdict == Verdict::Ignored && f.kept.as_deref() == Some("Finance"));
    let digest: Vec<&Mail> = mails
        .iter()
        .filter(|m| m.to.iter().any(|t| t == DATA_ERRORS_TO))
        .collect();
    let digest_names_all = digest.len() == 1
        && [
            "P1007",
            "P1008",
            "P1010",
            "P1011",
            "Login is too short",
            "department",
        ]
        .iter()
        .all(|needle| digest[0].body.contains(needle));
    vec![
        (
            planned.calls.post + planned.calls.put == 0 && planned.calls.get > 0,
            "the plan looked people up and sent no write",
        ),
        (
            applied("P1001", "update")
                && person("P1001").is_some_and(|c| {
                    ["lastname", "email"]
                        .iter()
                        .all(|f| field(c, f).is_some_and(|f| f.verdict == Verdict::Applied))
                }),
            "1.2 USER_TEST's new last name and e-mail landed",
        ),
        (
            applied("P1009", "create"),
            "1.1 Sam Lee joined and was created",
        ),
        (
            applied("P1005", "update"),
            "1.3 Alex Kim's cost center (a custom field) changed",
        ),
        (
            applied("P1004", "deactivate"),
            "1.4 María García left and was deactivated",
        ),
        (
            applied("P1006", "reactivate"),
            "1.5 Li Chen came back and was reactivated",
        ),
        (
            applied("P1002", "update"),
            "1.6 Jane Doe was given the Buyer role",
        ),
        (
            applied("P1003", "update")
                && calls
                    .iter()
                    .filter(|c| {
                        c.hr_key.as_deref() == Some("P1003")
                            && c.method == "PUT"
                            && c.status == Some(200)
                    })
                    .count()
                    == 2,
            "1.7 Robert Smith lost Accounts Payable: roles cleared, then set",
        ),
        (
            refused_login,
            "1.8 Coupa refused Kai Müller's one-letter login; its message is in the log",
        ),
        (
            ignored_department,
            "Coupa silently ignored Petra Novák's unknown department; verification caught it",
        ),
        (
            person("P1008").is_some_and(|c| c.action == "error")
                && !calls.iter().any(|c| c.hr_key.as_deref() == Some("P1008")),
            "Tom Berg's new e-mail belongs to Jane Doe: refused before sending",
        ),
        (
            day2.hr_errors
                .iter()
                .any(|e| e.key.as_deref() == Some("P1010"))
                && !calls.iter().any(|c| c.hr_key.as_deref() == Some("P1010")),
            "Kate Wong's HR row has an invalid e-mail: reported, nothing sent",
        ),
        (
            digest_names_all,
            "one digest reached hr-data@example.com, naming every problem",
        ),
    ]
}
