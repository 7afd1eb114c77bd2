//! Seeding a sandbox: the reference file (`SandboxConfig.reference`) and `Sandbox::seed_*` for tests
//! and demos. Everything goes through the API's rules: validation, defaults, reference lookups.
//!
//! The reference file is one JSON object; every key is optional, unknown keys are refused:
//! `reporting-currency` (a currency code), `roles`, `currencies`, `departments`, `content-groups`,
//! `approval-limits`, `custom-fields` (lists of records as the API takes them) and `users` (users as a `POST` takes
//! them, in Coupa JSON). Records whose key exists already, and users whose login exists already, are
//! skipped, so the same file can be loaded again on every start of a persistent sandbox.

use crate::setup::{Creatable, CustomField};
use crate::store::{Coupa, Refusal, UniqueKey};
use crate::{Sandbox, SandboxError};
use coupa_wire::{ApprovalLimit, ContentGroup, Currency, Department, Role, User};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::path::Path;

/// A seed entry that could not be loaded, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry}: {}", messages.join("; "))]
pub struct SeedError {
    /// Which entry: `users[3] (login jdoe)`, `departments[0]`.
    pub entry: String,
    /// Coupa's messages (`Email has already been taken`) or the decoding problem.
    pub messages: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ReferenceFile {
    #[serde(default)]
    reporting_currency: Option<String>,
    #[serde(default)]
    roles: Vec<Value>,
    #[serde(default)]
    currencies: Vec<Value>,
    #[serde(default)]
    departments: Vec<Value>,
    #[serde(default)]
    content_groups: Vec<Value>,
    #[serde(default)]
    approval_limits: Vec<Value>,
    #[serde(default)]
    custom_fields: Vec<Value>,
    #[serde(default)]
    users: Vec<Value>,
}

fn entry_error(entry: String, messages: Vec<String>) -> SeedError {
    SeedError { entry, messages }
}

fn decode<T: DeserializeOwned>(entry: &str, value: Value) -> Result<T, SeedError> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        entry_error(
            entry.to_string(),
            vec![format!("field `{}`: {}", e.path(), e.inner())],
        )
    })
}

async fn add_all<T: Creatable>(
    coupa: &Coupa,
    list: &str,
    items: Vec<Value>,
) -> Result<(), SeedError> {
    for (i, item) in items.into_iter().enumerate() {
        let entry = format!("{list}[{i}]");
        let record: T = decode(&entry, item)?;
        coupa
            .ensure_setup(record.prepared())
            .await
            .map_err(|r| entry_error(entry, refusal_messages(r)))?;
    }
    Ok(())
}

fn refusal_messages(r: Refusal) -> Vec<String> {
    match r {
        Refusal::Invalid(messages) => messages,
        other => vec![other.to_string()],
    }
}

/// Loads a reference document (the reference file's format).
pub(crate) async fn load_reference(coupa: &Coupa, json: &str) -> Result<(), SeedError> {
    let file: ReferenceFile = serde_path_to_error::deserialize(
        &mut serde_json::Deserializer::from_str(json),
    )
    .map_err(|e| {
        let at = e.path().to_string();
        entry_error(
            if at == "." { "the document".into() } else { at },
            vec![e.inner().to_string()],
        )
    })?;
    add_all::<Role>(coupa, "roles", file.roles).await?;
    add_all::<Currency>(coupa, "currencies", file.currencies).await?;
    add_all::<Department>(coupa, "departments", file.departments).await?;
    add_all::<ContentGroup>(coupa, "content-groups", file.content_groups).await?;
    add_all::<ApprovalLimit>(coupa, "approval-limits", file.approval_limits).await?;
    add_all::<CustomField>(coupa, "custom-fields", file.custom_fields).await?;
    if let Some(code) = file.reporting_currency {
        if coupa.read().setup.currencies.find(&code).is_none() {
            return Err(entry_error(
                "reporting-currency".into(),
                vec![format!("no currency has the code {code:?}")],
            ));
        }
        coupa.set_reporting_currency(code);
    }
    for (i, item) in file.users.into_iter().enumerate() {
        let entry = format!("users[{i}]");
        let user: User = decode(&entry, item)?;
        let entry = format!(
            "{entry} (login {})",
            user.login.as_deref().unwrap_or("none")
        );
        let exists = user
            .login
            .as_deref()
            .is_some_and(|l| coupa.read().find_by(UniqueKey::Login, l).is_some());
        if !exists {
            coupa
                .create_user(user)
                .await
                .map_err(|r| entry_error(entry, refusal_messages(r)))?;
        }
    }
    Ok(())
}

/// Loads the reference file at start.
pub(crate) async fn load_reference_file(coupa: &Coupa, path: &Path) -> Result<(), SandboxError> {
    let fail = |message: String| SandboxError::Reference {
        path: path.display().to_string(),
        message,
    };
    let json = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| fail(format!("cannot read it: {e}")))?;
    load_reference(coupa, &json)
        .await
        .map_err(|e| fail(e.to_string()))
}

impl Sandbox {
    /// Creates users as `POST /api/users` would (validation, defaults, references); returns their ids.
    /// Stops at the first user Coupa would refuse.
    pub async fn seed_users(
        &self,
        users: impl IntoIterator<Item = User>,
    ) -> Result<Vec<i64>, SeedError> {
        let mut ids = Vec::new();
        for (i, user) in users.into_iter().enumerate() {
            let entry = format!(
                "users[{i}] (login {})",
                user.login.as_deref().unwrap_or("none")
            );
            let created = self
                .state
                .coupa
                .create_user(user)
                .await
                .map_err(|r| entry_error(entry, refusal_messages(r)))?;
            ids.push(created.id());
        }
        Ok(ids)
    }

    /// Adds the setup records and users of a reference document, in the reference file's format.
    pub async fn seed_reference(&self, json: &str) -> Result<(), SeedError> {
        load_reference(&self.state.coupa, json).await
    }
}
