//! The e-mail Coupa sends its admin when an upload fails: the file, the status, the result and each
//! row error. Delivered straight into the sandbox's own mailbox (read at `/mailbox/messages` when
//! the mailbox is on), addressed to `admin_email`.

use crate::data_sources::{DataFileSource, LoadStatus};
use crate::dropfolder::ArchivedFile;
use crate::server::AppState;
use std::fmt::Write as _;

pub(crate) const FROM: &str = "do_not_reply@coupa-sandbox.invalid";
/// Row errors listed in one e-mail; the rest are on the Data Sources page.
const LISTED: usize = 100;

/// One plain address: a local part, `@`, a domain, nothing that could end or add a header.
pub(crate) fn check_address(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.split_once('@') else {
        return Err("an e-mail address needs an @".into());
    };
    if local.is_empty() || domain.is_empty() || domain.contains('@') {
        return Err("an e-mail address is local-part@domain".into());
    }
    if address
        .chars()
        .any(|c| c.is_whitespace() || c.is_control() || "<>,;\"".contains(c))
    {
        return Err("an e-mail address has no spaces, control characters or <>,;\"".into());
    }
    Ok(())
}

/// Puts the notice for `load` in the mailbox.
pub(crate) fn send(state: &AppState, load: &DataFileSource, archived: &ArchivedFile) {
    let to = state.config.admin_email.clone();
    let raw = message(&to, load, archived);
    let id = state
        .mailbox
        .deliver(FROM.into(), vec![to.clone()], raw.as_bytes());
    tracing::info!(load = load.id, message = id, %to, "users loader: failure notice sent");
}

fn message(to: &str, load: &DataFileSource, archived: &ArchivedFile) -> String {
    let outcome = if load.status == LoadStatus::Failed {
        "failed"
    } else {
        "finished with errors"
    };
    let subject = format!("Coupa data file load {outcome}: {}", load.file_file_name);
    let mut body = String::new();
    let _ = writeln!(
        body,
        "The users file {:?} dropped in /Incoming/Users {outcome}.\n",
        load.file_file_name.trim_start_matches("_Incoming_Users_")
    );
    let _ = writeln!(body, "Data file source: {}", load.id);
    let _ = writeln!(body, "File name:        {}", load.file_file_name);
    let _ = writeln!(body, "Archived as:      {}", archived.sftp_path);
    let _ = writeln!(body, "Status:           {}", load.status.name());
    let _ = writeln!(
        body,
        "Result:           {}",
        load.result_text.as_deref().unwrap_or_default()
    );
    let _ = writeln!(body, "Row errors:       {}\n", load.upload_errors_count);
    for e in load.upload_errors.iter().take(LISTED) {
        let _ = writeln!(
            body,
            "Row {} ({:?}): {} = {:?}: {}",
            e.row,
            e.first_column,
            e.field_with_error,
            e.value,
            e.field_errors.join("; ")
        );
    }
    if load.upload_errors.len() > LISTED {
        let _ = writeln!(body, "… and {} more.", load.upload_errors.len() - LISTED);
    }
    let _ = write!(
        body,
        "\nSee the Data Sources page (/data_sources) or GET /api/data_file_sources/{}.\n",
        load.id
    );
    let mut raw = String::new();
    let _ = write!(
        raw,
        "From: Coupa Sandbox <{FROM}>\r\nTo: <{to}>\r\nSubject: {}\r\nDate: {}\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\
         Content-Transfer-Encoding: 8bit\r\n\r\n",
        header_text(&subject),
        chrono::Utc::now().to_rfc2822()
    );
    raw.push_str(&body.replace('\n', "\r\n"));
    raw
}

/// Header text as is when it is printable ASCII, else one RFC 2047 `Q` encoded word, so that a
/// file name with a line break or non-ASCII letters cannot break or forge a header.
pub(crate) fn header_text(text: &str) -> String {
    if text.chars().all(|c| c.is_ascii() && !c.is_ascii_control()) {
        return text.to_string();
    }
    let mut out = String::from("=?UTF-8?Q?");
    for b in text.bytes() {
        match b {
            b' ' => out.push('_'),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'-' | b':' | b'/' => {
                out.push(char::from(b));
            }
            _ => {
                let _ = write!(out, "={b:02X}");
            }
        }
    }
    out.push_str("?=");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_text_cannot_break_a_header() {
        assert_eq!(header_text("load failed: a.csv"), "load failed: a.csv");
        let encoded = header_text("a\r\nBcc: x@y.z é.csv");
        assert!(!encoded.contains(['\r', '\n']), "{encoded}");
        assert_eq!(encoded, "=?UTF-8?Q?a=0D=0ABcc:_x=40y.z_=C3=A9.csv?=");
    }

    #[test]
    fn addresses() {
        assert!(check_address("admin@example.com").is_ok());
        for bad in [
            "admin",
            "@x",
            "a@",
            "a b@x",
            "a@x\r\nBcc: y@z",
            "<a@x>",
            "a@b@c",
        ] {
            assert!(check_address(bad).is_err(), "{bad}");
        }
    }
}
