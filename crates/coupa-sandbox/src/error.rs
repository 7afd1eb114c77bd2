//! The sandbox's errors: `ApiError` is an answer in Coupa's error format; `SandboxError` is a failure
//! to start (bad reference file, unusable data folder, port in use).

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coupa_wire::{ErrorsBody, Format};

/// An error answer: status plus Coupa's `<errors><error>` (XML) or `{"errors":{"user":[…]}}` (JSON).
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub messages: Vec<String>,
    pub format: Format,
    /// The JSON key Coupa puts the messages under (`user`).
    pub resource: &'static str,
    pub headers: HeaderMap,
}

impl ApiError {
    pub fn new(status: StatusCode, format: Format, messages: Vec<String>) -> ApiError {
        ApiError {
            status,
            messages,
            format,
            resource: "user",
            headers: HeaderMap::new(),
        }
    }

    pub fn bad_request(format: Format, message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, format, vec![message.into()])
    }

    pub fn not_found(format: Format) -> ApiError {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format,
            vec![coupa_wire::NO_RESULTS.to_string()],
        )
    }

    pub fn with_header(mut self, name: header::HeaderName, value: HeaderValue) -> ApiError {
        self.headers.insert(name, value);
        self
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorsBody::new(self.messages).encode(self.format, self.resource);
        let mut res = (self.status, body).into_response();
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(content_type(self.format)),
        );
        res.headers_mut().extend(self.headers);
        res
    }
}

/// The `Content-Type` of a sandbox answer.
pub fn content_type(format: Format) -> &'static str {
    match format {
        Format::Xml => "application/xml; charset=utf-8",
        Format::Json => "application/json; charset=utf-8",
    }
}

/// A failure to start or run the sandbox.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("configuration: {0}")]
    Config(String),
    #[error("reference file {path}: {message}")]
    Reference { path: String, message: String },
    #[error("data folder {path}: {message}")]
    Data { path: String, message: String },
    #[error("access log {path}: {message}")]
    AccessLog { path: String, message: String },
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}
