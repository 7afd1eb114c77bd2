//! The access log: one JSON line per request (time, client, method, path with query, status, duration).
//!
//! A line is `{"time":"2026-01-01T10:00:00.123Z","client":"hr-sync","remote":"127.0.0.1:50412",
//! "method":"GET","path":"/api/users?login=jdoe","status":200,"duration_ms":0.41}`, plus
//! `"fault":"drop"` when a fault was injected. `client` is the OAuth2 client id (`api-key` for the
//! legacy key, `-` when the request was not authenticated); `remote` is null when unknown;
//! `duration_ms` runs until the answer's head is ready. Headers and bodies are never logged, and
//! query parameters whose names look secret (token, secret, key, password) are written as `[REDACTED]`.
//!
//! Requests hand their line to a writer task through a bounded channel, so a request never waits on
//! the disk unless thousands of lines are queued; the writer flushes whenever the queue runs empty.

use crate::SandboxError;
use crate::auth::Caller;
use crate::faults::Fault;
use crate::server::AppState;
use axum::extract::{ConnectInfo, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use chrono::{SecondsFormat, Utc};
use serde::Serialize;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::sync::{mpsc, oneshot};

/// Lines that may wait for the writer before requests start waiting too.
const QUEUE: usize = 8192;

enum Message {
    Line(String),
    Flush(oneshot::Sender<()>),
}

#[derive(Debug)]
pub(crate) struct AccessLog {
    queue: mpsc::Sender<Message>,
}

impl AccessLog {
    /// Opens `path` for appending (creating it) and starts the writer task.
    pub async fn open(path: &Path) -> Result<AccessLog, SandboxError> {
        let file = tokio::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
            .await
            .map_err(|e| SandboxError::AccessLog {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        let (queue, lines) = mpsc::channel(QUEUE);
        tokio::spawn(write_lines(
            tokio::io::BufWriter::new(file),
            lines,
            path.display().to_string(),
        ));
        Ok(AccessLog { queue })
    }

    /// Waits until every line logged so far is in the file.
    pub async fn flush(&self) {
        let (done, flushed) = oneshot::channel();
        if self.queue.send(Message::Flush(done)).await.is_ok() {
            let _ = flushed.await;
        }
    }
}

async fn write_lines(
    mut out: tokio::io::BufWriter<tokio::fs::File>,
    mut queue: mpsc::Receiver<Message>,
    path: String,
) {
    // One warning, not one per request, when the disk fails; the sandbox keeps serving.
    let mut failed = false;
    let mut report = |result: std::io::Result<()>| {
        if let Err(e) = result
            && !failed
        {
            failed = true;
            tracing::warn!(path = %path, error = %e, "cannot write the access log; lines are lost");
        }
    };
    while let Some(message) = queue.recv().await {
        match message {
            Message::Line(line) => report(out.write_all(line.as_bytes()).await),
            Message::Flush(done) => {
                report(out.flush().await);
                let _ = done.send(());
            }
        }
        if queue.is_empty() {
            report(out.flush().await);
        }
    }
    report(out.flush().await);
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    client: &'a str,
    remote: Option<String>,
    method: &'a str,
    path: &'a str,
    status: u16,
    duration_ms: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    fault: Option<&'static str>,
}

/// The path with its query, values of secret-looking parameters replaced.
fn loggable_path(uri: &axum::http::Uri) -> String {
    let Some(query) = uri.query() else {
        return uri.path().to_string();
    };
    let mut out = String::with_capacity(uri.path().len() + query.len() + 1);
    out.push_str(uri.path());
    for (i, pair) in query.split('&').enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        let name = pair.split('=').next().unwrap_or_default();
        let lower = name.to_ascii_lowercase();
        if ["token", "secret", "key", "password"]
            .iter()
            .any(|word| lower.contains(word))
        {
            out.push_str(name);
            out.push_str("=[REDACTED]");
        } else {
            out.push_str(pair);
        }
    }
    out
}

pub(crate) async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some(log) = &state.access_log else {
        return next.run(req).await;
    };
    let started = Instant::now();
    let method = req.method().clone();
    let path = loggable_path(req.uri());
    let remote = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.to_string());
    let res = next.run(req).await;
    let line = Line {
        time: Utc::now().to_rfc3339_opts(SecondsFormat::Millis, true),
        client: res
            .extensions()
            .get::<Caller>()
            .map_or("-", |c| c.client_id.as_str()),
        remote,
        method: method.as_str(),
        path: &path,
        status: res.status().as_u16(),
        duration_ms: (started.elapsed().as_secs_f64() * 1e6).round() / 1e3,
        fault: res.extensions().get::<Fault>().map(|f| f.name()),
    };
    match serde_json::to_string(&line) {
        Ok(mut text) => {
            text.push('\n');
            // A closed queue means the sandbox is shutting down; the line has nowhere to go.
            let _ = log.queue.send(Message::Line(text)).await;
        }
        Err(e) => tracing::warn!(error = %e, "cannot encode an access log line"),
    }
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_looking_query_parameters_are_redacted() {
        let uri: axum::http::Uri =
            "/api/users?login=jdoe&access_token=abc&client_secret=s3&api_key=k&offset=50"
                .parse()
                .unwrap();
        assert_eq!(
            loggable_path(&uri),
            "/api/users?login=jdoe&access_token=[REDACTED]&client_secret=[REDACTED]\
             &api_key=[REDACTED]&offset=50"
        );
        let plain: axum::http::Uri = "/api/users/7".parse().unwrap();
        assert_eq!(loggable_path(&plain), "/api/users/7");
    }
}
