//! OAuth2 client credentials (`POST /oauth2/token`, alias `/oauth2/access_tokens`), bearer tokens with
//! scopes and expiry, and the legacy `X-COUPA-API-KEY` header.
//!
//! Coupa leaves two things unstated (reference §9.1); the sandbox chooses: a missing, unknown or
//! expired token is 401, a valid token without the scope an endpoint needs is 403. Tokens are opaque
//! random strings held in memory: after a restart, clients fetch a new one (they get a 401 first).

use crate::server::{AppState, wanted_format};
use crate::{ApiError, SandboxConfig};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Form, Router};
use rand::RngExt;
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Every scope the sandbox knows; a client configured without a list may be granted any of them.
pub const KNOWN_SCOPES: &[&str] = &[
    "core.user.read",
    "core.user.write",
    "core.common.read",
    "core.common.write",
    "core.integration.read",
    "core.integration.write",
];

/// Who made a request, put in the request's and the response's extensions by the auth layer so the
/// rate limiter and the access log can key on it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub client_id: String,
    pub scopes: Vec<String>,
}

#[derive(Debug)]
struct Grant {
    caller: Caller,
    expires: Instant,
}

/// Issued access tokens.
#[derive(Debug)]
pub(crate) struct Tokens {
    ttl: Duration,
    grants: Mutex<HashMap<String, Grant>>,
}

impl Tokens {
    pub fn new(config: &SandboxConfig) -> Tokens {
        Tokens {
            ttl: config.token_ttl,
            grants: Mutex::new(HashMap::new()),
        }
    }

    fn issue(&self, caller: Caller) -> String {
        let token: String = {
            let mut rng = rand::rng();
            (0..40)
                .map(|_| {
                    char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rng.random_range(0..36)])
                })
                .collect()
        };
        let now = Instant::now();
        let mut grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        // Forget expired grants so a long-running sandbox does not grow without bound.
        grants.retain(|_, g| g.expires > now);
        grants.insert(
            token.clone(),
            Grant {
                caller,
                expires: now + self.ttl,
            },
        );
        token
    }

    fn check(&self, token: &str) -> Option<Caller> {
        let grants = self.grants.lock().unwrap_or_else(|e| e.into_inner());
        grants
            .get(token)
            .filter(|g| g.expires > Instant::now())
            .map(|g| g.caller.clone())
    }
}

/// Compares secrets without leaking their length of common prefix through timing.
fn same_secret(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The scope an API request needs: users need `core.user.*`; the Integrations APIs
/// (integrations, contacts, runs, history records, errors) `core.integration.*`; everything else
/// (reference data, data file sources) `core.common.*`. Reads (GET, HEAD, OPTIONS) need `.read`,
/// any other verb `.write`.
fn required_scope(method: &Method, path: &str) -> &'static str {
    let write = !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    let under = |base: &str| {
        path.strip_prefix(base)
            .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
    };
    let area = if under("/api/users") {
        Area::User
    } else if INTEGRATION_PATHS.iter().any(|base| under(base)) {
        Area::Integration
    } else {
        Area::Common
    };
    match (area, write) {
        (Area::User, false) => "core.user.read",
        (Area::User, true) => "core.user.write",
        (Area::Integration, false) => "core.integration.read",
        (Area::Integration, true) => "core.integration.write",
        (Area::Common, false) => "core.common.read",
        (Area::Common, true) => "core.common.write",
    }
}

#[derive(Clone, Copy)]
enum Area {
    User,
    Integration,
    Common,
}

/// The Integrations APIs of reference §7.
const INTEGRATION_PATHS: &[&str] = &[
    "/api/integrations",
    "/api/integration_contacts",
    "/api/integration_runs",
    "/api/integration_history_records",
    "/api/integration_errors",
];

/// Authenticates every API request and checks its scope.
pub(crate) async fn layer(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let format = wanted_format(&parts);
    let unauthorized = |message: &str| {
        ApiError::new(StatusCode::UNAUTHORIZED, format, vec![message.to_string()])
            .with_header(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"coupa-sandbox\""),
            )
            .into_response()
    };
    let bearer = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim);
    let api_key = parts
        .headers
        .get("x-coupa-api-key")
        .and_then(|v| v.to_str().ok());
    let caller = match (bearer, api_key, &state.config.api_key) {
        (Some(token), _, _) => match state.tokens.check(token) {
            Some(caller) => caller,
            None => return unauthorized("Invalid or expired access token"),
        },
        (None, Some(given), Some(key)) if same_secret(given, key.expose_secret()) => Caller {
            client_id: "api-key".into(),
            // A legacy key belongs to an API user that Coupa treats like an admin.
            scopes: KNOWN_SCOPES.iter().map(|s| s.to_string()).collect(),
        },
        (None, Some(_), _) => return unauthorized("Unauthorized: invalid API key"),
        (None, None, _) => return unauthorized("Unauthorized: send an OAuth2 bearer token"),
    };
    let scope = required_scope(&parts.method, parts.uri.path());
    if !caller.scopes.iter().any(|s| s == scope) {
        return ApiError::new(
            StatusCode::FORBIDDEN,
            format,
            vec![format!("Access token lacks the scope {scope}")],
        )
        .into_response();
    }
    req = Request::from_parts(parts, body);
    req.extensions_mut().insert(caller.clone());
    let mut res = next.run(req).await;
    res.extensions_mut().insert(caller);
    res
}

pub(crate) fn token_routes() -> Router<AppState> {
    Router::new()
        .route("/oauth2/token", post(token))
        .route("/oauth2/access_tokens", post(token))
}

#[derive(Deserialize)]
struct TokenRequest {
    grant_type: Option<String>,
    client_id: Option<String>,
    client_secret: Option<SecretString>,
    scope: Option<String>,
}

/// An RFC 6749 error answer (`{"error": "invalid_client", "error_description": …}`).
fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    let body = serde_json::json!({ "error": error, "error_description": description });
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

async fn token(
    State(state): State<AppState>,
    form: Result<Form<TokenRequest>, axum::extract::rejection::FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "send an application/x-www-form-urlencoded body",
        );
    };
    if form.grant_type.as_deref() != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "only client_credentials is supported",
        );
    }
    let (Some(id), Some(secret)) = (form.client_id.as_deref(), form.client_secret.as_ref()) else {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            "client_id and client_secret are required",
        );
    };
    let Some(client) = state
        .config
        .clients
        .iter()
        .find(|c| c.id == id && same_secret(c.secret.expose_secret(), secret.expose_secret()))
    else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown client or wrong secret",
        );
    };
    let allowed: Vec<&str> = if client.scopes.is_empty() {
        KNOWN_SCOPES.to_vec()
    } else {
        client.scopes.iter().map(String::as_str).collect()
    };
    let requested: Vec<&str> = match form.scope.as_deref().map(str::trim) {
        Some(s) if !s.is_empty() => s.split_whitespace().collect(),
        _ => allowed.clone(),
    };
    if let Some(bad) = requested.iter().find(|s| !allowed.contains(s)) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            &format!("scope {bad} is not granted to this client"),
        );
    }
    let scopes: Vec<String> = requested.iter().map(|s| s.to_string()).collect();
    let scope = scopes.join(" ");
    let token = state.tokens.issue(Caller {
        client_id: client.id.clone(),
        scopes,
    });
    let body = serde_json::json!({
        "access_token": token,
        "token_type": "bearer",
        "expires_in": state.tokens.ttl.as_secs(),
        "scope": scope,
    });
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/json"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        body.to_string(),
    )
        .into_response()
}
