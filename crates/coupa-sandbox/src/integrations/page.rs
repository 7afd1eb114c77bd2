//! `/integrations/{id}/integration_runs`: an integration's runs as Coupa's page lists them, newest
//! first, each with its integration errors. Server-rendered HTML, every value escaped, no script.
//!
//! Unauthenticated, like `/data_sources`: it stands in for a page a Coupa administrator reads after
//! logging in to the UI, and the sandbox has no UI login.

use super::{Registry, run_state};
use crate::data_sources::escape;
use crate::server::AppState;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use coupa_wire::{Integration, IntegrationRecord, IntegrationRun};
use std::fmt::Write as _;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/integrations/{id}/integration_runs", get(page))
}

fn html(status: StatusCode, text: String) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        text,
    )
        .into_response()
}

async fn page(State(state): State<AppState>, Path(raw): Path<String>) -> Response {
    let registry = state.integrations.read();
    match raw
        .parse::<i64>()
        .ok()
        .and_then(|id| registry.integrations.get(&id))
    {
        Some(integration) => html(StatusCode::OK, render(&registry, integration)),
        None => html(
            StatusCode::NOT_FOUND,
            format!(
                "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
                 <title>Not found</title></head><body><p>No integration {}.</p></body></html>\n",
                escape(&raw)
            ),
        ),
    }
}

fn time(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn text(value: Option<&str>) -> String {
    escape(value.unwrap_or_default())
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;\
margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
.successful{color:#060}.failed{color:#a00}.errors td{background:#fff4f4}";

fn render(registry: &Registry, integration: &Integration) -> String {
    let id = integration.id.unwrap_or_default();
    let title = format!(
        "Integration runs: {} ({})",
        text(integration.name.as_deref()),
        text(integration.code.as_deref())
    );
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>{title}</title><style>{STYLE}</style></head><body>\n<h1>{title}</h1>\n"
    );
    let mut runs: Vec<&IntegrationRun> = registry.runs_of(id).collect();
    runs.reverse();
    if runs.is_empty() {
        out.push_str("<p>This integration has no runs yet.</p>\n");
    }
    for run in runs {
        let errors: Vec<&IntegrationRecord> =
            registry.errors_of_run(run.id.unwrap_or_default()).collect();
        render_run(&mut out, run, &errors);
    }
    out.push_str("</body></html>\n");
    out
}

fn render_run(out: &mut String, run: &IntegrationRun, errors: &[&IntegrationRecord]) {
    let status = run_state(run).as_str();
    let count = |n: Option<i64>| n.map(|n| n.to_string()).unwrap_or_default();
    let _ = write!(
        out,
        "<section id=\"run-{id}\"><h2>Run #{id}</h2>\n<table>\
         <tr><th>Status</th><td class=\"{status}\">{status}</td></tr>\
         <tr><th>Started</th><td>{start}</td></tr><tr><th>Ended</th><td>{end}</td></tr>\
         <tr><th>Total records</th><td>{total}</td></tr>\
         <tr><th>Records processed</th><td>{processed}</td></tr>\
         <tr><th>Created</th><td>{created}</td></tr>\
         </table>\n",
        id = run.id.unwrap_or_default(),
        start = time(run.start_time),
        end = time(run.end_time),
        total = count(run.total_records),
        processed = count(run.records_processed),
        created = time(run.created_at),
    );
    if !errors.is_empty() {
        out.push_str(
            "<table class=\"errors\"><tr><th>Error</th><th>External id</th><th>Document</th>\
             <th>Status</th><th>Alert type</th><th>Responses</th><th>Resolved</th></tr>\n",
        );
        for e in errors {
            let responses: Vec<String> = e
                .responses
                .iter()
                .flatten()
                .map(|r| {
                    format!(
                        "{}: {}",
                        text(r.response_code.as_deref()),
                        text(r.response_message.as_deref())
                    )
                })
                .collect();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{} {}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td>{}</td></tr>",
                e.id.unwrap_or_default(),
                text(e.external_id.as_deref()),
                text(e.document_type.as_deref()),
                e.document_id.map(|d| d.to_string()).unwrap_or_default(),
                text(e.status.as_deref()),
                text(e.contact_alert_type.as_deref()),
                responses.join("<br>"),
                if e.resolved == Some(true) {
                    "yes"
                } else {
                    "no"
                },
            );
        }
        out.push_str("</table>\n");
    }
    out.push_str("</section>\n");
}
