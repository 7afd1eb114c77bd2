//! The flat-file path's part of a run. Before planning, files that earlier runs left waiting are
//! settled: their loads awaited, their rows judged, their people's applied state kept. After
//! planning, the plan's users files are recorded in the store (name, rows → people), uploaded one by
//! one, awaited, and judged the same way. A file is recorded before its upload and never written
//! again under another name, so a run that is left and started again waits for it instead of
//! uploading it twice.

use super::files::{self, Batch, FileRow, Layout, UsersFile};
use super::monitor::{self, Patience};
use super::outcome::{self, ReadBack};
use crate::config::Config;
use crate::detect::AppliedState;
use crate::fields::Field;
use crate::mapping::Mapping;
use crate::notify::{Problem, ProblemKind};
use crate::plan::{Action, Plan};
use crate::run::{Gathered, Progress, record};
use crate::sftp::{LocalFile, SftpTarget, SftpUploader};
use crate::store::{
    ChangeRecord, CsvFileRecord, CsvFileStatus, Outcome, RunCounts, Store, StoreError,
};
use chrono::Utc;
use coupa_client::Client;
use coupa_wire::User;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// The users files a run handled.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CsvReport {
    /// Files of earlier runs this run settled or found still waiting.
    pub resumed: Vec<FileSummary>,
    /// This run's files (for a dry run, the files it would upload, with their content).
    pub files: Vec<FileSummary>,
}

/// One users file, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FileSummary {
    pub name: String,
    pub rows: usize,
    /// Its size, when this run wrote it.
    pub bytes: Option<usize>,
    pub status: CsvFileStatus,
    /// Coupa's result text, or why the file was not uploaded or is still waiting.
    pub note: Option<String>,
    /// The file itself, for a dry run.
    pub content: Option<String>,
}

/// What the flat-file path needs from the configuration, checked before anything is done.
struct Settings {
    layout: Layout,
    target: Option<SftpTarget>,
    patience: Patience,
    managed: BTreeMap<Field, BTreeSet<String>>,
}

impl Settings {
    /// Fails with a message for whoever runs coupa-sync.
    fn new(config: &Config, dry_run: bool) -> Result<Settings, String> {
        let layout = Layout::new(config)?;
        let target = match (&config.sftp, dry_run) {
            (Some(sftp), _) => Some(sftp.target().map_err(|(key, m)| format!("{key}: {m}"))?),
            (None, true) => None,
            (None, false) => {
                return Err(format!(
                    "{}: the CSV path needs an [sftp] section: Coupa's SFTP server, user and host key",
                    config.file.display()
                ));
            }
        };
        Ok(Settings {
            layout,
            target,
            patience: Patience {
                timeout: config.csv.load_timeout(),
                poll: config.csv.poll_interval(),
            },
            managed: Mapping::new(config).managed_sets(),
        })
    }
}

/// Whether the configuration can run the flat-file path: `[sftp]` (unless `dry_run`), and a column
/// header for every mapped custom field. The message names the section to fix.
pub fn check_settings(config: &Config, dry_run: bool) -> Result<(), String> {
    Settings::new(config, dry_run).map(|_| ())
}

fn store_problem(e: &StoreError) -> Problem {
    Problem::run_level(ProblemKind::Technical, e.to_string())
}

/// A file record with its rows read back from the store.
struct Open {
    record: CsvFileRecord,
    rows: Vec<FileRow>,
}

/// Settles the files earlier runs left waiting, before this run plans. Returns the HR keys of the
/// people this run has recorded from those files (judged, or still waiting): it leaves them out of
/// its plan, so a row Coupa just refused is not sent again at once, and a row still waiting is not
/// sent twice; the next run plans them as usual (each person is counted once: the applied state
/// saved for them is read by the next run). People of a file found never uploaded are planned by
/// this run. A dry run only reports the waiting files.
pub(crate) async fn resume<S: Store>(
    config: &Config,
    store: &S,
    client: &Client,
    dry_run: bool,
    out: &mut Gathered,
) -> Result<HashSet<String>, Problem> {
    let settings = Settings::new(config, dry_run)
        .map_err(|m| Problem::run_level(ProblemKind::Technical, m))?;
    let records = store
        .open_csv_files()
        .await
        .map_err(|e| store_problem(&e))?;
    if records.is_empty() {
        return Ok(HashSet::new());
    }
    let mut open = Vec::new();
    for mut record in records {
        match serde_json::from_value::<Vec<FileRow>>(std::mem::take(&mut record.rows)) {
            Ok(rows) => open.push(Open { record, rows }),
            Err(e) => {
                return Err(Problem::run_level(
                    ProblemKind::Technical,
                    format!(
                        "the store's record of {} cannot be read ({e}); nothing is planned until it is fixed",
                        record.name
                    ),
                ));
            }
        }
    }
    if dry_run {
        let waiting = open
            .iter()
            .flat_map(|o| o.rows.iter().map(|r| r.hr_key.clone()))
            .collect();
        out.csv.get_or_insert_with(CsvReport::default).resumed =
            open.iter().map(|o| summary(&o.record)).collect();
        return Ok(waiting);
    }
    let settled = settle(store, client, &settings, open, out).await?;
    out.csv.get_or_insert_with(CsvReport::default).resumed = settled.files;
    Ok(settled.handled)
}

/// Writes, records, uploads, awaits and judges the users files of `plan`; for a dry run, only
/// writes them for people to see. `found` are the Coupa users the plan was built against.
#[allow(clippy::too_many_arguments)] // the run's parts, each used once
pub(crate) async fn apply<S: Store>(
    config: &Config,
    store: &S,
    client: &Client,
    plan: &Plan,
    found: &[User],
    applied: &AppliedState,
    dry_run: bool,
    progress: &dyn Progress,
    out: &mut Gathered,
) -> Result<(), Problem> {
    let settings = Settings::new(config, dry_run)
        .map_err(|m| Problem::run_level(ProblemKind::Technical, m))?;
    let run_id = out.run_id;
    let newest = store
        .last_csv_file_name()
        .await
        .map_err(|e| store_problem(&e))?;
    let stamp = files::next_stamp(Utc::now(), newest.as_deref());
    let batch = files::write(plan, found, &settings.layout, &stamp);

    // People without a row (nothing to do, refused by the plan or by the writer), and a dry run's.
    let refused: BTreeMap<usize, &str> = batch
        .refused
        .iter()
        .map(|r| (r.person, r.message.as_str()))
        .collect();
    let mut up_to_date = Vec::new();
    for (i, person) in plan.people.iter().enumerate() {
        let change = match (&person.action, refused.get(&i)) {
            (Action::Nothing { .. }, _) => {
                count(&mut out.counts, "nothing", Outcome::Skipped);
                if let Some(kept) = person.applied_after(applied.get(&person.hr_key)) {
                    up_to_date.push(record::applied_record(
                        &person.hr_key,
                        &kept,
                        person.coupa_id(),
                    ));
                }
                continue;
            }
            (Action::Error { .. }, _) => record::unsent(run_id, person),
            (_, Some(message)) => {
                let mut change = record::unsent(run_id, person);
                change.outcome = Outcome::Failed;
                change.errors.push((*message).to_string());
                change
            }
            // A dry run's people are counted as planned.
            (_, None) if dry_run => record::unsent(run_id, person),
            // Recorded once their file is settled.
            (_, None) => continue,
        };
        keep(store, &mut out.counts, &mut out.changes, change);
    }
    if !dry_run {
        store.save_applied(up_to_date);
    }

    if dry_run {
        out.csv.get_or_insert_with(CsvReport::default).files = batch
            .files
            .iter()
            .map(|f| FileSummary {
                name: f.name.clone(),
                rows: f.rows.len(),
                bytes: Some(f.content.len()),
                status: CsvFileStatus::Written,
                note: None,
                content: Some(String::from_utf8_lossy(&f.content).into_owned()),
            })
            .collect();
        return Ok(());
    }
    if batch.files.is_empty() {
        return Ok(());
    }
    let batch_rows = batch.rows();
    progress.start(batch_rows);
    let Batch { files, .. } = batch;
    let mut open = Vec::with_capacity(files.len());
    for file in &files {
        let rows: Vec<FileRow> = file
            .rows
            .iter()
            .map(|row| FileRow::of(plan, row, applied))
            .collect();
        let mut record = file_record(run_id, file, &rows).map_err(|m| {
            Problem::run_level(ProblemKind::Technical, format!("{}: {m}", file.name))
        })?;
        store
            .save_csv_file(&record)
            .await
            .map_err(|e| store_problem(&e))?;
        // Saved for good; later saves keep them.
        record.rows = serde_json::Value::Null;
        open.push(Open { record, rows });
    }
    upload(store, settings.target.as_ref(), &files, &mut open).await?;
    for o in open
        .iter()
        .filter(|o| o.record.status == CsvFileStatus::NotUploaded)
    {
        let why = o.record.note.clone().unwrap_or_default();
        for row in &o.rows {
            let change = outcome::unsettled(
                run_id,
                row,
                why.clone(),
                &format!("not sent: {} was not uploaded", o.record.name),
            );
            keep(store, &mut out.counts, &mut out.changes, change);
        }
    }
    let settled = settle(store, client, &settings, open, out).await?;
    let report = out.csv.get_or_insert_with(CsvReport::default);
    report.files = settled.files;
    for (summary, file) in report.files.iter_mut().zip(&files) {
        summary.bytes = Some(file.content.len());
    }
    for _ in 0..batch_rows {
        progress.person_done();
    }
    Ok(())
}

fn file_record(run_id: i64, file: &UsersFile, rows: &[FileRow]) -> Result<CsvFileRecord, String> {
    Ok(CsvFileRecord {
        name: file.name.clone(),
        run_id,
        status: CsvFileStatus::Written,
        written_at: Utc::now(),
        uploaded_at: None,
        finished_at: None,
        row_count: u32::try_from(rows.len()).map_err(|e| e.to_string())?,
        rows: serde_json::to_value(rows).map_err(|e| e.to_string())?,
        note: None,
    })
}

/// Uploads the files in name order, recording each as uploaded the moment it is in Coupa's
/// folder. The first failure stops the batch: that file and the ones after it are recorded as not
/// uploaded (their people are planned again by the next run), unless the folder shows the file
/// arrived after all.
async fn upload<S: Store>(
    store: &S,
    target: Option<&SftpTarget>,
    files: &[UsersFile],
    open: &mut [Open],
) -> Result<(), Problem> {
    let Some(target) = target else {
        return Ok(());
    };
    let failure = match SftpUploader::connect(target).await {
        Err(e) => Some((0, e.to_string())),
        Ok(uploader) => {
            let mut failure = None;
            for (i, file) in files.iter().enumerate() {
                let local = LocalFile::from_bytes(file.name.clone(), file.content.clone());
                let Err(e) = uploader.upload_file(&local).await else {
                    mark_uploaded(store, &mut open[i].record).await?;
                    continue;
                };
                // A failure after the rename leaves the file in place, and Coupa loads it.
                let arrived = uploader.list().await.map(|listed| {
                    listed
                        .iter()
                        .any(|r| r.name == file.name && !r.is_partial())
                });
                match arrived {
                    Ok(true) => mark_uploaded(store, &mut open[i].record).await?,
                    Ok(false) => {
                        failure = Some((i, e.to_string()));
                        break;
                    }
                    // Whether it arrived is unknown: it stays `written`, and the next run finds
                    // out before planning its people again.
                    Err(_) => {
                        open[i].record.note = Some(e.to_string());
                        failure = Some((i + 1, e.to_string()));
                        break;
                    }
                }
            }
            uploader.close().await;
            failure
        }
    };
    if let Some((first, error)) = failure {
        for o in &mut open[first..] {
            if o.record.status == CsvFileStatus::Written {
                o.record.status = CsvFileStatus::NotUploaded;
                o.record.finished_at = Some(Utc::now());
                o.record.note = Some(format!("not uploaded: {error}"));
                store
                    .save_csv_file(&o.record)
                    .await
                    .map_err(|e| store_problem(&e))?;
            }
        }
    }
    Ok(())
}

async fn mark_uploaded<S: Store>(store: &S, record: &mut CsvFileRecord) -> Result<(), Problem> {
    record.status = CsvFileStatus::Uploaded;
    record.uploaded_at = Some(Utc::now());
    record.note = None;
    store
        .save_csv_file(record)
        .await
        .map_err(|e| store_problem(&e))
}

/// What settling a set of files found.
struct Settled {
    files: Vec<FileSummary>,
    /// People recorded from files that reached Coupa (judged, or still waiting for the load).
    handled: HashSet<String>,
}

/// Finds out what became of each file: a `written` file that Coupa's folder does not hold and Coupa
/// never loaded was not uploaded; the others are awaited, and each row of a loaded file is judged.
/// Every person gets a change record in this run; the verified ones get their applied state.
async fn settle<S: Store>(
    store: &S,
    client: &Client,
    settings: &Settings,
    mut open: Vec<Open>,
    out: &mut Gathered,
) -> Result<Settled, Problem> {
    let run_id = out.run_id;
    let folder = settings
        .target
        .as_ref()
        .map_or(crate::sftp::DEFAULT_REMOTE_FOLDER, |t| {
            t.remote_folder.as_str()
        })
        .to_string();
    let sources = client.data_file_sources();
    check_written(
        store,
        &sources,
        settings.target.as_ref(),
        &folder,
        &mut open,
    )
    .await?;

    let names: Vec<String> = open
        .iter()
        .filter(|o| o.record.status.is_open())
        .map(|o| o.record.name.clone())
        .collect();
    let loads = monitor::wait(&sources, &folder, &names, settings.patience).await;
    let loaded_rows = open
        .iter()
        .filter(|o| loads.finished.contains_key(&o.record.name))
        .flat_map(|o| o.rows.iter());
    let read_back = ReadBack::fetch(&client.users(), loaded_rows)
        .await
        .map_err(|e| e.to_string());

    let mut settled = Settled {
        files: Vec::new(),
        handled: HashSet::new(),
    };
    for o in &mut open {
        let name = o.record.name.clone();
        if o.record.status == CsvFileStatus::NotUploaded {
            // Its people were recorded when its upload failed, or are planned again by this run.
        } else if let Some(load) = loads.finished.get(&name) {
            let judged = outcome::judge_rows(
                run_id,
                &name,
                load,
                &o.rows,
                &settings.layout,
                read_back.as_ref().map_err(String::as_str),
                &settings.managed,
            );
            let mut state = Vec::new();
            for judged in judged {
                settled.handled.insert(judged.row.hr_key.clone());
                if judged.change.outcome == Outcome::Applied
                    && let Some(kept) = &judged.row.applied
                {
                    state.push(record::applied_record(
                        &judged.row.hr_key,
                        kept,
                        judged.change.coupa_id,
                    ));
                }
                keep(store, &mut out.counts, &mut out.changes, judged.change);
            }
            store.save_applied(state);
            o.record.status = CsvFileStatus::Loaded;
            o.record.finished_at = Some(Utc::now());
            o.record.note = Some(load_note(load));
            store
                .save_csv_file(&o.record)
                .await
                .map_err(|e| store_problem(&e))?;
        } else {
            let seen = loads.waiting.get(&name).cloned().flatten();
            let why = waiting_note(
                &name,
                seen.as_deref(),
                settings,
                loads.last_error.as_deref(),
            );
            for row in &o.rows {
                settled.handled.insert(row.hr_key.clone());
                let change = outcome::unsettled(
                    run_id,
                    row,
                    why.clone(),
                    "pending: waiting for Coupa's load",
                );
                keep(store, &mut out.counts, &mut out.changes, change);
            }
            o.record.note = Some(why);
            // The note is for this run's report; the record stays open for the next run.
            store
                .save_csv_file(&o.record)
                .await
                .map_err(|e| store_problem(&e))?;
        }
        settled.files.push(summary(&o.record));
    }
    Ok(settled)
}

/// For files recorded as written but not known to be uploaded (the run stopped, or an upload
/// failed in a way that left it unclear): in Coupa's folder, or already loaded, means uploaded;
/// neither means not uploaded. Without a way to look (no SFTP), they stay open.
async fn check_written<S: Store>(
    store: &S,
    sources: &coupa_client::DataFileSources,
    target: Option<&SftpTarget>,
    folder: &str,
    open: &mut [Open],
) -> Result<(), Problem> {
    if !open
        .iter()
        .any(|o| o.record.status == CsvFileStatus::Written)
    {
        return Ok(());
    }
    let listed = match target {
        Some(target) => match SftpUploader::connect(target).await {
            Ok(uploader) => {
                let listed = uploader.list().await;
                uploader.close().await;
                listed.ok()
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot look into Coupa's SFTP folder for files whose upload is unconfirmed");
                None
            }
        },
        None => None,
    };
    let Some(listed) = listed else {
        return Ok(());
    };
    for o in open
        .iter_mut()
        .filter(|o| o.record.status == CsvFileStatus::Written)
    {
        let in_folder = listed.iter().any(|r| r.name == o.record.name);
        let loaded = match sources.query(monitor::query_for(&o.record.name)).await {
            Ok(found) => found.iter().any(|s| s.is_load_of(folder, &o.record.name)),
            // Unknown: leave it open.
            Err(_) => continue,
        };
        if in_folder || loaded {
            mark_uploaded(store, &mut o.record).await?;
        } else {
            o.record.status = CsvFileStatus::NotUploaded;
            o.record.finished_at = Some(Utc::now());
            o.record.note = Some(
                "not uploaded: an earlier run stopped before its upload finished; its people are planned again"
                    .into(),
            );
            store
                .save_csv_file(&o.record)
                .await
                .map_err(|e| store_problem(&e))?;
        }
    }
    Ok(())
}

fn waiting_note(
    name: &str,
    status: Option<&str>,
    settings: &Settings,
    last_error: Option<&str>,
) -> String {
    let mut why = format!(
        "Coupa has not loaded {name} within {} s",
        settings.patience.timeout.as_secs()
    );
    match status {
        Some(status) => why.push_str(&format!(" (its load is {status:?})")),
        None => why.push_str(" (no load of it is listed yet)"),
    }
    if let Some(e) = last_error {
        why.push_str(&format!("; the last question to Coupa failed: {e}"));
    }
    why.push_str(
        "; run coupa-sync sync --mode csv again to resume waiting (the file is not uploaded again)",
    );
    why
}

fn load_note(load: &coupa_client::DataFileSource) -> String {
    let status = load.status.as_deref().unwrap_or("finished");
    match &load.result_text {
        Some(text) => format!("{status}: {text}"),
        None => status.to_string(),
    }
}

fn summary(record: &CsvFileRecord) -> FileSummary {
    FileSummary {
        name: record.name.clone(),
        rows: record.row_count as usize,
        bytes: None,
        status: record.status,
        note: record.note.clone(),
        content: None,
    }
}

/// Records one person's change and counts it.
fn keep<S: Store>(
    store: &S,
    counts: &mut RunCounts,
    changes: &mut Vec<ChangeRecord>,
    change: ChangeRecord,
) {
    count(counts, &change.action, change.outcome);
    store.record_change(change.clone());
    changes.push(change);
}

/// Counts one person: by their action once applied, as failed otherwise.
fn count(counts: &mut RunCounts, action: &str, outcome: Outcome) {
    counts.people += 1;
    match (outcome, action) {
        (Outcome::Failed, _) => counts.failed += 1,
        (_, "create") => counts.created += 1,
        (_, "update") => counts.updated += 1,
        (_, "reactivate") => counts.reactivated += 1,
        (_, "deactivate") => counts.deactivated += 1,
        _ => counts.unchanged += 1,
    }
}
