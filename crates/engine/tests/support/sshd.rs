//! A throw-away OpenSSH sshd on a loopback port, with its own host keys, authorized keys and
//! inbound folder in a temp dir, so the SFTP uploader is tested against the real server.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use engine::sftp::{HostKeyCheck, SftpAuth, SftpTarget};
use secrecy::SecretString;
use tempfile::TempDir;

const SSHD: &str = "/usr/sbin/sshd";
/// The local account password logins use; see [`Sshd::password_user`].
pub const PASSWORD_USER: &str = "coupasync-sftp-test";

/// A running sshd; killed (with its session processes) on drop.
pub struct Sshd {
    dir: TempDir,
    pub port: u16,
    /// The SFTP folder uploads go to, as a local path the test can watch.
    pub folder: PathBuf,
    /// An ed25519 client key in authorized_keys.
    pub client_key: PathBuf,
    /// A 2048-bit RSA client key in authorized_keys (what Coupa asks for), encrypted with
    /// [`Self::RSA_PASSPHRASE`].
    pub rsa_client_key: PathBuf,
    child: Child,
    log: Arc<Mutex<String>>,
}

/// How the server lets users in.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Login {
    /// Keys only, as the current (root) user.
    Keys,
    /// Passwords too, for [`PASSWORD_USER`].
    Password,
}

impl Sshd {
    pub const RSA_PASSPHRASE: &str = "rsa key passphrase";

    pub fn start() -> Sshd {
        Self::start_with(Login::Keys)
    }

    pub fn start_with(login: Login) -> Sshd {
        assert!(
            Path::new(SSHD).exists(),
            "{SSHD} is missing: install openssh-server (./scripts/test.sh does)"
        );
        // sshd's privilege separation needs this directory when it runs as root.
        let _ = std::fs::create_dir_all("/run/sshd");
        let dir = tempfile::tempdir().unwrap();
        // Password logins run as another user, who must reach the folder.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let folder = dir.path().join("Incoming").join("Users");
        std::fs::create_dir_all(&folder).unwrap();
        let keygen = |file: &str, args: &[&str]| {
            let path = dir.path().join(file);
            run(
                "ssh-keygen",
                &[&["-q", "-C", "", "-f", path.to_str().unwrap()], args].concat(),
            );
            path
        };
        let host_ed25519 = keygen("host_ed25519", &["-t", "ed25519", "-N", ""]);
        let host_rsa = keygen("host_rsa", &["-t", "rsa", "-b", "2048", "-N", ""]);
        let client_key = keygen("client_ed25519", &["-t", "ed25519", "-N", ""]);
        let rsa_client_key = keygen(
            "client_rsa",
            &["-t", "rsa", "-b", "2048", "-N", Self::RSA_PASSPHRASE],
        );
        let authorized = [&client_key, &rsa_client_key]
            .iter()
            .map(|k| std::fs::read_to_string(k.with_extension("pub")).unwrap())
            .collect::<String>();
        let authorized_keys = dir.path().join("authorized_keys");
        std::fs::write(&authorized_keys, authorized).unwrap();

        let password_lines = match login {
            Login::Keys => "PasswordAuthentication no\nPermitRootLogin prohibit-password\n",
            Login::Password => {
                let owner = password_user_ids();
                std::os::unix::fs::chown(&folder, Some(owner.0), Some(owner.1)).unwrap();
                "PasswordAuthentication yes\nPermitRootLogin prohibit-password\n"
            }
        };
        // A port picked by the OS can be taken again before sshd binds it: retry a few times.
        for _ in 0..5 {
            let port = free_port();
            let config = dir.path().join("sshd_config");
            std::fs::write(
                &config,
                format!(
                    "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nHostKey {}\nPidFile {}\n\
                     AuthorizedKeysFile {}\nUsePAM no\nStrictModes no\n{password_lines}\
                     KbdInteractiveAuthentication no\nSubsystem sftp internal-sftp\n",
                    host_ed25519.display(),
                    host_rsa.display(),
                    dir.path().join("sshd.pid").display(),
                    authorized_keys.display(),
                ),
            )
            .unwrap();
            let mut child = Command::new(SSHD)
                .args(["-D", "-e", "-f"])
                .arg(&config)
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap();
            let log = Arc::new(Mutex::new(String::new()));
            let (ready_tx, ready_rx) = mpsc::channel();
            let stderr = child.stderr.take().unwrap();
            let sink = log.clone();
            // Drained for the server's whole life, so sshd never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if line.contains("Server listening on") {
                        let _ = ready_tx.send(());
                    }
                    let mut log = sink.lock().unwrap();
                    log.push_str(&line);
                    log.push('\n');
                }
            });
            match ready_rx.recv_timeout(Duration::from_secs(30)) {
                Ok(()) => {
                    return Sshd {
                        dir,
                        port,
                        folder,
                        client_key,
                        rsa_client_key,
                        child,
                        log,
                    };
                }
                Err(_) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = log.lock().unwrap().clone();
                    if !log.contains("Address already in use") {
                        panic!("sshd did not start:\n{log}");
                    }
                }
            }
        }
        panic!("sshd found no free loopback port in 5 tries");
    }

    /// The remote folder as the SFTP client names it (the server is not chrooted).
    pub fn remote_folder(&self) -> String {
        self.folder.to_str().unwrap().to_owned()
    }

    /// A path in the test's temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// A known_hosts file written by `ssh-keyscan` with the given extra arguments (e.g. `-H`).
    pub fn keyscan(&self, file: &str, extra: &[&str]) -> PathBuf {
        let port = self.port.to_string();
        let out = Command::new("ssh-keyscan")
            .args(extra)
            .args(["-p", &port, "127.0.0.1"])
            .output()
            .unwrap();
        assert!(
            out.status.success() && !out.stdout.is_empty(),
            "ssh-keyscan failed: {out:?}"
        );
        let path = self.path(file);
        std::fs::write(&path, out.stdout).unwrap();
        path
    }

    /// The server's ed25519 host key fingerprint, as `ssh-keygen -lf` prints it.
    pub fn ed25519_fingerprint(&self) -> String {
        fingerprint_of(&self.path("host_ed25519.pub"))
    }

    /// A target for this server, trusted through a fresh `ssh-keyscan` known_hosts file.
    pub fn target(&self, auth: SftpAuth) -> SftpTarget {
        let known_hosts = self.keyscan("known_hosts", &[]);
        let mut target = SftpTarget::new(
            "127.0.0.1",
            current_user(),
            auth,
            HostKeyCheck::KnownHosts(known_hosts),
        );
        target.port = self.port;
        target.remote_folder = self.remote_folder();
        target
    }

    pub fn key_auth(&self) -> SftpAuth {
        SftpAuth::PrivateKey {
            path: self.client_key.clone(),
            passphrase: None,
        }
    }

    /// Sets a fresh random password on [`PASSWORD_USER`] and returns it.
    pub fn password_user(&self) -> SecretString {
        let password = random_hex(16);
        let mut chpasswd = Command::new("chpasswd")
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        chpasswd
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{PASSWORD_USER}:{password}\n").as_bytes())
            .unwrap();
        assert!(chpasswd.wait().unwrap().success(), "chpasswd failed");
        SecretString::from(password)
    }

    /// Everything sshd logged so far (for assertion messages).
    pub fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// Kills the server and every session process it forked, as a crash or a network cut would.
    pub fn kill(&mut self) {
        // Collected before the parent dies: orphans are re-parented and could not be found.
        let sessions = descendants(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        for pid in sessions {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stderr(Stdio::null())
                .status();
        }
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn fingerprint_of(public_key: &Path) -> String {
    let out = Command::new("ssh-keygen")
        .arg("-lf")
        .arg(public_key)
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    text.split_whitespace().nth(1).unwrap().to_owned()
}

fn current_user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Creates [`PASSWORD_USER`] once (it needs root, as CI has) and returns its uid and gid.
fn password_user_ids() -> (u32, u32) {
    let id = |flag: &str| {
        Command::new("id")
            .args([flag, PASSWORD_USER])
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| {
                String::from_utf8(o.stdout)
                    .unwrap()
                    .trim()
                    .parse::<u32>()
                    .unwrap()
            })
    };
    if id("-u").is_none() {
        // A concurrent run may create it meanwhile and make this fail: the lookup below decides.
        let _ = Command::new("useradd")
            .args(["--system", "--no-create-home", "--home-dir", "/nonexistent"])
            .args(["--shell", "/bin/sh", PASSWORD_USER])
            .status();
    }
    match (id("-u"), id("-g")) {
        (Some(uid), Some(gid)) => (uid, gid),
        _ => panic!(
            "cannot create local user {PASSWORD_USER} for the password test (needs root, as CI runs)"
        ),
    }
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program).args(args).output().unwrap();
    assert!(out.status.success(), "{program} {args:?} failed: {out:?}");
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub fn random_hex(bytes: usize) -> String {
    use std::io::Read;
    let mut buf = vec![0u8; bytes];
    std::fs::File::open("/dev/urandom")
        .unwrap()
        .read_exact(&mut buf)
        .unwrap();
    buf.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every process below `root`, found through /proc's parent links.
fn descendants(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|entry| {
            let pid = entry.ok()?.file_name().to_str()?.parse::<u32>().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // The command name in parentheses may hold spaces: the parent id follows the last ')'.
            let after = stat.rsplit_once(')')?.1;
            let ppid = after.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut found = vec![root];
    let mut i = 0;
    while let Some(&parent) = found.get(i) {
        found.extend(
            parents
                .iter()
                .filter(|(_, pp)| *pp == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found.remove(0);
    found
}
