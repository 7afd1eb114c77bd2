//! The e-mail `POST …/create_alert` sends: one message about the record to every contact of the
//! record's integration whose alert type covers the record's, or to the sandbox's `admin_email`
//! when no contact can be e-mailed.
//!
//! Only contacts of type `User` are e-mailed (at that user's address): the sandbox has no user
//! groups, approval groups or suppliers to expand. Like the loader's failure notice, the message is
//! delivered straight into the sandbox's own mailbox (read at `/mailbox/messages` when the mailbox
//! is on).

use super::{RecordKind, Registry};
use crate::mailbox::check_address;
use crate::server::AppState;
use coupa_wire::{AlertType, IntegrationRecord};
use std::fmt::Write as _;

/// Puts the alert for `record` in the mailbox.
pub(crate) fn send(state: &AppState, kind: RecordKind, record: &IntegrationRecord) {
    let (to, (subject, body)) = {
        let registry = state.integrations.read();
        let mut to = recipients(state, &registry, record);
        if to.is_empty() {
            to.push(state.config.admin_email.clone());
        }
        let message = message(&registry, kind, record);
        (to, message)
    };
    let id = state.mailbox.send_own(&to, &subject, &body);
    tracing::info!(
        record = record.id.unwrap_or_default(),
        message = id,
        to = %to.join(", "),
        "integrations: alert sent"
    );
}

/// The e-mail addresses of the `User` contacts whose alert type covers the record's, once each.
fn recipients(state: &AppState, registry: &Registry, record: &IntegrationRecord) -> Vec<String> {
    let Some(integration) = record.integration.as_ref().and_then(|i| i.id) else {
        return Vec::new();
    };
    let alert = record
        .contact_alert_type
        .as_deref()
        .and_then(AlertType::parse)
        .unwrap_or(AlertType::Both);
    let coupa = state.coupa.read();
    let mut to: Vec<String> = Vec::new();
    for contact in registry.contacts.values() {
        let for_this = contact.integration.as_ref().and_then(|i| i.id) == Some(integration);
        let covers = contact
            .contact_alert_type
            .as_deref()
            .and_then(AlertType::parse)
            .is_some_and(|t| t.covers(alert));
        if !for_this || !covers || contact.contactable_type.as_deref() != Some("User") {
            continue;
        }
        let email = contact
            .contactable_id
            .and_then(|id| coupa.user(id))
            .and_then(|u| u.user.email.clone());
        match email {
            // An address that could break the message's headers is not used.
            Some(email) if check_address(&email).is_ok() => {
                if !to.iter().any(|t| t.eq_ignore_ascii_case(&email)) {
                    to.push(email);
                }
            }
            _ => tracing::warn!(
                contact = contact.id.unwrap_or_default(),
                "integrations: contact has no usable e-mail address; not alerted"
            ),
        }
    }
    to
}

/// The alert's subject and text.
fn message(registry: &Registry, kind: RecordKind, record: &IntegrationRecord) -> (String, String) {
    let integration = record
        .integration
        .as_ref()
        .and_then(|i| i.id)
        .and_then(|id| registry.integrations.get(&id));
    let code = integration
        .and_then(|i| i.code.as_deref())
        .unwrap_or("(no integration)");
    let run = record
        .integration_run
        .and_then(|r| r.id)
        .map_or_else(|| "(no run)".to_string(), |id| id.to_string());
    let document_type = record.document_type.as_deref().unwrap_or_default();
    let document_id = record
        .document_id
        .map(|id| id.to_string())
        .unwrap_or_default();
    let external_id = record.external_id.as_deref().unwrap_or_default();
    let what = match kind {
        RecordKind::History => "integration history record",
        RecordKind::Error => "integration error",
    };
    let id = record.id.unwrap_or_default();
    let subject = format!(
        "Coupa integration alert: {code} run {run}: {} {}",
        if document_type.is_empty() {
            "record"
        } else {
            document_type
        },
        if external_id.is_empty() {
            &document_id
        } else {
            external_id
        }
    );
    let mut body = String::new();
    let _ = writeln!(body, "Coupa recorded an {what} with an alert.\n");
    let _ = writeln!(
        body,
        "Integration:  {code}{}",
        integration
            .and_then(|i| i.name.as_deref())
            .map(|n| format!(" ({n})"))
            .unwrap_or_default()
    );
    let _ = writeln!(body, "Run:          {run}");
    let _ = writeln!(body, "Record:       {what} {id}");
    let _ = writeln!(
        body,
        "Alert type:   {}",
        record.contact_alert_type.as_deref().unwrap_or_default()
    );
    let _ = writeln!(
        body,
        "Status:       {}",
        record.status.as_deref().unwrap_or_default()
    );
    let _ = writeln!(body, "Document:     {document_type} {document_id}");
    let _ = writeln!(body, "External id:  {external_id}");
    let responses = record.responses.as_deref().unwrap_or_default();
    if responses.is_empty() {
        let _ = writeln!(body, "\nNo responses were recorded.");
    } else {
        let _ = writeln!(body, "\nResponses:");
        for r in responses {
            let _ = writeln!(
                body,
                "  {}: {}",
                r.response_code.as_deref().unwrap_or_default(),
                r.response_message.as_deref().unwrap_or_default()
            );
        }
    }
    let path = match kind {
        RecordKind::History => "integration_history_records",
        RecordKind::Error => "integration_errors",
    };
    match integration.and_then(|i| i.id) {
        Some(integration) => {
            let _ = write!(
                body,
                "\nSee /integrations/{integration}/integration_runs or GET /api/{path}/{id}.\n"
            );
        }
        None => {
            let _ = write!(body, "\nSee GET /api/{path}/{id}.\n");
        }
    }
    (subject, body)
}
