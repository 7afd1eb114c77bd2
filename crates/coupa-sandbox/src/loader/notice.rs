//! The e-mail Coupa sends its admin when an upload fails: the file, the status, the result and each
//! row error. Delivered straight into the sandbox's own mailbox (read at `/mailbox/messages` when
//! the mailbox is on), addressed to `admin_email`.

use crate::data_sources::{DataFileSource, LoadStatus};
use crate::dropfolder::ArchivedFile;
use crate::server::AppState;
use std::fmt::Write as _;

// The loader checks `admin_email` with the rule every sandbox e-mail follows.
pub(crate) use crate::mailbox::check_address;

/// Row errors listed in one e-mail; the rest are on the Data Sources page.
const LISTED: usize = 100;

/// Puts the notice for `load` in the mailbox.
pub(crate) fn send(state: &AppState, load: &DataFileSource, archived: &ArchivedFile) {
    let to = state.config.admin_email.clone();
    let (subject, body) = message(load, archived);
    let id = state
        .mailbox
        .send_own(std::slice::from_ref(&to), &subject, &body);
    tracing::info!(load = load.id, message = id, %to, "users loader: failure notice sent");
}

/// The notice's subject and text.
fn message(load: &DataFileSource, archived: &ArchivedFile) -> (String, String) {
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
    (subject, body)
}
