//! Uploading users CSV files to Coupa's SFTP server, the flat-file path of the apply step.
//!
//! ```no_run
//! # async fn run(target: engine::sftp::SftpTarget, csv: Vec<u8>) -> Result<(), Box<dyn std::error::Error>> {
//! use engine::sftp::{LocalFile, SftpUploader};
//! let uploader = SftpUploader::connect(&target).await?;
//! let uploaded = uploader
//!     .upload(&[LocalFile::from_bytes("users_20250101_120000Z_001.csv", csv)])
//!     .await?;
//! uploader.close().await;
//! # Ok(()) }
//! ```
//!
//! The server must prove it is Coupa's: its host key is checked against a known_hosts file or a
//! pinned fingerprint, and a key that is unknown or changed is refused with its fingerprint and
//! the command that trusts it. Each file is written as `name.part`, checked for size, renamed to
//! `name` and checked again, so Coupa's loader never reads a half-written file. A name already in
//! the folder is refused: a file is never uploaded twice.

mod connection;
mod error;
mod host_key;
mod known_hosts;
mod target;
mod upload;

pub use connection::{RemoteFile, SftpUploader};
pub use error::{ErrorKind, SftpError, Step, UploadFailure};
pub use target::{
    DEFAULT_CONNECT_TIMEOUT, DEFAULT_PORT, DEFAULT_REMOTE_FOLDER, DEFAULT_REQUEST_TIMEOUT,
    HostKeyCheck, HostKeyFingerprint, SftpAuth, SftpTarget,
};
pub use upload::{LocalContent, LocalFile, PART_SUFFIX, UploadedFile};
