//! `coupa-sync sync`: one run, through the API or (`--mode csv`) users files over SFTP. Applies the
//! plan, verifies every field, records the run, notifies about problems, and ends with a summary
//! table. Exit code 0 when every person was
//! applied and verified, 1 when any failed (or the run stopped), 2 for a bad configuration.

use crate::Failure;
use crate::common::{ConfigArg, ModeArg, close_store, open_store, runtime};
use anyhow::anyhow;
use engine::detect::Mode;
use engine::notify::Channel;
use engine::run::{Progress, RunOptions, RunReport};
use engine::store::report::run_report;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::IsTerminal;

/// Above this many people, the summary lists only those with problems.
const LISTED: usize = 100;

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    #[command(flatten)]
    pub mode: ModeArg,
    /// Compare every person in the extract with Coupa, not only those changed since the last run.
    #[arg(long)]
    pub full: bool,
    /// Apply even when the plan passes a safety threshold ([sync].max_change_share,
    /// max_deactivate_share).
    #[arg(long)]
    pub force: bool,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args.config.load()?;
    args.mode.check(&config, false)?;
    let store = open_store(&config).await?;
    let options = RunOptions {
        mode: if args.full { Mode::Full } else { Mode::Delta },
        force: args.force,
        via: args.mode.run_mode(),
        ..RunOptions::default()
    };
    let bar = Bar::new();
    let report = engine::run::run(&config, store.clone(), options, &bar)
        .await
        .map_err(runtime)?;
    bar.finish();
    close_store(store).await?;
    print!("{}", summary(&report));
    if report.succeeded() {
        Ok(())
    } else {
        Err(Failure::Runtime(anyhow!(
            "run {} {}; details: coupa-sync log --run {} --errors",
            report.run.id,
            report
                .run
                .note
                .clone()
                .unwrap_or_else(|| "did not succeed".into()),
            report.run.id
        )))
    }
}

/// The run's table (every person, or those with problems in a large run), the calls, the digest.
pub fn summary(report: &RunReport) -> String {
    let mut out = String::new();
    let listed: Vec<_> = if report.changes.len() > LISTED {
        report.problem_changes().into_iter().cloned().collect()
    } else {
        report.changes.clone()
    };
    out.push_str(&run_report(&report.run, &listed));
    if listed.len() < report.changes.len() {
        out.push_str(&format!(
            "({} people without problems not listed: coupa-sync log --run {})\n",
            report.changes.len() - listed.len(),
            report.run.id
        ));
    }
    if let Some(csv) = &report.csv {
        for file in csv.resumed.iter().chain(&csv.files) {
            out.push_str(&format!(
                "Users file {}: {} rows, {}{}\n",
                file.name,
                file.rows,
                file_status(file.status),
                file.note
                    .as_deref()
                    .map(|n| format!(" ({n})"))
                    .unwrap_or_default()
            ));
        }
    }
    if let Some(r) = &report.integration {
        out.push_str(&format!(
            "Reported to Coupa: integration {} run {} ({}), {} integration errors ({} alerted){}\n",
            r.code,
            r.run_id,
            r.state.as_str(),
            r.errors,
            r.alerts,
            if r.history > 0 {
                format!(", {} history records", r.history)
            } else {
                String::new()
            }
        ));
    }
    let c = report.calls;
    out.push_str(&format!(
        "\nAPI calls: {} ({} GET, {} POST, {} PUT, {} token)\n",
        c.total(),
        c.get,
        c.post,
        c.put,
        c.token
    ));
    for delivery in &report.deliveries {
        let channel = match &delivery.channel {
            Channel::Email { to } => format!("e-mail to {}", to.join(", ")),
            Channel::Webhook => "webhook".to_string(),
        };
        match &delivery.result {
            Ok(()) => out.push_str(&format!("Digest sent: {channel}\n")),
            Err(e) => out.push_str(&format!("Digest NOT sent ({channel}): {e}\n")),
        }
    }
    out
}

fn file_status(status: engine::store::CsvFileStatus) -> &'static str {
    use engine::store::CsvFileStatus::*;
    match status {
        Written => "written, upload not confirmed",
        Uploaded => "uploaded, waiting for Coupa's load",
        Loaded => "loaded by Coupa",
        NotUploaded => "not uploaded",
    }
}

/// A progress bar on stderr, only when stderr is a terminal.
struct Bar(Option<ProgressBar>);

impl Bar {
    fn new() -> Bar {
        Bar(std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::hidden();
            if let Ok(style) =
                ProgressStyle::with_template("{bar:40} {pos}/{len} people {elapsed} (eta {eta})")
            {
                bar.set_style(style);
            }
            bar
        }))
    }

    fn finish(&self) {
        if let Some(bar) = &self.0 {
            bar.finish_and_clear();
        }
    }
}

impl Progress for Bar {
    fn start(&self, people: usize) {
        if let Some(bar) = &self.0 {
            bar.set_length(people as u64);
            bar.set_draw_target(indicatif::ProgressDrawTarget::stderr());
        }
    }

    fn person_done(&self) {
        if let Some(bar) = &self.0 {
            bar.inc(1);
        }
    }
}
