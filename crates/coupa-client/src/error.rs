//! The client's one error type: which request failed, what Coupa answered, and why.
//!
//! An error never holds a credential: requests are named by method and path (with query), and bodies
//! appear only as short excerpts of answers, after the token answer's secrets are removed.

use reqwest::{Method, StatusCode};
use std::fmt;
use std::time::Duration;

/// The request an error belongs to: method and path with query (`GET /api/users?login=jdoe`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestLine {
    pub method: Method,
    pub path: String,
}

impl fmt::Display for RequestLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.method, self.path)
    }
}

/// How a request failed before an answer arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportFailure {
    /// No connection could be made: the request never reached Coupa.
    Connect,
    /// No complete answer in time: the request may have run.
    Timeout,
    /// The connection broke after the request was sent: it may have run.
    Interrupted,
}

/// What went wrong.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ErrorKind {
    /// Coupa answered an error status. `messages` are Coupa's `<errors><error>` texts (empty when the
    /// body was not a Coupa error body, e.g. a proxy's HTML page: `excerpt` then shows its start).
    Status {
        messages: Vec<String>,
        excerpt: Option<String>,
        /// The wait the answer asked for (`Retry-After`), on 429 and 503.
        retry_after: Option<Duration>,
    },
    /// The token endpoint refused the client credentials (RFC 6749 `error` and `error_description`).
    Token { error: String, description: String },
    /// No answer: see [`TransportFailure`].
    Transport {
        failure: TransportFailure,
        detail: String,
    },
    /// The answer is not the document expected: wrong content type, empty, malformed, too large,
    /// or a field that does not decode (`field` names it, e.g. `roles[0].name`).
    Body {
        expected: String,
        detail: String,
        field: Option<String>,
    },
    /// The client was configured or called with something it cannot use.
    Invalid(String),
}

/// An error from a Coupa call. It keeps the request, the HTTP status and Coupa's messages.
#[derive(Debug, Clone)]
pub struct Error(Box<Inner>);

#[derive(Debug, Clone)]
struct Inner {
    request: Option<RequestLine>,
    status: Option<StatusCode>,
    attempts: u32,
    kind: ErrorKind,
    /// True when the API request itself was never sent (no connection, no token): resending it is
    /// safe whatever its method.
    unsent: bool,
}

impl Error {
    pub(crate) fn new(kind: ErrorKind) -> Error {
        Error(Box::new(Inner {
            request: None,
            status: None,
            attempts: 0,
            kind,
            unsent: false,
        }))
    }

    pub(crate) fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Invalid(message.into()))
    }

    pub(crate) fn body(expected: &str, detail: impl Into<String>, field: Option<String>) -> Error {
        Error::new(ErrorKind::Body {
            expected: expected.to_string(),
            detail: detail.into(),
            field,
        })
    }

    pub(crate) fn with_request(mut self, request: RequestLine) -> Error {
        self.0.request = Some(request);
        self
    }

    pub(crate) fn with_status(mut self, status: StatusCode) -> Error {
        self.0.status = Some(status);
        self
    }

    pub(crate) fn with_attempts(mut self, attempts: u32) -> Error {
        self.0.attempts = attempts;
        self
    }

    pub(crate) fn unsent(mut self) -> Error {
        self.0.unsent = true;
        self
    }

    /// Whether the API request itself was never sent.
    pub(crate) fn is_unsent(&self) -> bool {
        self.0.unsent
    }

    pub fn kind(&self) -> &ErrorKind {
        &self.0.kind
    }

    /// The failed request, when one was made.
    pub fn request(&self) -> Option<&RequestLine> {
        self.0.request.as_ref()
    }

    /// The HTTP status of the answer, when there was one.
    pub fn status(&self) -> Option<StatusCode> {
        self.0.status
    }

    /// How many times the request was sent before the client gave up (0 when it never was).
    pub fn attempts(&self) -> u32 {
        self.0.attempts
    }

    /// Coupa's error messages (`Login has already been taken`), in Coupa's order.
    pub fn messages(&self) -> &[String] {
        match &self.0.kind {
            ErrorKind::Status { messages, .. } => messages,
            _ => &[],
        }
    }

    pub fn is_not_found(&self) -> bool {
        self.0.status == Some(StatusCode::NOT_FOUND)
    }

    pub fn is_timeout(&self) -> bool {
        matches!(
            self.0.kind,
            ErrorKind::Transport {
                failure: TransportFailure::Timeout,
                ..
            }
        )
    }

    /// A failure after which a write may have run on Coupa's side although no success came back:
    /// a timeout, a broken connection, or a 500/502/503/504 from a proxy or from Coupa.
    pub fn outcome_unknown(&self) -> bool {
        if self.0.unsent {
            return false;
        }
        match self.0.kind {
            ErrorKind::Transport { failure, .. } => failure != TransportFailure::Connect,
            ErrorKind::Status { .. } => {
                matches!(
                    self.0.status.map(|s| s.as_u16()),
                    Some(500 | 502 | 503 | 504)
                )
            }
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(r) = &self.0.request {
            write!(f, "{r}")?;
        }
        if let Some(s) = self.0.status {
            write!(f, " → {s}")?;
        }
        if self.0.request.is_some() || self.0.status.is_some() {
            f.write_str(": ")?;
        }
        match &self.0.kind {
            ErrorKind::Status {
                messages, excerpt, ..
            } => {
                if !messages.is_empty() {
                    write!(f, "Coupa says: {}", messages.join("; "))?;
                } else if let Some(e) = excerpt {
                    write!(f, "not a Coupa error body: {e}")?;
                } else {
                    f.write_str("no error message")?;
                }
            }
            ErrorKind::Token { error, description } => {
                write!(f, "token refused: {error}")?;
                if !description.is_empty() {
                    write!(f, ": {description}")?;
                }
            }
            ErrorKind::Transport { failure, detail } => {
                let what = match failure {
                    TransportFailure::Connect => "could not connect",
                    TransportFailure::Timeout => "timed out",
                    TransportFailure::Interrupted => "connection broke before the answer",
                };
                write!(f, "{what}: {detail}")?;
            }
            ErrorKind::Body {
                expected, detail, ..
            } => write!(f, "expected {expected}: {detail}")?,
            ErrorKind::Invalid(m) => f.write_str(m)?,
        }
        if self.0.attempts > 1 {
            write!(f, " (after {} attempts)", self.0.attempts)?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// The start of a body, for error messages: at most 120 characters on one line.
pub(crate) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 120 {
        format!("{:?}…", line.chars().take(120).collect::<String>())
    } else {
        format!("{line:?}")
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_request_status_and_messages() {
        let e = Error::new(ErrorKind::Status {
            messages: vec!["Login has already been taken".into()],
            excerpt: None,
            retry_after: None,
        })
        .with_request(RequestLine {
            method: Method::POST,
            path: "/api/users".into(),
        })
        .with_status(StatusCode::BAD_REQUEST);
        assert_eq!(
            e.to_string(),
            "POST /api/users → 400 Bad Request: Coupa says: Login has already been taken"
        );
        assert_eq!(e.messages(), ["Login has already been taken"]);
    }

    #[test]
    fn only_ambiguous_failures_leave_the_outcome_unknown() {
        let transport = |failure| {
            Error::new(ErrorKind::Transport {
                failure,
                detail: String::new(),
            })
        };
        assert!(transport(TransportFailure::Timeout).outcome_unknown());
        assert!(transport(TransportFailure::Interrupted).outcome_unknown());
        assert!(!transport(TransportFailure::Connect).outcome_unknown());
        assert!(
            !transport(TransportFailure::Timeout)
                .unsent()
                .outcome_unknown()
        );
        let status = |code| {
            Error::new(ErrorKind::Status {
                messages: vec![],
                excerpt: None,
                retry_after: None,
            })
            .with_status(StatusCode::from_u16(code).unwrap())
        };
        assert!(status(502).outcome_unknown());
        assert!(!status(400).outcome_unknown());
        assert!(!status(429).outcome_unknown());
    }

    #[test]
    fn excerpt_is_one_short_line() {
        let page = format!("<html>\n  <body>{}</body></html>", "x".repeat(500));
        let e = excerpt(page.as_bytes());
        assert!(e.starts_with("\"<html> <body>xxx"));
        assert!(e.chars().count() < 130);
    }
}
