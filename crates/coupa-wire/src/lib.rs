//! Coupa's wire formats: the `User` model, the XML and JSON codecs, error bodies and query strings.
//!
//! Both formats go through one intermediate form, a `serde_json::Value` whose keys are Coupa's dashed
//! element names. XML is read into that form using Coupa's `type=` and `nil=` attributes, so one serde
//! model decodes Coupa XML and Coupa JSON to the same value, and encoding writes the attributes back.
//! This crate does no I/O.

mod codec;
mod data_file_source;
mod de;
mod error;
mod errors_body;
pub mod flatfile;
mod format;
mod integration;
mod password;
pub mod query;
mod user;
pub mod xml;

pub use codec::{
    decode, decode_list, decode_value, encode, encode_list, encode_value, encode_value_list,
};
pub use data_file_source::{DataFileSource, LoadStatus, UploadError};
pub use error::WireError;
pub use errors_body::{ErrorsBody, NO_RESULTS};
pub use format::Format;
pub use integration::{
    AlertType, Integration, IntegrationContact, IntegrationRecord, IntegrationRef,
    IntegrationResponse, IntegrationRun, RunRef, RunState,
};
pub use password::Password;
pub use query::{Condition, Dir, Op, Query, ReturnObject};
pub use user::{
    Account, AccountType, Address, ApprovalLimit, ContentGroup, Country, Currency, Department,
    NamedRef, Pcard, PhoneNumber, Role, User, UserRef,
};
