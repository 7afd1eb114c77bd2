//! `coupa-sync log`: what the store recorded. The last run by default; `--run N` for another,
//! `--person KEY` for one person's history, `--list` for recent runs; `--errors` keeps only people
//! with problems, `--calls` adds the run's API calls, `--json` prints the records as JSON.

use crate::Failure;
use crate::common::{ConfigArg, close_store, open_store, runtime};
use anyhow::anyhow;
use engine::config::StoreBackend;
use engine::store::Store;
use engine::store::report::{self, PersonLog, RunLog};

#[derive(Debug, clap::Args)]
pub struct Args {
    #[command(flatten)]
    pub config: ConfigArg,
    /// Show this run instead of the last one.
    #[arg(long, value_name = "N", conflicts_with_all = ["person", "list"])]
    pub run: Option<i64>,
    /// Show one person's changes across runs, by HR key.
    #[arg(long, value_name = "KEY", conflicts_with = "list")]
    pub person: Option<String>,
    /// List the most recent runs.
    #[arg(long)]
    pub list: bool,
    /// Only people with problems (failed, refused or ignored fields, technical errors).
    #[arg(long)]
    pub errors: bool,
    /// Also list the run's API calls.
    #[arg(long)]
    pub calls: bool,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

pub async fn run(args: Args) -> Result<(), Failure> {
    let config = args.config.load_offline()?;
    if let StoreBackend::Sqlite(path) = config.store.backend()
        && !path.exists()
    {
        println!("No runs recorded yet: {} does not exist.", path.display());
        return Ok(());
    }
    let store = open_store(&config).await?;
    let text = show(&*store, &args).await;
    close_store(store).await?;
    print!("{}", text?);
    Ok(())
}

async fn show(store: &impl Store, args: &Args) -> Result<String, Failure> {
    if let Some(key) = &args.person {
        let mut history = store.person_history(key).await.map_err(runtime)?;
        if args.errors {
            history.retain(|h| h.change.has_problem());
        }
        return Ok(if args.json {
            report::json(&PersonLog {
                hr_key: key,
                history: &history,
            }) + "\n"
        } else {
            report::person_report(key, &history)
        });
    }
    if args.list {
        let runs = store.recent_runs(20).await.map_err(runtime)?;
        return Ok(if args.json {
            report::json(&runs) + "\n"
        } else {
            report::runs_table(&runs)
        });
    }
    let run = match args.run {
        Some(id) => store
            .run(id)
            .await
            .map_err(runtime)?
            .ok_or_else(|| Failure::Runtime(anyhow!("no run {id} in the store")))?,
        None => match store.last_run().await.map_err(runtime)? {
            Some(run) => run,
            None => return Ok("No runs recorded yet.\n".into()),
        },
    };
    let changes = store
        .changes_for_run(run.id, args.errors)
        .await
        .map_err(runtime)?;
    let calls = if args.calls {
        Some(store.calls_for_run(run.id).await.map_err(runtime)?)
    } else {
        None
    };
    if args.json {
        return Ok(report::json(&RunLog {
            run: &run,
            changes: &changes,
            calls: calls.as_deref(),
        }) + "\n");
    }
    let mut out = report::run_report(&run, &changes);
    if let Some(calls) = &calls {
        out.push_str(&format!("\nAPI calls of run {}:\n", run.id));
        out.push_str(&report::calls_table(calls));
    }
    Ok(out)
}
