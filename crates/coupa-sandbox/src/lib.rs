//! The sandbox: a local Coupa for coupa-sync's tests and for its users' own pipelines.
//!
//! It is a second implementation of Coupa's documented behaviour (users API, OAuth2 client credentials,
//! the legacy API key, rate limits, the SFTP drop folder with its users CSV loader, data file sources
//! and daily export, the Integrations APIs through which a connector reports its runs), plus what a test needs that Coupa does not offer: seeded faults and an access
//! log. `app()` builds the whole HTTP service; `Sandbox::serve` binds it to a listener.

mod access_log;
mod auth;
mod body;
mod changes;
mod config;
mod data_sources;
mod dropfolder;
mod error;
mod export;
mod faults;
mod integrations;
mod invitation;
mod loader;
mod mailbox;
mod nested;
mod persist;
mod query;
mod ratelimit;
mod records;
mod reference;
mod render;
mod seed;
mod server;
mod setup;
mod sftp;
mod store;
mod users;
mod validate;

pub use config::{ClientCredentials, FaultConfig, RateLimit, SandboxConfig};
pub use data_sources::{DataFileSource, LoadStatus, SFTP_USER, UploadError, file_file_name};
pub use dropfolder::{ArchivedFile, DEFAULT_ARCHIVE, DropFolder, DropFolderError, WaitingFile};
pub use error::{ApiError, SandboxError};
pub use seed::SeedError;
pub use server::{Running, Sandbox, app};
pub use sftp::{SftpConfig, SftpEndpoint, SftpUser};
