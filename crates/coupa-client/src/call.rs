//! What each HTTP exchange leaves behind: a tracing event and a [`CallRecord`] handed to the caller's
//! hook (the engine's call log). Secrets are removed before either sees a body.

use reqwest::{Method, StatusCode};
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

/// The text that replaces a secret in a recorded body.
pub const REDACTED: &str = "[redacted]";

/// One HTTP exchange with Coupa, as the hook sees it. Authorization headers are never part of it; the
/// token request's `client_secret`, the token answer's `access_token` and a user's `password` are
/// replaced by `[redacted]`.
#[derive(Debug)]
pub struct CallRecord<'a> {
    pub method: &'a Method,
    /// Path and query, e.g. `/api/users?login%5Bin%5D=…`.
    pub path: &'a str,
    /// `None` when no answer came (see `transport_error`).
    pub status: Option<StatusCode>,
    pub transport_error: Option<&'a str>,
    /// From sending the request to having read the whole answer.
    pub duration: Duration,
    /// 1 for the first attempt of a call, 2 for its first retry, and so on.
    pub attempt: u32,
    /// How long the request waited for the rate governor before it was sent.
    pub rate_limit_wait: Duration,
    pub request_body: Option<&'a [u8]>,
    pub response_body: Option<&'a [u8]>,
    /// Coupa's error messages, when the answer was an error body.
    pub messages: &'a [String],
}

impl CallRecord<'_> {
    pub fn request_text(&self) -> Option<Cow<'_, str>> {
        self.request_body.map(String::from_utf8_lossy)
    }

    pub fn response_text(&self) -> Option<Cow<'_, str>> {
        self.response_body.map(String::from_utf8_lossy)
    }
}

/// Called once per HTTP exchange, from the task that made it; keep it quick.
pub type CallHook = Arc<dyn Fn(&CallRecord<'_>) + Send + Sync>;

/// Emits the tracing event of an exchange.
pub(crate) fn trace(record: &CallRecord<'_>) {
    let status = record.status.map(|s| s.as_u16());
    let duration_ms = record.duration.as_secs_f64() * 1000.0;
    let wait_ms = record.rate_limit_wait.as_secs_f64() * 1000.0;
    let ok = status.is_some_and(|s| s < 400);
    if ok {
        tracing::debug!(
            target: "coupa_client::call",
            method = %record.method,
            path = record.path,
            status,
            duration_ms,
            attempt = record.attempt,
            rate_limit_wait_ms = wait_ms,
            "coupa call"
        );
    } else {
        tracing::warn!(
            target: "coupa_client::call",
            method = %record.method,
            path = record.path,
            status,
            error = record.transport_error,
            messages = ?record.messages,
            duration_ms,
            attempt = record.attempt,
            rate_limit_wait_ms = wait_ms,
            "coupa call failed"
        );
    }
}

/// The token request's form body as it may be recorded: every field but the secret.
pub(crate) fn redact_form(pairs: &[(&str, &str)]) -> Vec<u8> {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs.iter().map(|(k, v)| {
            let shown = if *k == "client_secret" { REDACTED } else { v };
            (*k, shown)
        }))
        .finish()
        .into_bytes()
}

/// A token answer as it may be recorded: its tokens replaced. A body that is not a JSON object is
/// dropped whole, since its secrets cannot be found in it.
pub(crate) fn redact_token_answer(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(serde_json::Value::Object(mut map)) => {
            for key in ["access_token", "refresh_token", "id_token"] {
                if let Some(v) = map.get_mut(key) {
                    *v = serde_json::Value::String(REDACTED.into());
                }
            }
            serde_json::Value::Object(map).to_string().into_bytes()
        }
        _ => REDACTED.as_bytes().to_vec(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_client_secret_never_reaches_the_record() {
        let body = redact_form(&[
            ("grant_type", "client_credentials"),
            ("client_id", "sync"),
            ("client_secret", "s3cr3t&x"),
            ("scope", "core.user.read core.user.write"),
        ]);
        let text = String::from_utf8(body).unwrap();
        assert_eq!(
            text,
            "grant_type=client_credentials&client_id=sync&client_secret=%5Bredacted%5D\
             &scope=core.user.read+core.user.write"
        );
    }

    #[test]
    fn token_answers_lose_their_tokens() {
        let body = br#"{"access_token":"abc","token_type":"bearer","expires_in":60}"#;
        let text = String::from_utf8(redact_token_answer(body)).unwrap();
        assert!(!text.contains("abc"));
        assert!(text.contains(r#""access_token":"[redacted]""#));
        assert!(text.contains(r#""expires_in":60"#));
        assert_eq!(
            redact_token_answer(b"access_token=abc"),
            REDACTED.as_bytes()
        );
    }
}
