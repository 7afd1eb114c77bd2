//! Coupa's daily User Export to `/Outgoing/Users` (reference §5.2): every user in the users flat-file
//! columns, in their documented order, then one column per custom field (by prompt), every field
//! quoted. The import columns are used so that an export can be read back by the loader (phone
//! numbers as `+aa xxx-yyy-zzzz x123`, approval limits by name or as `1000.00 USD`); Coupa's own
//! export layout is not documented in the sources behind the reference.

use crate::dropfolder::OUTGOING_USERS;
use crate::render;
use crate::server::AppState;
use crate::store::State;
use crate::{Sandbox, SandboxError};
use coupa_wire::flatfile::{self, Kind, USER_COLUMNS};
use serde_json::{Map, Value};
use std::time::Duration;
use tokio_util::sync::CancellationToken;

const DAY: Duration = Duration::from_secs(24 * 60 * 60);

impl Sandbox {
    /// Writes a users export to `/Outgoing/Users` now; returns its SFTP path. Needs the SFTP drop
    /// folder (`SandboxConfig::sftp`).
    pub async fn export_users_now(&self) -> Result<String, SandboxError> {
        export(&self.state).await
    }
}

/// With `export_daily`, exports when the sandbox starts and every 24 hours after, until `shutdown`.
pub(crate) fn spawn_daily(state: &AppState, shutdown: &CancellationToken) {
    if !state.config.export_daily || state.sftp.is_none() {
        return;
    }
    let state = state.clone();
    let shutdown = shutdown.clone();
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(DAY);
        loop {
            tokio::select! {
                () = shutdown.cancelled() => break,
                _ = ticks.tick() => match export(&state).await {
                    Ok(path) => tracing::info!(%path, "users export written"),
                    Err(e) => tracing::warn!(error = %e, "users export failed"),
                },
            }
        }
    });
}

async fn export(state: &AppState) -> Result<String, SandboxError> {
    let folder = state
        .sftp
        .as_ref()
        .map(crate::sftp::Sftp::drop_folder)
        .ok_or_else(|| {
            SandboxError::Config(
                "the users export is written to the SFTP drop folder: start the sandbox with SFTP"
                    .into(),
            )
        })?;
    let csv = users_csv(&state.coupa.read());
    let name = format!(
        "users_export_{}.csv",
        chrono::Utc::now().format("%Y%m%d_%H%M%SZ")
    );
    folder
        .write_outgoing(&name, csv.as_bytes())
        .await
        .map_err(|e| SandboxError::Data {
            path: OUTGOING_USERS.into(),
            message: e.to_string(),
        })?;
    Ok(format!("{OUTGOING_USERS}/{name}"))
}

/// The export file: the header row, then one row per user in id order.
pub(crate) fn users_csv(state: &State) -> String {
    let custom: Vec<(String, String)> = state
        .setup
        .custom_fields
        .all()
        .iter()
        .filter_map(|f| Some((f.name.clone()?, f.prompt.clone().or(f.name.clone())?)))
        .collect();
    let mut out = String::new();
    let headers: Vec<&str> = USER_COLUMNS
        .iter()
        .map(|c| c.header)
        .chain(custom.iter().map(|(_, prompt)| prompt.as_str()))
        .collect();
    flatfile::write_record(&mut out, &headers);
    let mut cells: Vec<String> = Vec::with_capacity(headers.len());
    for id in state.users.keys() {
        let Some(user) = state.user(*id) else {
            continue;
        };
        let full = render::full(state, user);
        cells.clear();
        cells.extend(USER_COLUMNS.iter().map(|c| cell(&full, c)));
        cells.extend(
            custom
                .iter()
                .map(|(name, _)| text(full.get("custom-fields").and_then(|f| f.get(name)))),
        );
        flatfile::write_record(&mut out, &cells);
    }
    out
}

/// One column's cell for a user rendered as the API shows it.
fn cell(full: &Map<String, Value>, column: &flatfile::Column) -> String {
    let Some(field) = column.field else {
        return String::new();
    };
    let mut path = field.split('.');
    let mut value = path.next().and_then(|head| full.get(head));
    for part in path {
        value = value.and_then(|v| v.get(part));
    }
    match (column.kind, value) {
        (Kind::Status, Some(Value::Bool(active))) => flatfile::status_cell(*active).into(),
        (Kind::Bool, Some(Value::Bool(flag))) => flatfile::bool_cell(*flag).into(),
        (Kind::List, Some(Value::Array(items))) => items
            .iter()
            .filter_map(|item| item.get("name").and_then(Value::as_str))
            .collect::<Vec<_>>()
            .join(","),
        (Kind::Phone, Some(Value::Object(phone))) => {
            let part = |k: &str| phone.get(k).and_then(Value::as_str).unwrap_or_default();
            let mut cell = String::new();
            if !part("country-code").is_empty() {
                cell = format!("+{} ", part("country-code"));
            }
            let local: Vec<&str> = [part("area-code"), part("number")]
                .into_iter()
                .filter(|p| !p.is_empty())
                .collect();
            cell.push_str(&local.join("-"));
            if !part("extension").is_empty() {
                cell.push_str(&format!(" x{}", part("extension")));
            }
            cell
        }
        // A named limit by its name, as the loader reads it back; else its amount and currency.
        (Kind::ApprovalLimit, Some(Value::Object(limit))) => match limit.get("name") {
            Some(Value::String(name)) if !name.is_empty() => name.clone(),
            _ => format!(
                "{} {}",
                text(limit.get("amount")),
                text(limit.get("currency").and_then(|c| c.get("code")))
            ),
        },
        (_, value) => text(value),
    }
}

fn text(value: Option<&Value>) -> String {
    match value {
        Some(Value::String(s)) => s.clone(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Bool(b)) => flatfile::bool_cell(*b).into(),
        _ => String::new(),
    }
}
