//! Reference data endpoints: departments, content groups (`/api/business_groups`), roles, currencies,
//! approval limits, custom-field definitions. `GET` lists them (exact-match filters on their own attributes, `limit`
//! and `offset` as for users); `POST` adds one (not currencies), which users may then refer to.

use crate::ApiError;
use crate::body::{self, MAX_BODY};
use crate::server::{AppState, Wants};
use crate::setup::{Creatable, CustomField, SetupRecord, fold};
use crate::store::{Refusal, fold_text};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::get;
use coupa_wire::query::MAX_LIMIT;
use coupa_wire::{ApprovalLimit, ContentGroup, Currency, Department, Format, Op, Query, Role};
use serde_json::Value;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/api/departments",
            get(list::<Department>).post(create::<Department>),
        )
        .route(
            "/api/business_groups",
            get(list::<ContentGroup>).post(create::<ContentGroup>),
        )
        .route("/api/roles", get(list::<Role>).post(create::<Role>))
        .route("/api/currencies", get(list::<Currency>))
        .route(
            "/api/approval_limits",
            get(list::<ApprovalLimit>).post(create::<ApprovalLimit>),
        )
        .route(
            "/api/custom_fields",
            get(list::<CustomField>).post(create::<CustomField>),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn error<T: SetupRecord>(status: StatusCode, format: Format, messages: Vec<String>) -> ApiError {
    let mut e = ApiError::new(status, format, messages);
    e.resource = T::KIND;
    e
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(fold_text(s)),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

async fn list<T: SetupRecord>(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let bad = |m: String| error::<T>(StatusCode::BAD_REQUEST, format, vec![m]);
    let query = Query::parse(raw.as_deref().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    if let Some(c) = query
        .conditions
        .iter()
        .find(|c| c.op != Op::Eq || c.path.len() != 1)
    {
        return Err(bad(format!(
            "Only exact matches on their own attributes search {}; {} is not one",
            T::COLLECTION,
            c.path.join(".")
        )));
    }
    let limit = query.limit.unwrap_or(MAX_LIMIT).clamp(1, MAX_LIMIT) as usize;
    let offset = query.offset.unwrap_or(0) as usize;
    let coupa = state.coupa.read();
    let records: Vec<Value> = T::table(&coupa.setup)
        .all()
        .iter()
        .map(|r| serde_json::to_value(r).unwrap_or(Value::Null))
        .collect();
    let mut page = Vec::new();
    for record in records {
        let mut keep = true;
        for c in &query.conditions {
            let name = &c.path[0];
            let found = record
                .as_object()
                .and_then(|m| m.iter().find(|(k, _)| fold(k) == fold(name)));
            match found {
                Some((_, v)) => keep &= text(v) == Some(fold_text(&c.value)),
                None => {
                    return Err(bad(format!(
                        "Unknown search attribute {name} for {}",
                        T::COLLECTION
                    )));
                }
            }
        }
        if keep {
            page.push(record);
        }
    }
    let page: Vec<Value> = page.into_iter().skip(offset).take(limit).collect();
    if page.is_empty() && format == Format::Xml {
        return Err(error::<T>(
            StatusCode::NOT_FOUND,
            format,
            vec![coupa_wire::NO_RESULTS.into()],
        ));
    }
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value_list(format, T::COLLECTION, page)),
    ))
}

async fn create<T: Creatable>(
    State(state): State<AppState>,
    Wants(format): Wants,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let record: T = body::decode(T::KIND, &headers, sent).map_err(|r| r.answer(format, T::KIND))?;
    let record = state
        .coupa
        .add_setup(record.prepared())
        .await
        .map_err(|r| match r {
            Refusal::Invalid(m) => error::<T>(StatusCode::BAD_REQUEST, format, m),
            other => error::<T>(
                StatusCode::INTERNAL_SERVER_ERROR,
                format,
                vec![other.to_string()],
            ),
        })?;
    let value = serde_json::to_value(&record).unwrap_or(Value::Null);
    Ok(body::answer(
        StatusCode::CREATED,
        format,
        Some(coupa_wire::encode_value(format, T::KIND, &value)),
    ))
}
