//! One run of the API path, end to end: the HR extract against the applied state (change
//! detection), batched `[in]` lookups in Coupa, the plan, the safety threshold, the calls, their
//! verification, the store (run, per-person changes with field verdicts, every call, the new
//! applied state) and one digest of the run's problems to the people who must act on them.
//!
//! In steady state a changed person costs one write: lookups go 50 people to a call, and the
//! verification reads the write's own answer.

mod connect;
pub(crate) mod record;

pub use connect::{ApiCalls, ConnectError, client};

use crate::apply::{self, PersonCalls};
use crate::config::{Config, Verify};
use crate::detect::{self, AppliedState, DetectOptions, Detection, Mode};
use crate::fields::Field;
use crate::hr::{self, FileError, RowError};
use crate::mapping::Mapping;
use crate::notify::{self, Delivery, Digest, Problem, ProblemKind};
use crate::plan::{self, Action, Lookup, Plan, PlanOptions};
use crate::report::{Reported, Reporter};
use crate::store::{
    ChangeRecord, Outcome, RunCounts, RunMode, RunRecord, RunStatus, Store, StoreError,
};
use crate::verify::verify;
use coupa_client::{Client, Query, Users};
use coupa_wire::User;
use std::collections::HashSet;
use std::sync::Arc;

/// How a run is asked to behave.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RunOptions {
    /// `Delta` looks at people whose HR data changed; `Full` compares everyone with Coupa.
    pub mode: Mode,
    /// Go on past a safety stop.
    pub force: bool,
    /// Plan only: lookups (GETs) but no write, no applied state, no notification.
    pub dry_run: bool,
    /// How changes reach Coupa: API calls, or users CSV files over SFTP (`crate::csv`).
    pub via: RunMode,
}

/// Told how the writes progress, for a progress bar.
pub trait Progress: Sync {
    /// Writes are about to be sent for this many people.
    fn start(&self, _people: usize) {}
    /// One more of them is done.
    fn person_done(&self) {}
}

/// No progress reporting.
#[derive(Debug, Clone, Copy, Default)]
pub struct Quiet;

impl Progress for Quiet {}

/// What a run did.
#[derive(Debug)]
pub struct RunReport {
    /// As stored when the run finished: status, counts, note.
    pub run: RunRecord,
    /// `None` when the run failed before it could plan.
    pub plan: Option<Plan>,
    pub hr_errors: Vec<RowError>,
    /// Every person recorded: HR rows in error, refusals, and everyone a call was made for.
    pub changes: Vec<ChangeRecord>,
    /// The run's own problems (a safety stop, an unreadable file, Coupa unreachable).
    pub run_problems: Vec<Problem>,
    pub calls: ApiCalls,
    /// The digest's deliveries (none for a run without problems, or a dry run).
    pub deliveries: Vec<Delivery>,
    /// The users files of a CSV run: this run's, and earlier runs' it waited for.
    pub csv: Option<crate::csv::CsvReport>,
    /// The run as reported into Coupa's Integrations APIs (`[integration]`), when it could be.
    pub integration: Option<Reported>,
}

impl RunReport {
    pub fn succeeded(&self) -> bool {
        self.run.status == RunStatus::Succeeded
    }

    /// People recorded with a problem.
    pub fn problem_changes(&self) -> Vec<&ChangeRecord> {
        self.changes.iter().filter(|c| c.has_problem()).collect()
    }
}

/// Why a run could not be recorded at all.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Connect(#[from] ConnectError),
}

/// What a run gathers as it goes; kept when it ends early.
pub(crate) struct Gathered {
    pub(crate) run_id: i64,
    pub(crate) plan: Option<Plan>,
    pub(crate) hr_errors: Vec<RowError>,
    pub(crate) changes: Vec<ChangeRecord>,
    pub(crate) counts: RunCounts,
    pub(crate) stop: Option<String>,
    pub(crate) csv: Option<crate::csv::CsvReport>,
    /// The integration run this run is reported in, when `[integration]` is set.
    pub(crate) report: Option<Reporter>,
    /// Problems of reporting into Coupa, for the digest.
    pub(crate) report_problems: Vec<Problem>,
}

/// Runs the API path once. Failures of the run itself (an unreadable HR file, Coupa unreachable)
/// end it as `failed` and go in the digest; only a store that cannot record it is an `Err`.
pub async fn run<S: Store + 'static>(
    config: &Config,
    store: Arc<S>,
    options: RunOptions,
    progress: &dyn Progress,
) -> Result<RunReport, RunError> {
    let applied = record::applied_state(store.applied_state().await?);
    let tally = Arc::new(connect::Tally::default());
    let run = store.begin_run(options.via, options.dry_run).await?;
    let hook = connect::call_log(store.clone(), run.id, tally.clone());
    let file = config.file.display().to_string();
    let client = match client(&config.coupa, &file, Some(hook)) {
        Ok(client) => client,
        Err(e) => {
            store
                .finish_run(
                    run.id,
                    RunStatus::Failed,
                    RunCounts::default(),
                    Some(e.to_string()),
                )
                .await?;
            return Err(e.into());
        }
    };
    let mut gathered = Gathered {
        run_id: run.id,
        plan: None,
        hr_errors: Vec::new(),
        changes: Vec::new(),
        counts: RunCounts::default(),
        stop: None,
        csv: None,
        report: None,
        report_problems: Vec::new(),
    };
    if let Some(integration) = config.integration.as_ref().filter(|_| !options.dry_run) {
        match Reporter::open(&client, integration, options.via).await {
            Ok(reporter) => {
                store.set_coupa_run(run.id, reporter.run_id()).await?;
                gathered.report = Some(reporter);
            }
            Err(problem) => gathered.report_problems.push(problem),
        }
    }
    let outcome = steps(
        config,
        &*store,
        &client,
        applied,
        options,
        progress,
        &mut gathered,
    )
    .await;
    drop(client);

    let mut run_problems = std::mem::take(&mut gathered.report_problems);
    let (status, note) = match outcome {
        Err(problem) => {
            let note = problem.coupa_message.clone();
            run_problems.push(problem);
            (RunStatus::Failed, Some(note))
        }
        Ok(()) => match gathered.stop.take() {
            Some(stop) => {
                run_problems.push(Problem::run_level(ProblemKind::Technical, stop.clone()));
                (RunStatus::Stopped, Some(stop))
            }
            None if gathered.counts.failed > 0 => {
                let c = &gathered.counts;
                (
                    RunStatus::Failed,
                    Some(format!("{} of {} people failed", c.failed, c.people)),
                )
            }
            None => (RunStatus::Succeeded, None),
        },
    };
    let finished = store
        .finish_run(gathered.run_id, status, gathered.counts, note)
        .await?;
    let mut digest = Digest::new(&finished, &gathered.changes, run_problems.clone());
    let mut integration = None;
    if let Some(reporter) = gathered.report.take() {
        let succeeded = finished.status == RunStatus::Succeeded;
        let (reported, problems) = reporter.finish(&digest, &gathered.changes, succeeded).await;
        integration = Some(reported);
        // Reporting's own failures reach the people who run coupa-sync, after the run's.
        digest
            .problems
            .splice(run_problems.len()..run_problems.len(), problems.clone());
        run_problems.extend(problems);
    }
    let deliveries = if options.dry_run {
        Vec::new()
    } else {
        notify::send(&config.notify, &digest).await
    };
    for delivery in &deliveries {
        if let Err(e) = &delivery.result {
            tracing::warn!(error = %e, "the run's digest was not delivered");
        }
    }
    Ok(RunReport {
        run: finished,
        plan: gathered.plan,
        hr_errors: gathered.hr_errors,
        changes: gathered.changes,
        run_problems,
        calls: tally.read(),
        deliveries,
        csv: gathered.csv,
        integration,
    })
}

/// The run's steps, from the HR file to the applied state; a run-level problem ends them.
async fn steps<S: Store>(
    config: &Config,
    store: &S,
    client: &Client,
    applied: AppliedState,
    options: RunOptions,
    progress: &dyn Progress,
    out: &mut Gathered,
) -> Result<(), Problem> {
    let run_id = out.run_id;
    let users = &client.users();
    // The CSV path first settles the files earlier runs left waiting; their people wait too.
    let waiting = match options.via {
        RunMode::Csv => crate::csv::resume(config, store, client, options.dry_run, out).await?,
        RunMode::Api => HashSet::new(),
    };
    let (detection, mapping, applied) = detect_changes(config, applied, options.mode).await?;
    let population = detection.population();
    let Detection {
        mut changes,
        unchanged,
        errors,
        ..
    } = detection;
    changes.retain(|c| !waiting.contains(&c.hr_key));
    out.counts.unchanged += count(unchanged);
    out.counts.people += count(unchanged);
    for error in &errors {
        let change = record::row_error(run_id, error);
        store.record_change(change.clone());
        out.changes.push(change);
        out.counts.people += 1;
        out.counts.failed += 1;
    }
    out.hr_errors = errors;

    let found = look_up(users, &changes, mapping.match_field()).await?;
    let plan = plan::build(
        changes,
        population,
        &found,
        &PlanOptions::new(config, &mapping),
    );

    if let Err(stop) = plan.ensure_safe(options.force) {
        // Nobody planned was handled: the counts keep only the unchanged and the rows in error.
        out.stop = Some(stop.to_string());
        out.plan = Some(plan);
        return Ok(());
    }
    if let Some(reporter) = &mut out.report
        && let Err(problem) = reporter.running(plan.people.len()).await
    {
        out.report_problems.push(problem);
    }
    if options.via == RunMode::Csv {
        let csv = crate::csv::apply(
            config,
            store,
            client,
            &plan,
            &found,
            &applied,
            options.dry_run,
            progress,
            out,
        )
        .await;
        out.plan = Some(plan);
        return csv;
    }
    if options.dry_run {
        for person in &plan.people {
            if !matches!(person.action, Action::Nothing { .. }) {
                let change = record::unsent(run_id, person);
                store.record_change(change.clone());
                out.changes.push(change);
            }
            tally(&mut out.counts, &person.action, None);
        }
        out.plan = Some(plan);
        return Ok(());
    }

    let calls = plan.calls();
    let writing = plan
        .people
        .iter()
        .filter(|p| !matches!(p.action, Action::Nothing { .. } | Action::Error { .. }))
        .count();
    progress.start(writing);
    let concurrency = usize::try_from(config.sync.concurrency).unwrap_or(1);
    let reread = config.sync.verify == Verify::Reread;
    let sent = apply::apply(users, calls, concurrency, reread, &|_| {
        progress.person_done()
    })
    .await;

    let options = PlanOptions::new(config, &mapping);
    let mut sent = sent.into_iter().peekable();
    let mut state = Vec::new();
    for (i, person) in plan.people.iter().enumerate() {
        let calls: Option<PersonCalls> = sent.next_if(|c| c.person == i);
        let change = match (&person.action, calls) {
            (Action::Nothing { .. }, _) => None,
            (_, Some(calls)) => Some(verify(run_id, person, &calls, &options.managed)),
            (_, None) => Some(record::unsent(run_id, person)),
        };
        let outcome = change.as_ref().map(|c| c.outcome);
        tally(&mut out.counts, &person.action, outcome);
        if outcome.is_none_or(|o| o == Outcome::Applied)
            && let Some(kept) = person.applied_after(applied.get(&person.hr_key))
        {
            let coupa_id = change
                .as_ref()
                .and_then(|c| c.coupa_id)
                .or(person.coupa_id());
            state.push(record::applied_record(&person.hr_key, &kept, coupa_id));
        }
        if let Some(change) = change {
            store.record_change(change.clone());
            out.changes.push(change);
        }
    }
    store.save_applied(state);
    out.plan = Some(plan);
    Ok(())
}

fn count(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// Adds one planned person to the counts: by action once applied, as failed otherwise.
fn tally(counts: &mut RunCounts, action: &Action, outcome: Option<Outcome>) {
    counts.people += 1;
    match (action, outcome) {
        (Action::Error { .. }, _) | (_, Some(Outcome::Failed)) => counts.failed += 1,
        (Action::Nothing { .. }, _) => counts.unchanged += 1,
        // A dry run applies nothing: its people are counted as they are planned.
        (Action::Create { .. }, _) => counts.created += 1,
        (Action::Update { .. }, _) => counts.updated += 1,
        (Action::Reactivate { .. }, _) => counts.reactivated += 1,
        (Action::Deactivate { .. }, _) => counts.deactivated += 1,
    }
}

/// Reads the HR extract and compares it with the applied state. Reading and comparing 100,000 rows
/// is CPU work, done off the async threads.
async fn detect_changes(
    config: &Config,
    applied: AppliedState,
    mode: Mode,
) -> Result<(Detection, Mapping, AppliedState), Problem> {
    let mapping = Mapping::new(config);
    let source = hr::open(&config.hr, mapping.columns()).map_err(|e| file_problem(&e))?;
    let options = DetectOptions {
        mode,
        missing: config.hr.missing,
    };
    let joined = tokio::task::spawn_blocking(move || {
        let detection = detect::detect(&mapping, mapping.read(source), &applied, options);
        (detection, mapping, applied)
    })
    .await;
    match joined {
        Ok((Ok(detection), mapping, applied)) => Ok((detection, mapping, applied)),
        Ok((Err(e), ..)) => Err(file_problem(&e)),
        Err(e) => Err(Problem::run_level(
            ProblemKind::Technical,
            format!("change detection stopped: {e}"),
        )),
    }
}

/// A file that cannot be opened or read is for whoever runs coupa-sync; a header that lacks mapped
/// columns is for whoever produces the extract.
fn file_problem(e: &FileError) -> Problem {
    let kind = match e {
        FileError::Open { .. } | FileError::Read { .. } => ProblemKind::Technical,
        FileError::Header { .. } | FileError::MissingColumns { .. } => ProblemKind::Data,
    };
    Problem::run_level(kind, e.to_string())
}

/// The Coupa users the plan needs: every affected person by the match field, then the new logins,
/// e-mails and employee numbers Coupa does not hold for them yet (to see collisions before sending).
async fn look_up(
    users: &Users,
    changes: &[detect::Change],
    match_field: &Field,
) -> Result<Vec<User>, Problem> {
    let mut found = find(users, &plan::match_lookup(changes, match_field)).await?;
    for lookup in plan::key_lookups(changes, &found, match_field) {
        let more = find(users, &lookup).await?;
        found.extend(more);
    }
    Ok(found)
}

async fn find(users: &Users, lookup: &Lookup) -> Result<Vec<User>, Problem> {
    if lookup.is_empty() {
        return Ok(Vec::new());
    }
    users
        .find_by(&query_name(&lookup.field), &lookup.values)
        .await
        .map_err(|e| {
            Problem::run_level(
                ProblemKind::Technical,
                format!("looking users up in Coupa by {} failed: {e}", lookup.field),
            )
        })
}

/// A field as Coupa's query syntax writes it (`employee_number`, `custom_fields[badge]`).
fn query_name(field: &Field) -> String {
    let rendered = Query::new().eq(&field.query_path(), "").to_query_string();
    rendered.trim_end_matches('=').to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lookups_name_fields_as_coupa_queries_do() {
        assert_eq!(query_name(&Field::EMPLOYEE_NUMBER), "employee_number");
        assert_eq!(query_name(&Field::LOGIN), "login");
        let badge: Field = "custom-fields.badge".parse().unwrap();
        assert_eq!(query_name(&badge), "custom_fields[badge]");
    }
}
