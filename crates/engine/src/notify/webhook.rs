//! The chat webhook: one POST per run with the JSON body `{"text": "…"}`, which Slack incoming
//! webhooks and Microsoft Teams incoming webhooks (Office 365 connectors) both accept as it is. The
//! text is kept short enough for both: the first problems, then a pointer to `coupa-sync log`.

use super::NotifyError;
use super::digest::{Digest, ProblemKind, heading};
use secrecy::{ExposeSecret, SecretString};
use std::fmt::Write as _;
use std::time::Duration;

/// Problems listed in a webhook message; the rest are counted.
const LISTED: usize = 20;
/// Longest problem line in a webhook message, in characters.
const LINE_CHARS: usize = 300;

/// The webhook's JSON body.
pub(super) fn payload(digest: &Digest) -> serde_json::Value {
    serde_json::json!({ "text": text(digest) })
}

fn text(digest: &Digest) -> String {
    let mut out = format!("*{}*\n{}", digest.subject(), digest.summary());
    let mut listed = 0;
    for kind in [ProblemKind::Data, ProblemKind::Technical] {
        let of_kind: Vec<_> = digest.problems.iter().filter(|p| p.kind == kind).collect();
        if of_kind.is_empty() {
            continue;
        }
        let _ = writeln!(out, "\n{} ({}):", heading(kind), of_kind.len());
        for problem in of_kind {
            if listed == LISTED {
                break;
            }
            listed += 1;
            let line: String = problem.line().chars().take(LINE_CHARS).collect();
            let _ = writeln!(out, "• {line}");
        }
    }
    let more = digest.problems.len() - listed;
    if more > 0 {
        let _ = writeln!(out, "… and {more} more.");
    }
    let _ = write!(
        out,
        "Details: coupa-sync log --run {} --errors",
        digest.run.id
    );
    escape(&out)
}

/// Slack reads `&`, `<` and `>` as markup; Teams shows the entities as the characters.
fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

pub(super) async fn post(url: &SecretString, digest: &Digest) -> Result<(), NotifyError> {
    // The URL carries the webhook's token: no error below may show it.
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .map_err(|e| NotifyError::Webhook(e.without_url().to_string()))?;
    let answer = client
        .post(url.expose_secret())
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .body(payload(digest).to_string())
        .send()
        .await
        .map_err(|e| NotifyError::Webhook(e.without_url().to_string()))?;
    let status = answer.status();
    if status.is_success() {
        return Ok(());
    }
    let body = answer.text().await.unwrap_or_default();
    let body: String = body.chars().take(200).collect();
    Err(NotifyError::Webhook(format!("answered {status}: {body}")))
}
