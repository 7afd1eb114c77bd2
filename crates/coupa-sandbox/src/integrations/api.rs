//! The Integrations APIs under `/api` (reference §7), in XML (default) or JSON:
//! `/api/integrations`, `/api/integration_contacts`, `/api/integration_runs` with the runs' state
//! actions, `/api/integration_history_records` and `/api/integration_errors`.
//!
//! Lists take Coupa's conditions, `limit`/`offset` and `order_by`/`dir` (see [`crate::records`]),
//! associations through brackets (`integration[code]=HR_USERS`, `integration-run[id]=7`, or the
//! flat `integration-run-id=7`). Bodies are read like users' bodies: an XML document whose root is
//! the resource (`<integration-run>`) or a JSON object, bare or wrapped in the resource's name.
//!
//! Left out: `POST …/mark_exported`, `…/create_alert_and_mark_exported` and `…/acknowledge` on
//! records, whose effects Coupa does not document; they answer 404.

use super::{Entry, RecordKind, Refusal, alert, check};
use crate::ApiError;
use crate::body::{self, MAX_BODY};
use crate::records::{self, Attribute, Kind, as_map};
use crate::server::{AppState, Wants};
use crate::store::now;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use coupa_wire::{
    Format, Integration, IntegrationContact, IntegrationRecord, IntegrationRun, Query,
};
use serde::Serialize;
use serde_json::{Map, Value};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/integrations",
            get(list_integrations)
                .post(create_integration)
                .fallback(not_allowed),
        )
        .route(
            "/api/integrations/{id}",
            get(show_integration)
                .put(update_integration)
                .patch(update_integration)
                .fallback(not_allowed),
        )
        .route(
            "/api/integration_contacts",
            get(list_contacts)
                .post(create_contact)
                .fallback(not_allowed),
        )
        .route(
            "/api/integration_contacts/{id}",
            get(show_contact).fallback(not_allowed),
        )
        .route(
            "/api/integration_runs",
            get(list_runs).post(create_run).fallback(not_allowed),
        )
        .route(
            "/api/integration_runs/{id}",
            get(show_run).fallback(not_allowed),
        )
        .route(
            "/api/integration_runs/{id}/{action}",
            put(run_action).fallback(not_allowed),
        )
        .merge(record_routes(RecordKind::History))
        .merge(record_routes(RecordKind::Error))
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn record_routes(kind: RecordKind) -> Router<AppState> {
    let base = match kind {
        RecordKind::History => "/api/integration_history_records",
        RecordKind::Error => "/api/integration_errors",
    };
    Router::new()
        .route(
            base,
            get(move |s, w, q| list_records(kind, s, w, q))
                .post(move |s, w, h, b| create_record(kind, false, s, w, h, b))
                .fallback(not_allowed),
        )
        .route(
            &format!("{base}/create_alert"),
            post(move |s, w, h, b| create_record(kind, true, s, w, h, b)).fallback(not_allowed),
        )
        .route(
            &format!("{base}/{{id}}"),
            get(move |s, w, p| show_record(kind, s, w, p)).fallback(record_member_other),
        )
        .route(
            &format!("{base}/{{id}}/{{action}}"),
            put(move |s, w, p| resolve_record(kind, s, w, p)).fallback(not_allowed),
        )
}

fn error(
    status: StatusCode,
    format: Format,
    resource: &'static str,
    messages: Vec<String>,
) -> ApiError {
    let mut e = ApiError::new(status, format, messages);
    e.resource = resource;
    e
}

fn bad(format: Format, resource: &'static str, message: impl Into<String>) -> ApiError {
    error(
        StatusCode::BAD_REQUEST,
        format,
        resource,
        vec![message.into()],
    )
}

fn not_found(format: Format, resource: &'static str, message: String) -> ApiError {
    error(StatusCode::NOT_FOUND, format, resource, vec![message])
}

fn refused(format: Format, resource: &'static str, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotFound(message) => not_found(format, resource, message),
        Refusal::Invalid(messages) => error(StatusCode::BAD_REQUEST, format, resource, messages),
        Refusal::Storage(m) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            format,
            resource,
            vec![format!("The change could not be saved: {m}")],
        ),
    }
}

/// The id in a path; anything that is not a number finds nothing, as in Coupa (Rails' 404): the
/// message says so.
fn id_of(raw: &str, model: &str) -> Result<i64, String> {
    raw.parse::<i64>()
        .map_err(|_| format!("Couldn't find {model} with 'id'={raw}"))
}

/// The entry of `table` that path segment `raw` names, or Coupa's "Couldn't find" message for it.
fn by_id<T: Clone>(
    table: &std::collections::BTreeMap<i64, T>,
    raw: &str,
    model: &str,
) -> Result<T, String> {
    let id = id_of(raw, model)?;
    table
        .get(&id)
        .cloned()
        .ok_or_else(|| format!("Couldn't find {model} with 'id'={raw}"))
}

fn one<T: Serialize>(status: StatusCode, format: Format, root: &str, record: &T) -> Response {
    body::answer(
        status,
        format,
        Some(coupa_wire::encode(format, root, record)),
    )
}

/// A list answer; as for users, an XML query without results is a 404 and JSON gets `[]`.
fn many(format: Format, resource: &'static str, collection: &str, items: Vec<Value>) -> Response {
    if items.is_empty() && format == Format::Xml {
        return not_found(format, resource, coupa_wire::NO_RESULTS.into()).into_response();
    }
    body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value_list(format, collection, items)),
    )
}

/// The query string with Coupa's flat association ids (`integration-run-id`) read as brackets.
fn parse_query(raw: Option<&str>) -> Result<Query, String> {
    let mut query = Query::parse(raw.unwrap_or("")).map_err(|e| e.to_string())?;
    for c in &mut query.conditions {
        if let [one] = c.path.as_slice()
            && let Some(association) = one.strip_suffix("-id")
            && matches!(association, "integration" | "integration-run")
        {
            c.path = vec![association.to_string(), "id".to_string()];
        }
    }
    Ok(query)
}

/// Searches `records` and answers the page, each item passed through `show`.
fn list<T: Serialize>(
    format: Format,
    raw: Option<&str>,
    records: &[T],
    attributes: &[Attribute],
    (resource, what, collection): (&'static str, &str, &str),
    show: impl Fn(Map<String, Value>) -> Value,
) -> Response {
    let maps = records.iter().map(as_map).collect();
    let page = parse_query(raw).and_then(|query| records::search(maps, attributes, what, &query));
    match page {
        Ok(page) => many(
            format,
            resource,
            collection,
            page.into_iter().map(show).collect(),
        ),
        Err(message) => bad(format, resource, message).into_response(),
    }
}

/// A verb Coupa does not offer on a path.
async fn not_allowed(Wants(format): Wants, method: Method, uri: Uri) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format,
        vec![format!("{method} is not supported on {}", uri.path())],
    )
}

/// Another verb on `…/{id}` of a record resource: `POST …/mark_exported`, `…/acknowledge` and
/// `…/create_alert_and_mark_exported` land here and are unknown routes, since the sandbox leaves
/// them out; on a record id the verb is not allowed.
async fn record_member_other(
    Wants(format): Wants,
    method: Method,
    uri: Uri,
    Path(raw): Path<String>,
) -> ApiError {
    if raw.parse::<i64>().is_ok() {
        return not_allowed(Wants(format), method, uri).await;
    }
    ApiError::new(
        StatusCode::NOT_FOUND,
        format,
        vec![format!(
            "Not found: {} is not emulated by the sandbox (Coupa does not document what it does)",
            uri.path()
        )],
    )
}

// ---- integrations

const INTEGRATION_ATTRIBUTES: &[Attribute] = &[
    ("id", Kind::Integer),
    ("name", Kind::Text),
    ("code", Kind::Text),
    ("description", Kind::Text),
    ("business-object", Kind::Text),
    ("direction", Kind::Text),
    ("end-system", Kind::Text),
    ("end-system-type", Kind::Text),
    ("integration-type", Kind::Text),
    ("standard", Kind::Boolean),
    ("created-at", Kind::DateTime),
    ("updated-at", Kind::DateTime),
];

const INTEGRATION: &str = "integration";

async fn list_integrations(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let all: Vec<Integration> = state
        .integrations
        .read()
        .integrations
        .values()
        .cloned()
        .collect();
    Ok(list(
        format,
        raw.as_deref(),
        &all,
        INTEGRATION_ATTRIBUTES,
        (INTEGRATION, "integrations", "integrations"),
        Value::Object,
    ))
}

async fn show_integration(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let integration = by_id(&state.integrations.read().integrations, &raw, "Integration")
        .map_err(|m| not_found(format, INTEGRATION, m))?;
    Ok(one(StatusCode::OK, format, "integration", &integration))
}

async fn create_integration(
    State(state): State<AppState>,
    Wants(format): Wants,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: Integration =
        body::decode(INTEGRATION, &headers, sent).map_err(|r| r.answer(format, INTEGRATION))?;
    let entry = state
        .integrations
        .write(|reg| check::new_integration(reg, input, now()).map(Entry::Integration))
        .await
        .map_err(|r| refused(format, INTEGRATION, r))?;
    Ok(answer_entry(StatusCode::CREATED, format, &state, entry))
}

async fn update_integration(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw): Path<String>,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(&raw, "Integration").map_err(|m| not_found(format, INTEGRATION, m))?;
    let input: Integration =
        body::decode(INTEGRATION, &headers, sent).map_err(|r| r.answer(format, INTEGRATION))?;
    let entry = state
        .integrations
        .write(|reg| check::updated_integration(reg, id, input, now()).map(Entry::Integration))
        .await
        .map_err(|r| refused(format, INTEGRATION, r))?;
    Ok(answer_entry(StatusCode::OK, format, &state, entry))
}

/// The answer for a stored entry, as its resource shows it.
fn answer_entry(status: StatusCode, format: Format, state: &AppState, entry: Entry) -> Response {
    match entry {
        Entry::Integration(i) => one(status, format, "integration", &i),
        Entry::Contact(c) => one(status, format, "integration-contact", &c),
        Entry::Run(r) => one(status, format, "integration-run", &with_errors(state, r)),
        Entry::Record(RecordKind::History, r) => {
            one(status, format, "integration-history-record", &r)
        }
        Entry::Record(RecordKind::Error, r) => one(status, format, "integration-error", &r),
    }
}

// ---- contacts

const CONTACT_ATTRIBUTES: &[Attribute] = &[
    ("id", Kind::Integer),
    ("integration.id", Kind::Integer),
    ("integration.code", Kind::Text),
    ("contactable-type", Kind::Text),
    ("contactable-id", Kind::Integer),
    ("contact-alert-type", Kind::Text),
];

const CONTACT: &str = "integration_contact";

async fn list_contacts(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let all: Vec<IntegrationContact> = state
        .integrations
        .read()
        .contacts
        .values()
        .cloned()
        .collect();
    Ok(list(
        format,
        raw.as_deref(),
        &all,
        CONTACT_ATTRIBUTES,
        (CONTACT, "integration contacts", "integration-contacts"),
        Value::Object,
    ))
}

async fn show_contact(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let contact = by_id(
        &state.integrations.read().contacts,
        &raw,
        "IntegrationContact",
    )
    .map_err(|m| not_found(format, CONTACT, m))?;
    Ok(one(StatusCode::OK, format, "integration-contact", &contact))
}

async fn create_contact(
    State(state): State<AppState>,
    Wants(format): Wants,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: IntegrationContact =
        body::decode(CONTACT, &headers, sent).map_err(|r| r.answer(format, CONTACT))?;
    let user_exists = |id| state.coupa.read().user(id).is_some();
    let entry = state
        .integrations
        .write(|reg| check::new_contact(reg, &input, user_exists).map(Entry::Contact))
        .await
        .map_err(|r| refused(format, CONTACT, r))?;
    Ok(answer_entry(StatusCode::CREATED, format, &state, entry))
}

// ---- runs

const RUN_ATTRIBUTES: &[Attribute] = &[
    ("id", Kind::Integer),
    ("status", Kind::Text),
    ("integration.id", Kind::Integer),
    ("integration.code", Kind::Text),
    ("start-time", Kind::DateTime),
    ("end-time", Kind::DateTime),
    ("total-records", Kind::Integer),
    ("records-processed", Kind::Integer),
    ("max-updated-at", Kind::DateTime),
    ("created-at", Kind::DateTime),
    ("updated-at", Kind::DateTime),
];

const RUN: &str = "integration_run";

/// A run as the API shows it: with its integration errors.
fn with_errors(state: &AppState, mut run: IntegrationRun) -> IntegrationRun {
    let id = run.id.unwrap_or_default();
    run.integration_errors = Some(
        state
            .integrations
            .read()
            .errors_of_run(id)
            .cloned()
            .collect(),
    );
    run
}

async fn list_runs(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let all: Vec<IntegrationRun> = state.integrations.read().runs.values().cloned().collect();
    let show = |map: Map<String, Value>| {
        let mut map = map;
        let id = map.get("id").and_then(Value::as_i64).unwrap_or_default();
        let errors: Vec<Value> = state
            .integrations
            .read()
            .errors_of_run(id)
            .map(|e| Value::Object(as_map(e)))
            .collect();
        map.insert("integration-errors".into(), Value::Array(errors));
        Value::Object(map)
    };
    Ok(list(
        format,
        raw.as_deref(),
        &all,
        RUN_ATTRIBUTES,
        (RUN, "integration runs", "integration-runs"),
        show,
    ))
}

async fn show_run(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let run = by_id(&state.integrations.read().runs, &raw, "IntegrationRun")
        .map_err(|m| not_found(format, RUN, m))?;
    Ok(one(
        StatusCode::OK,
        format,
        "integration-run",
        &with_errors(&state, run),
    ))
}

async fn create_run(
    State(state): State<AppState>,
    Wants(format): Wants,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let input: IntegrationRun =
        body::decode(RUN, &headers, sent).map_err(|r| r.answer(format, RUN))?;
    let entry = state
        .integrations
        .write(|reg| check::new_run(reg, &input, now()).map(Entry::Run))
        .await
        .map_err(|r| refused(format, RUN, r))?;
    Ok(answer_entry(StatusCode::CREATED, format, &state, entry))
}

/// The body of a state action, which may be absent.
fn optional_body<T: serde::de::DeserializeOwned>(
    resource: &'static str,
    headers: &HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Option<T>, body::Refused> {
    match sent {
        Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Ok(None),
        sent => body::decode(resource, headers, sent).map(Some),
    }
}

async fn run_action(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path((raw, action)): Path<(String, String)>,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let id = id_of(&raw, "IntegrationRun").map_err(|m| not_found(format, RUN, m))?;
    let input: Option<IntegrationRun> =
        optional_body(RUN, &headers, sent).map_err(|r| r.answer(format, RUN))?;
    let entry = state
        .integrations
        .write(|reg| check::run_action(reg, id, &action, input, now()).map(Entry::Run))
        .await
        .map_err(|r| refused(format, RUN, r))?;
    Ok(answer_entry(StatusCode::OK, format, &state, entry))
}

// ---- history records and errors

const RECORD_ATTRIBUTES: &[Attribute] = &[
    ("id", Kind::Integer),
    ("document-type", Kind::Text),
    ("document-id", Kind::Integer),
    ("document-status", Kind::Text),
    ("external-id", Kind::Text),
    ("status", Kind::Text),
    ("contact-alert-type", Kind::Text),
    ("resolved", Kind::Boolean),
    ("integration.id", Kind::Integer),
    ("integration.code", Kind::Text),
    ("integration-run.id", Kind::Integer),
    ("integration-filename", Kind::Text),
    ("created-at", Kind::DateTime),
    ("updated-at", Kind::DateTime),
];

fn names(kind: RecordKind) -> (&'static str, &'static str, &'static str) {
    match kind {
        RecordKind::History => (
            "integration history records",
            "integration-history-records",
            "integration-history-record",
        ),
        RecordKind::Error => (
            "integration errors",
            "integration-errors",
            "integration-error",
        ),
    }
}

async fn list_records(
    kind: RecordKind,
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let all: Vec<IntegrationRecord> = state
        .integrations
        .read()
        .records(kind)
        .values()
        .cloned()
        .collect();
    let (what, collection, _) = names(kind);
    Ok(list(
        format,
        raw.as_deref(),
        &all,
        RECORD_ATTRIBUTES,
        (kind.resource(), what, collection),
        Value::Object,
    ))
}

async fn show_record(
    kind: RecordKind,
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw): Path<String>,
) -> Result<Response, ApiError> {
    let record = by_id(state.integrations.read().records(kind), &raw, kind.model())
        .map_err(|m| not_found(format, kind.resource(), m))?;
    Ok(one(StatusCode::OK, format, names(kind).2, &record))
}

async fn create_record(
    kind: RecordKind,
    alert: bool,
    State(state): State<AppState>,
    Wants(format): Wants,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let resource = kind.resource();
    let input: IntegrationRecord =
        body::decode(resource, &headers, sent).map_err(|r| r.answer(format, resource))?;
    let user_exists = |id| state.coupa.read().user(id).is_some();
    let entry = state
        .integrations
        .write(|reg| {
            check::new_record(reg, kind, input, user_exists, now()).map(|r| Entry::Record(kind, r))
        })
        .await
        .map_err(|r| refused(format, resource, r))?;
    if alert && let Entry::Record(_, record) = &entry {
        alert::send(&state, kind, record);
    }
    Ok(answer_entry(StatusCode::CREATED, format, &state, entry))
}

async fn resolve_record(
    kind: RecordKind,
    State(state): State<AppState>,
    Wants(format): Wants,
    Path((raw, action)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let resource = kind.resource();
    let id = id_of(&raw, kind.model()).map_err(|m| not_found(format, resource, m))?;
    let resolved = match action.as_str() {
        "resolve" => true,
        "unresolve" => false,
        other => {
            return Err(not_found(
                format,
                resource,
                format!(
                    "No action {other:?} on {}: use resolve or unresolve",
                    names(kind).0
                ),
            ));
        }
    };
    let entry = state
        .integrations
        .write(|reg| {
            check::resolved(reg, kind, id, resolved, now()).map(|r| Entry::Record(kind, r))
        })
        .await
        .map_err(|r| refused(format, resource, r))?;
    Ok(answer_entry(StatusCode::OK, format, &state, entry))
}
