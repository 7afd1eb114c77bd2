//! What a write to the Integrations APIs must satisfy (reference §7), and the record it makes: the
//! required elements and their enumerations, unique names and codes, references to integrations,
//! runs and users that must exist, and the run's state machine.
//!
//! Messages follow Coupa's documented patterns: `Code has already been taken`, `<Attribute> can't
//! be blank`, `… must be one of …`, `Unable to find valid <Type> record for <association> with keys
//! {…}`; each names the value that was refused.

use super::{RecordKind, Refusal, Registry, run_state};
use crate::query::parse_datetime;
use chrono::{DateTime, FixedOffset};
use coupa_wire::{
    AlertType, Integration, IntegrationContact, IntegrationRecord, IntegrationRef, IntegrationRun,
    RunRef, RunState,
};
use serde_json::{Map, Value};

pub(crate) const DIRECTIONS: &[&str] = &["to_coupa", "from_coupa"];
pub(crate) const END_SYSTEM_TYPES: &[&str] = &[
    "payroll",
    "erp",
    "hr",
    "third_party_partner",
    "third_party_vendor",
    "other",
    "internal",
];
pub(crate) const INTEGRATION_TYPES: &[&str] = &[
    "flat_file",
    "api",
    "corporate_credit_card_file",
    "json",
    "xml",
    "original_format",
];
pub(crate) const CONTACTABLE_TYPES: &[&str] = &[
    "User",
    "UserGroup",
    "ApprovalGroup",
    "Supplier",
    "SupplierUser",
];
/// §7 only confirms `User`; the others are the Coupa documents a connector commonly reports on,
/// accepted so that a test of another document type is not refused for the wrong reason.
pub(crate) const DOCUMENT_TYPES: &[&str] = &[
    "User",
    "Supplier",
    "Account",
    "Address",
    "Department",
    "Contract",
    "ExpenseReport",
    "InvoiceHeader",
    "OrderHeader",
    "RequisitionHeader",
    "Payment",
];

fn blank(value: Option<&str>) -> bool {
    value.is_none_or(|v| v.trim().is_empty())
}

/// The canonical spelling of `value` among `allowed` (compared case-insensitively), or Coupa's
/// message naming the value.
fn one_of(
    label: &str,
    value: &str,
    allowed: &'static [&'static str],
) -> Result<&'static str, String> {
    allowed
        .iter()
        .copied()
        .find(|a| a.eq_ignore_ascii_case(value.trim()))
        .ok_or_else(|| {
            format!(
                "{label} must be one of {} (found {value:?})",
                allowed.join(", ")
            )
        })
}

/// Checks a required enumerated element, adding its message to `errors`.
fn required_enum(
    errors: &mut Vec<String>,
    label: &str,
    value: Option<&str>,
    allowed: &'static [&'static str],
) -> Option<String> {
    match value {
        v if blank(v) => {
            errors.push(format!("{label} can't be blank"));
            None
        }
        Some(v) => match one_of(label, v, allowed) {
            Ok(canonical) => Some(canonical.to_string()),
            Err(message) => {
                errors.push(message);
                None
            }
        },
        None => None,
    }
}

fn alert_type(errors: &mut Vec<String>, value: Option<&str>) -> Option<String> {
    match value {
        v if blank(v) => {
            errors.push("Contact alert type can't be blank".into());
            None
        }
        Some(v) => match AlertType::parse(v) {
            Some(t) => Some(t.as_str().to_string()),
            None => {
                errors.push(format!(
                    "Contact alert type must be one of Technical, Functional, Both (found {v:?})"
                ));
                None
            }
        },
        None => None,
    }
}

/// Coupa's message for a reference to a record that does not exist.
fn no_such(model: &str, association: &str, keys: &str, possible: &str) -> String {
    format!(
        "Unable to find valid {model} record for {association} with keys {{{keys}}}. \
         Possible keys are [{possible}]."
    )
}

fn integration_keys(reference: &IntegrationRef) -> String {
    match (reference.id, reference.code.as_deref()) {
        (Some(id), _) => format!("id: {id}"),
        (None, Some(code)) => format!("code: {code:?}"),
        (None, None) => String::new(),
    }
}

/// The integration `reference` names, as a reference carrying both its id and its code.
fn find_integration(
    registry: &Registry,
    reference: &IntegrationRef,
) -> Result<IntegrationRef, String> {
    registry
        .integration_by_ref(reference.id, reference.code.as_deref())
        .map(|i| IntegrationRef {
            id: i.id,
            code: i.code.clone(),
        })
        .ok_or_else(|| {
            no_such(
                "Integration",
                "integration",
                &integration_keys(reference),
                "id, code",
            )
        })
}

fn named(reference: Option<&IntegrationRef>) -> Option<&IntegrationRef> {
    reference.filter(|r| r.id.is_some() || !blank(r.code.as_deref()))
}

/// A new integration from a POST body.
pub(crate) fn new_integration(
    registry: &Registry,
    input: Integration,
    now: DateTime<FixedOffset>,
) -> Result<Integration, Refusal> {
    let id = super::next_id(&registry.integrations);
    let integration = Integration {
        id: Some(id),
        standard: Some(false),
        created_at: Some(now),
        updated_at: Some(now),
        extra: Map::new(),
        ..input
    };
    checked_integration(registry, integration)
}

/// Integration `id` with the elements a PUT body names changed (a partial update, as for users).
pub(crate) fn updated_integration(
    registry: &Registry,
    id: i64,
    input: Integration,
    now: DateTime<FixedOffset>,
) -> Result<Integration, Refusal> {
    let current = registry
        .integrations
        .get(&id)
        .ok_or_else(|| Refusal::NotFound(format!("Couldn't find Integration with 'id'={id}")))?;
    let integration = Integration {
        id: Some(id),
        name: input.name.or_else(|| current.name.clone()),
        code: input.code.or_else(|| current.code.clone()),
        description: input.description.or_else(|| current.description.clone()),
        business_object: input
            .business_object
            .or_else(|| current.business_object.clone()),
        direction: input.direction.or_else(|| current.direction.clone()),
        end_system: input.end_system.or_else(|| current.end_system.clone()),
        end_system_type: input
            .end_system_type
            .or_else(|| current.end_system_type.clone()),
        integration_type: input
            .integration_type
            .or_else(|| current.integration_type.clone()),
        // Read-only.
        standard: current.standard,
        created_at: current.created_at,
        updated_at: Some(now),
        extra: Map::new(),
    };
    let checked = checked_integration(registry, integration)?;
    // A PUT that changes nothing keeps the stamp, as a user PUT does.
    let unchanged = Integration {
        updated_at: current.updated_at,
        ..checked.clone()
    };
    if unchanged == *current {
        return Ok(current.clone());
    }
    Ok(checked)
}

fn checked_integration(
    registry: &Registry,
    mut integration: Integration,
) -> Result<Integration, Refusal> {
    let mut errors = Vec::new();
    let id = integration.id;
    for (label, value) in [
        ("Name", &integration.name),
        ("Code", &integration.code),
        ("Business object", &integration.business_object),
        ("End system", &integration.end_system),
    ] {
        if blank(value.as_deref()) {
            errors.push(format!("{label} can't be blank"));
        }
    }
    integration.direction = required_enum(
        &mut errors,
        "Direction",
        integration.direction.as_deref(),
        DIRECTIONS,
    );
    integration.end_system_type = required_enum(
        &mut errors,
        "End system type",
        integration.end_system_type.as_deref(),
        END_SYSTEM_TYPES,
    );
    match integration.integration_type.as_deref() {
        // Optional: an empty element is no type.
        v if blank(v) => integration.integration_type = None,
        Some(v) => match one_of("Integration type", v, INTEGRATION_TYPES) {
            Ok(t) => integration.integration_type = Some(t.into()),
            Err(message) => errors.push(message),
        },
        None => {}
    }
    let taken = |value: &Option<String>, of: fn(&Integration) -> &Option<String>| {
        value.as_deref().is_some_and(|v| {
            !v.trim().is_empty()
                && registry.integrations.values().any(|other| {
                    other.id != id
                        && of(other)
                            .as_deref()
                            .is_some_and(|o| o.trim().eq_ignore_ascii_case(v.trim()))
                })
        })
    };
    if taken(&integration.name, |i| &i.name) {
        errors.push("Name has already been taken".into());
    }
    if taken(&integration.code, |i| &i.code) {
        errors.push("Code has already been taken".into());
    }
    if errors.is_empty() {
        Ok(integration)
    } else {
        Err(Refusal::Invalid(errors))
    }
}

/// A new contact from a POST body; `user_exists` says whether a Coupa user has an id.
pub(crate) fn new_contact(
    registry: &Registry,
    input: &IntegrationContact,
    user_exists: impl Fn(i64) -> bool,
) -> Result<IntegrationContact, Refusal> {
    let mut errors = Vec::new();
    let integration = match named(input.integration.as_ref()) {
        None => {
            errors.push("Integration can't be blank".into());
            None
        }
        Some(reference) => find_integration(registry, reference)
            .map_err(|m| errors.push(m))
            .ok(),
    };
    let contactable_type = required_enum(
        &mut errors,
        "Contactable type",
        input.contactable_type.as_deref(),
        CONTACTABLE_TYPES,
    );
    match input.contactable_id {
        None => errors.push("Contactable id can't be blank".into()),
        Some(id) if contactable_type.as_deref() == Some("User") && !user_exists(id) => {
            errors.push(no_such("User", "contactable", &format!("id: {id}"), "id"));
        }
        Some(_) => {}
    }
    let contact_alert_type = alert_type(&mut errors, input.contact_alert_type.as_deref());
    if !errors.is_empty() {
        return Err(Refusal::Invalid(errors));
    }
    Ok(IntegrationContact {
        id: Some(super::next_id(&registry.contacts)),
        integration,
        contactable_type,
        contactable_id: input.contactable_id,
        contact_alert_type,
        extra: Map::new(),
    })
}

/// A new run, pending, from a POST body naming its integration.
pub(crate) fn new_run(
    registry: &Registry,
    input: &IntegrationRun,
    now: DateTime<FixedOffset>,
) -> Result<IntegrationRun, Refusal> {
    let reference = named(input.integration.as_ref())
        .ok_or_else(|| Refusal::invalid("Integration can't be blank"))?;
    let integration = find_integration(registry, reference).map_err(Refusal::invalid)?;
    let (total_records, records_processed) = counts(input)?;
    Ok(IntegrationRun {
        id: Some(super::next_id(&registry.runs)),
        integration: Some(integration),
        status: Some(RunState::Pending.as_str().into()),
        start_time: None,
        end_time: None,
        total_records,
        records_processed,
        integration_errors: None,
        created_at: Some(now),
        updated_at: Some(now),
        extra: Map::new(),
    })
}

fn missing_run(id: i64) -> Refusal {
    Refusal::NotFound(format!("Couldn't find IntegrationRun with 'id'={id}"))
}

/// A whole number sent as `key` (or with `_` for `-`, as Coupa's own samples spell
/// `total_records`), kept in `extra` by the wire model.
fn extra_count(extra: &Map<String, Value>, key: &str) -> Result<Option<i64>, Refusal> {
    let Some(value) = extra.get(&key.replace('-', "_")) else {
        return Ok(None);
    };
    let label = key.replace('-', " ");
    let n = match value {
        Value::Null => return Ok(None),
        Value::Number(n) => n.as_i64(),
        Value::String(s) if s.trim().is_empty() => return Ok(None),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.map(Some)
        .ok_or_else(|| Refusal::invalid(format!("{label} must be a whole number (found {value})")))
}

/// `total-records` and `records-processed` from a body, when it carries them.
fn counts(input: &IntegrationRun) -> Result<(Option<i64>, Option<i64>), Refusal> {
    let total = match input.total_records {
        Some(n) => Some(n),
        None => extra_count(&input.extra, "total-records")?,
    };
    let processed = match input.records_processed {
        Some(n) => Some(n),
        None => extra_count(&input.extra, "records-processed")?,
    };
    for (label, n) in [("Total records", total), ("Records processed", processed)] {
        if let Some(n) = n.filter(|n| *n < 0) {
            return Err(Refusal::invalid(format!(
                "{label} must be 0 or more (found {n})"
            )));
        }
    }
    Ok((total, processed))
}

/// Run `id` after the state action `action` (`run`, `pending`, `pause`, `fail`, `success`,
/// `finish`, `max_updated_at`) with its optional body.
pub(crate) fn run_action(
    registry: &Registry,
    id: i64,
    action: &str,
    input: Option<IntegrationRun>,
    now: DateTime<FixedOffset>,
) -> Result<IntegrationRun, Refusal> {
    let current = registry.runs.get(&id).ok_or_else(|| missing_run(id))?;
    let input = input.unwrap_or_default();
    let mut run = current.clone();
    run.updated_at = Some(now);
    if action == "max_updated_at" {
        // Not a state action: the watermark of what was exported may be saved after the run ended.
        let sent = input
            .extra
            .get("max-updated-at")
            .or_else(|| input.extra.get("max_updated_at"));
        let text = match sent {
            Some(Value::String(s)) if !s.trim().is_empty() => s.trim(),
            Some(Value::Null) | None => {
                return Err(Refusal::invalid("Max updated at can't be blank"));
            }
            Some(Value::String(_)) => {
                return Err(Refusal::invalid("Max updated at can't be blank"));
            }
            Some(other) => {
                return Err(Refusal::invalid(format!(
                    "Max updated at must be a date-time (found {other})"
                )));
            }
        };
        let at = parse_datetime(text).ok_or_else(|| {
            Refusal::invalid(format!(
                "Max updated at must be a date-time such as 2026-01-31T22:00:00Z (found {text:?})"
            ))
        })?;
        run.extra
            .insert("max-updated-at".into(), Value::String(at.to_rfc3339()));
        return Ok(run);
    }
    let target = RunState::from_action(action).ok_or_else(|| {
        Refusal::NotFound(format!("No state action {action:?} on integration runs"))
    })?;
    let state = run_state(current);
    if matches!(state, RunState::Successful | RunState::Failed) {
        return Err(Refusal::invalid(format!(
            "Integration run {id} is already {}; a finished run cannot be moved to {}",
            state.as_str(),
            target.as_str()
        )));
    }
    if target == RunState::Successful {
        let open = registry
            .errors_of_run(id)
            .filter(|e| e.resolved != Some(true))
            .count();
        if open > 0 {
            return Err(Refusal::invalid(format!(
                "Integration run {id} has {open} unresolved integration error(s): resolve them \
                 before marking the run successful, or fail the run"
            )));
        }
    }
    let (total, processed) = counts(&input)?;
    if total.is_some() {
        run.total_records = total;
    }
    if processed.is_some() {
        run.records_processed = processed;
    }
    run.status = Some(target.as_str().into());
    match target {
        // A run paused and run again keeps the time it first started.
        RunState::Running if run.start_time.is_none() => run.start_time = Some(now),
        RunState::Successful | RunState::Failed => run.end_time = Some(now),
        _ => {}
    }
    Ok(run)
}

/// The run a record names, as `integration-run {id}` or Coupa's flat `integration-run-id`.
fn run_of(input: &IntegrationRecord) -> Result<Option<i64>, String> {
    if let Some(id) = input.integration_run.and_then(|r| r.id) {
        return Ok(Some(id));
    }
    let flat = input
        .extra
        .get("integration-run-id")
        .or_else(|| input.extra.get("integration_run_id"));
    match flat {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) if n.as_i64().is_some() => Ok(n.as_i64()),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) if s.trim().parse::<i64>().is_ok() => Ok(s.trim().parse().ok()),
        Some(other) => Err(format!(
            "Integration run id must be a number (found {other})"
        )),
    }
}

/// Elements Coupa documents on records that the wire model keeps in `extra`.
const KEPT_EXTRA: &[&str] = &["document-revision", "creation-method"];

/// A new history record or error from a POST body.
pub(crate) fn new_record(
    registry: &Registry,
    kind: RecordKind,
    input: IntegrationRecord,
    user_exists: impl Fn(i64) -> bool,
    now: DateTime<FixedOffset>,
) -> Result<IntegrationRecord, Refusal> {
    let mut errors = Vec::new();
    let contact_alert_type = alert_type(&mut errors, input.contact_alert_type.as_deref());
    let run = match run_of(&input) {
        Err(message) => {
            errors.push(message);
            None
        }
        Ok(None) => {
            if kind == RecordKind::Error {
                errors.push("Integration run can't be blank".into());
            }
            None
        }
        Ok(Some(id)) => match registry.runs.get(&id) {
            Some(run) => Some(run),
            None => {
                errors.push(no_such(
                    "IntegrationRun",
                    "integration-run",
                    &format!("id: {id}"),
                    "id",
                ));
                None
            }
        },
    };
    let integration = match named(input.integration.as_ref()) {
        Some(reference) => match find_integration(registry, reference) {
            Ok(found) => {
                let of_run = run.and_then(|r| r.integration.as_ref()).and_then(|i| i.id);
                if let (Some(run_id), Some(of_run)) = (run.and_then(|r| r.id), of_run)
                    && found.id != Some(of_run)
                {
                    errors.push(format!(
                        "Integration {} is not the integration of integration run {run_id}",
                        found.code.as_deref().unwrap_or_default()
                    ));
                }
                Some(found)
            }
            Err(message) => {
                errors.push(message);
                None
            }
        },
        None => run.and_then(|r| r.integration.clone()),
    };
    let document_type = match input.document_type.as_deref() {
        v if blank(v) => {
            if kind == RecordKind::History {
                errors.push("Document type can't be blank".into());
            }
            None
        }
        Some(v) => one_of("Document type", v, DOCUMENT_TYPES)
            .map(str::to_string)
            .map_err(|m| errors.push(m))
            .ok(),
        None => None,
    };
    match input.document_id {
        None if kind == RecordKind::History => errors.push("Document id can't be blank".into()),
        Some(id) if document_type.as_deref() == Some("User") && !user_exists(id) => {
            errors.push(no_such("User", "document", &format!("id: {id}"), "id"));
        }
        _ => {}
    }
    if !errors.is_empty() {
        return Err(Refusal::Invalid(errors));
    }
    let extra = input
        .extra
        .into_iter()
        .filter(|(k, _)| KEPT_EXTRA.contains(&k.as_str()))
        .collect();
    Ok(IntegrationRecord {
        id: Some(super::next_id(registry.records(kind))),
        document_type,
        document_id: input.document_id,
        document_status: input.document_status,
        external_id: input.external_id,
        status: input.status,
        contact_alert_type,
        integration,
        integration_run: run.map(|r| RunRef { id: r.id }),
        responses: Some(input.responses.unwrap_or_default()),
        resolved: Some(false),
        integration_filename: input.integration_filename,
        created_at: Some(now),
        updated_at: Some(now),
        extra,
    })
}

/// Record `id` marked resolved or not.
pub(crate) fn resolved(
    registry: &Registry,
    kind: RecordKind,
    id: i64,
    resolved: bool,
    now: DateTime<FixedOffset>,
) -> Result<IntegrationRecord, Refusal> {
    let current = registry.records(kind).get(&id).ok_or_else(|| {
        Refusal::NotFound(format!("Couldn't find {} with 'id'={id}", kind.model()))
    })?;
    if current.resolved == Some(resolved) {
        return Ok(current.clone());
    }
    Ok(IntegrationRecord {
        resolved: Some(resolved),
        updated_at: Some(now),
        ..current.clone()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::now;

    fn hr_users() -> Integration {
        Integration {
            name: Some("HR users".into()),
            code: Some("HR_USERS".into()),
            business_object: Some("User".into()),
            direction: Some("To_Coupa".into()),
            end_system: Some("Workday".into()),
            end_system_type: Some("hr".into()),
            ..Integration::default()
        }
    }

    fn registry_with_run() -> Registry {
        let mut registry = Registry::default();
        let integration = new_integration(&registry, hr_users(), now()).unwrap();
        registry.put(super::super::Entry::Integration(integration));
        let run = new_run(
            &registry,
            &IntegrationRun {
                integration: Some(IntegrationRef::code("hr_users")),
                ..IntegrationRun::default()
            },
            now(),
        )
        .unwrap();
        registry.put(super::super::Entry::Run(run));
        registry
    }

    #[test]
    fn enumerations_are_stored_in_coupas_spelling() {
        let registry = Registry::default();
        let i = new_integration(&registry, hr_users(), now()).unwrap();
        assert_eq!(i.direction.as_deref(), Some("to_coupa"));
        assert_eq!(i.standard, Some(false));
    }

    #[test]
    fn a_run_is_found_by_code_any_case_and_moves_through_its_states() {
        let registry = registry_with_run();
        let run = &registry.runs[&1];
        assert_eq!(
            run.integration.as_ref().unwrap().code.as_deref(),
            Some("HR_USERS")
        );
        assert_eq!(run.status.as_deref(), Some("pending"));
        let running = run_action(&registry, 1, "run", None, now()).unwrap();
        assert!(running.start_time.is_some());
        let e = run_action(&registry, 1, "explode", None, now());
        assert!(matches!(e, Err(Refusal::NotFound(_))));
    }

    #[test]
    fn total_records_may_be_spelt_with_underscores_and_must_be_a_count() {
        let registry = registry_with_run();
        let mut body = IntegrationRun::default();
        body.extra.insert("total_records".into(), Value::from("12"));
        let run = run_action(&registry, 1, "run", Some(body), now()).unwrap();
        assert_eq!(run.total_records, Some(12));
        let mut body = IntegrationRun::default();
        body.extra
            .insert("total_records".into(), Value::from("many"));
        let Err(Refusal::Invalid(m)) = run_action(&registry, 1, "run", Some(body), now()) else {
            panic!("accepted")
        };
        assert!(m[0].contains("\"many\""), "{m:?}");
    }
}
