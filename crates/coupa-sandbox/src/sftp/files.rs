//! The SFTP file operations of one session, all inside the drop folder.
//!
//! Renaming follows OpenSSH's server: `SSH_FXP_RENAME` refuses to replace an existing name (as the
//! SFTP v3 draft says), and the `posix-rename@openssh.com` extension, which OpenSSH's `sftp`
//! client uses when offered, replaces it atomically. Attribute changes (`setstat`) succeed and do
//! nothing. Symbolic links can neither be read nor made.

use crate::dropfolder::{DropFolder, DropFolderError, Resolved, normalise};
use bytes::Bytes;
use russh_sftp::protocol::{
    Attrs, Data, File, FileAttributes, Handle, Name, OpenFlags, Packet, Status, StatusCode, Version,
};
use russh_sftp::server::StatusReply;
use std::collections::{HashMap, VecDeque};
use std::io::{self, SeekFrom};
use tokio::io::{AsyncReadExt, AsyncSeekExt, AsyncWriteExt};

const POSIX_RENAME: &str = "posix-rename@openssh.com";
/// Handles one session may hold open; a client that leaks them gets an error, not our memory.
const MAX_HANDLES: usize = 64;
/// The most a single read returns (OpenSSH asks for 32 KiB at a time).
const MAX_READ: u32 = 64 * 1024;
/// Directory entries sent per `SSH_FXP_NAME` answer, to stay well under the packet size limit.
const ENTRIES_PER_ANSWER: usize = 100;

type Reply<T> = Result<T, StatusReply>;

/// One SFTP session's state: its open files and folders.
#[derive(Debug)]
pub(super) struct FileSession {
    folder: DropFolder,
    user: String,
    max_file_size: u64,
    handles: HashMap<String, Open>,
    next_handle: u64,
}

#[derive(Debug)]
enum Open {
    File {
        file: tokio::fs::File,
        sftp_path: String,
        written: bool,
    },
    /// A folder listing, taken at `opendir`, handed out in chunks.
    Folder(VecDeque<File>),
}

impl FileSession {
    pub(super) fn new(folder: DropFolder, user: String, max_file_size: u64) -> FileSession {
        FileSession {
            folder,
            user,
            max_file_size,
            handles: HashMap::new(),
            next_handle: 0,
        }
    }

    async fn resolve(&self, sftp_path: &str) -> Reply<Resolved> {
        self.folder
            .resolve(sftp_path)
            .await
            .map_err(|e| refusal(&e))
    }

    fn add_handle(&mut self, id: u32, open: Open) -> Reply<Handle> {
        if self.handles.len() >= MAX_HANDLES {
            return Err(StatusCode::Failure.with_message(format!(
                "too many open files and folders (at most {MAX_HANDLES} per session)"
            )));
        }
        self.next_handle += 1;
        let handle = self.next_handle.to_string();
        self.handles.insert(handle.clone(), open);
        Ok(Handle { id, handle })
    }

    fn file(&mut self, handle: &str) -> Reply<(&mut tokio::fs::File, &str, &mut bool)> {
        match self.handles.get_mut(handle) {
            Some(Open::File {
                file,
                sftp_path,
                written,
            }) => Ok((file, sftp_path, written)),
            Some(Open::Folder(_)) => {
                Err(StatusCode::Failure.with_message("the handle is a folder, not a file"))
            }
            None => Err(no_handle()),
        }
    }

    /// Renames within the drop folder; `replace` says whether an existing `to` may be replaced.
    async fn rename(&self, id: u32, from: &str, to: &str, replace: bool) -> Reply<Status> {
        let from = self.resolve(from).await?;
        let to = self.resolve(to).await?;
        for path in [&from.sftp, &to.sftp] {
            if self.folder.is_fixed_folder(path) {
                return Err(fixed_folder(path));
            }
        }
        let target_exists = match tokio::fs::symlink_metadata(&to.local).await {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => false,
            Err(e) => return Err(io_failure(&to.sftp, &e)),
        };
        if target_exists && !replace {
            return Err(StatusCode::Failure.with_message(format!(
                "{}: already exists (SSH_FXP_RENAME does not replace; remove it first or use \
                 {POSIX_RENAME})",
                to.sftp
            )));
        }
        tokio::fs::rename(&from.local, &to.local)
            .await
            .map_err(|e| io_failure(&from.sftp, &e))?;
        tracing::info!(user = %self.user, from = %from.sftp, to = %to.sftp, "sftp: renamed");
        Ok(ok(id))
    }
}

impl russh_sftp::server::Handler for FileSession {
    type Error = StatusReply;

    fn unimplemented(&self) -> StatusReply {
        StatusCode::OpUnsupported.with_message("the sandbox does not support this operation")
    }

    async fn init(&mut self, _version: u32, _ext: HashMap<String, String>) -> Reply<Version> {
        let mut version = Version::new();
        version
            .extensions
            .insert(POSIX_RENAME.to_string(), "1".to_string());
        Ok(version)
    }

    async fn realpath(&mut self, id: u32, path: String) -> Reply<Name> {
        let normal = normalise(&path).map_err(|e| refusal(&e))?;
        Ok(Name {
            id,
            files: vec![File::dummy(normal)],
        })
    }

    async fn stat(&mut self, id: u32, path: String) -> Reply<Attrs> {
        let path = self.resolve(&path).await?;
        // Links are never followed, so stat and lstat agree.
        let meta = tokio::fs::symlink_metadata(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&meta),
        })
    }

    async fn lstat(&mut self, id: u32, path: String) -> Reply<Attrs> {
        self.stat(id, path).await
    }

    async fn fstat(&mut self, id: u32, handle: String) -> Reply<Attrs> {
        let (file, sftp_path, _) = self.file(&handle)?;
        let meta = file
            .metadata()
            .await
            .map_err(|e| io_failure(sftp_path, &e))?;
        Ok(Attrs {
            id,
            attrs: FileAttributes::from(&meta),
        })
    }

    async fn setstat(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Reply<Status> {
        self.resolve(&path).await?;
        Ok(ok(id))
    }

    async fn fsetstat(&mut self, id: u32, handle: String, _attrs: FileAttributes) -> Reply<Status> {
        if !self.handles.contains_key(&handle) {
            return Err(no_handle());
        }
        Ok(ok(id))
    }

    async fn opendir(&mut self, id: u32, path: String) -> Reply<Handle> {
        let path = self.resolve(&path).await?;
        let failed = |e: io::Error| io_failure(&path.sftp, &e);
        let mut entries = tokio::fs::read_dir(&path.local).await.map_err(failed)?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(failed)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            // What cannot be opened through the jail is not shown either.
            if meta.file_type().is_symlink() {
                continue;
            }
            files.push(File::new(name, FileAttributes::from(&meta)));
        }
        files.sort_by(|a, b| a.filename.cmp(&b.filename));
        self.add_handle(id, Open::Folder(files.into()))
    }

    async fn readdir(&mut self, id: u32, handle: String) -> Reply<Name> {
        let Some(Open::Folder(entries)) = self.handles.get_mut(&handle) else {
            return Err(no_handle());
        };
        if entries.is_empty() {
            return Err(StatusCode::Eof.into());
        }
        let n = entries.len().min(ENTRIES_PER_ANSWER);
        Ok(Name {
            id,
            files: entries.drain(..n).collect(),
        })
    }

    async fn open(
        &mut self,
        id: u32,
        filename: String,
        pflags: OpenFlags,
        _attrs: FileAttributes,
    ) -> Reply<Handle> {
        let path = self.resolve(&filename).await?;
        let options = tokio::fs::OpenOptions::from(std::fs::OpenOptions::from(pflags));
        let file = options
            .open(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        let is_file = file
            .metadata()
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?
            .is_file();
        if !is_file {
            return Err(StatusCode::Failure.with_message(format!("{}: not a file", path.sftp)));
        }
        self.add_handle(
            id,
            Open::File {
                file,
                sftp_path: path.sftp,
                written: false,
            },
        )
    }

    async fn read(&mut self, id: u32, handle: String, offset: u64, len: u32) -> Reply<Data> {
        let (file, sftp_path, _) = self.file(&handle)?;
        let failed = |e: io::Error| io_failure(sftp_path, &e);
        file.seek(SeekFrom::Start(offset)).await.map_err(failed)?;
        let mut data = Vec::new();
        file.take(u64::from(len.min(MAX_READ)))
            .read_to_end(&mut data)
            .await
            .map_err(failed)?;
        if data.is_empty() && len > 0 {
            return Err(StatusCode::Eof.into());
        }
        Ok(Data { id, data })
    }

    async fn write(
        &mut self,
        id: u32,
        handle: String,
        offset: u64,
        data: Vec<u8>,
    ) -> Reply<Status> {
        let max = self.max_file_size;
        let (file, sftp_path, written) = self.file(&handle)?;
        let end = offset.saturating_add(data.len() as u64);
        if end > max {
            return Err(StatusCode::Failure.with_message(format!(
                "{sftp_path}: the sandbox takes files of at most {max} bytes"
            )));
        }
        let failed = |e: io::Error| io_failure(sftp_path, &e);
        file.seek(SeekFrom::Start(offset)).await.map_err(failed)?;
        file.write_all(&data).await.map_err(failed)?;
        *written = true;
        Ok(ok(id))
    }

    async fn close(&mut self, id: u32, handle: String) -> Reply<Status> {
        match self.handles.remove(&handle) {
            Some(Open::File {
                mut file,
                sftp_path,
                written,
            }) => {
                // tokio hands writes to a background thread; flushing surfaces their errors here.
                file.flush().await.map_err(|e| io_failure(&sftp_path, &e))?;
                if written {
                    tracing::info!(user = %self.user, path = %sftp_path, "sftp: file written");
                }
                Ok(ok(id))
            }
            Some(Open::Folder(_)) => Ok(ok(id)),
            None => Err(no_handle()),
        }
    }

    async fn remove(&mut self, id: u32, filename: String) -> Reply<Status> {
        let path = self.resolve(&filename).await?;
        let meta = tokio::fs::symlink_metadata(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        if meta.is_dir() {
            return Err(
                StatusCode::Failure.with_message(format!("{}: a folder (use rmdir)", path.sftp))
            );
        }
        tokio::fs::remove_file(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        Ok(ok(id))
    }

    async fn mkdir(&mut self, id: u32, path: String, _attrs: FileAttributes) -> Reply<Status> {
        let path = self.resolve(&path).await?;
        tokio::fs::create_dir(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        Ok(ok(id))
    }

    async fn rmdir(&mut self, id: u32, path: String) -> Reply<Status> {
        let path = self.resolve(&path).await?;
        if self.folder.is_fixed_folder(&path.sftp) {
            return Err(fixed_folder(&path.sftp));
        }
        tokio::fs::remove_dir(&path.local)
            .await
            .map_err(|e| io_failure(&path.sftp, &e))?;
        Ok(ok(id))
    }

    async fn rename(&mut self, id: u32, oldpath: String, newpath: String) -> Reply<Status> {
        FileSession::rename(self, id, &oldpath, &newpath, false).await
    }

    async fn extended(&mut self, id: u32, request: String, data: Vec<u8>) -> Reply<Packet> {
        if request != POSIX_RENAME {
            return Err(self.unimplemented());
        }
        let paths: RenamePaths = russh_sftp::de::from_bytes(&mut Bytes::from(data))
            .map_err(|e| StatusCode::BadMessage.with_message(format!("{POSIX_RENAME}: {e}")))?;
        let status = FileSession::rename(self, id, &paths.oldpath, &paths.newpath, true).await?;
        Ok(Packet::Status(status))
    }
}

/// The body of a `posix-rename@openssh.com` request.
#[derive(Debug, serde::Deserialize)]
struct RenamePaths {
    oldpath: String,
    newpath: String,
}

fn ok(id: u32) -> Status {
    Status {
        id,
        status_code: StatusCode::Ok,
        error_message: "Ok".into(),
        language_tag: "en-US".into(),
    }
}

fn no_handle() -> StatusReply {
    StatusCode::Failure.with_message("no such open file or folder")
}

fn fixed_folder(sftp_path: &str) -> StatusReply {
    StatusCode::PermissionDenied.with_message(format!(
        "{sftp_path}: part of Coupa's folder layout, which cannot be removed or renamed"
    ))
}

/// A refusal from the drop folder as an SFTP status; paths leaving the jail are a permission error.
fn refusal(error: &DropFolderError) -> StatusReply {
    let code = match error {
        DropFolderError::Escapes { .. } | DropFolderError::Symlink { .. } => {
            StatusCode::PermissionDenied
        }
        DropFolderError::NotFound { .. } => StatusCode::NoSuchFile,
        DropFolderError::BadName { .. } => StatusCode::BadMessage,
        DropFolderError::Io { source, .. } => status_of(source),
    };
    code.with_message(error.to_string())
}

/// An I/O error as an SFTP status naming the SFTP path (never the local one).
fn io_failure(sftp_path: &str, error: &io::Error) -> StatusReply {
    status_of(error).with_message(format!("{sftp_path}: {error}"))
}

fn status_of(error: &io::Error) -> StatusCode {
    match error.kind() {
        io::ErrorKind::NotFound => StatusCode::NoSuchFile,
        io::ErrorKind::PermissionDenied => StatusCode::PermissionDenied,
        _ => StatusCode::Failure,
    }
}
