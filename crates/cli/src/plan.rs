//! `coupa-sync plan`: a dry run. Reads the HR extract, looks the people up in Coupa (GETs only) and
//! prints every planned change, field by field (`old → new`), without writing anything to Coupa.
//! With `--mode csv` it also prints the users files it would upload. The dry run is kept in the
//! store's history; nobody is notified.

use crate::Failure;
use crate::common::{ConfigArg, ModeArg, close_store, open_store, runtime};
use anyhow::anyhow;
use engine::detect::Mode;
use engine::run::{Quiet, RunOptions, RunReport};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub mode: ModeArg,
    /// Compare every person in the extract with Coupa, not only those changed since the last run.
    #[arg(long)]
    pub full: bool,
    /// With `--mode csv`: print every users file whole, not only its first rows.
    #[arg(long)]
    pub whole_files: bool,
    /// Print the plan as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `--json`: the plan, the HR rows in error and the run's own problems.
#[derive(Serialize)]
struct PlanJson<'a> {
    run_id: i64,
    plan: Option<&'a engine::plan::Plan>,
    hr_errors: &'a [engine::hr::RowError],
    problems: &'a [engine::notify::Problem],
    /// With `--mode csv`: the users files, with their content.
    csv: Option<&'a engine::csv::CsvReport>,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args.config.load()?;
    args.mode.check(&config, true)?;
    let store = open_store(&config).await?;
    let options = RunOptions {
        mode: if args.full { Mode::Full } else { Mode::Delta },
        dry_run: true,
        via: args.mode.run_mode(),
        ..RunOptions::default()
    };
    let report = engine::run::run(&config, store.clone(), options, &Quiet)
        .await
        .map_err(runtime)?;
    close_store(store).await?;
    if args.json {
        let json = PlanJson {
            run_id: report.run.id,
            plan: report.plan.as_ref(),
            hr_errors: &report.hr_errors,
            problems: &report.run_problems,
            csv: report.csv.as_ref(),
        };
        println!("{}", serde_json::to_string_pretty(&json).map_err(runtime)?);
    } else {
        print!("{}", render(&report));
        if let Some(csv) = &report.csv {
            print!("{}", files(csv, args.whole_files));
        }
    }
    if report.succeeded() {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow!(
            "the plan has problems (see above); `coupa-sync sync` would not apply it cleanly"
        )))
    }
}

/// The plan for people: HR rows in error first, then one block per person, then the counts.
pub fn render(report: &RunReport) -> String {
    let mut out = String::new();
    for error in &report.hr_errors {
        out.push_str(&format!("HR ERROR {error}\n"));
    }
    for problem in &report.run_problems {
        out.push_str(&format!("RUN PROBLEM: {}\n", problem.coupa_message));
    }
    if let Some(plan) = &report.plan {
        out.push_str(&plan.to_string());
    }
    out.push_str(&format!(
        "Dry run {}: nothing was sent to Coupa ({} lookups).\n",
        report.run.id, report.calls.get
    ));
    out
}

/// Rows of each users file shown by default.
const PREVIEW_ROWS: usize = 10;

/// The users files a CSV run would upload: name, rows, size, then the file (its first rows unless
/// `whole`); and the files of earlier runs still waiting for Coupa's load, whose people wait too.
pub fn files(csv: &engine::csv::CsvReport, whole: bool) -> String {
    let mut out = String::new();
    for file in &csv.resumed {
        out.push_str(&format!(
            "Waiting for Coupa's load: {} ({} people, left out of this plan until it is loaded)\n",
            file.name, file.rows
        ));
    }
    if csv.files.is_empty() {
        out.push_str("No users file to upload.\n");
    }
    for file in &csv.files {
        out.push_str(&format!(
            "\nUsers file {} ({} rows, {} bytes):\n",
            file.name,
            file.rows,
            file.bytes.unwrap_or_default()
        ));
        let content = file.content.as_deref().unwrap_or_default();
        // CSV records end with CRLF; a value may hold a bare line break.
        let records: Vec<&str> = content.split_inclusive("\r\n").collect();
        let shown = if whole {
            records.len()
        } else {
            PREVIEW_ROWS + 1
        };
        for record in records.iter().take(shown) {
            out.push_str(record.trim_end_matches(['\r', '\n']));
            out.push('\n');
        }
        if records.len() > shown {
            out.push_str(&format!(
                "… {} more rows (--whole-files prints them)\n",
                records.len() - shown
            ));
        }
    }
    out
}
