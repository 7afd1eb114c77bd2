//! Change detection at scale: 100,000 people in the HR extract, 1% of them changed since the last
//! run. Prints the time for reading + mapping + detection and the peak memory of the process
//! (VmHWM). Targets: under 2 s and under 300 MB.
//!
//! Run: `cargo bench -p coupa-sync-engine --bench detect`

use engine::config::Config;
use engine::detect::{AppliedPerson, AppliedState, DetectOptions, Detection, Mode, detect};
use engine::hr;
use engine::mapping::Mapping;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::Instant;

const PEOPLE: usize = 100_000;
const CHANGED_EVERY: usize = 100;

const CONFIG: &str = r#"
[coupa]
url = "http://127.0.0.1:4010"
client_id = "bench"
client_secret = "bench-secret"

[hr]
path = "hr.csv"
key_column = "person_id"
status_column = "status"
missing = "deactivate"

[match]
coupa_field = "employee-number"

[fields]
login = { column = "login", transform = ["trim", "lower"] }
email = { template = "{first}.{last}@example.com", transform = ["lower"] }
firstname = "first"
lastname = "last"
employee-number = "emp"
department = { column = "dept", lookup = { FIN = "Finance", PUR = "Purchasing", IT = "IT", HR = "Human Resources" }, default = "General" }
default-locale = { constant = "en" }
default-currency = { constant = "EUR" }
purchasing-user = "buyer"

[custom_fields]
cost-center = "cost_center"

[roles]
column = "roles"
separator = ";"
managed = ["Buyer", "Accounts Payable", "Expense Approver"]
"#;

fn write_extract(path: &Path, changed: bool) {
    let mut out = BufWriter::new(std::fs::File::create(path).expect("create the extract"));
    writeln!(
        out,
        "person_id,emp,login,first,last,dept,status,roles,buyer,cost_center"
    )
    .expect("write");
    let depts = ["FIN", "PUR", "IT", "HR", "OPS"];
    let roles = ["Buyer", "Buyer;Expense Approver", "", "Accounts Payable"];
    for i in 0..PEOPLE {
        let last = if changed && i % CHANGED_EVERY == 0 {
            "Changed"
        } else {
            "Person"
        };
        writeln!(
            out,
            "P{i:06},E{i:06}, user{i} ,First{i},{last}{i},{},active,{},{},CC-{}",
            depts[i % depts.len()],
            roles[i % roles.len()],
            if i % 3 == 0 { "yes" } else { "no" },
            i % 500
        )
        .expect("write");
    }
    out.flush().expect("flush");
}

fn run(config: &Config, applied: &AppliedState, mode: Mode) -> Detection {
    let mapping = Mapping::new(config);
    let source = hr::open(&config.hr, mapping.columns()).expect("open the extract");
    let options = DetectOptions {
        mode,
        missing: config.hr.missing,
    };
    detect(&mapping, mapping.read(source), applied, options).expect("detect")
}

fn status_kb(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
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

/// Resets VmHWM to the current RSS (Linux: `echo 5 > /proc/self/clear_refs`), so the peak of one
/// phase can be read.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn main() {
    let dir = tempfile::tempdir().expect("temporary directory");
    let config_path = dir.path().join("coupa-sync.toml");
    std::fs::write(&config_path, CONFIG).expect("write the config");
    let config = Config::load(&config_path).expect("the bench config is valid");

    write_extract(&config.hr.path, false);
    let size = std::fs::metadata(&config.hr.path)
        .map(|m| m.len())
        .unwrap_or(0);
    // The state a first successful run leaves, built row by row as the store would load it.
    let mapping = Mapping::new(&config);
    let source = hr::open(&config.hr, mapping.columns()).expect("open the extract");
    let applied: AppliedState = mapping
        .read(source)
        .map(|d| d.expect("the generated extract is valid"))
        .map(|d| (d.hr_key.clone(), AppliedPerson::of(&d)))
        .collect();
    write_extract(&config.hr.path, true);

    println!(
        "extract: {PEOPLE} people, {:.1} MB CSV; applied state: {} people",
        size as f64 / 1e6,
        applied.len()
    );
    let rss_before = status_kb("VmRSS:").unwrap_or(0);
    for (label, mode) in [("delta", Mode::Delta), ("full (--full)", Mode::Full)] {
        reset_peak();
        let started = Instant::now();
        let cpu_started = cpu_ms();
        let detection = run(&config, &applied, mode);
        let elapsed = started.elapsed();
        let cpu = cpu_ms().saturating_sub(cpu_started);
        let peak = status_kb("VmHWM:").unwrap_or(0);
        println!(
            "{label:>14}: read + map + detect {:>7.1} ms (CPU {cpu} ms); {} handed on, {} unchanged, \
             {} errors; peak RSS {:.1} MB (of which {:.1} MB held before: applied state and runtime)",
            elapsed.as_secs_f64() * 1000.0,
            detection.changes.len(),
            detection.unchanged,
            detection.errors.len(),
            peak as f64 / 1024.0,
            rss_before as f64 / 1024.0,
        );
    }
    println!("targets: under 2000 ms and under 300 MB (delta)");
}
