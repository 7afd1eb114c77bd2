//! `GET /api/data_file_sources` and `/api/data_file_sources/{id}`: Coupa's read-only API over the
//! loads, in XML (default) or JSON.
//!
//! Conditions work on the record's own attributes with Coupa's operators (`file_file_name=…`,
//! `file_file_name[ends_with]=…`, `created_at[gt]='2015-04-16 22:00:00'`, `status[in]=done,failed`);
//! see [`crate::records`] for how they compare, order and page.

use super::DataFileSource;
use crate::ApiError;
use crate::body;
use crate::records::{self, Attribute, Kind, as_map};
use crate::server::{AppState, Wants};
use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use coupa_wire::{Format, Query};
use serde_json::Value;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/data_file_sources", get(list).fallback(not_allowed))
        .route(
            "/api/data_file_sources/{id}",
            get(show).fallback(not_allowed),
        )
}

/// Errors about data file sources; JSON puts the messages under `data_file_source`.
fn error(status: StatusCode, format: Format, message: String) -> ApiError {
    let mut e = ApiError::new(status, format, vec![message]);
    e.resource = "data_file_source";
    e
}

/// The attributes a condition or `order_by` may name (element spelling; `_` works too).
const ATTRIBUTES: &[Attribute] = &[
    ("id", Kind::Integer),
    ("created-at", Kind::DateTime),
    ("updated-at", Kind::DateTime),
    ("type", Kind::Text),
    ("source-for", Kind::Text),
    ("status", Kind::Text),
    ("file-file-name", Kind::Text),
    ("file-content-type", Kind::Text),
    ("file-file-size", Kind::Integer),
    ("result-text", Kind::Text),
    ("start-time", Kind::DateTime),
    ("end-time", Kind::DateTime),
    ("records-count", Kind::Integer),
    ("records-created", Kind::Integer),
    ("records-updated", Kind::Integer),
    ("upload-errors-count", Kind::Integer),
];

/// The page of loads a query selects, as wire values.
fn search(loads: &[DataFileSource], query: &Query) -> Result<Vec<Value>, String> {
    let records = loads.iter().map(as_map).collect();
    let page = records::search(records, ATTRIBUTES, "data file sources", query)?;
    Ok(page.into_iter().map(Value::Object).collect())
}

async fn list(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, format, m);
    let query = Query::parse(raw.as_deref().unwrap_or("")).map_err(|e| bad(e.to_string()))?;
    let page = search(&state.data_sources.all(), &query).map_err(bad)?;
    if page.is_empty() && format == Format::Xml {
        // As for users: an XML query without results is a 404, JSON gets an empty list.
        return Err(error(
            StatusCode::NOT_FOUND,
            format,
            coupa_wire::NO_RESULTS.into(),
        ));
    }
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value_list(
            format,
            "data-file-sources",
            page,
        )),
    ))
}

async fn show(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw_id): Path<String>,
) -> Result<Response, ApiError> {
    let load = raw_id
        .parse::<i64>()
        .ok()
        .and_then(|id| state.data_sources.get(id))
        .ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format,
                format!("Couldn't find DataFileSource with 'id'={raw_id}"),
            )
        })?;
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value(
            format,
            "data-file-source",
            &Value::Object(as_map(&load)),
        )),
    ))
}

/// Coupa: creating or updating a data file source through the API is not supported.
async fn not_allowed(Wants(format): Wants, method: Method) -> ApiError {
    error(
        StatusCode::METHOD_NOT_ALLOWED,
        format,
        format!(
            "{method} is not supported on data file sources: they are made by loading a file \
             dropped in /Incoming/Users"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data_sources::{LoadStatus, file_file_name};
    use chrono::DateTime;

    fn load(id: i64, name: &str, status: LoadStatus, created: &str) -> DataFileSource {
        let at = DateTime::parse_from_rfc3339(created).unwrap();
        DataFileSource {
            id,
            created_at: at,
            updated_at: at,
            kind: "DataFileSource".into(),
            source_for: "User".into(),
            status,
            file_file_name: file_file_name(name),
            file_content_type: "text/csv".into(),
            file_file_size: "10".into(),
            result_text: None,
            start_time: None,
            end_time: None,
            records_count: 0,
            records_created: 0,
            records_updated: 0,
            upload_errors_count: 0,
            integration_id: None,
            integration_run_id: None,
            created_by: coupa_wire::UserRef::default(),
            updated_by: coupa_wire::UserRef::default(),
            upload_errors: Vec::new(),
        }
    }

    fn ids(query: &str) -> Result<Vec<i64>, String> {
        let loads = vec![
            load(1, "a.csv", LoadStatus::Done, "2026-01-01T10:00:00Z"),
            load(2, "b.csv", LoadStatus::Failed, "2026-01-02T10:00:00Z"),
            load(3, "users_b.csv", LoadStatus::Done, "2026-01-03T10:00:00Z"),
        ];
        let page = search(&loads, &Query::parse(query).map_err(|e| e.to_string())?)?;
        Ok(page.iter().filter_map(|v| v["id"].as_i64()).collect())
    }

    #[test]
    fn filters_with_coupas_operators_and_date_forms() {
        assert_eq!(ids("file_file_name=_incoming_users_b.csv"), Ok(vec![2]));
        assert_eq!(ids("file_file_name[ends_with]=b.csv"), Ok(vec![2, 3]));
        assert_eq!(ids("status=done&source_for=User"), Ok(vec![1, 3]));
        assert_eq!(ids("status[not_eq]=done"), Ok(vec![2]));
        assert_eq!(ids("created_at[gt]='2026-01-01 10:00:00'"), Ok(vec![2, 3]));
        assert_eq!(ids("created_at[lt]=2026-01-02T10:00:00Z"), Ok(vec![1]));
        assert_eq!(ids("id[in]=1,3&order_by=id&dir=desc"), Ok(vec![3, 1]));
        assert_eq!(ids("result_text[blank]=true&limit=1&offset=1"), Ok(vec![2]));
    }

    #[test]
    fn refuses_what_it_cannot_answer() {
        assert!(
            ids("owner=me")
                .unwrap_err()
                .contains("Unknown search attribute owner")
        );
        assert!(ids("id[contains]=1").unwrap_err().contains("not text"));
        assert!(
            ids("created_at[gt]=yesterday")
                .unwrap_err()
                .contains("date-time")
        );
        assert!(ids("limit=0").unwrap_err().contains("at least 1"));
        assert!(ids("order_by=owner").unwrap_err().contains("order_by"));
    }
}
