//! The Coupa API client: every call coupa-sync makes to Coupa goes through it.
//!
//! One [`Client`] per Coupa instance, shared by every task: OAuth2 client credentials (or the legacy
//! API key) with one cached token, one rate governor (25 requests/s, burst 20 by default) that a 429
//! slows down for everyone, retries with full-jitter exponential backoff for what is safe to retry,
//! a users API that pages, looks up in batches, and never creates a user twice, and the data file
//! sources API that tells how Coupa loaded flat files. Every HTTP exchange is traced and handed to
//! an optional hook with secrets removed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), coupa_client::Error> {
//! use coupa_client::{Client, Credentials};
//! use secrecy::SecretString;
//! let client = Client::builder("https://acme.coupahost.com")
//!     .credentials(Credentials::oauth("sync", SecretString::from("…")))
//!     .build()?;
//! let users = client.users().find_by("login", &["jdoe", "asmith"]).await?;
//! # Ok(()) }
//! ```

mod auth;
mod call;
mod client;
mod config;
mod data_file_sources;
mod decode;
mod error;
mod governor;
mod integrations;
mod lookup;
mod page;
mod retry;
mod users;
mod written;

pub use auth::{Credentials, DEFAULT_SCOPES};
pub use call::{CallHook, CallRecord, REDACTED};
pub use client::Client;
pub use config::{ClientBuilder, DEFAULT_BODY_CAP, DEFAULT_MAX_URL_LEN, Timeouts};
pub use coupa_wire::{DataFileSource, Format, LoadStatus, Query, ReturnObject, UploadError, User};
pub use data_file_sources::DataFileSources;
pub use error::{Error, ErrorKind, RequestLine, Result, TransportFailure};
pub use governor::Rate;
pub use integrations::{Integrations, RecordLog};
pub use retry::RetryPolicy;
pub use users::Users;
pub use written::{Ignored, Written};
