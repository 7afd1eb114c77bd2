//! The one error type of this crate: what could not be decoded, and where.

/// A body or query string that does not match Coupa's wire format.
#[derive(Debug, thiserror::Error)]
pub enum WireError {
    /// The body is not well-formed XML.
    #[error("malformed XML at byte {position}: {message}")]
    Xml { position: u64, message: String },
    /// The body is not well-formed JSON.
    #[error("malformed JSON: {0}")]
    Json(String),
    /// The body is well-formed but its root is not the expected element.
    #[error("expected root element <{expected}>, found <{found}>")]
    UnexpectedRoot { expected: String, found: String },
    /// A field has a value of the wrong shape; `path` names the field (`roles[0].name`).
    #[error("field `{path}`: {message}")]
    Field { path: String, message: String },
    /// The body is empty where a document was expected.
    #[error("empty body where a {0} document was expected")]
    Empty(&'static str),
    /// A query string that Coupa's syntax does not allow.
    #[error("query: {0}")]
    Query(String),
}
