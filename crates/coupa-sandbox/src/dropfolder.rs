//! Coupa's SFTP folder tree on local disk: where the SFTP server writes and the CSV loader reads.
//!
//! The tree is `/Incoming/Users` (files waiting to be loaded), an archive folder (files moved there
//! before they are loaded) and `/Outgoing/Users` (exports). It lives in `<data_dir>/sftp` when the
//! sandbox has a data folder, else in a temporary folder removed when the last handle on it is
//! dropped. Every SFTP path is resolved inside it: `..` may not climb above `/`, and no symbolic link
//! is followed, so nothing outside the root can be read or written through it.

use crate::SandboxError;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

/// Where Coupa picks up users files.
pub const INCOMING_USERS: &str = "/Incoming/Users";
/// Where Coupa puts users exports.
pub const OUTGOING_USERS: &str = "/Outgoing/Users";
/// Where Coupa moves a users file before loading it, per the Users Import article. The SFTP Overview
/// article lists `/Archive/Incoming/Users` instead; `SftpConfig::archive_path` picks.
pub const DEFAULT_ARCHIVE: &str = "/Incoming/Archive/Users";
/// The suffix of a file still being uploaded, which the loader leaves alone.
pub const PART_SUFFIX: &str = ".part";

/// The drop folder tree. Cheap to clone; all clones share one root.
#[derive(Debug, Clone)]
pub struct DropFolder(Arc<Tree>);

#[derive(Debug)]
struct Tree {
    /// Canonical, so that a root reached through a symbolic link still compares equal.
    root: PathBuf,
    /// The archive folder as an SFTP path (`/Incoming/Archive/Users`).
    archive: String,
    /// Held only to remove the temporary root when the tree is dropped.
    _temporary: Option<tempfile::TempDir>,
}

/// A users file waiting in `/Incoming/Users`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingFile {
    /// The file name, e.g. `users_20260101_120000Z.csv`.
    pub name: String,
    /// Where it is on local disk.
    pub path: PathBuf,
    pub size: u64,
    pub modified: SystemTime,
}

/// A users file moved to the archive folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArchivedFile {
    /// Its name in the archive: the original name, or `stem~N.ext` when that name was taken.
    pub name: String,
    /// Its SFTP path, e.g. `/Incoming/Archive/Users/users_1.csv`.
    pub sftp_path: String,
    /// Where it is on local disk.
    pub path: PathBuf,
}

/// Why a drop folder operation failed. Paths in messages are SFTP paths, never local ones.
#[derive(Debug, thiserror::Error)]
pub enum DropFolderError {
    #[error("{path}: the path leaves the SFTP root")]
    Escapes { path: String },
    #[error("{path}: the path goes through a symbolic link, which the sandbox does not follow")]
    Symlink { path: String },
    #[error("{name:?} is not a usable file name: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("{path}: no such file")]
    NotFound { path: String },
    #[error("{path}: {source}")]
    Io { path: String, source: io::Error },
}

impl DropFolder {
    /// Opens (creating what is missing) the tree rooted at `root`.
    pub fn open(root: &Path, archive: &str) -> Result<DropFolder, SandboxError> {
        DropFolder::build(root, archive, None)
    }

    /// Creates the tree in a new temporary folder, removed when the last clone is dropped.
    pub fn temporary(archive: &str) -> Result<DropFolder, SandboxError> {
        let dir = tempfile::Builder::new()
            .prefix("coupa-sandbox-sftp-")
            .tempdir()
            .map_err(|e| SandboxError::Data {
                path: std::env::temp_dir().display().to_string(),
                message: format!("cannot create the SFTP drop folder: {e}"),
            })?;
        let root = dir.path().to_path_buf();
        DropFolder::build(&root, archive, Some(dir))
    }

    fn build(
        root: &Path,
        archive: &str,
        temporary: Option<tempfile::TempDir>,
    ) -> Result<DropFolder, SandboxError> {
        let archive = check_archive_path(archive).map_err(SandboxError::Config)?;
        let failed = |e: io::Error| SandboxError::Data {
            path: root.display().to_string(),
            message: format!("cannot create the SFTP drop folder: {e}"),
        };
        std::fs::create_dir_all(root).map_err(failed)?;
        let root = root.canonicalize().map_err(failed)?;
        for folder in [INCOMING_USERS, archive.as_str(), OUTGOING_USERS] {
            std::fs::create_dir_all(root.join(folder.trim_start_matches('/'))).map_err(failed)?;
        }
        Ok(DropFolder(Arc::new(Tree {
            root,
            archive,
            _temporary: temporary,
        })))
    }

    /// The local folder that SFTP's `/` is.
    pub fn root(&self) -> &Path {
        &self.0.root
    }

    /// The archive folder's SFTP path.
    pub fn archive_path(&self) -> &str {
        &self.0.archive
    }

    /// The complete users files waiting in `/Incoming/Users`, in Coupa's processing order (by name,
    /// byte-wise). Files ending in `.part`, hidden files (`.name`), folders and links are left out.
    pub async fn waiting_files(&self) -> Result<Vec<WaitingFile>, DropFolderError> {
        let folder = self.local(INCOMING_USERS);
        let io_error = |source| DropFolderError::Io {
            path: INCOMING_USERS.into(),
            source,
        };
        let mut entries = tokio::fs::read_dir(&folder).await.map_err(io_error)?;
        let mut files = Vec::new();
        while let Some(entry) = entries.next_entry().await.map_err(io_error)? {
            let Ok(name) = entry.file_name().into_string() else {
                continue;
            };
            if name.starts_with('.') || name.ends_with(PART_SUFFIX) {
                continue;
            }
            // `DirEntry::metadata` does not follow links, so a link is seen as one and skipped.
            let Ok(meta) = entry.metadata().await else {
                continue;
            };
            if !meta.is_file() {
                continue;
            }
            files.push(WaitingFile {
                path: entry.path(),
                size: meta.len(),
                modified: meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
                name,
            });
        }
        files.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(files)
    }

    /// Moves `/Incoming/Users/<name>` to the archive folder with one rename, so the file is never
    /// half in both places. An archived file of the same name is kept: the new one becomes
    /// `stem~2.ext` (or `~3`…).
    pub async fn archive(&self, name: &str) -> Result<ArchivedFile, DropFolderError> {
        check_file_name(name)?;
        let source_sftp = format!("{INCOMING_USERS}/{name}");
        let source = self.local(&source_sftp);
        match tokio::fs::symlink_metadata(&source).await {
            Ok(meta) if meta.is_file() => {}
            Ok(_) => return Err(DropFolderError::NotFound { path: source_sftp }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Err(DropFolderError::NotFound { path: source_sftp });
            }
            Err(source) => {
                return Err(DropFolderError::Io {
                    path: source_sftp,
                    source,
                });
            }
        }
        let mut archived = name.to_string();
        let mut n = 1;
        loop {
            let sftp_path = format!("{}/{archived}", self.0.archive);
            let path = self.local(&sftp_path);
            match tokio::fs::symlink_metadata(&path).await {
                Ok(_) => {
                    n += 1;
                    archived = numbered(name, n);
                }
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    tokio::fs::rename(&source, &path).await.map_err(|source| {
                        DropFolderError::Io {
                            path: source_sftp,
                            source,
                        }
                    })?;
                    return Ok(ArchivedFile {
                        name: archived,
                        sftp_path,
                        path,
                    });
                }
                Err(source) => {
                    return Err(DropFolderError::Io {
                        path: sftp_path,
                        source,
                    });
                }
            }
        }
    }

    /// Writes `/Outgoing/Users/<name>`, replacing a file of that name. The bytes go to `<name>.part`
    /// first and are renamed into place, so an SFTP reader never sees half a file.
    pub async fn write_outgoing(
        &self,
        name: &str,
        contents: &[u8],
    ) -> Result<PathBuf, DropFolderError> {
        check_file_name(name)?;
        let sftp_path = format!("{OUTGOING_USERS}/{name}");
        let path = self.local(&sftp_path);
        let part = self.local(&format!("{sftp_path}{PART_SUFFIX}"));
        let io_error = |source| DropFolderError::Io {
            path: sftp_path.clone(),
            source,
        };
        tokio::fs::write(&part, contents).await.map_err(io_error)?;
        tokio::fs::rename(&part, &path).await.map_err(io_error)?;
        Ok(path)
    }

    /// Resolves a client's SFTP path (absolute, or relative to `/`) to a local path inside the root.
    /// Returns the normalised SFTP path too. Components that exist are checked not to be symbolic
    /// links; the last one may be missing (a file about to be created).
    pub(crate) async fn resolve(&self, sftp_path: &str) -> Result<Resolved, DropFolderError> {
        let normal = normalise(sftp_path)?;
        let mut local = self.0.root.clone();
        for part in normal.split('/').filter(|p| !p.is_empty()) {
            local.push(part);
            match tokio::fs::symlink_metadata(&local).await {
                Ok(meta) if meta.file_type().is_symlink() => {
                    return Err(DropFolderError::Symlink { path: normal });
                }
                Ok(_) => {}
                // Nothing further down can exist, so nothing further down can be a link.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    local = self.local(&normal);
                    break;
                }
                Err(source) => {
                    return Err(DropFolderError::Io {
                        path: normal,
                        source,
                    });
                }
            }
        }
        Ok(Resolved {
            sftp: normal,
            local,
        })
    }

    /// True for the folders of Coupa's layout, which clients may not remove or rename.
    pub(crate) fn is_fixed_folder(&self, sftp_path: &str) -> bool {
        sftp_path == "/"
            || [INCOMING_USERS, OUTGOING_USERS, self.0.archive.as_str()]
                .iter()
                .any(|folder| {
                    folder == &sftp_path
                        || folder
                            .strip_prefix(sftp_path)
                            .is_some_and(|rest| rest.starts_with('/'))
                })
    }

    /// The local path of a normalised SFTP path.
    fn local(&self, normal: &str) -> PathBuf {
        let mut path = self.0.root.clone();
        path.extend(normal.split('/').filter(|p| !p.is_empty()));
        path
    }
}

/// An SFTP path resolved inside the drop folder.
#[derive(Debug, Clone)]
pub(crate) struct Resolved {
    /// Normalised: absolute, no `.`, `..` or empty components (`/` for the root).
    pub sftp: String,
    pub local: PathBuf,
}

/// Normalises an SFTP path lexically: relative paths start at `/`, `.` is dropped, `..` removes the
/// previous component and may not climb above `/`.
pub(crate) fn normalise(path: &str) -> Result<String, DropFolderError> {
    if path.contains('\0') {
        return Err(DropFolderError::BadName {
            name: path.into(),
            reason: "it contains a NUL character",
        });
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(DropFolderError::Escapes { path: path.into() });
                }
            }
            _ => parts.push(part),
        }
    }
    Ok(format!("/{}", parts.join("/")))
}

/// Checks the archive folder setting: an absolute path that is not one of the other two folders.
fn check_archive_path(archive: &str) -> Result<String, String> {
    let bad = |reason: &str| Err(format!("SFTP archive path {archive:?}: {reason}"));
    if !archive.starts_with('/') {
        return bad("must be absolute, e.g. /Incoming/Archive/Users");
    }
    let normal = match normalise(archive) {
        Ok(normal) => normal,
        Err(e) => return bad(&e.to_string()),
    };
    if normal == "/" {
        return bad("must not be the SFTP root");
    }
    for folder in [INCOMING_USERS, OUTGOING_USERS] {
        if normal == folder || folder.starts_with(&format!("{normal}/")) {
            return bad(&format!("must be apart from {folder}"));
        }
    }
    Ok(normal)
}

/// A plain file name: one path component, not hidden, not `.` or `..`.
fn check_file_name(name: &str) -> Result<(), DropFolderError> {
    let bad = |reason| {
        Err(DropFolderError::BadName {
            name: name.into(),
            reason,
        })
    };
    if name.is_empty() {
        return bad("it is empty");
    }
    if name.contains(['/', '\0']) {
        return bad("a file name may not contain '/' or NUL");
    }
    if name.starts_with('.') {
        return bad("hidden names (starting with '.') are ignored by the loader");
    }
    Ok(())
}

/// `users.csv`, 2 → `users~2.csv`.
fn numbered(name: &str, n: u32) -> String {
    match name.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => format!("{stem}~{n}.{ext}"),
        _ => format!("{name}~{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder() -> DropFolder {
        DropFolder::temporary(DEFAULT_ARCHIVE).unwrap()
    }

    async fn put(folder: &DropFolder, sftp_path: &str, contents: &str) {
        let resolved = folder.resolve(sftp_path).await.unwrap();
        tokio::fs::write(&resolved.local, contents).await.unwrap();
    }

    #[test]
    fn normalise_resolves_dots_within_the_root() {
        assert_eq!(normalise("").unwrap(), "/");
        assert_eq!(normalise(".").unwrap(), "/");
        assert_eq!(normalise("Incoming//Users/").unwrap(), "/Incoming/Users");
        assert_eq!(
            normalise("/Incoming/../Outgoing/./Users").unwrap(),
            "/Outgoing/Users"
        );
    }

    #[test]
    fn normalise_refuses_climbing_above_the_root() {
        for path in [
            "..",
            "/..",
            "/../../etc/passwd",
            "/Incoming/../../x",
            "a/../../b",
        ] {
            assert!(
                matches!(normalise(path), Err(DropFolderError::Escapes { .. })),
                "{path}"
            );
        }
        assert!(matches!(
            normalise("/a\0b"),
            Err(DropFolderError::BadName { .. })
        ));
    }

    #[tokio::test]
    async fn creates_coupas_layout() {
        let folder = folder();
        for path in [INCOMING_USERS, DEFAULT_ARCHIVE, OUTGOING_USERS] {
            assert!(
                folder.root().join(path.trim_start_matches('/')).is_dir(),
                "{path}"
            );
        }
        let other = DropFolder::temporary("/Archive/Incoming/Users").unwrap();
        assert!(other.root().join("Archive/Incoming/Users").is_dir());
        assert_eq!(other.archive_path(), "/Archive/Incoming/Users");
    }

    #[test]
    fn refuses_an_archive_path_that_overlaps_the_others() {
        for path in [
            "Incoming/Archive",
            "/",
            "/Incoming/Users",
            "/Incoming",
            "/../x",
        ] {
            assert!(
                matches!(DropFolder::temporary(path), Err(SandboxError::Config(_))),
                "{path}"
            );
        }
    }

    #[tokio::test]
    async fn the_temporary_root_goes_with_the_last_clone() {
        let folder = folder();
        let root = folder.root().to_path_buf();
        let clone = folder.clone();
        drop(folder);
        assert!(root.is_dir());
        drop(clone);
        assert!(!root.exists());
    }

    #[tokio::test]
    async fn lists_complete_files_in_name_order() {
        let folder = folder();
        for name in ["users_2.csv", "users_10.csv", "Users_3.csv", "users_1.csv"] {
            put(&folder, &format!("{INCOMING_USERS}/{name}"), "x").await;
        }
        put(&folder, "/Incoming/Users/users_0.csv.part", "half").await;
        put(&folder, "/Incoming/Users/.hidden.csv", "x").await;
        tokio::fs::create_dir(folder.root().join("Incoming/Users/sub.csv"))
            .await
            .unwrap();
        std::os::unix::fs::symlink(
            "/etc/hostname",
            folder.root().join("Incoming/Users/link.csv"),
        )
        .unwrap();
        let names: Vec<String> = folder
            .waiting_files()
            .await
            .unwrap()
            .into_iter()
            .map(|f| f.name)
            .collect();
        assert_eq!(
            names,
            ["Users_3.csv", "users_1.csv", "users_10.csv", "users_2.csv"]
        );
    }

    #[tokio::test]
    async fn archive_moves_the_file_and_keeps_earlier_archives() {
        let folder = folder();
        put(&folder, "/Incoming/Users/users.csv", "first").await;
        let first = folder.archive("users.csv").await.unwrap();
        assert_eq!(first.name, "users.csv");
        assert_eq!(first.sftp_path, "/Incoming/Archive/Users/users.csv");
        assert!(folder.waiting_files().await.unwrap().is_empty());

        put(&folder, "/Incoming/Users/users.csv", "second").await;
        let second = folder.archive("users.csv").await.unwrap();
        assert_eq!(second.sftp_path, "/Incoming/Archive/Users/users~2.csv");
        assert_eq!(std::fs::read_to_string(&first.path).unwrap(), "first");
        assert_eq!(std::fs::read_to_string(&second.path).unwrap(), "second");
    }

    #[tokio::test]
    async fn archive_refuses_what_is_not_a_waiting_file() {
        let folder = folder();
        assert!(matches!(
            folder.archive("missing.csv").await,
            Err(DropFolderError::NotFound { .. })
        ));
        for name in ["../Outgoing/x.csv", ".hidden", ""] {
            assert!(
                matches!(
                    folder.archive(name).await,
                    Err(DropFolderError::BadName { .. })
                ),
                "{name}"
            );
        }
    }

    #[tokio::test]
    async fn write_outgoing_replaces_atomically() {
        let folder = folder();
        let path = folder.write_outgoing("export.csv", b"one").await.unwrap();
        let path2 = folder.write_outgoing("export.csv", b"two").await.unwrap();
        assert_eq!(path, path2);
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        let names: Vec<_> = std::fs::read_dir(folder.root().join("Outgoing/Users"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["export.csv"]);
    }

    #[tokio::test]
    async fn resolve_stays_in_the_root_and_does_not_follow_links() {
        let folder = folder();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "s").unwrap();
        std::os::unix::fs::symlink(outside.path(), folder.root().join("Incoming/out")).unwrap();

        let inside = folder.resolve("Incoming/Users/new.csv").await.unwrap();
        assert_eq!(inside.sftp, "/Incoming/Users/new.csv");
        assert_eq!(inside.local, folder.root().join("Incoming/Users/new.csv"));
        assert!(matches!(
            folder.resolve("/Incoming/out/secret").await,
            Err(DropFolderError::Symlink { .. })
        ));
        assert!(matches!(
            folder.resolve("/Incoming/out").await,
            Err(DropFolderError::Symlink { .. })
        ));
        assert!(matches!(
            folder.resolve("/../../etc/passwd").await,
            Err(DropFolderError::Escapes { .. })
        ));
        let missing = folder.resolve("/no/such/dir/file").await.unwrap();
        assert!(missing.local.starts_with(folder.root()));
    }

    #[test]
    fn fixed_folders_are_the_layout_and_its_parents() {
        let folder = folder();
        for path in [
            "/",
            "/Incoming",
            "/Incoming/Users",
            "/Incoming/Archive",
            "/Outgoing/Users",
        ] {
            assert!(folder.is_fixed_folder(path), "{path}");
        }
        for path in ["/Inc", "/Incoming/Users/x.csv", "/Outgoing/Users2", "/mine"] {
            assert!(!folder.is_fixed_folder(path), "{path}");
        }
    }

    #[test]
    fn numbered_names_keep_the_extension() {
        assert_eq!(numbered("users.csv", 2), "users~2.csv");
        assert_eq!(numbered("a.b.csv", 3), "a.b~3.csv");
        assert_eq!(numbered("users", 2), "users~2");
    }
}
