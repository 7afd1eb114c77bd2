//! Putting users files into Coupa's inbound folder: `name.part`, then rename, then size check;
//! never over a file that is already there.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Instant;

use russh_sftp::client::error::Error as SftpClientError;
use russh_sftp::protocol::{OpenFlags, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::connection::{SftpUploader, request_problem, write_problem};
use super::error::{ErrorKind, SftpError, Step, UploadFailure};

/// Suffix of a file while it is being written; Coupa's loader must never see a half file under
/// its final name.
pub const PART_SUFFIX: &str = ".part";

/// Local reads of this size are sent as pipelined SFTP writes.
const CHUNK: usize = 256 * 1024;

/// A file to upload, named as it must appear in Coupa's folder (e.g. `users_20250101_120000Z_001.csv`).
#[derive(Debug, Clone)]
pub struct LocalFile {
    pub name: String,
    pub content: LocalContent,
}

/// Where a file's bytes come from.
#[derive(Clone)]
pub enum LocalContent {
    Bytes(Vec<u8>),
    /// Read while sending, never loaded whole.
    Path(PathBuf),
}

impl LocalFile {
    pub fn from_bytes(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            content: LocalContent::Bytes(bytes),
        }
    }

    pub fn from_path(name: impl Into<String>, path: impl Into<PathBuf>) -> Self {
        Self {
            name: name.into(),
            content: LocalContent::Path(path.into()),
        }
    }
}

// Users files hold personal data: Debug shows sizes and paths, never contents.
impl fmt::Debug for LocalContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LocalContent::Bytes(bytes) => write!(f, "Bytes({} bytes)", bytes.len()),
            LocalContent::Path(path) => f.debug_tuple("Path").field(path).finish(),
        }
    }
}

enum Source<'a> {
    Bytes(&'a [u8]),
    File(&'a Path, tokio::fs::File),
}

/// A file that is in Coupa's folder under its final name with the size we sent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedFile {
    pub name: String,
    pub remote_path: String,
    pub size: u64,
}

impl SftpUploader {
    /// Uploads a batch in name order, which is the order Coupa processes files in, so a pick-up
    /// in the middle of the batch only ever sees its first files.
    ///
    /// Before any byte is sent, every name is checked and none may exist remotely yet. On a
    /// failure the batch stops; [`UploadFailure::uploaded`] lists the files already in place.
    pub async fn upload(&self, files: &[LocalFile]) -> Result<Vec<UploadedFile>, UploadFailure> {
        let refused = |error| UploadFailure {
            uploaded: Vec::new(),
            error,
        };
        let mut ordered: Vec<&LocalFile> = files.iter().collect();
        ordered.sort_by(|a, b| a.name.cmp(&b.name));
        for pair in ordered.windows(2) {
            if let [a, b] = pair
                && a.name == b.name
            {
                return Err(refused(self.endpoint.file_error(
                    &a.name,
                    Step::Check,
                    ErrorKind::Invalid,
                    "the batch holds two files of this name",
                )));
            }
        }
        for file in &ordered {
            self.check_name(&file.name).map_err(refused)?;
            self.refuse_existing(&file.name).await.map_err(refused)?;
        }
        let mut uploaded = Vec::with_capacity(ordered.len());
        for file in ordered {
            match self.send_checked(file).await {
                Ok(done) => uploaded.push(done),
                Err(error) => return Err(UploadFailure { uploaded, error }),
            }
        }
        Ok(uploaded)
    }

    /// Uploads one file, with the same checks as [`Self::upload`].
    pub async fn upload_file(&self, file: &LocalFile) -> Result<UploadedFile, SftpError> {
        self.check_name(&file.name)?;
        self.refuse_existing(&file.name).await?;
        self.send_checked(file).await
    }

    /// Writes `name.part`, checks its size, renames it to `name` and checks again.
    async fn send_checked(&self, file: &LocalFile) -> Result<UploadedFile, SftpError> {
        let name = file.name.as_str();
        let final_path = self.remote_path(name);
        let part_path = format!("{final_path}{PART_SUFFIX}");
        let started = Instant::now();

        let sent = match self.write_part(file, &part_path).await {
            Ok(sent) => sent,
            Err(error) => return Err(self.discard_part(error, &part_path).await),
        };
        match self.sftp.metadata(part_path.as_str()).await {
            Ok(m) if m.len() == sent => {}
            Ok(m) => {
                let error = self.endpoint.file_error(
                    name,
                    Step::Verify,
                    ErrorKind::SizeMismatch,
                    format!(
                        "{part_path} holds {} bytes after the upload, {sent} were sent",
                        m.len()
                    ),
                );
                return Err(self.discard_part(error, &part_path).await);
            }
            Err(e) => {
                let error = self.sftp_error(
                    Some(name),
                    Step::Verify,
                    &format!("cannot stat {part_path}"),
                    request_problem(&e),
                );
                return Err(self.discard_part(error, &part_path).await);
            }
        }
        // Checked again because time passed since the batch's check, and some servers' rename
        // replaces an existing file (OpenSSH's does not).
        if let Err(error) = self.refuse_existing(name).await {
            return Err(self.discard_part(error, &part_path).await);
        }
        if let Err(e) = self
            .sftp
            .rename(part_path.as_str(), final_path.as_str())
            .await
        {
            let error = match self.sftp.try_exists(final_path.as_str()).await {
                Ok(true) => self.already_exists(name, "it appeared while this upload ran"),
                _ => self.sftp_error(
                    Some(name),
                    Step::Rename,
                    &format!("cannot rename {part_path}"),
                    request_problem(&e),
                ),
            };
            return Err(self.discard_part(error, &part_path).await);
        }
        self.verify_final(name, &final_path, sent).await?;

        let seconds = started.elapsed().as_secs_f64();
        tracing::info!(
            file = name,
            remote_path = %final_path,
            bytes = sent,
            seconds,
            mib_per_second = sent as f64 / 1_048_576.0 / seconds.max(f64::EPSILON),
            "uploaded to Coupa's SFTP folder"
        );
        Ok(UploadedFile {
            name: name.to_owned(),
            remote_path: final_path,
            size: sent,
        })
    }

    /// Sends the content to `part_path` (created or truncated: a `.part` left by an interrupted
    /// run is ours), fsyncs and closes it; returns the number of bytes sent.
    async fn write_part(&self, file: &LocalFile, part_path: &str) -> Result<u64, SftpError> {
        let name = file.name.as_str();
        let local_error = |path: &Path, e: std::io::Error| {
            self.endpoint.file_error(
                name,
                Step::Write,
                ErrorKind::LocalFile,
                format!("cannot read local file {}: {e}", path.display()),
            )
        };
        // Opened before the remote file, so a missing local file leaves nothing behind.
        let mut source = match &file.content {
            LocalContent::Bytes(bytes) => Source::Bytes(bytes),
            LocalContent::Path(path) => Source::File(
                path,
                tokio::fs::File::open(path)
                    .await
                    .map_err(|e| local_error(path, e))?,
            ),
        };
        let mut remote = self
            .sftp
            .open_with_flags(
                part_path,
                OpenFlags::CREATE | OpenFlags::TRUNCATE | OpenFlags::WRITE,
            )
            .await
            .map_err(|e| {
                let what = format!("cannot create {part_path}");
                self.sftp_error(Some(name), Step::Write, &what, request_problem(&e))
            })?;
        let write_failed = |e: std::io::Error| {
            let what = format!("writing {part_path} failed");
            self.sftp_error(Some(name), Step::Write, &what, write_problem(&e))
        };

        let sent = match &mut source {
            Source::Bytes(bytes) => {
                remote.write_all(bytes).await.map_err(write_failed)?;
                bytes.len() as u64
            }
            Source::File(path, local) => {
                let mut buffer = vec![0u8; CHUNK];
                let mut sent = 0u64;
                loop {
                    let read = local
                        .read(&mut buffer)
                        .await
                        .map_err(|e| local_error(path, e))?;
                    let Some(chunk) = buffer.get(..read).filter(|c| !c.is_empty()) else {
                        break sent;
                    };
                    remote.write_all(chunk).await.map_err(write_failed)?;
                    sent += read as u64;
                }
            }
        };
        // Waits for every write's acknowledgement, then closes and reports the close status.
        remote.shutdown().await.map_err(write_failed)?;
        self.sync_part(name, part_path).await?;
        Ok(sent)
    }

    /// Asks the server to put the `.part` on disk before it gets its final name (OpenSSH's
    /// fsync extension, through a second handle so its failure is told apart from a write's).
    ///
    /// A server that refuses it only loses durability over a crash; the size checks still decide,
    /// so a refusal is logged, not fatal. A lost connection is fatal.
    async fn sync_part(&self, name: &str, part_path: &str) -> Result<(), SftpError> {
        let synced = async {
            let file = self
                .sftp
                .open_with_flags(part_path, OpenFlags::WRITE)
                .await?;
            let synced = file.sync_all().await;
            let closed = file.close().await.map_err(SftpClientError::from);
            synced.and(closed)
        };
        match synced.await {
            Ok(()) => Ok(()),
            Err(SftpClientError::Status(status)) => {
                tracing::warn!(
                    file = name,
                    status = ?status.status_code,
                    message = %status.error_message,
                    "the SFTP server refused to fsync the upload; relying on the size checks"
                );
                Ok(())
            }
            Err(e) => {
                let what = format!("cannot fsync {part_path}");
                Err(self.sftp_error(Some(name), Step::Write, &what, request_problem(&e)))
            }
        }
    }

    /// Confirms the renamed file's size. A damaged file under the final name is removed so that
    /// Coupa does not load it.
    async fn verify_final(&self, name: &str, final_path: &str, sent: u64) -> Result<(), SftpError> {
        match self.sftp.metadata(final_path).await {
            Ok(m) if m.len() == sent => Ok(()),
            Ok(m) => {
                let removed = match self.sftp.remove_file(final_path).await {
                    Ok(()) => "it was removed so that Coupa does not load it".to_owned(),
                    Err(e) => {
                        format!("it could not be removed ({e}): delete it before Coupa loads it")
                    }
                };
                Err(self.endpoint.file_error(
                    name,
                    Step::Verify,
                    ErrorKind::SizeMismatch,
                    format!(
                        "{final_path} holds {} bytes after the rename, {sent} were sent; {removed}",
                        m.len()
                    ),
                ))
            }
            // Coupa moves a file out of the folder before loading it: gone right after our rename
            // means picked up, and the size was checked on the .part just before.
            Err(SftpClientError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                tracing::info!(
                    file = name,
                    "file was picked up by the loader right after its rename"
                );
                Ok(())
            }
            Err(e) => Err(self.sftp_error(
                Some(name),
                Step::Verify,
                &format!("renamed to {final_path}, but its size cannot be confirmed"),
                request_problem(&e),
            )),
        }
    }

    /// Removes a `.part` after a failure, when the connection still allows it, and says so.
    async fn discard_part(&self, mut error: SftpError, part_path: &str) -> SftpError {
        let outcome = match self.sftp.remove_file(part_path).await {
            Ok(()) => format!("{part_path} was removed"),
            Err(SftpClientError::Status(s)) if s.status_code == StatusCode::NoSuchFile => {
                return error;
            }
            Err(e) => {
                format!("{part_path} may remain ({e}); the next upload of this file replaces it")
            }
        };
        error.message = format!("{}; {outcome}", error.message);
        error
    }

    async fn refuse_existing(&self, name: &str) -> Result<(), SftpError> {
        let path = self.remote_path(name);
        match self.sftp.try_exists(path.as_str()).await {
            Ok(false) => Ok(()),
            Ok(true) => Err(self.already_exists(name, "it is already in the folder")),
            Err(e) => Err(self.sftp_error(
                Some(name),
                Step::Check,
                &format!("cannot check {path}"),
                request_problem(&e),
            )),
        }
    }

    fn already_exists(&self, name: &str, why: &str) -> SftpError {
        self.endpoint.file_error(
            name,
            Step::Check,
            ErrorKind::AlreadyExists,
            format!(
                "refused to upload {}: {why}, and coupa-sync never uploads a file twice nor \
                 overwrites one Coupa has not loaded yet",
                self.remote_path(name)
            ),
        )
    }

    /// A name must be a plain file name: Coupa sees it, and it must not escape the folder.
    fn check_name(&self, name: &str) -> Result<(), SftpError> {
        let problem = if name.is_empty() {
            Some("the file name is empty")
        } else if name.len() > 200 {
            Some("the file name is longer than 200 bytes")
        } else if name.contains(['/', '\\']) || name.chars().any(char::is_control) {
            Some("the file name has a slash, backslash or control character")
        } else if name.starts_with('.') {
            Some("the file name starts with a dot (hidden files may be ignored by the loader)")
        } else if name.ends_with(PART_SUFFIX) {
            Some("the file name ends with .part, which marks uploads in progress")
        } else {
            None
        };
        match problem {
            Some(problem) => {
                Err(self
                    .endpoint
                    .file_error(name, Step::Check, ErrorKind::Invalid, problem))
            }
            None => Ok(()),
        }
    }

    fn remote_path(&self, name: &str) -> String {
        format!("{}/{name}", self.folder)
    }
}
