//! The store's records for what a run did not send: HR rows that failed validation, people the plan
//! refused, a dry run's planned changes; and the applied state kept for people who need nothing more.

use crate::detect::{AppliedPerson, AppliedState};
use crate::hr::RowError;
use crate::plan::{Action, PersonPlan};
use crate::store::{AppliedRecord, ChangeRecord, Outcome};
use crate::verify::{action_name, desired_login, pending, requested};
use chrono::Utc;

/// An HR row that failed validation: one error per problem, naming the file, row and column.
pub fn row_error(run_id: i64, error: &RowError) -> ChangeRecord {
    let file = error.file.file_name().map_or_else(
        || error.file.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let errors = error
        .problems
        .iter()
        .map(|p| match &p.column {
            Some(column) => format!("{file} row {}, column {column}: {}", error.row, p.message),
            None => format!("{file} row {}: {}", error.row, p.message),
        })
        .collect();
    ChangeRecord {
        run_id,
        // A row whose key cannot be read is filed under its row number.
        hr_key: error
            .key
            .clone()
            .unwrap_or_else(|| format!("(row {})", error.row)),
        login: None,
        coupa_id: None,
        action: "error".into(),
        outcome: Outcome::Failed,
        fields: Vec::new(),
        errors,
        technical_error: None,
    }
}

/// A person sent nothing: refused by the plan (`Failed`), or planned in a dry run (`Skipped`, every
/// field pending).
pub fn unsent(run_id: i64, plan: &PersonPlan) -> ChangeRecord {
    let (outcome, errors) = match &plan.action {
        Action::Error { error } => (Outcome::Failed, vec![error.to_string()]),
        _ => (Outcome::Skipped, Vec::new()),
    };
    ChangeRecord {
        run_id,
        hr_key: plan.hr_key.clone(),
        login: desired_login(plan),
        coupa_id: plan.coupa_id(),
        action: action_name(&plan.action).into(),
        outcome,
        fields: requested(&plan.action).iter().map(pending).collect(),
        errors,
        technical_error: None,
    }
}

/// The applied state as the store keeps it.
pub fn applied_record(
    hr_key: &str,
    person: &AppliedPerson,
    coupa_id: Option<i64>,
) -> AppliedRecord {
    AppliedRecord {
        hr_key: hr_key.to_string(),
        fingerprint: person.fingerprint,
        // `AppliedPerson` is plain data (strings, booleans, sets): it always serialises.
        fields: serde_json::to_value(person).unwrap_or_default(),
        coupa_id,
        updated_at: Utc::now(),
    }
}

/// The applied state the store kept, for change detection. A record that no longer reads as one is
/// left out, so that person is compared with Coupa afresh (and rewritten once applied).
pub fn applied_state(records: std::collections::HashMap<String, AppliedRecord>) -> AppliedState {
    records
        .into_iter()
        .filter_map(|(hr_key, record)| {
            match serde_json::from_value::<AppliedPerson>(record.fields) {
                Ok(person) => Some((hr_key, person)),
                Err(e) => {
                    tracing::warn!(%hr_key, error = %e, "unreadable applied state; comparing the person with Coupa afresh");
                    None
                }
            }
        })
        .collect()
}
