//! Sandbox loader figures: one users file of 5,000 rows that creates 5,000 users, then one that
//! updates them all (matched by employee number, login and last name changed), in memory and with a
//! SQLite data folder. Prints the times and rows per second; asserts nothing (machines are noisy).
//! Coupa's budget for the sandbox: under 2 s per 5,000-row file.
//!
//! `cargo bench -p coupa-sandbox --bench loader`

use coupa_sandbox::{ClientCredentials, LoadStatus, Sandbox, SandboxConfig, SftpConfig, SftpUser};
use coupa_wire::flatfile::{MAX_ROWS, write_record};
use std::path::Path;
use std::time::Instant;

const REFERENCE: &str = r#"{"departments": [{"name": "Finance"}, {"name": "Legal"}],
    "custom-fields": [{"name": "cost-center", "prompt": "Cost Center"}]}"#;

fn config(data_dir: Option<&Path>) -> SandboxConfig {
    SandboxConfig {
        clients: vec![ClientCredentials {
            id: "bench".into(),
            secret: "bench-secret".to_string().into(),
            scopes: Vec::new(),
        }],
        sftp: Some(SftpConfig {
            users: vec![SftpUser {
                name: "connector".into(),
                password: Some("bench-password".to_string().into()),
                authorized_keys: Vec::new(),
            }],
            ..SftpConfig::default()
        }),
        data_dir: data_dir.map(Path::to_path_buf),
        ..SandboxConfig::default()
    }
}

fn creates() -> String {
    let mut out = String::new();
    write_record(
        &mut out,
        &[
            "Login",
            "Email",
            "First Name",
            "Last Name",
            "Employee Number",
            "Status",
            "Department",
            "User Role Names",
            "Cost Center",
        ],
    );
    for i in 0..MAX_ROWS {
        let department = if i % 2 == 0 { "Finance" } else { "Legal" };
        write_record(
            &mut out,
            &[
                &format!("user{i:05}"),
                &format!("user{i:05}@example.com"),
                "Jane",
                &format!("Doe, \"{i}\""),
                &format!("E{i:05}"),
                "active",
                department,
                "User,Buyer",
                &format!("CC-{}", i % 100),
            ],
        );
    }
    out
}

fn updates() -> String {
    let mut out = String::new();
    write_record(
        &mut out,
        &["Employee Number", "Login", "Last Name", "Status"],
    );
    for i in 0..MAX_ROWS {
        let status = if i % 10 == 0 { "inactive" } else { "active" };
        write_record(
            &mut out,
            &[
                &format!("E{i:05}"),
                &format!("renamed{i:05}"),
                &format!("Smith-{i}"),
                status,
            ],
        );
    }
    out
}

async fn load(sandbox: &Sandbox, name: &str, contents: &str, what: &str) {
    let folder = sandbox
        .drop_folder()
        .expect("the sandbox has a drop folder");
    std::fs::write(folder.root().join("Incoming/Users").join(name), contents)
        .expect("write the users file");
    let started = Instant::now();
    let loads = sandbox.run_loader_once().await.expect("the loader runs");
    let took = started.elapsed();
    let load = &loads[0];
    assert_eq!(load.status, LoadStatus::Done, "{:?}", load.result_text);
    assert_eq!(
        load.upload_errors_count,
        0,
        "{:?}",
        load.upload_errors.first()
    );
    println!(
        "  {what:<8} {} rows in {:>7.1} ms = {:>8.0} rows/s  ({})",
        load.records_count,
        took.as_secs_f64() * 1000.0,
        load.records_count as f64 / took.as_secs_f64(),
        load.result_text.as_deref().unwrap_or_default()
    );
}

async fn run(label: &str, data_dir: Option<&Path>) {
    let sandbox = Sandbox::new(config(data_dir))
        .await
        .expect("sandbox starts");
    sandbox
        .seed_reference(REFERENCE)
        .await
        .expect("reference data loads");
    println!("{label}:");
    load(&sandbox, "users_1_create.csv", &creates(), "create").await;
    load(&sandbox, "users_2_update.csv", &updates(), "update").await;
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    println!("sandbox loader, one file of {MAX_ROWS} rows (target: under 2 s each)");
    run("in memory", None).await;
    let dir = tempfile::tempdir().expect("temporary folder");
    run("with a SQLite data folder", Some(dir.path())).await;
}
