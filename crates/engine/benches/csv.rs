//! The CSV path at scale: 100,000 people planned into users files (plan + writer), then those files
//! uploaded to the sandbox's SFTP server and to OpenSSH's sshd over loopback. Prints the time and
//! the peak memory of the process (VmHWM) for the planning, and the time and throughput of each
//! upload. Targets: planning into files under 1 s and under 100 MB.
//!
//! Run: `cargo bench -p coupa-sync-engine --bench csv`

#![allow(clippy::unwrap_used)] // a benchmark fails loudly by design

#[path = "../tests/support/sshd.rs"]
#[allow(dead_code)]
mod sshd;

use coupa_sandbox::{Sandbox, SandboxConfig, SftpConfig, SftpUser};
use coupa_wire::{Role, User};
use engine::config::{Config, EmptyValues};
use engine::csv::{Batch, Layout, write};
use engine::detect::{Change, ChangeKind};
use engine::fields::{Field, Standard, Value};
use engine::mapping::DesiredUser;
use engine::plan::{PlanOptions, build};
use engine::sftp::{HostKeyCheck, LocalFile, SftpAuth, SftpTarget, SftpUploader};
use secrecy::SecretString;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::Instant;

const PEOPLE: usize = 100_000;

const CONFIG: &str = r#"
[coupa]
url = "http://127.0.0.1:4010"
client_id = "bench"
client_secret = "bench-secret"

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

[roles]
column = "roles"
managed = ["Buyer", "Accounts Payable"]
"#;

fn text(s: String) -> Value {
    Value::Text(s)
}

fn roles(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Person `i`: in ten, two are new, six change their last name (one of them gets the Buyer role),
/// one has left, one is unchanged.
fn inputs() -> (Vec<Change>, Vec<User>) {
    let mut changes = Vec::with_capacity(PEOPLE);
    let mut coupa = Vec::with_capacity(PEOPLE);
    for i in 0..PEOPLE {
        let kind = i % 10;
        let last = if (2..8).contains(&kind) {
            format!("Changed{i}")
        } else {
            format!("Person{i}")
        };
        let wanted: &[&str] = if kind == 7 { &["Buyer"] } else { &[] };
        let mut fields = BTreeMap::new();
        fields.insert(Field::LOGIN, text(format!("user{i}")));
        fields.insert(Field::EMAIL, text(format!("user{i}@example.com")));
        fields.insert(
            Field::Standard(Standard::Firstname),
            text(format!("First{i}")),
        );
        fields.insert(Field::Standard(Standard::Lastname), text(last));
        fields.insert(Field::EMPLOYEE_NUMBER, text(format!("E{i:06}")));
        fields.insert(Field::Roles, Value::Set(roles(wanted)));
        if kind >= 2 {
            coupa.push(User {
                id: Some(i as i64 + 1),
                login: Some(format!("user{i}")),
                email: Some(format!("user{i}@example.com")),
                firstname: Some(format!("First{i}")),
                lastname: Some(format!("Person{i}")),
                employee_number: Some(format!("E{i:06}")),
                active: Some(true),
                roles: Some(vec![Role::named("User")]),
                ..User::default()
            });
        }
        let active = kind != 8;
        changes.push(Change {
            hr_key: format!("P{i:06}"),
            kind: match kind {
                0 | 1 => ChangeKind::New,
                8 => ChangeKind::Left {
                    reason: engine::detect::LeftReason::Terminated,
                },
                _ => ChangeKind::Reconcile,
            },
            match_value: format!("E{i:06}"),
            desired: Some(DesiredUser {
                hr_key: format!("P{i:06}"),
                row: i + 2,
                active,
                match_value: format!("E{i:06}"),
                fields,
            }),
            previous_match_value: None,
        });
    }
    (changes, coupa)
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`), so the peak of one
/// phase can be read.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// CPU time of this process (user + system) in milliseconds: on a busy shared machine it says
/// more than the wall clock.
fn cpu_ms() -> u64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // Fields after the command name, which is in parentheses and may hold spaces.
    let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let fields: Vec<u64> = after
        .split_whitespace()
        .map(|f| f.parse().unwrap_or(0))
        .collect();
    // utime and stime are fields 14 and 15 of the line, 12 and 13 after the name; 100 ticks a second.
    (fields.get(11).copied().unwrap_or(0) + fields.get(12).copied().unwrap_or(0)) * 10
}

/// Runs `phase`, printing its wall-clock and CPU time and how far it raised the process's peak
/// memory above what was resident before it. Returns the phase's output and its peak RSS in kB.
fn measured<T>(label: &str, phase: impl FnOnce() -> T) -> (T, u64) {
    let before = status_kb("VmRSS:").unwrap_or(0);
    reset_peak();
    let (started, cpu) = (Instant::now(), cpu_ms());
    let out = phase();
    let (elapsed, cpu) = (started.elapsed(), cpu_ms().saturating_sub(cpu));
    let peak = status_kb("VmHWM:").unwrap_or(0);
    println!(
        "{label:>24}: {:>6.0} ms (CPU {cpu} ms); peak RSS {:.1} MB, {:.1} MB above the {:.1} MB resident before",
        elapsed.as_secs_f64() * 1000.0,
        peak as f64 / 1024.0,
        peak.saturating_sub(before) as f64 / 1024.0,
        before as f64 / 1024.0,
    );
    (out, peak)
}

fn plan_into_files(config: &Config) -> Batch {
    let (changes, coupa) = inputs();
    let options = PlanOptions {
        match_field: Field::EMPLOYEE_NUMBER,
        managed: BTreeMap::from([(Field::Roles, roles(&["Buyer", "Accounts Payable"]))]),
        empty_values: EmptyValues::Keep,
        max_change_share: 1.0,
        max_deactivate_share: 1.0,
        safety_floor: 0,
        invite_new_users: false,
    };
    let layout = Layout::new(config).unwrap();
    println!(
        "{PEOPLE} people: {} in Coupa, {} to plan (the inputs are resident before both phases)",
        coupa.len(),
        changes.len()
    );
    let resident = status_kb("VmRSS:").unwrap_or(0);
    let started = Instant::now();
    let (plan, plan_peak) = measured("plan", || build(changes, PEOPLE, &coupa, &options));
    let (batch, write_peak) = measured("users files from the plan", || {
        write(&plan, &coupa, &layout, "20261128T120000Z")
    });
    let total = started.elapsed();
    let bytes: usize = batch.files.iter().map(|f| f.content.len()).sum();
    println!(
        "plan + users files: {:.0} ms, peak {:.1} MB above the inputs; {} rows in {} files, {:.1} MB",
        total.as_secs_f64() * 1000.0,
        plan_peak.max(write_peak).saturating_sub(resident) as f64 / 1024.0,
        batch.rows(),
        batch.files.len(),
        bytes as f64 / 1e6,
    );
    println!("target: under 1000 ms and under 100 MB");
    batch
}

async fn upload(label: &str, target: &SftpTarget, batch: &Batch) {
    let files: Vec<LocalFile> = batch
        .files
        .iter()
        .map(|f| LocalFile::from_bytes(f.name.clone(), f.content.clone()))
        .collect();
    let bytes: usize = batch.files.iter().map(|f| f.content.len()).sum();
    let started = Instant::now();
    let uploader = SftpUploader::connect(target).await.unwrap();
    let connected = started.elapsed();
    let uploaded = uploader.upload(&files).await.unwrap();
    uploader.close().await;
    let total = started.elapsed();
    println!(
        "upload to {label}: {} files, {:.1} MB in {:.2} s ({:.2} MB/s; connect and login {:.0} ms)",
        uploaded.len(),
        bytes as f64 / 1e6,
        total.as_secs_f64(),
        bytes as f64 / 1e6 / (total - connected).as_secs_f64().max(f64::EPSILON),
        connected.as_secs_f64() * 1000.0,
    );
}

async fn upload_to_sandbox(batch: &Batch) {
    let password = "bench-sftp-password";
    let sandbox = Sandbox::new(SandboxConfig {
        sftp: Some(SftpConfig {
            users: vec![SftpUser {
                name: "bench".into(),
                password: Some(SecretString::from(password)),
                authorized_keys: Vec::new(),
            }],
            ..SftpConfig::default()
        }),
        ..SandboxConfig::default()
    })
    .await
    .unwrap();
    let running = sandbox.spawn("127.0.0.1:0").await.unwrap();
    let endpoint = running.sftp.clone().unwrap();
    let mut target = SftpTarget::new(
        endpoint.addr.ip().to_string(),
        "bench",
        SftpAuth::Password(SecretString::from(password)),
        HostKeyCheck::Fingerprint(endpoint.host_key_fingerprint.parse().unwrap()),
    );
    target.port = endpoint.addr.port();
    upload("the sandbox's SFTP server (russh)", &target, batch).await;
    running.stop().await.unwrap();
}

async fn upload_to_sshd(batch: &Batch) {
    if !Path::new("/usr/sbin/sshd").exists() {
        println!(
            "upload to OpenSSH sshd: SKIPPED, /usr/sbin/sshd is missing (install openssh-server; ./scripts/test.sh does)"
        );
        return;
    }
    let sshd = sshd::Sshd::start();
    let target = sshd.target(sshd.key_auth());
    upload("OpenSSH sshd", &target, batch).await;
}

#[tokio::main]
async fn main() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("coupa-sync.toml");
    std::fs::write(&path, CONFIG).unwrap();
    let config = Config::load(&path).unwrap();
    let batch = plan_into_files(&config);
    upload_to_sandbox(&batch).await;
    upload_to_sshd(&batch).await;
}
