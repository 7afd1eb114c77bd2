//! The sandbox's mailbox: an SMTP server (`--smtp ADDR`) that keeps the e-mails it receives in memory,
//! and `GET/DELETE /mailbox/messages` to read them, so coupa-sync's notifications can be tested locally.
//!
//! The HTTP routes are unauthenticated and sit outside faults and rate limits: they are the sandbox's
//! own test tool, not part of Coupa. Only the most recent messages are kept (see `CAPACITY`).

mod mime;
mod own;
mod smtp;

pub(crate) use own::check_address;
pub(crate) use smtp::serve;

use crate::server::AppState;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;
use std::sync::Mutex;

/// How many messages are kept; the oldest go first.
const CAPACITY: usize = 1_000;
/// How many bytes of raw messages are kept in all; the oldest go first.
const CAPACITY_BYTES: usize = 64 * 1024 * 1024;

/// One received e-mail, as listed by `GET /mailbox/messages`.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Message {
    pub id: u64,
    pub received_at: DateTime<Utc>,
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`): Bcc recipients are here too.
    pub to: Vec<String>,
    pub subject: Option<String>,
    /// The `Date:` header as sent.
    pub date: Option<String>,
    /// The text of the message, transfer encoding undone.
    pub body: String,
    /// The message as received, headers included.
    pub raw: String,
}

#[derive(Debug, Default)]
pub(crate) struct Mailbox {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_id: u64,
    bytes: usize,
    messages: VecDeque<Message>,
}

impl Mailbox {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Keeps a message received over SMTP and returns its id.
    pub fn deliver(&self, from: String, to: Vec<String>, raw: &[u8]) -> u64 {
        let parsed = mime::parse(raw);
        let mut inner = self.lock();
        inner.next_id += 1;
        let message = Message {
            id: inner.next_id,
            received_at: Utc::now(),
            from,
            to,
            subject: parsed.subject,
            date: parsed.date,
            body: parsed.body,
            raw: String::from_utf8_lossy(raw).into_owned(),
        };
        inner.bytes += message.raw.len();
        inner.messages.push_back(message);
        while inner.messages.len() > CAPACITY || inner.bytes > CAPACITY_BYTES {
            match inner.messages.pop_front() {
                Some(old) => inner.bytes -= old.raw.len(),
                None => break,
            }
        }
        inner.next_id
    }

    fn list(&self, to: Option<&str>) -> Vec<Message> {
        self.lock()
            .messages
            .iter()
            .filter(|m| to.is_none_or(|to| m.to.iter().any(|r| r.eq_ignore_ascii_case(to))))
            .cloned()
            .collect()
    }

    fn get(&self, id: u64) -> Option<Message> {
        self.lock().messages.iter().find(|m| m.id == id).cloned()
    }

    fn clear(&self) {
        let mut inner = self.lock();
        inner.messages.clear();
        inner.bytes = 0;
    }
}

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/mailbox/messages", get(list).delete(clear))
        .route("/mailbox/messages/{id}", get(show))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    /// Only messages with this envelope recipient (case-insensitive).
    to: Option<String>,
}

async fn list(State(state): State<AppState>, Query(query): Query<ListQuery>) -> Response {
    json(StatusCode::OK, &state.mailbox.list(query.to.as_deref()))
}

async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    let Ok(id) = id.parse::<u64>() else {
        return problem(
            StatusCode::BAD_REQUEST,
            &format!("message id must be a number, got {id:?}"),
        );
    };
    match state.mailbox.get(id) {
        Some(message) => json(StatusCode::OK, &message),
        None => problem(
            StatusCode::NOT_FOUND,
            &format!("no message {id} in the mailbox"),
        ),
    }
}

async fn clear(State(state): State<AppState>) -> StatusCode {
    state.mailbox.clear();
    StatusCode::NO_CONTENT
}

fn problem(status: StatusCode, error: &str) -> Response {
    json(status, &serde_json::json!({ "error": error }))
}

fn json(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(body) => (status, [(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}
