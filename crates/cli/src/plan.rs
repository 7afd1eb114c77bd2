//! `coupa-sync plan`: a dry run. Reads the HR extract, looks the people up in Coupa (GETs only) and
//! prints every planned change, field by field (`old → new`), without writing anything to Coupa.
//! The dry run is kept in the store's history; nobody is notified.

use crate::Failure;
use crate::common::{ConfigArg, close_store, open_store, runtime};
use anyhow::anyhow;
use engine::detect::Mode;
use engine::run::{Quiet, RunOptions, RunReport};
use serde::Serialize;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Compare every person in the extract with Coupa, not only those changed since the last run.
    #[arg(long)]
    pub full: bool,
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
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args.config.load()?;
    let store = open_store(&config).await?;
    let options = RunOptions {
        mode: if args.full { Mode::Full } else { Mode::Delta },
        dry_run: true,
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
        };
        println!("{}", serde_json::to_string_pretty(&json).map_err(runtime)?);
    } else {
        print!("{}", render(&report));
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
