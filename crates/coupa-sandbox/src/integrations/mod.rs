//! Coupa's Integrations APIs (reference §7): the integrations a connector registers, who is alerted
//! for them, their runs with the runs' state actions, and the per-record outcomes of a run (history
//! records and errors), kept in memory and (with a data folder) in SQLite beside the users.
//!
//! Served by [`api`] under `/api`, alerted by e-mail through [`alert`], and shown on Coupa's runs
//! page `/integrations/{id}/integration_runs` by [`page`].
//!
//! Writes follow the users store's discipline: one writer at a time checks the change against the
//! current records, stores it in SQLite, and only then applies it in memory.

mod alert;
mod api;
mod check;
mod page;

pub(crate) use api::routes;
pub(crate) use page::routes as page_routes;

use crate::SandboxError;
use crate::persist::Db;
use coupa_wire::{Integration, IntegrationContact, IntegrationRecord, IntegrationRun, RunState};
use serde::de::DeserializeOwned;
use std::collections::BTreeMap;
use std::sync::{PoisonError, RwLock, RwLockReadGuard};

/// The two record resources of §7: one shape, two lists with their own ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RecordKind {
    /// `/api/integration_history_records`: a per-document outcome.
    History,
    /// `/api/integration_errors`: a failure within a run.
    Error,
}

impl RecordKind {
    /// The resource name: JSON error key and, dashed, the XML root.
    pub fn resource(self) -> &'static str {
        match self {
            RecordKind::History => "integration_history_record",
            RecordKind::Error => "integration_error",
        }
    }

    /// The model name in messages (`IntegrationError`).
    pub fn model(self) -> &'static str {
        match self {
            RecordKind::History => "IntegrationHistoryRecord",
            RecordKind::Error => "IntegrationError",
        }
    }
}

/// Every integration record the sandbox holds, as readers see it.
#[derive(Debug, Default)]
pub(crate) struct Registry {
    pub integrations: BTreeMap<i64, Integration>,
    pub contacts: BTreeMap<i64, IntegrationContact>,
    pub runs: BTreeMap<i64, IntegrationRun>,
    pub history: BTreeMap<i64, IntegrationRecord>,
    pub errors: BTreeMap<i64, IntegrationRecord>,
}

fn next_id<T>(map: &BTreeMap<i64, T>) -> i64 {
    map.keys().next_back().copied().unwrap_or(0) + 1
}

impl Registry {
    pub fn records(&self, kind: RecordKind) -> &BTreeMap<i64, IntegrationRecord> {
        match kind {
            RecordKind::History => &self.history,
            RecordKind::Error => &self.errors,
        }
    }

    /// The integration a reference names: by id when it has one, else by code (case-insensitive).
    pub fn integration_by_ref(&self, id: Option<i64>, code: Option<&str>) -> Option<&Integration> {
        match (id, code) {
            (Some(id), _) => self.integrations.get(&id),
            (None, Some(code)) => self.integrations.values().find(|i| {
                i.code
                    .as_deref()
                    .is_some_and(|c| c.eq_ignore_ascii_case(code.trim()))
            }),
            (None, None) => None,
        }
    }

    /// The integration errors of run `run`, in id order.
    pub fn errors_of_run(&self, run: i64) -> impl Iterator<Item = &IntegrationRecord> {
        self.errors
            .values()
            .filter(move |e| e.integration_run.and_then(|r| r.id) == Some(run))
    }

    /// The runs of integration `id`, in id order.
    pub fn runs_of(&self, id: i64) -> impl Iterator<Item = &IntegrationRun> {
        self.runs
            .values()
            .filter(move |r| r.integration.as_ref().and_then(|i| i.id) == Some(id))
    }

    fn put(&mut self, entry: Entry) {
        match entry {
            Entry::Integration(i) => {
                self.integrations.insert(i.id.unwrap_or_default(), i);
            }
            Entry::Contact(c) => {
                self.contacts.insert(c.id.unwrap_or_default(), c);
            }
            Entry::Run(r) => {
                self.runs.insert(r.id.unwrap_or_default(), r);
            }
            Entry::Record(RecordKind::History, r) => {
                self.history.insert(r.id.unwrap_or_default(), r);
            }
            Entry::Record(RecordKind::Error, r) => {
                self.errors.insert(r.id.unwrap_or_default(), r);
            }
        }
    }
}

/// One record to store: what a write produces.
#[derive(Debug, Clone)]
pub(crate) enum Entry {
    Integration(Integration),
    Contact(IntegrationContact),
    Run(IntegrationRun),
    Record(RecordKind, IntegrationRecord),
}

impl Entry {
    /// The `kind` column of the `integration_records` table.
    fn kind(&self) -> &'static str {
        match self {
            Entry::Integration(_) => "integration",
            Entry::Contact(_) => "integration_contact",
            Entry::Run(_) => "integration_run",
            Entry::Record(RecordKind::History, _) => "integration_history_record",
            Entry::Record(RecordKind::Error, _) => "integration_error",
        }
    }

    fn id(&self) -> i64 {
        match self {
            Entry::Integration(i) => i.id,
            Entry::Contact(c) => c.id,
            Entry::Run(r) => r.id,
            Entry::Record(_, r) => r.id,
        }
        .unwrap_or_default()
    }

    fn to_json(&self) -> Result<String, serde_json::Error> {
        match self {
            Entry::Integration(i) => serde_json::to_string(i),
            Entry::Contact(c) => serde_json::to_string(c),
            Entry::Run(r) => serde_json::to_string(r),
            Entry::Record(_, r) => serde_json::to_string(r),
        }
    }
}

/// Why a write was refused.
#[derive(Debug)]
pub(crate) enum Refusal {
    /// The record the path names does not exist: Coupa's `Couldn't find …` message.
    NotFound(String),
    /// Validation messages, all of them.
    Invalid(Vec<String>),
    /// The change could not be stored.
    Storage(String),
}

impl Refusal {
    pub fn invalid(message: impl Into<String>) -> Refusal {
        Refusal::Invalid(vec![message.into()])
    }
}

/// The integration records and the database that keeps them.
#[derive(Debug)]
pub(crate) struct Integrations {
    registry: RwLock<Registry>,
    /// Held for the whole of a write, so checks, storage and the in-memory change happen as one.
    writer: tokio::sync::Mutex<()>,
    db: Option<Db>,
}

impl Integrations {
    /// Reads the saved records.
    pub async fn open(db: Option<Db>) -> Result<Integrations, SandboxError> {
        let mut registry = Registry::default();
        if let Some(db) = &db {
            for (kind, id, text) in db.load_integration_records().await? {
                let entry = match kind.as_str() {
                    "integration" => Entry::Integration(restore(&kind, id, &text)?),
                    "integration_contact" => Entry::Contact(restore(&kind, id, &text)?),
                    "integration_run" => Entry::Run(restore(&kind, id, &text)?),
                    "integration_history_record" => {
                        Entry::Record(RecordKind::History, restore(&kind, id, &text)?)
                    }
                    "integration_error" => {
                        Entry::Record(RecordKind::Error, restore(&kind, id, &text)?)
                    }
                    other => {
                        return Err(SandboxError::Data {
                            path: "sandbox.db".into(),
                            message: format!(
                                "integration_records row {id} has unknown kind {other:?}"
                            ),
                        });
                    }
                };
                if entry.id() != id {
                    return Err(SandboxError::Data {
                        path: "sandbox.db".into(),
                        message: format!("{kind} row {id} holds a record with another id"),
                    });
                }
                registry.put(entry);
            }
        }
        Ok(Integrations {
            registry: RwLock::new(registry),
            writer: tokio::sync::Mutex::new(()),
            db,
        })
    }

    pub fn read(&self) -> RwLockReadGuard<'_, Registry> {
        self.registry.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// Runs one write: `change` reads the current records and says what to store (or why not);
    /// the entry is stored in SQLite, then in memory, and returned.
    pub async fn write(
        &self,
        change: impl FnOnce(&Registry) -> Result<Entry, Refusal>,
    ) -> Result<Entry, Refusal> {
        let _guard = self.writer.lock().await;
        let entry = change(&self.read())?;
        if let Some(db) = &self.db {
            let text = entry
                .to_json()
                .map_err(|e| Refusal::Storage(e.to_string()))?;
            db.save_integration_record(entry.kind(), entry.id(), &text)
                .await
                .map_err(Refusal::Storage)?;
        }
        self.registry
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .put(entry.clone());
        Ok(entry)
    }
}

fn restore<T: DeserializeOwned>(kind: &str, id: i64, text: &str) -> Result<T, SandboxError> {
    serde_json::from_str(text).map_err(|e| SandboxError::Data {
        path: "sandbox.db".into(),
        message: format!("{kind} row {id} is not a record: {e}"),
    })
}

/// The state a stored run is in (stored runs always hold a valid status).
pub(crate) fn run_state(run: &IntegrationRun) -> RunState {
    run.status
        .as_deref()
        .and_then(RunState::parse)
        .unwrap_or(RunState::Pending)
}
