//! `/api/users`: query, show, create, update (PUT and PATCH alike: a partial update).

use crate::ApiError;
use crate::body::{self, MAX_BODY};
use crate::render::{self, Shape};
use crate::server::{AppState, Wants};
use crate::store::{Refusal, StoredUser};
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, Path, RawQuery, State};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use coupa_wire::{Format, Query, User};

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/users", get(list).post(create).fallback(not_allowed))
        .route(
            "/api/users/{id}",
            get(show).put(update).patch(update).fallback(not_allowed),
        )
        .layer(DefaultBodyLimit::max(MAX_BODY))
}

fn bad_request(format: Format, message: impl Into<String>) -> ApiError {
    ApiError::bad_request(format, message)
}

/// The query string, parsed; on writes only its shaping parameters matter.
fn parse_query(raw: Option<&str>) -> Result<(Query, Shape), String> {
    let query = Query::parse(raw.unwrap_or("")).map_err(|e| e.to_string())?;
    let shape = Shape::of(&query)?;
    Ok((query, shape))
}

async fn list(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (query, shape) = parse_query(raw.as_deref()).map_err(|m| bad_request(format, m))?;
    if shape == Shape::Nothing {
        return Err(bad_request(
            format,
            "return_object=none applies to writes only",
        ));
    }
    let coupa = state.coupa.read();
    let page = crate::query::search(&coupa, &query).map_err(|m| bad_request(format, m))?;
    if page.is_empty() && format == Format::Xml {
        // Coupa answers an XML query without results 404; JSON gets an empty list.
        return Err(ApiError::not_found(format));
    }
    let items = page
        .into_iter()
        .filter_map(|u| render::user(&coupa, u, &shape))
        .collect();
    Ok(body::answer(
        StatusCode::OK,
        format,
        Some(coupa_wire::encode_value_list(format, "users", items)),
    ))
}

fn missing(format: Format, id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        format,
        vec![format!("Couldn't find User with 'id'={id}")],
    )
}

fn one(
    state: &AppState,
    format: Format,
    status: StatusCode,
    user: &StoredUser,
    shape: &Shape,
) -> Response {
    let coupa = state.coupa.read();
    let body =
        render::user(&coupa, user, shape).map(|v| coupa_wire::encode_value(format, "user", &v));
    body::answer(status, format, body)
}

async fn show(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let (_, shape) = parse_query(raw.as_deref()).map_err(|m| bad_request(format, m))?;
    // Anything that is not an id finds no user, as in Coupa (Rails' 404).
    let id = raw_id
        .parse::<i64>()
        .map_err(|_| missing(format, &raw_id))?;
    let user = state.coupa.read().user(id).cloned();
    let user = user.ok_or_else(|| missing(format, &raw_id))?;
    Ok(one(&state, format, StatusCode::OK, &user, &shape))
}

fn refused(format: Format, id: &str, refusal: Refusal) -> ApiError {
    match refusal {
        Refusal::NotFound => missing(format, id),
        Refusal::Invalid(messages) => ApiError::new(StatusCode::BAD_REQUEST, format, messages),
        Refusal::Storage(m) => ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format,
            vec![format!("The change could not be saved: {m}")],
        ),
    }
}

async fn create(
    State(state): State<AppState>,
    Wants(format): Wants,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (_, shape) = parse_query(raw.as_deref()).map_err(|m| bad_request(format, m))?;
    let input: User = body::decode("user", &headers, sent).map_err(|r| r.answer(format, "user"))?;
    let invite = input.generate_password_and_notify == Some(true);
    let user = state
        .coupa
        .create_user(input)
        .await
        .map_err(|r| refused(format, "", r))?;
    if invite {
        crate::invitation::send(&state, &user.user);
    }
    Ok(one(&state, format, StatusCode::CREATED, &user, &shape))
}

async fn update(
    State(state): State<AppState>,
    Wants(format): Wants,
    Path(raw_id): Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
    sent: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let (_, shape) = parse_query(raw.as_deref()).map_err(|m| bad_request(format, m))?;
    // Anything that is not an id finds no user, as in Coupa (Rails' 404).
    let id = raw_id
        .parse::<i64>()
        .map_err(|_| missing(format, &raw_id))?;
    if state.coupa.read().user(id).is_none() {
        return Err(missing(format, &raw_id));
    }
    let input: User = body::decode("user", &headers, sent).map_err(|r| r.answer(format, "user"))?;
    let user = state
        .coupa
        .update_user(id, input)
        .await
        .map_err(|r| refused(format, &raw_id, r))?;
    Ok(one(&state, format, StatusCode::OK, &user, &shape))
}

/// Coupa has no DELETE (users are deactivated with `active=false`) nor any other verb here.
async fn not_allowed(Wants(format): Wants, method: Method) -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format,
        vec![format!(
            "{method} is not supported on users; deactivate a user with active=false"
        )],
    )
}
