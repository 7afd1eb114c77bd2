//! One logged-in SFTP session to Coupa's server: connect (host key, then auth), list the folder, close.

use std::sync::Arc;
use std::time::Duration;

use russh::client::{self, Handle};
use russh::keys::{HashAlg, PrivateKey, PrivateKeyWithHashAlg, decode_secret_key};
use russh::{Disconnect, MethodKind};
use russh_sftp::client::SftpSession;
use russh_sftp::client::error::Error as SftpClientError;
use russh_sftp::protocol::StatusCode;
use secrecy::{ExposeSecret, SecretString};

use super::error::{Endpoint, ErrorKind, SftpError, Step};
use super::host_key::{ClientHandler, HostKeyPolicy, SessionError};
use super::target::{SftpAuth, SftpTarget};

/// Keeps a quiet session alive through NAT and firewalls between two uploads.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(15);

/// A connection to Coupa's SFTP server, logged in, with the remote folder checked to exist.
///
/// SFTP requests of one session are answered in order, so one uploader sends one file at a time;
/// Coupa allows 5 concurrent connections per SFTP user, and one is enough for users files.
pub struct SftpUploader {
    pub(super) endpoint: Endpoint,
    /// The remote folder without a trailing slash ("" for the root).
    pub(super) folder: String,
    pub(super) sftp: SftpSession,
    ssh: Handle<ClientHandler>,
}

impl std::fmt::Debug for SftpUploader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SftpUploader")
            .field("endpoint", &self.endpoint)
            .field("folder", &self.folder)
            .finish_non_exhaustive()
    }
}

/// A regular file in the remote folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFile {
    pub name: String,
    pub size: u64,
}

impl RemoteFile {
    /// True for the `name.part` of an upload that did not finish; the next upload of `name`
    /// overwrites it.
    pub fn is_partial(&self) -> bool {
        self.name.ends_with(super::upload::PART_SUFFIX)
    }
}

enum Credentials {
    Password(SecretString),
    Key { key: Arc<PrivateKey>, shown: String },
}

impl SftpUploader {
    /// Connects, checks the server's host key, logs in and checks the remote folder.
    ///
    /// The key file is read and the known_hosts file checked before any network traffic, so
    /// local mistakes are reported as such.
    pub async fn connect(target: &SftpTarget) -> Result<Self, SftpError> {
        let endpoint = Endpoint {
            host: target.host.clone(),
            port: target.port,
            user: target.username.clone(),
        };
        target
            .validate()
            .map_err(|m| endpoint.error(Step::Connect, ErrorKind::Invalid, m))?;
        let policy = HostKeyPolicy::load(target)
            .map_err(|r| endpoint.error(Step::HostKey, r.kind, r.message))?;
        let credentials = Credentials::load(&target.auth)
            .await
            .map_err(|m| endpoint.error(Step::Auth, ErrorKind::KeyFile, m))?;

        let mut config = client::Config {
            keepalive_interval: Some(KEEPALIVE_INTERVAL),
            nodelay: true,
            ..Default::default()
        };
        config.preferred.key = policy.preferred_algorithms();
        let sftp_config = russh_sftp::client::Config {
            request_timeout_secs: target.request_timeout.as_secs(),
            ..Default::default()
        };

        let login = async {
            let ssh = client::connect(
                Arc::new(config),
                (target.host.as_str(), target.port),
                ClientHandler { policy },
            )
            .await
            .map_err(|e| match e {
                SessionError::HostKey(r) => endpoint.error(Step::HostKey, r.kind, r.message),
                SessionError::Ssh(e) => endpoint.error(
                    Step::Connect,
                    ErrorKind::Unreachable,
                    format!("cannot open an SSH connection: {e}"),
                ),
            })?;
            let ssh = authenticate(ssh, &endpoint, &credentials).await?;
            let subsystem_failed = |e: &dyn std::fmt::Display| {
                endpoint.error(
                    Step::Connect,
                    ErrorKind::Remote,
                    format!("the server did not start its SFTP subsystem: {e}"),
                )
            };
            let channel = ssh
                .channel_open_session()
                .await
                .map_err(|e| subsystem_failed(&e))?;
            channel
                .request_subsystem(true, "sftp")
                .await
                .map_err(|e| subsystem_failed(&e))?;
            let sftp = SftpSession::new_with_config(channel.into_stream(), sftp_config)
                .await
                .map_err(|e| subsystem_failed(&e))?;
            Ok::<_, SftpError>((ssh, sftp))
        };
        let (ssh, sftp) = tokio::time::timeout(target.connect_timeout, Box::pin(login))
            .await
            .map_err(|_| {
                endpoint.error(
                    Step::Connect,
                    ErrorKind::Timeout,
                    format!(
                        "no login within {} s (connect_timeout)",
                        target.connect_timeout.as_secs()
                    ),
                )
            })??;

        let uploader = Self {
            folder: target.remote_folder.trim_end_matches('/').to_owned(),
            endpoint,
            sftp,
            ssh,
        };
        uploader.check_folder(&target.remote_folder).await?;
        Ok(uploader)
    }

    /// The remote folder's regular files, sorted by name (Coupa processes them in that order).
    ///
    /// For resuming after a crash: a file of ours still listed is waiting for Coupa's pick-up
    /// (Coupa moves each file out of the folder before loading it, every 3 to 6 minutes); a
    /// listed `name.part` is an upload of ours that did not finish ([`RemoteFile::is_partial`]).
    pub async fn list(&self) -> Result<Vec<RemoteFile>, SftpError> {
        let entries = self.sftp.read_dir(self.folder_path()).await.map_err(|e| {
            self.sftp_error(
                None,
                Step::Folder,
                "cannot list the folder",
                request_problem(&e),
            )
        })?;
        let mut files: Vec<RemoteFile> = entries
            .filter(|entry| entry.file_type().is_file())
            .map(|entry| RemoteFile {
                size: entry.metadata().len(),
                name: entry.file_name(),
            })
            .collect();
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// Ends the session politely. Uploads are verified when they return, so a failure to close
    /// changes nothing and is only logged.
    pub async fn close(self) {
        if let Err(e) = self.sftp.close().await {
            tracing::debug!(error = %e, "closing the SFTP channel failed");
        }
        if let Err(e) = self
            .ssh
            .disconnect(Disconnect::ByApplication, "", "en")
            .await
        {
            tracing::debug!(error = %e, "closing the SSH connection failed");
        }
    }

    async fn check_folder(&self, configured: &str) -> Result<(), SftpError> {
        let metadata = self.sftp.metadata(self.folder_path()).await.map_err(|e| {
            let what = format!("remote_folder {configured} cannot be opened");
            self.sftp_error(None, Step::Folder, &what, request_problem(&e))
        })?;
        if metadata.is_dir() {
            Ok(())
        } else {
            Err(self.endpoint.error(
                Step::Folder,
                ErrorKind::Invalid,
                format!("remote_folder {configured} is not a folder"),
            ))
        }
    }

    fn folder_path(&self) -> String {
        if self.folder.is_empty() {
            "/".to_owned()
        } else {
            self.folder.clone()
        }
    }

    /// An error about an SFTP request: `what` we tried, then the [`Problem`] the answer showed.
    pub(super) fn sftp_error(
        &self,
        file: Option<&str>,
        step: Step,
        what: &str,
        (kind, detail): Problem,
    ) -> SftpError {
        let message = format!("{what}: {detail}");
        match file {
            Some(name) => self.endpoint.file_error(name, step, kind, message),
            None => self.endpoint.error(step, kind, message),
        }
    }
}

/// What went wrong with a request, and how to say it.
pub(super) type Problem = (ErrorKind, String);

/// A failed request: the server's status, a timeout, or the end of the connection.
pub(super) fn request_problem(error: &SftpClientError) -> Problem {
    match error {
        SftpClientError::Status(status) => (
            ErrorKind::Remote,
            format!(
                "the server answered {}",
                describe_status(status.status_code, &status.error_message)
            ),
        ),
        SftpClientError::Timeout => (
            ErrorKind::Timeout,
            "no answer within request_timeout".to_owned(),
        ),
        other => (
            ErrorKind::ConnectionLost,
            format!("the connection ended ({other})"),
        ),
    }
}

/// A failed write, flush or close of a remote file: russh-sftp reports the server's refusal as a
/// bare message, and transport failures with its own error inside.
pub(super) fn write_problem(error: &std::io::Error) -> Problem {
    match error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<SftpClientError>())
    {
        Some(inner) => request_problem(inner),
        None if error.kind() == std::io::ErrorKind::TimedOut => {
            request_problem(&SftpClientError::Timeout)
        }
        None => (ErrorKind::Remote, format!("the server answered: {error}")),
    }
}

fn describe_status(code: StatusCode, message: &str) -> String {
    let message = message.trim();
    if message.is_empty() {
        format!("{code:?}")
    } else {
        format!("{code:?} ({message})")
    }
}

impl Credentials {
    /// Reads and decrypts the key file now, so its problems are named before we connect.
    async fn load(auth: &SftpAuth) -> Result<Self, String> {
        match auth {
            SftpAuth::Password(password) => Ok(Credentials::Password(password.clone())),
            SftpAuth::PrivateKey { path, passphrase } => {
                let file = path.display();
                let text = tokio::fs::read_to_string(path)
                    .await
                    .map(SecretString::from)
                    .map_err(|e| format!("private key file {file} cannot be read: {e}"))?;
                let passphrase = passphrase.as_ref().map(|p| p.expose_secret());
                let key = decode_secret_key(text.expose_secret(), passphrase).map_err(|e| match e {
                    russh::keys::Error::KeyIsEncrypted => format!(
                        "private key file {file} is encrypted; give its passphrase in the settings"
                    ),
                    e if passphrase.is_some() => format!(
                        "private key file {file} cannot be decoded (wrong passphrase, or not an \
                         OpenSSH or PEM private key): {e}"
                    ),
                    e => format!(
                        "private key file {file} cannot be decoded (not an OpenSSH or PEM private \
                         key?): {e}"
                    ),
                })?;
                let shown = format!(
                    "key {} from {file}",
                    key.public_key().fingerprint(HashAlg::Sha256)
                );
                Ok(Credentials::Key {
                    key: Arc::new(key),
                    shown,
                })
            }
        }
    }
}

async fn authenticate(
    mut ssh: Handle<ClientHandler>,
    endpoint: &Endpoint,
    credentials: &Credentials,
) -> Result<Handle<ClientHandler>, SftpError> {
    let lost = |e: russh::Error| {
        endpoint.error(
            Step::Auth,
            ErrorKind::ConnectionLost,
            format!("the connection ended during login: {e}"),
        )
    };
    let (result, method) = match credentials {
        Credentials::Password(password) => (
            ssh.authenticate_password(&endpoint.user, password.expose_secret())
                .await
                .map_err(lost)?,
            "password".to_owned(),
        ),
        Credentials::Key { key, shown } => {
            // A server without the server-sig-algs extension predates SHA-1's retirement but
            // accepts rsa-sha2-256 in practice (OpenSSH 7.2+).
            let rsa_hash = ssh
                .best_supported_rsa_hash()
                .await
                .map_err(lost)?
                .unwrap_or(Some(HashAlg::Sha256));
            let key = PrivateKeyWithHashAlg::new(key.clone(), rsa_hash);
            (
                ssh.authenticate_publickey(&endpoint.user, key)
                    .await
                    .map_err(lost)?,
                format!("public key ({shown})"),
            )
        }
    };
    match result {
        client::AuthResult::Success => Ok(ssh),
        client::AuthResult::Failure {
            remaining_methods, ..
        } => {
            let accepted: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
            let accepted = if accepted.is_empty() {
                "none offered".to_owned()
            } else {
                accepted.join(", ")
            };
            let hint = if remaining_methods.contains(&MethodKind::PublicKey)
                && matches!(credentials, Credentials::Key { .. })
            {
                "; is the public key in the SFTP user's authorized keys (Coupa: SFTP user settings)?"
            } else {
                ""
            };
            Err(endpoint.error(
                Step::Auth,
                ErrorKind::AuthRejected,
                format!(
                    "the server refused {method} for user {}; it accepts: {accepted}{hint}",
                    endpoint.user
                ),
            ))
        }
    }
}
