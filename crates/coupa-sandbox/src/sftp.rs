//! The sandbox's SFTP server: Coupa's second way in, where a connector drops users CSV files.
//!
//! An SSH server (russh) that offers only the `sftp` subsystem, jailed in the [`DropFolder`]. Users
//! log in with a password or an authorised public key. The host key comes from a file, or is
//! generated once (ed25519) and kept in the data folder, so clients can pin its fingerprint.

mod files;

use crate::SandboxError;
use crate::dropfolder::{DEFAULT_ARCHIVE, DropFolder};
use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{LineEnding, PublicKey, public::KeyData};
use russh::keys::{HashAlg, PrivateKey};
use russh::server::{Auth, ChannelOpenHandle, Msg, PublicKeyOffer, Session, VerifiedPublicKey};
use russh::{Channel, ChannelId, MethodKind, MethodSet};
use secrecy::{ExposeSecret, SecretString};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// The SFTP server's settings (`coupa-sync sandbox --sftp …`).
#[derive(Debug, Clone)]
pub struct SftpConfig {
    /// Where to listen, e.g. `127.0.0.1:2222`; port 0 picks a free one.
    pub addr: String,
    /// Who may log in.
    pub users: Vec<SftpUser>,
    /// An OpenSSH private key file to use as the host key. `None`: an ed25519 key is generated,
    /// and kept in `<data_dir>/sftp_host_ed25519_key` when the sandbox has a data folder.
    pub host_key: Option<PathBuf>,
    /// Where files are moved before loading: `/Incoming/Archive/Users` (Users Import article, the
    /// default) or `/Archive/Incoming/Users` (SFTP Overview article).
    pub archive_path: String,
    /// The largest file a client may write, in bytes (default 64 MiB).
    pub max_file_size: u64,
    /// Connections one user may hold at once (Coupa announces 5).
    pub max_connections_per_user: usize,
}

impl Default for SftpConfig {
    fn default() -> SftpConfig {
        SftpConfig {
            addr: "127.0.0.1:0".into(),
            users: Vec::new(),
            host_key: None,
            archive_path: DEFAULT_ARCHIVE.into(),
            max_file_size: 64 * 1024 * 1024,
            max_connections_per_user: 5,
        }
    }
}

/// An SFTP login. It needs a password, an authorised key, or both.
#[derive(Debug, Clone)]
pub struct SftpUser {
    pub name: String,
    pub password: Option<SecretString>,
    /// Files of OpenSSH public keys, one per line as in `authorized_keys` (`ssh-ed25519 AAAA… me`);
    /// blank lines and `#` comments are skipped.
    pub authorized_keys: Vec<PathBuf>,
}

/// Where a running SFTP server can be reached, and the host key a client should pin.
#[derive(Debug, Clone)]
pub struct SftpEndpoint {
    pub addr: SocketAddr,
    /// `SHA256:…`, as `ssh-keygen -lf` and OpenSSH's prompts print it.
    pub host_key_fingerprint: String,
    /// The host public key in OpenSSH format (`ssh-ed25519 AAAA…`).
    pub host_public_key: String,
    pub drop_folder: DropFolder,
}

impl SftpEndpoint {
    /// The line to put in a `known_hosts` file so that OpenSSH clients accept this server.
    pub fn known_hosts_line(&self) -> String {
        let host = match self.addr {
            SocketAddr::V4(a) if a.port() == 22 => a.ip().to_string(),
            SocketAddr::V6(a) if a.port() == 22 => a.ip().to_string(),
            SocketAddr::V4(a) => format!("[{}]:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("[{}]:{}", a.ip(), a.port()),
        };
        format!("{host} {}", self.host_public_key)
    }
}

/// The file a generated host key is kept in, inside the data folder.
const HOST_KEY_FILE: &str = "sftp_host_ed25519_key";
/// The drop folder's root inside the data folder.
const DROP_FOLDER_DIR: &str = "sftp";

/// An SFTP server ready to be bound: accounts loaded, host key in hand, drop folder created.
#[derive(Debug)]
pub(crate) struct Sftp {
    addr: String,
    russh: Arc<russh::server::Config>,
    host_public_key: PublicKey,
    shared: Arc<Shared>,
}

/// What every connection reads.
#[derive(Debug)]
struct Shared {
    accounts: HashMap<String, Account>,
    folder: DropFolder,
    max_file_size: u64,
    max_connections_per_user: usize,
    /// Open connections per user.
    connections: Mutex<HashMap<String, usize>>,
}

#[derive(Debug)]
struct Account {
    password: Option<SecretString>,
    keys: Vec<KeyData>,
}

impl Sftp {
    /// Checks the settings, loads the keys and creates the drop folder.
    pub(crate) fn prepare(
        config: &SftpConfig,
        data_dir: Option<&Path>,
    ) -> Result<Sftp, SandboxError> {
        if config.max_file_size == 0 {
            return Err(SandboxError::Config(
                "SFTP: the file size limit must be at least 1 byte".into(),
            ));
        }
        if config.max_connections_per_user == 0 {
            return Err(SandboxError::Config(
                "SFTP: each user needs at least 1 connection".into(),
            ));
        }
        let accounts = load_accounts(&config.users)?;
        let folder = match data_dir {
            Some(dir) => DropFolder::open(&dir.join(DROP_FOLDER_DIR), &config.archive_path)?,
            None => DropFolder::temporary(&config.archive_path)?,
        };
        let host_key = host_key(config.host_key.as_deref(), data_dir)?;
        let host_public_key = host_key.public_key().clone();
        let russh = russh::server::Config {
            methods: MethodSet::from(&[MethodKind::PublicKey, MethodKind::Password][..]),
            // OpenSSH opens with a "none" attempt to learn the methods: no reason to make it wait.
            auth_rejection_time_initial: Some(Duration::ZERO),
            keys: vec![host_key],
            ..Default::default()
        };
        Ok(Sftp {
            addr: config.addr.clone(),
            russh: Arc::new(russh),
            host_public_key,
            shared: Arc::new(Shared {
                accounts,
                folder,
                max_file_size: config.max_file_size,
                max_connections_per_user: config.max_connections_per_user,
                connections: Mutex::new(HashMap::new()),
            }),
        })
    }

    pub(crate) fn drop_folder(&self) -> &DropFolder {
        &self.shared.folder
    }

    /// `SHA256:…` of the host key.
    pub(crate) fn host_key_fingerprint(&self) -> String {
        self.host_public_key
            .fingerprint(HashAlg::Sha256)
            .to_string()
    }

    /// Binds the configured address and serves SFTP in a background task until `shutdown` is
    /// cancelled, when every client is disconnected.
    pub(crate) async fn start(
        &self,
        shutdown: &CancellationToken,
    ) -> Result<SftpEndpoint, SandboxError> {
        let listener =
            TcpListener::bind(&self.addr)
                .await
                .map_err(|source| SandboxError::Listen {
                    addr: self.addr.clone(),
                    source,
                })?;
        let addr = listener.local_addr()?;
        let endpoint = SftpEndpoint {
            addr,
            host_key_fingerprint: self.host_key_fingerprint(),
            host_public_key: self
                .host_public_key
                .to_openssh()
                .map_err(|e| SandboxError::Config(format!("SFTP host key: {e}")))?,
            drop_folder: self.shared.folder.clone(),
        };
        tracing::info!(
            %addr,
            host_key = %endpoint.host_key_fingerprint,
            drop_folder = %self.shared.folder.root().display(),
            "sftp: listening"
        );
        let config = self.russh.clone();
        let mut server = Server(self.shared.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            use russh::server::Server as _;
            let running = server.run_on_socket(config, &listener);
            let handle = running.handle();
            tokio::select! {
                result = running => {
                    if let Err(e) = result {
                        tracing::error!(error = %e, "sftp: the listener failed; SFTP is down");
                    }
                }
                () = shutdown.cancelled() => handle.shutdown("the sandbox is stopping".into()),
            }
        });
        Ok(endpoint)
    }
}

fn load_accounts(users: &[SftpUser]) -> Result<HashMap<String, Account>, SandboxError> {
    let bad = |message: String| Err(SandboxError::Config(format!("SFTP: {message}")));
    if users.is_empty() {
        return bad("no user can log in; give at least one user".into());
    }
    let mut accounts = HashMap::new();
    for user in users {
        if user.name.is_empty() || user.name.contains(char::is_whitespace) {
            return bad(format!("user name {:?} is empty or has spaces", user.name));
        }
        if accounts.contains_key(&user.name) {
            return bad(format!("user {} is given twice", user.name));
        }
        if user
            .password
            .as_ref()
            .is_some_and(|p| p.expose_secret().is_empty())
        {
            return bad(format!("user {}: empty password", user.name));
        }
        let mut keys = Vec::new();
        for path in &user.authorized_keys {
            keys.extend(read_authorized_keys(path)?);
        }
        if user.password.is_none() && keys.is_empty() {
            return bad(format!(
                "user {} has neither a password nor a public key",
                user.name
            ));
        }
        accounts.insert(
            user.name.clone(),
            Account {
                password: user.password.clone(),
                keys,
            },
        );
    }
    Ok(accounts)
}

/// Reads an `authorized_keys`-style file: one OpenSSH public key per line.
fn read_authorized_keys(path: &Path) -> Result<Vec<KeyData>, SandboxError> {
    let failed = |message: String| {
        SandboxError::Config(format!("SFTP key file {}: {message}", path.display()))
    };
    let text = std::fs::read_to_string(path).map_err(|e| failed(e.to_string()))?;
    let mut keys = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let key = PublicKey::from_openssh(line).map_err(|e| {
            failed(format!(
                "line {}: not an OpenSSH public key ({e}); expected `ssh-ed25519 AAAA… comment`",
                i + 1
            ))
        })?;
        keys.push(key.key_data().clone());
    }
    if keys.is_empty() {
        return Err(failed("no public key in the file".into()));
    }
    Ok(keys)
}

/// The host key: from `file`, else the one kept in the data folder, else a new one (saved there).
fn host_key(file: Option<&Path>, data_dir: Option<&Path>) -> Result<PrivateKey, SandboxError> {
    if let Some(file) = file {
        return load_host_key(file);
    }
    let Some(dir) = data_dir else {
        return Ok(generate_host_key());
    };
    let kept = dir.join(HOST_KEY_FILE);
    if kept.exists() {
        return load_host_key(&kept);
    }
    let key = generate_host_key();
    let saved = std::fs::create_dir_all(dir)
        .map_err(|e| e.to_string())
        .and_then(|()| {
            key.write_openssh_file(&kept, LineEnding::LF)
                .map_err(|e| e.to_string())
        });
    saved.map_err(|message| SandboxError::Data {
        path: kept.display().to_string(),
        message: format!("cannot save the SFTP host key: {message}"),
    })?;
    Ok(key)
}

fn load_host_key(file: &Path) -> Result<PrivateKey, SandboxError> {
    russh::keys::load_secret_key(file, None).map_err(|e| {
        SandboxError::Config(format!(
            "SFTP host key {}: {e} (an unencrypted OpenSSH private key is needed)",
            file.display()
        ))
    })
}

fn generate_host_key() -> PrivateKey {
    let mut seed = [0u8; 32];
    rand::Rng::fill_bytes(&mut rand::rng(), &mut seed);
    PrivateKey::from(Ed25519Keypair::from_seed(&seed))
}

/// Hands each new TCP connection its own `Connection`.
struct Server(Arc<Shared>);

impl russh::server::Server for Server {
    type Handler = Connection;

    fn new_client(&mut self, peer: Option<SocketAddr>) -> Connection {
        Connection {
            shared: self.0.clone(),
            peer,
            login: None,
            channels: HashMap::new(),
        }
    }

    fn handle_session_error(&mut self, error: russh::Error) {
        tracing::debug!(%error, "sftp: connection ended with an error");
    }
}

/// One SSH connection: its login and the session channels it opened.
struct Connection {
    shared: Arc<Shared>,
    peer: Option<SocketAddr>,
    login: Option<Login>,
    channels: HashMap<ChannelId, Channel<Msg>>,
}

/// A logged-in user; holds one of the user's connection slots until the connection ends.
struct Login {
    shared: Arc<Shared>,
    user: String,
}

impl Drop for Login {
    fn drop(&mut self) {
        let mut connections = self
            .shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(n) = connections.get_mut(&self.user) {
            *n = n.saturating_sub(1);
        }
    }
}

impl Connection {
    fn knows_key(&self, user: &str, key: &PublicKey) -> bool {
        self.shared
            .accounts
            .get(user)
            .is_some_and(|a| a.keys.iter().any(|k| k == key.key_data()))
    }

    /// Accepts `user` if one of its connection slots is free.
    fn log_in(&mut self, user: &str, method: &str) -> Auth {
        let mut connections = self
            .shared
            .connections
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let open = connections.entry(user.to_string()).or_default();
        if *open >= self.shared.max_connections_per_user {
            tracing::warn!(
                user,
                limit = self.shared.max_connections_per_user,
                "sftp: login refused, the user has too many connections"
            );
            return Auth::reject();
        }
        *open += 1;
        drop(connections);
        tracing::info!(user, method, peer = ?self.peer, "sftp: logged in");
        self.login = Some(Login {
            shared: self.shared.clone(),
            user: user.to_string(),
        });
        Auth::Accept
    }

    fn refuse(&self, user: &str, method: &str) -> Auth {
        tracing::info!(user, method, peer = ?self.peer, "sftp: login refused");
        Auth::reject()
    }
}

impl russh::server::Handler for Connection {
    type Error = russh::Error;

    async fn auth_password(&mut self, user: &str, password: &str) -> Result<Auth, Self::Error> {
        let matches = self
            .shared
            .accounts
            .get(user)
            .and_then(|a| a.password.as_ref())
            .is_some_and(|p| p.expose_secret() == password);
        Ok(if matches {
            self.log_in(user, "password")
        } else {
            self.refuse(user, "password")
        })
    }

    async fn auth_publickey_offered(
        &mut self,
        user: &str,
        offer: PublicKeyOffer<'_>,
    ) -> Result<Auth, Self::Error> {
        // Refusing unknown keys here lets a client move on to its next key without signing.
        Ok(if self.knows_key(user, offer.public_key) {
            Auth::Accept
        } else {
            Auth::reject()
        })
    }

    async fn auth_publickey(
        &mut self,
        user: &str,
        key: VerifiedPublicKey<'_>,
    ) -> Result<Auth, Self::Error> {
        Ok(if self.knows_key(user, key.public_key) {
            self.log_in(user, "publickey")
        } else {
            self.refuse(user, "publickey")
        })
    }

    async fn channel_open_session(
        &mut self,
        channel: Channel<Msg>,
        reply: ChannelOpenHandle,
        _session: &mut Session,
    ) -> Result<(), Self::Error> {
        self.channels.insert(channel.id(), channel);
        reply.accept().await;
        Ok(())
    }

    async fn subsystem_request(
        &mut self,
        channel: ChannelId,
        name: &str,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        let (Some(login), true) = (&self.login, name == "sftp") else {
            return session.channel_failure(channel);
        };
        let Some(stream) = self.channels.remove(&channel) else {
            return session.channel_failure(channel);
        };
        session.channel_success(channel)?;
        let files = files::FileSession::new(
            self.shared.folder.clone(),
            login.user.clone(),
            self.shared.max_file_size,
        );
        russh_sftp::server::run(stream.into_stream(), files).await;
        Ok(())
    }

    async fn shell_request(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn exec_request(
        &mut self,
        channel: ChannelId,
        _data: &[u8],
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        session.channel_failure(channel)
    }

    async fn channel_eof(
        &mut self,
        channel: ChannelId,
        session: &mut Session,
    ) -> Result<(), Self::Error> {
        // The client sends EOF when it has nothing more to ask: the SFTP session is over.
        session.close(channel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(name: &str, password: Option<&str>, keys: Vec<PathBuf>) -> SftpUser {
        SftpUser {
            name: name.into(),
            password: password.map(|p| SecretString::from(p.to_string())),
            authorized_keys: keys,
        }
    }

    fn prepare(users: Vec<SftpUser>) -> Result<Sftp, SandboxError> {
        let config = SftpConfig {
            users,
            ..SftpConfig::default()
        };
        Sftp::prepare(&config, None)
    }

    fn config_error(result: Result<Sftp, SandboxError>) -> String {
        match result {
            Err(SandboxError::Config(message)) => message,
            other => panic!("expected a configuration error, got {other:?}"),
        }
    }

    #[test]
    fn refuses_accounts_that_cannot_log_in() {
        assert!(config_error(prepare(vec![])).contains("at least one user"));
        assert!(config_error(prepare(vec![user("a", None, vec![])])).contains("neither"));
        assert!(
            config_error(prepare(vec![user("a", Some(""), vec![])])).contains("empty password")
        );
        let twice = vec![user("a", Some("p"), vec![]), user("a", Some("q"), vec![])];
        assert!(config_error(prepare(twice)).contains("twice"));
        assert!(config_error(prepare(vec![user("a b", Some("p"), vec![])])).contains("spaces"));
    }

    #[test]
    fn a_bad_key_file_is_named_with_its_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("keys.pub");
        std::fs::write(&path, "# mine\n\nssh-ed25519 not-base64 me\n").unwrap();
        let message = config_error(prepare(vec![user("a", None, vec![path])]));
        assert!(
            message.contains("keys.pub") && message.contains("line 3"),
            "{message}"
        );
        let missing = dir.path().join("none.pub");
        let message = config_error(prepare(vec![user("a", None, vec![missing])]));
        assert!(message.contains("none.pub"), "{message}");
    }

    #[test]
    fn secrets_stay_out_of_debug_output() {
        let dir = tempfile::tempdir().unwrap();
        let key_file = dir.path().join("host_key");
        let key = generate_host_key();
        key.write_openssh_file(&key_file, LineEnding::LF).unwrap();
        let config = SftpConfig {
            users: vec![user("a", Some("hunter2"), vec![])],
            host_key: Some(key_file),
            ..SftpConfig::default()
        };
        let shown = format!("{:?}", Sftp::prepare(&config, None).unwrap());
        assert!(!shown.contains("hunter2"), "{shown}");
        let pem = key.to_openssh(LineEnding::LF).unwrap();
        for line in pem.lines().filter(|l| !l.starts_with("-----")) {
            assert!(!shown.contains(line), "{shown}");
        }
    }

    #[test]
    fn the_generated_host_key_is_kept_in_the_data_folder() {
        let dir = tempfile::tempdir().unwrap();
        let first = host_key(None, Some(dir.path())).unwrap();
        let again = host_key(None, Some(dir.path())).unwrap();
        assert_eq!(first.public_key().key_data(), again.public_key().key_data());
        let other = host_key(None, None).unwrap();
        assert_ne!(first.public_key().key_data(), other.public_key().key_data());
    }

    #[test]
    fn a_host_key_file_must_be_a_private_key() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("host");
        std::fs::write(&path, "not a key").unwrap();
        let message = match host_key(Some(&path), None) {
            Err(SandboxError::Config(message)) => message,
            other => panic!("{other:?}"),
        };
        assert!(
            message.contains("host key") && message.contains("host"),
            "{message}"
        );
    }

    #[test]
    fn known_hosts_lines_bracket_non_standard_ports() {
        let endpoint = |addr: &str| SftpEndpoint {
            addr: addr.parse().unwrap(),
            host_key_fingerprint: String::new(),
            host_public_key: "ssh-ed25519 AAAA".into(),
            drop_folder: DropFolder::temporary(DEFAULT_ARCHIVE).unwrap(),
        };
        assert_eq!(
            endpoint("127.0.0.1:2222").known_hosts_line(),
            "[127.0.0.1]:2222 ssh-ed25519 AAAA"
        );
        assert_eq!(
            endpoint("127.0.0.1:22").known_hosts_line(),
            "127.0.0.1 ssh-ed25519 AAAA"
        );
        assert_eq!(
            endpoint("[::1]:2222").known_hosts_line(),
            "[::1]:2222 ssh-ed25519 AAAA"
        );
    }
}
