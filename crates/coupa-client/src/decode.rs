//! Turning a 2xx answer into records: the content type must be the format asked for and the body a
//! complete document of the expected root. A 200 that does not decode is an error, never a success.

use crate::client::Answer;
use crate::error::{Error, Result, excerpt};
use coupa_wire::{Format, WireError};
use serde::de::DeserializeOwned;

/// What was expected, for error messages: `an XML <user> document (application/xml)`.
fn expected(format: Format, root: &str) -> String {
    match format {
        Format::Xml => format!("an XML <{root}> document (application/xml)"),
        Format::Json => format!("a JSON {root} document (application/json)"),
    }
}

/// Checks the content type; a missing one is given the benefit of the doubt.
fn check_type(answer: &Answer, format: Format, root: &str) -> Result<()> {
    let Some(ct) = answer.content_type.as_deref() else {
        return Ok(());
    };
    if Format::from_media_type(ct) == Some(format) && !ct.trim().is_empty() {
        return Ok(());
    }
    Err(fail(
        answer,
        Error::body(
            &expected(format, root),
            format!("the answer is {ct}: {}", excerpt(&answer.body)),
            None,
        ),
    ))
}

fn fail(answer: &Answer, error: Error) -> Error {
    error
        .with_request(answer.request.clone())
        .with_status(answer.status)
}

fn wire(answer: &Answer, format: Format, root: &str, e: &WireError) -> Error {
    let field = match e {
        WireError::Field { path, .. } => Some(path.clone()),
        _ => None,
    };
    fail(
        answer,
        Error::body(&expected(format, root), e.to_string(), field),
    )
}

/// One record whose XML root is `root` (`user`).
pub(crate) fn one<T: DeserializeOwned>(answer: &Answer, format: Format, root: &str) -> Result<T> {
    check_type(answer, format, root)?;
    coupa_wire::decode(format, &answer.body, root).map_err(|e| wire(answer, format, root, &e))
}

/// A list whose XML root is `collection` (`users`).
pub(crate) fn list<T: DeserializeOwned>(
    answer: &Answer,
    format: Format,
    collection: &str,
) -> Result<Vec<T>> {
    check_type(answer, format, collection)?;
    coupa_wire::decode_list(format, &answer.body, collection)
        .map_err(|e| wire(answer, format, collection, &e))
}
