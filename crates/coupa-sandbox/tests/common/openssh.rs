//! The operator's side of the SFTP drop folder: a key made by `ssh-keygen` and OpenSSH's `sftp` run
//! in batch mode against the sandbox, pinning a host key as a careful operator does.
//!
//! Needs `sftp` and `ssh-keygen` (Debian's openssh-client), which ./scripts/test.sh installs.

use coupa_sandbox::{SftpEndpoint, SftpUser};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use tempfile::TempDir;

/// The SFTP account the operator logs in as.
pub const USER: &str = "connector";

/// An ed25519 key pair made by `ssh-keygen`, as an operator would make one.
pub struct Key {
    pub private: PathBuf,
    pub public: PathBuf,
}

impl Key {
    /// The SFTP account `USER`, which logs in with this key only.
    pub fn user(&self) -> SftpUser {
        SftpUser {
            name: USER.into(),
            password: None,
            authorized_keys: vec![self.public.clone()],
        }
    }
}

pub fn keygen(dir: &Path, name: &str) -> Key {
    let private = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&private)
        .status()
        .expect("ssh-keygen runs (install openssh-client)");
    assert!(status.success());
    Key {
        public: private.with_extension("pub"),
        private,
    }
}

/// A working folder (where `put` reads and `get` writes) with the operator's key in it.
pub struct Operator {
    pub dir: TempDir,
    pub key: Key,
}

impl Operator {
    pub fn new() -> Operator {
        let dir = TempDir::new().unwrap();
        let key = keygen(dir.path(), "id_connector");
        Operator { dir, key }
    }

    /// Writes a file into the working folder, for `put`.
    pub fn file(&self, name: &str, contents: impl AsRef<[u8]>) {
        std::fs::write(self.dir.path().join(name), contents).unwrap();
    }

    /// Runs `commands` with the sandbox's own host key pinned.
    pub async fn sftp(&self, endpoint: &SftpEndpoint, commands: &str) -> Output {
        self.sftp_pinning(endpoint, &endpoint.known_hosts_line(), commands)
            .await
    }

    /// Runs `commands` with `known_hosts` (one line) as the only host key the client trusts.
    pub async fn sftp_pinning(
        &self,
        endpoint: &SftpEndpoint,
        known_hosts: &str,
        commands: &str,
    ) -> Output {
        let dir = self.dir.path();
        let known_hosts_file = dir.join("known_hosts");
        std::fs::write(&known_hosts_file, format!("{known_hosts}\n")).unwrap();
        let mut command = Command::new("sftp");
        command
            .args(["-b", "-", "-F", "/dev/null", "-P"])
            .arg(endpoint.addr.port().to_string())
            .arg("-o")
            .arg(format!("UserKnownHostsFile={}", known_hosts_file.display()))
            .args([
                "-o",
                "GlobalKnownHostsFile=/dev/null",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "IdentityAgent=none",
                "-i",
            ])
            .arg(&self.key.private)
            .arg(format!("{USER}@127.0.0.1"))
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let commands = commands.to_string();
        tokio::task::spawn_blocking(move || {
            let mut child = command.spawn().expect("sftp runs (install openssh-client)");
            std::io::Write::write_all(&mut child.stdin.take().unwrap(), commands.as_bytes())
                .unwrap();
            child.wait_with_output().unwrap()
        })
        .await
        .unwrap()
    }
}

/// An `sftp` run's status and output, for assertion messages.
pub fn text(output: &Output) -> String {
    format!(
        "status {}\n--- stdout\n{}--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
