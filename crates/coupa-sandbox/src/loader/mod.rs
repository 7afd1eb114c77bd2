//! Coupa's scheduled users loader: every `loader_interval` it takes the complete files waiting in
//! `/Incoming/Users`, in alphanumeric order, moves each to the archive before processing it (as
//! Coupa does), records it as a data file source, and loads it row by row through the store, so a
//! row obeys the same rules as an API write. A bad row fails alone; the good rows are committed.
//! A load that fails, or has any row error, is reported by e-mail to the sandbox's admin address.

mod file;
pub(crate) mod notice;
mod row;

use crate::data_sources::{DataFileSource, LoadStatus, RowError};
use crate::dropfolder::{ArchivedFile, DropFolderError, INCOMING_USERS};
use crate::server::AppState;
use crate::store::Refusal;
use crate::{Sandbox, SandboxConfig, SandboxError};
use coupa_wire::flatfile::MAX_BYTES;
use file::{FileProblem, Table};
use row::{Problem, Target};
use std::time::Duration;
use tokio::io::AsyncReadExt;
use tokio_util::sync::CancellationToken;

/// Default pause between two polls: Coupa polls every 3 to 6 minutes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// Default recipient of failure notices.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@coupa-sandbox.invalid";

/// One loader per sandbox; holding `turn` is running it, so a scheduled poll and a "run now" never
/// take the same file.
#[derive(Debug, Default)]
pub(crate) struct Loader {
    turn: tokio::sync::Mutex<()>,
}

/// Checks the loader's settings: a poll interval of at least a millisecond and an admin address
/// that is one plain address (it goes into an e-mail header).
pub(crate) fn check_settings(config: &SandboxConfig) -> Result<(), SandboxError> {
    if config.loader_interval < Duration::from_millis(1) {
        return Err(SandboxError::Config(
            "loader interval must be at least 1 millisecond".into(),
        ));
    }
    notice::check_address(&config.admin_email)
        .map_err(|m| SandboxError::Config(format!("admin e-mail {:?}: {m}", config.admin_email)))
}

impl Sandbox {
    /// Loads the files waiting in `/Incoming/Users` now, as the scheduled job does, and returns
    /// their loads in the order they ran. Needs the SFTP drop folder (`SandboxConfig::sftp`).
    pub async fn run_loader_once(&self) -> Result<Vec<DataFileSource>, SandboxError> {
        run(&self.state).await
    }
}

/// Polls every `loader_interval` until `shutdown`, when the sandbox has a drop folder.
pub(crate) fn spawn(state: &AppState, shutdown: &CancellationToken) {
    if state.sftp.is_none() {
        return;
    }
    let state = state.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(state.config.loader_interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => {
                    if let Err(e) = run(&state).await {
                        tracing::warn!(error = %e, "users loader: poll failed");
                    }
                }
            }
        }
    });
}

async fn run(state: &AppState) -> Result<Vec<DataFileSource>, SandboxError> {
    let folder = state
        .sftp
        .as_ref()
        .map(crate::sftp::Sftp::drop_folder)
        .ok_or_else(|| {
            SandboxError::Config(
                "the users loader reads the SFTP drop folder: start the sandbox with SFTP".into(),
            )
        })?;
    let _turn = state.loader.turn.lock().await;
    let waiting = folder
        .waiting_files()
        .await
        .map_err(|e| SandboxError::Data {
            path: INCOMING_USERS.into(),
            message: e.to_string(),
        })?;
    // Every file goes to the archive and gets its record before the first one loads, as a
    // connector polling for its files would see them queued.
    let mut taken = Vec::with_capacity(waiting.len());
    for file in waiting {
        match folder.archive(&file.name).await {
            Ok(archived) => {
                let load = state.data_sources.begin(&file.name, file.size).await;
                taken.push((load, archived));
            }
            // Removed since it was listed: nothing to load.
            Err(DropFolderError::NotFound { .. }) => {}
            Err(e) => {
                tracing::warn!(file = %file.name, error = %e, "users loader: cannot archive; will retry")
            }
        }
    }
    let mut loads = Vec::with_capacity(taken.len());
    for (load, archived) in taken {
        loads.push(load_file(state, load, &archived).await);
    }
    Ok(loads)
}

/// The counts and errors of a file's rows.
#[derive(Debug, Default)]
struct Tally {
    rows: i64,
    created: i64,
    updated: i64,
    errors: Vec<RowError>,
}

async fn load_file(
    state: &AppState,
    load: DataFileSource,
    archived: &ArchivedFile,
) -> DataFileSource {
    let id = load.id;
    let sources = &state.data_sources;
    sources
        .change(id, |l| {
            l.status = LoadStatus::Loading;
            l.start_time = Some(l.updated_at);
        })
        .await;
    let table = match read_archived(archived).await {
        Ok(bytes) => {
            let coupa = state.coupa.read();
            file::read(&bytes, &coupa.setup)
        }
        Err(problem) => Err(problem),
    };
    let finished = match table {
        Ok(table) => {
            let tally = apply_rows(state, &table).await;
            let errors = sources.upload_errors(tally.errors);
            sources
                .change(id, |l| {
                    l.status = LoadStatus::Done;
                    l.result_text = Some(format!(
                        "{} rows processed, creating {} new rows and updating {} rows.",
                        tally.rows, tally.created, tally.updated
                    ));
                    l.records_count = tally.rows;
                    l.records_created = tally.created;
                    l.records_updated = tally.updated;
                    l.upload_errors_count = errors.len() as i64;
                    l.upload_errors = errors;
                    l.end_time = Some(l.updated_at);
                })
                .await
        }
        Err(problem) => {
            let errors = sources.upload_errors(vec![RowError {
                row: problem.row,
                first_column: String::new(),
                field: problem.field,
                value: problem.value,
                messages: vec![problem.message.clone()],
            }]);
            sources
                .change(id, |l| {
                    l.status = LoadStatus::Failed;
                    l.result_text = Some(problem.message);
                    l.upload_errors_count = errors.len() as i64;
                    l.upload_errors = errors;
                    l.end_time = Some(l.updated_at);
                })
                .await
        }
    };
    let finished = finished.unwrap_or(load);
    tracing::info!(
        id,
        file = %finished.file_file_name,
        status = finished.status.name(),
        result = finished.result_text.as_deref().unwrap_or_default(),
        "users loader: file loaded"
    );
    if finished.status == LoadStatus::Failed || finished.upload_errors_count > 0 {
        notice::send(state, &finished, archived);
    }
    finished
}

/// The archived file's bytes, read no further than one byte past Coupa's size limit.
async fn read_archived(archived: &ArchivedFile) -> Result<Vec<u8>, FileProblem> {
    let unreadable = |e: std::io::Error| FileProblem {
        row: 0,
        field: "file".into(),
        value: archived.sftp_path.clone(),
        message: format!(
            "The file could not be read from {}: {e}",
            archived.sftp_path
        ),
    };
    let file = tokio::fs::File::open(&archived.path)
        .await
        .map_err(unreadable)?;
    let mut bytes = Vec::new();
    file.take(MAX_BYTES as u64 + 1)
        .read_to_end(&mut bytes)
        .await
        .map_err(unreadable)?;
    Ok(bytes)
}

/// Rows stored per SQLite transaction. A batch holds the writer lock, so this also bounds how long
/// an API write waits behind the loader.
const ROWS_PER_COMMIT: usize = 500;

/// Applies the rows in file order, so a later row sees an earlier one, in batches of
/// [`ROWS_PER_COMMIT`] stored in one transaction each. A row counts as created or updated only once
/// its batch is stored: a failed commit fails the rows it carried. The load's record gets its
/// counts after the last batch, so a sandbox stopped mid-file leaves a load still `loading` with no
/// row counted, which the restart marks failed ("rows may be partly applied"): no row is reported
/// loaded that was not stored, and the stored ones stay.
async fn apply_rows(state: &AppState, table: &Table) -> Tally {
    let mut tally = Tally::default();
    for rows in table.rows.chunks(ROWS_PER_COMMIT) {
        let mut batch = state.coupa.batch().await;
        // Each row's outcome: created (true) or updated, and whether it waits for the commit.
        let mut outcomes = Vec::with_capacity(rows.len());
        // Users created with `Generate Password And Notify User = Yes`, invited once stored.
        let mut invited = Vec::new();
        for row in rows {
            let prepared = row::prepare(&batch.read(), table, row);
            let outcome = match prepared {
                Ok(write) => match write.target {
                    Target::Create => {
                        let invite = (write.input.generate_password_and_notify == Some(true))
                            .then(|| write.input.clone());
                        let created = batch.create_user(write.input).map(|()| (true, true));
                        if created.is_ok() {
                            invited.extend(invite);
                        }
                        created
                    }
                    Target::Update(id) => batch
                        .update_user_from_row(id, write.input)
                        .map(|stored| (false, stored)),
                }
                .map_err(|refusal| refused(table, row, refusal)),
                Err(problems) => Err(problems),
            };
            outcomes.push((row, outcome));
        }
        let commit = batch.commit().await;
        if commit.is_ok() {
            for user in &invited {
                crate::invitation::send(state, user);
            }
        }
        for (row, outcome) in outcomes {
            tally.rows += 1;
            let outcome = match (outcome, &commit) {
                (Ok((_, true)), Err(message)) => {
                    Err(refused(table, row, Refusal::Storage(message.clone())))
                }
                (outcome, _) => outcome.map(|(created, _)| created),
            };
            match outcome {
                Ok(true) => tally.created += 1,
                Ok(false) => tally.updated += 1,
                Err(problems) => {
                    let first_column = row.cells.first().cloned().unwrap_or_default();
                    tally.errors.extend(problems.into_iter().map(|p| RowError {
                        row: row.number,
                        first_column: first_column.clone(),
                        field: p.field,
                        value: p.value,
                        messages: p.messages,
                    }));
                }
            }
        }
    }
    tally
}

fn refused(table: &Table, row: &file::Row, refusal: Refusal) -> Vec<Problem> {
    match refusal {
        Refusal::Invalid(messages) => row::attribute(table, row, messages),
        // The user matched a moment ago is gone (no user is ever deleted, so this is a restore).
        Refusal::NotFound => vec![base("The user this row matched no longer exists".into())],
        Refusal::Storage(m) => vec![base(format!("The row could not be saved: {m}"))],
    }
}

fn base(message: String) -> Problem {
    Problem {
        field: "base".into(),
        value: String::new(),
        messages: vec![message],
    }
}
