//! The SFTP uploader's one error: which server, which user, which file, which step, what happened.

use std::fmt;

use super::upload::UploadedFile;

/// The step of a connection or upload that failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// Reading the settings and reaching the server.
    Connect,
    /// Recognising the server's host key.
    HostKey,
    /// Logging in.
    Auth,
    /// Finding or listing the remote folder.
    Folder,
    /// Checking a file before any byte is sent (its name, whether it is already there).
    Check,
    /// Sending the bytes to `name.part`.
    Write,
    /// Renaming `name.part` to `name`.
    Rename,
    /// Comparing the remote size with the local size.
    Verify,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Connect => "connect",
            Step::HostKey => "host key check",
            Step::Auth => "authentication",
            Step::Folder => "remote folder check",
            Step::Check => "pre-upload check",
            Step::Write => "write",
            Step::Rename => "rename",
            Step::Verify => "verify",
        })
    }
}

/// What kind of failure it was, for callers that react differently (retry, alert, stop).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A setting or file name we were given is wrong; fix the input.
    Invalid,
    /// The server could not be reached or the SSH handshake failed.
    Unreachable,
    /// No answer within the configured timeout.
    Timeout,
    /// The server's host key is not in known_hosts (or no key is pinned for it).
    HostKeyUnknown,
    /// The server's host key differs from the recorded or pinned one.
    HostKeyChanged,
    /// The private key file cannot be read or decrypted.
    KeyFile,
    /// The server refused our credentials.
    AuthRejected,
    /// A file of that name is already in the remote folder; we never upload twice.
    AlreadyExists,
    /// The server holds a different number of bytes than we sent.
    SizeMismatch,
    /// A local file to upload cannot be read.
    LocalFile,
    /// The server answered a request with an error status.
    Remote,
    /// The SSH connection ended while a request was in flight.
    ConnectionLost,
}

/// A failed connection, listing or upload.
///
/// Never holds a password or passphrase: messages are built from names, paths and server answers.
#[derive(Debug, Clone, thiserror::Error)]
#[error("SFTP {step} failed for {user}@{host}:{port}{}: {message}", file_part(.file))]
pub struct SftpError {
    pub host: String,
    pub port: u16,
    pub user: String,
    /// The file being handled, if the failure concerns one.
    pub file: Option<String>,
    pub step: Step,
    pub kind: ErrorKind,
    pub message: String,
}

fn file_part(file: &Option<String>) -> String {
    file.as_ref()
        .map(|name| format!(" (file {name})"))
        .unwrap_or_default()
}

/// The server and user an error is about; every error of one connection names them.
#[derive(Debug, Clone)]
pub(super) struct Endpoint {
    pub host: String,
    pub port: u16,
    pub user: String,
}

impl Endpoint {
    pub fn error(&self, step: Step, kind: ErrorKind, message: impl Into<String>) -> SftpError {
        SftpError {
            host: self.host.clone(),
            port: self.port,
            user: self.user.clone(),
            file: None,
            step,
            kind,
            message: message.into(),
        }
    }

    pub fn file_error(
        &self,
        file: &str,
        step: Step,
        kind: ErrorKind,
        message: impl Into<String>,
    ) -> SftpError {
        SftpError {
            file: Some(file.to_owned()),
            ..self.error(step, kind, message)
        }
    }
}

/// A batch upload that stopped: the files fully uploaded before the failure, then the failure.
///
/// Files in `uploaded` are in Coupa's inbound folder under their final name and will be loaded.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{error} ({} file(s) of this batch were uploaded before it: {})", .uploaded.len(), names(.uploaded))]
pub struct UploadFailure {
    pub uploaded: Vec<UploadedFile>,
    #[source]
    pub error: SftpError,
}

fn names(files: &[UploadedFile]) -> String {
    if files.is_empty() {
        return "none".to_owned();
    }
    files
        .iter()
        .map(|f| f.name.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_names_server_user_file_and_step() {
        let endpoint = Endpoint {
            host: "sftp.example.com".into(),
            port: 2222,
            user: "acme".into(),
        };
        let err = endpoint.file_error(
            "users_1.csv",
            Step::Rename,
            ErrorKind::Remote,
            "permission denied",
        );
        assert_eq!(
            err.to_string(),
            "SFTP rename failed for acme@sftp.example.com:2222 (file users_1.csv): permission denied"
        );
        let failure = UploadFailure {
            uploaded: vec![UploadedFile {
                name: "users_0.csv".into(),
                remote_path: "/Incoming/Users/users_0.csv".into(),
                size: 3,
            }],
            error: err,
        };
        assert!(
            failure
                .to_string()
                .ends_with("(1 file(s) of this batch were uploaded before it: users_0.csv)"),
            "{failure}"
        );
    }
}
