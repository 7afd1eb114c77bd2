//! Coupa's data file sources: one record per flat file the loader took, with its status, counts and
//! row errors, kept in memory and (with a data folder) in SQLite beside the users.
//!
//! Read through `GET /api/data_file_sources` ([`api`]) and the `/data_sources` page ([`page`]).

mod api;
mod page;

pub(crate) use api::routes;
pub(crate) use page::{escape, routes as page_routes};

use crate::SandboxError;
use crate::persist::Db;
use crate::store::now;
use chrono::{DateTime, FixedOffset};
use coupa_wire::UserRef;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Mutex, PoisonError};

/// Where a load is. Coupa documents more states (Retrying, Paused…); the sandbox's loader passes
/// through these four, spelled in lowercase as Coupa's samples show them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LoadStatus {
    /// The file is in the archive, waiting for its turn.
    Pending,
    Loading,
    /// The file was read and every row tried; some rows may have failed (see `upload-errors`).
    Done,
    /// The file could not be loaded at all (encoding, size, header, malformed CSV).
    Failed,
}

impl LoadStatus {
    pub fn name(self) -> &'static str {
        match self {
            LoadStatus::Pending => "pending",
            LoadStatus::Loading => "loading",
            LoadStatus::Done => "done",
            LoadStatus::Failed => "failed",
        }
    }
}

/// One load of one flat file, with Coupa's `DataFileSource` elements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct DataFileSource {
    pub id: i64,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    /// Always `DataFileSource`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Always `User`: the sandbox loads users files only.
    pub source_for: String,
    pub status: LoadStatus,
    /// `_Incoming_Users_<name as uploaded>`, as Coupa names files taken from SFTP.
    pub file_file_name: String,
    pub file_content_type: String,
    /// The size in bytes, as text (Coupa's type).
    pub file_file_size: String,
    /// `N rows processed, creating X new rows and updating Y rows.`, or why the file failed.
    pub result_text: Option<String>,
    pub start_time: Option<DateTime<FixedOffset>>,
    pub end_time: Option<DateTime<FixedOffset>>,
    /// Data rows read (the header is not counted).
    pub records_count: i64,
    pub records_created: i64,
    pub records_updated: i64,
    /// The number of `upload-errors` (one per row and field in error).
    pub upload_errors_count: i64,
    /// Coupa links a load to an integration run; the sandbox's loads have none.
    pub integration_id: Option<i64>,
    pub integration_run_id: Option<i64>,
    pub created_by: UserRef,
    pub updated_by: UserRef,
    pub upload_errors: Vec<UploadError>,
}

/// One row's error on one field (Coupa's `UploadRowError`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct UploadError {
    pub id: i64,
    pub created_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    /// Always `UploadRowError`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The record's position in the file, the header being row 1 (as a spreadsheet shows it); 1 for a
    /// header problem, 0 for a problem with the whole file (size, encoding, malformed CSV).
    pub row: i64,
    /// The row's first cell, so a person can find the row.
    pub first_column: String,
    /// The API element in error (`email`, `department.name`, `custom-fields.cost-center`), `base` for
    /// an error of the whole row, `file` or the header cell for a file problem.
    pub field_with_error: String,
    /// The cell as it was in the file.
    pub value: String,
    pub field_errors: Vec<String>,
}

/// What the loader found wrong with one row, before it gets its ids.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct RowError {
    pub row: i64,
    pub first_column: String,
    pub field: String,
    pub value: String,
    pub messages: Vec<String>,
}

/// The system user Coupa's SFTP loads are made by.
pub const SFTP_USER: &str = "sftp_integration@coupa.com";

fn sftp_user() -> UserRef {
    UserRef {
        login: Some(SFTP_USER.into()),
        email: Some(SFTP_USER.into()),
        firstname: Some("sFTP".into()),
        lastname: Some("Integration".into()),
        fullname: Some("sFTP Integration".into()),
        ..UserRef::default()
    }
}

/// Coupa's name for a file taken from `/Incoming/Users`: the SFTP path with `_` for `/`.
pub fn file_file_name(uploaded_as: &str) -> String {
    format!("_Incoming_Users_{uploaded_as}")
}

/// Every load, by id, and the database that keeps them.
#[derive(Debug)]
pub(crate) struct DataSources {
    loads: Mutex<BTreeMap<i64, DataFileSource>>,
    next_error_id: AtomicI64,
    db: Option<Db>,
}

impl DataSources {
    /// Reads the saved loads. A load the sandbox was stopped in the middle of is marked failed: its
    /// file is in the archive, and its rows may be half applied.
    pub async fn open(db: Option<Db>) -> Result<DataSources, SandboxError> {
        let mut loads = BTreeMap::new();
        if let Some(db) = &db {
            for (id, text) in db.load_data_file_sources().await? {
                let mut load: DataFileSource =
                    serde_json::from_str(&text).map_err(|e| SandboxError::Data {
                        path: "sandbox.db".into(),
                        message: format!("data file source {id} is not a record: {e}"),
                    })?;
                load.id = id;
                loads.insert(id, load);
            }
        }
        let last_error = loads
            .values()
            .flat_map(|l| l.upload_errors.iter().map(|e| e.id))
            .max()
            .unwrap_or(0);
        let sources = DataSources {
            loads: Mutex::new(loads),
            next_error_id: AtomicI64::new(last_error + 1),
            db,
        };
        let interrupted: Vec<i64> = sources
            .all()
            .into_iter()
            .filter(|l| matches!(l.status, LoadStatus::Pending | LoadStatus::Loading))
            .map(|l| l.id)
            .collect();
        for id in interrupted {
            sources
                .change(id, |load| {
                    load.status = LoadStatus::Failed;
                    load.result_text = Some(
                        "The sandbox stopped before this file finished loading; rows may be \
                         partly applied. Upload the file again."
                            .into(),
                    );
                    load.end_time = Some(load.updated_at);
                })
                .await;
        }
        Ok(sources)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i64, DataFileSource>> {
        self.loads.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every load, in id order.
    pub fn all(&self) -> Vec<DataFileSource> {
        self.lock().values().cloned().collect()
    }

    pub fn get(&self, id: i64) -> Option<DataFileSource> {
        self.lock().get(&id).cloned()
    }

    /// Records a file taken from `/Incoming/Users` as `uploaded_as`, waiting to be loaded.
    pub async fn begin(&self, uploaded_as: &str, size: u64) -> DataFileSource {
        let at = now();
        let load = {
            let mut loads = self.lock();
            let id = loads.keys().next_back().copied().unwrap_or(0) + 1;
            let load = DataFileSource {
                id,
                created_at: at,
                updated_at: at,
                kind: "DataFileSource".into(),
                source_for: "User".into(),
                status: LoadStatus::Pending,
                file_file_name: file_file_name(uploaded_as),
                file_content_type: "text/csv".into(),
                file_file_size: size.to_string(),
                result_text: None,
                start_time: None,
                end_time: None,
                records_count: 0,
                records_created: 0,
                records_updated: 0,
                upload_errors_count: 0,
                integration_id: None,
                integration_run_id: None,
                created_by: sftp_user(),
                updated_by: sftp_user(),
                upload_errors: Vec::new(),
            };
            loads.insert(id, load.clone());
            load
        };
        self.save(&load).await;
        load
    }

    /// Changes load `id` (its `updated-at` follows) and stores it; `None` when there is no such load.
    pub async fn change(
        &self,
        id: i64,
        edit: impl FnOnce(&mut DataFileSource),
    ) -> Option<DataFileSource> {
        let load = {
            let mut loads = self.lock();
            let load = loads.get_mut(&id)?;
            load.updated_at = now();
            edit(load);
            load.clone()
        };
        self.save(&load).await;
        Some(load)
    }

    /// Gives row errors their ids and stamps.
    pub fn upload_errors(&self, errors: Vec<RowError>) -> Vec<UploadError> {
        let at = now();
        errors
            .into_iter()
            .map(|e| UploadError {
                id: self.next_error_id.fetch_add(1, Ordering::Relaxed),
                created_at: at,
                updated_at: at,
                kind: "UploadRowError".into(),
                row: e.row,
                first_column: e.first_column,
                field_with_error: e.field,
                value: e.value,
                field_errors: e.messages,
            })
            .collect()
    }

    /// A load that cannot be stored is still right in memory; the failure is logged, not fatal.
    async fn save(&self, load: &DataFileSource) {
        if let Some(db) = &self.db
            && let Err(e) = db.save_data_file_source(load.id, load).await
        {
            tracing::warn!(id = load.id, error = %e, "data file source not saved");
        }
    }
}
