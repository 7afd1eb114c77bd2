//! `/data_sources`: the loads as Coupa's Data Sources page shows them, newest first, with each row
//! error. Server-rendered HTML, every value escaped, no script.
//!
//! Unauthenticated, like the mailbox: it is the sandbox's stand-in for a page a Coupa administrator
//! reads after logging in to the UI, and the sandbox has no UI login.

use super::{DataFileSource, LoadStatus};
use crate::server::AppState;
use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use std::fmt::Write as _;

pub(crate) fn routes() -> Router<AppState> {
    Router::new().route("/data_sources", get(page))
}

async fn page(State(state): State<AppState>) -> Response {
    let mut loads = state.data_sources.all();
    loads.reverse();
    (
        [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
        render(&loads),
    )
        .into_response()
}

/// HTML text with `&`, `<`, `>`, `"` and `'` escaped, fit for element text and attribute values.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn time(t: Option<chrono::DateTime<chrono::FixedOffset>>) -> String {
    t.map(|t| t.to_rfc3339()).unwrap_or_default()
}

const STYLE: &str = "body{font-family:sans-serif;margin:2em}table{border-collapse:collapse;\
margin-bottom:1em}td,th{border:1px solid #ccc;padding:4px 8px;text-align:left;vertical-align:top}\
.done{color:#060}.failed{color:#a00}.errors td{background:#fff4f4}";

fn render(loads: &[DataFileSource]) -> String {
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <title>Data Sources</title><style>{STYLE}</style></head><body>\n<h1>Data Sources</h1>\n"
    );
    if loads.is_empty() {
        out.push_str("<p>No file has been loaded yet.</p>\n");
    }
    for load in loads {
        render_load(&mut out, load);
    }
    out.push_str("</body></html>\n");
    out
}

fn render_load(out: &mut String, load: &DataFileSource) {
    let status = load.status.name();
    let _ = write!(
        out,
        "<section id=\"load-{id}\"><h2>#{id} {name}</h2>\n<table>\
         <tr><th>Status</th><td class=\"{status}\">{status}</td></tr>\
         <tr><th>Source for</th><td>{source}</td></tr>\
         <tr><th>Result</th><td>{result}</td></tr>\
         <tr><th>Rows</th><td>{count} processed, {created} created, {updated} updated, \
         {errors} errors</td></tr>\
         <tr><th>File size</th><td>{size} bytes</td></tr>\
         <tr><th>Created</th><td>{created_at} by {by}</td></tr>\
         <tr><th>Started</th><td>{start}</td></tr><tr><th>Ended</th><td>{end}</td></tr>\
         </table>\n",
        id = load.id,
        name = escape(&load.file_file_name),
        source = escape(&load.source_for),
        result = escape(load.result_text.as_deref().unwrap_or_default()),
        count = load.records_count,
        created = load.records_created,
        updated = load.records_updated,
        errors = load.upload_errors_count,
        size = escape(&load.file_file_size),
        created_at = load.created_at.to_rfc3339(),
        by = escape(load.created_by.login.as_deref().unwrap_or_default()),
        start = time(load.start_time),
        end = time(load.end_time),
    );
    if !load.upload_errors.is_empty() {
        out.push_str(
            "<table class=\"errors\"><tr><th>Row</th><th>First column</th><th>Field</th>\
             <th>Value</th><th>Errors</th></tr>\n",
        );
        for e in &load.upload_errors {
            let messages: Vec<String> = e.field_errors.iter().map(|m| escape(m)).collect();
            let _ = writeln!(
                out,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                e.row,
                escape(&e.first_column),
                escape(&e.field_with_error),
                escape(&e.value),
                messages.join("<br>")
            );
        }
        out.push_str("</table>\n");
    }
    if load.status == LoadStatus::Pending {
        out.push_str("<p>Waiting for its turn.</p>\n");
    }
    out.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape("<script>alert('x') & \"y\"</script>"),
            "&lt;script&gt;alert(&#39;x&#39;) &amp; &quot;y&quot;&lt;/script&gt;"
        );
    }
}
