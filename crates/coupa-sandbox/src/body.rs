//! Request bodies and answers of the API: the size limit, the format from `Content-Type` (sniffed
//! when absent), decoding into a record with errors that name the problem, and encoding answers.

use crate::ApiError;
use crate::error::content_type;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use coupa_wire::Format;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// The largest body the API reads (1 MB); larger ones are answered 413.
pub(crate) const MAX_BODY: usize = 1 << 20;

/// Why a body was refused: 400, 413 or 415, and what was wrong.
#[derive(Debug)]
pub(crate) struct Refused {
    status: StatusCode,
    message: String,
}

impl Refused {
    /// The answer in `format`; `resource` is the key of JSON errors (`user`).
    pub fn answer(self, format: Format, resource: &'static str) -> ApiError {
        let mut e = ApiError::new(self.status, format, vec![self.message]);
        e.resource = resource;
        e
    }
}

/// The record a body holds: an XML document whose root is `resource` (`user`) or a JSON object.
pub(crate) fn decode<T: DeserializeOwned>(
    resource: &'static str,
    headers: &HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<T, Refused> {
    let error = |status: StatusCode, message: String| Refused { status, message };
    let bytes = body.map_err(|rejection| {
        if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
            error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("Request body is larger than the limit of {MAX_BODY} bytes"),
            )
        } else {
            error(
                StatusCode::BAD_REQUEST,
                format!("Could not read the request body: {}", rejection.body_text()),
            )
        }
    })?;
    let format = match headers.get(header::CONTENT_TYPE) {
        Some(value) => {
            let text = value.to_str().unwrap_or("(not text)");
            match Format::from_media_type(text).filter(|_| !text.trim().is_empty()) {
                Some(format) if !text.contains('*') => format,
                _ => {
                    return Err(error(
                        StatusCode::UNSUPPORTED_MEDIA_TYPE,
                        format!(
                            "Unsupported Content-Type {text:?}: send application/xml or application/json"
                        ),
                    ));
                }
            }
        }
        None => sniff(&bytes).ok_or_else(|| {
            if bytes.iter().all(u8::is_ascii_whitespace) {
                error(StatusCode::BAD_REQUEST, "The request body is empty".into())
            } else {
                error(
                    StatusCode::UNSUPPORTED_MEDIA_TYPE,
                    "No Content-Type, and the body is neither XML nor JSON".into(),
                )
            }
        })?,
    };
    let value = coupa_wire::decode_value(format, &bytes, &root_of(resource)).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: {e}"),
        )
    })?;
    let value = match (format, value) {
        // Rails also accepts the record wrapped in its name: {"user": {…}}.
        (Format::Json, Value::Object(mut map))
            if map.len() == 1 && map.get(resource).is_some_and(Value::is_object) =>
        {
            map.remove(resource).unwrap_or_default()
        }
        (Format::Json, value @ Value::Object(_)) | (Format::Xml, value) => value,
        (Format::Json, _) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                format!("Invalid request body: expected a JSON object for a {resource}"),
            ));
        }
    };
    serde_path_to_error::deserialize(value).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("Invalid request body: field `{}`: {}", e.path(), e.inner()),
        )
    })
}

/// The XML root of a resource: its JSON key with dashes (`business_group` → `business-group`).
fn root_of(resource: &str) -> String {
    resource.replace('_', "-")
}

/// The format of a body sent without `Content-Type`, from its first character.
fn sniff(bytes: &[u8]) -> Option<Format> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => Some(Format::Xml),
        Some(b'{' | b'[') => Some(Format::Json),
        _ => None,
    }
}

/// An answer with a Coupa document, or an empty body for `None`.
pub(crate) fn answer(status: StatusCode, format: Format, body: Option<Vec<u8>>) -> Response {
    let mut res = (status, body.unwrap_or_default()).into_response();
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(content_type(format)),
    );
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_the_first_character() {
        assert_eq!(sniff(b"  <user/>"), Some(Format::Xml));
        assert_eq!(sniff(b"\xEF\xBB\xBF{}"), Some(Format::Json));
        assert_eq!(sniff(b"login=x"), None);
    }
}
