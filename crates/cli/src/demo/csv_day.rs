//! The demo's third day: the CSV path. The next HR extract is planned as a users file (`plan --mode
//! csv`), uploaded to the sandbox's SFTP folder, loaded by its scheduled loader, awaited in
//! `/api/data_file_sources` and verified through the API (`sync --mode csv`); a row Coupa's loader
//! refuses reaches the log, the digest and Coupa's own notice to its admin.

use super::{Mail, copy, heading, mailbox};
use crate::Failure;
use crate::common::runtime;
use crate::{plan, sync};
use engine::config::Config;
use engine::run::{Quiet, RunOptions, RunReport};
use engine::store::{AnyStore, ChangeRecord, CsvFileStatus, Outcome, RunMode, Verdict};
use std::sync::Arc;
use std::time::Duration;

pub(super) const DAY_3: &str = include_str!("../../demo/hr-day3.csv");

pub(super) async fn day_3(
    config: &Config,
    store: &Arc<AnyStore>,
    url: &str,
) -> Result<Vec<(bool, &'static str)>, Failure> {
    let run = |dry_run: bool| {
        let options = RunOptions {
            dry_run,
            via: RunMode::Csv,
            ..RunOptions::default()
        };
        engine::run::run(config, store.clone(), options, &Quiet)
    };
    copy(DAY_3, &config.hr.path)?;

    heading("Day 3: the next HR extract as a users file (coupa-sync plan --mode csv)");
    let planned = run(true).await.map_err(runtime)?;
    print!("{}", plan::render(&planned));
    if let Some(csv) = &planned.csv {
        print!("{}", plan::files(csv, true));
    }

    heading(
        "Day 3: uploaded over SFTP, loaded by Coupa's job, verified (coupa-sync sync --mode csv)",
    );
    let day3 = run(false).await.map_err(runtime)?;
    print!("{}", sync::summary(&day3));

    heading("Day 3: the digest and Coupa's notice to its admin (GET /mailbox/messages)");
    let subject = format!("coupa-sync run {}:", day3.run.id);
    let mut mails = Vec::new();
    for _ in 0..20 {
        mails = mailbox(url).await?;
        if mails.iter().any(|m| is_about(m, &subject)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let shown: Vec<&Mail> = mails
        .iter()
        .filter(|m| is_about(m, &subject) || is_about(m, "Coupa data file load"))
        .collect();
    for mail in &shown {
        println!("To: {}", mail.to.join(", "));
        println!("Subject: {}\n", mail.subject.as_deref().unwrap_or(""));
        println!("{}\n", mail.body.trim_end());
    }
    Ok(checks(&planned, &day3, &shown))
}

fn is_about(mail: &Mail, subject: &str) -> bool {
    mail.subject
        .as_deref()
        .is_some_and(|s| s.starts_with(subject))
}

/// What day 3 must show: each playbook scenario applied through one users file, the refused row
/// caught and reported.
fn checks(planned: &RunReport, day3: &RunReport, mails: &[&Mail]) -> Vec<(bool, &'static str)> {
    let person = |key: &str| day3.changes.iter().find(|c| c.hr_key == key);
    let applied = |key: &str, action: &str| {
        person(key).is_some_and(|c| c.action == action && c.outcome == Outcome::Applied)
    };
    let field = |c: &ChangeRecord, name: &str| c.fields.iter().find(|f| f.field == name).cloned();
    let files = day3
        .csv
        .as_ref()
        .map(|r| r.files.as_slice())
        .unwrap_or_default();
    let planned_files = planned.csv.as_ref().map_or(0, |r| r.files.len());
    let refused_department = person("P1007")
        .and_then(|c| field(c, "department"))
        .is_some_and(|f| {
            f.verdict == Verdict::Failed
                && f.message
                    .as_deref()
                    .is_some_and(|m| m.contains("unable to find valid Department"))
        });
    let digest_names_it = mails.iter().any(|m| {
        m.to.iter().any(|t| t == super::DATA_ERRORS_TO)
            && m.body.contains("P1007")
            && m.body.contains("Marketing")
    });
    let admin_told = mails.iter().any(|m| {
        m.subject
            .as_deref()
            .is_some_and(|s| s.contains("finished with errors"))
    });
    vec![
        (
            planned_files == 1 && planned.calls.post + planned.calls.put == 0,
            "CSV: the plan showed one users file and uploaded nothing",
        ),
        (
            files.len() == 1 && files[0].status == CsvFileStatus::Loaded,
            "CSV: one users file uploaded once and loaded by Coupa's job",
        ),
        (
            applied("P1013", "create") && applied("P1010", "create"),
            "CSV 1.1 Nina Ødegaard and Kate Wong (e-mail fixed in HR) were created",
        ),
        (
            applied("P1002", "update"),
            "CSV 1.2 Jane Doe's new last name landed",
        ),
        (
            applied("P1005", "update"),
            "CSV 1.3 Alex Kim's cost center changed",
        ),
        (
            applied("P1006", "deactivate"),
            "CSV 1.4 Li Chen left and was deactivated",
        ),
        (
            applied("P1004", "reactivate"),
            "CSV 1.5 María García came back",
        ),
        (
            applied("P1012", "update"),
            "CSV 1.6 Olga Berg was given Accounts Payable",
        ),
        (
            applied("P1003", "update"),
            "CSV 1.7 Robert Smith lost Buyer (the file lists the roles he keeps)",
        ),
        (
            refused_department,
            "CSV: Coupa's loader refused Petra Novák's row (unknown department); its message is in the log",
        ),
        (
            digest_names_it && admin_told,
            "CSV: the refused row reached the digest and Coupa's notice to its admin",
        ),
        (
            day3.integration.as_ref().is_some_and(|r| {
                r.state == coupa_wire::RunState::Failed && r.errors == 1 && r.alerts == 1
            }),
            "CSV: the run is an integration run in Coupa too, failed with Petra Novák's error",
        ),
    ]
}
