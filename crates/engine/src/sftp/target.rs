//! Where and how the connector reaches Coupa's SFTP server: the settings the config file fills in.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use russh::keys::ssh_key::Fingerprint;
use secrecy::SecretString;

/// SSH's port, which Coupa's SFTP servers use.
pub const DEFAULT_PORT: u16 = 22;
/// Coupa's inbound folder for users files (Coupa pluralises the object name).
pub const DEFAULT_REMOTE_FOLDER: &str = "/Incoming/Users";
/// TCP connect, key exchange and authentication together.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest wait for the answer to one SFTP request (open, write, rename, stat...).
pub const DEFAULT_REQUEST_TIMEOUT: Duration = Duration::from_secs(60);

/// Coupa's SFTP server as the connector sees it.
///
/// ```toml
/// [sftp]
/// host = "sftp.example.coupahost.com"
/// port = 22
/// username = "acme_sftp"
/// private_key_file = "/etc/coupa-sync/coupa_sftp_rsa"   # or: password_env = "COUPA_SFTP_PASSWORD"
/// known_hosts_file = "/etc/coupa-sync/known_hosts"        # or: host_key_fingerprint = "SHA256:..."
/// remote_folder = "/Incoming/Users"
/// ```
#[derive(Debug, Clone)]
pub struct SftpTarget {
    /// Host name or IP address of the server, without a port, e.g. `sftp.example.coupahost.com`.
    pub host: String,
    /// TCP port, 22 unless Coupa says otherwise.
    pub port: u16,
    /// The SFTP user Coupa created for the integration.
    pub username: String,
    /// How we prove who we are.
    pub auth: SftpAuth,
    /// How we know the server is Coupa's; there is no "accept any key" choice.
    pub host_key: HostKeyCheck,
    /// Folder files are dropped into, `/Incoming/Users` for users.
    pub remote_folder: String,
    /// Limit for TCP connect, key exchange and authentication together.
    pub connect_timeout: Duration,
    /// Limit for the answer to each SFTP request.
    pub request_timeout: Duration,
}

impl SftpTarget {
    /// A target with the default port, folder and timeouts.
    pub fn new(
        host: impl Into<String>,
        username: impl Into<String>,
        auth: SftpAuth,
        host_key: HostKeyCheck,
    ) -> Self {
        Self {
            host: host.into(),
            port: DEFAULT_PORT,
            username: username.into(),
            auth,
            host_key,
            remote_folder: DEFAULT_REMOTE_FOLDER.to_owned(),
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            request_timeout: DEFAULT_REQUEST_TIMEOUT,
        }
    }

    /// Checks the values a config file could get wrong; the message names the setting.
    pub fn validate(&self) -> Result<(), String> {
        if self.host.is_empty()
            || self
                .host
                .chars()
                .any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "host {:?} is not a host name or IP address",
                self.host
            ));
        }
        if self.host.contains(':') && self.host.parse::<std::net::Ipv6Addr>().is_err() {
            return Err(format!(
                "host {:?} must not contain a port; put the port in the port setting",
                self.host
            ));
        }
        if self.port == 0 {
            return Err("port must be between 1 and 65535".to_owned());
        }
        if self.username.is_empty() || self.username.chars().any(char::is_control) {
            return Err(format!(
                "username {:?} is empty or has control characters",
                self.username
            ));
        }
        if self.remote_folder.is_empty() || self.remote_folder.chars().any(char::is_control) {
            return Err(format!(
                "remote_folder {:?} is empty or has control characters",
                self.remote_folder
            ));
        }
        for (name, value) in [
            ("connect_timeout", self.connect_timeout),
            ("request_timeout", self.request_timeout),
        ] {
            if value < Duration::from_secs(1) {
                return Err(format!("{name} must be at least one second"));
            }
        }
        Ok(())
    }

    /// `host:port` as OpenSSH writes it in known_hosts: bare for port 22, `[host]:port` otherwise.
    pub(super) fn known_hosts_name(&self) -> String {
        if self.port == DEFAULT_PORT {
            self.host.clone()
        } else {
            format!("[{}]:{}", self.host, self.port)
        }
    }
}

/// How the connector authenticates to the SFTP server (Coupa offers both).
#[derive(Debug, Clone)]
pub enum SftpAuth {
    /// The SFTP user's password.
    Password(SecretString),
    /// A private key file in OpenSSH format (`ssh-keygen -t rsa -b 4096`, or PEM RSA).
    PrivateKey {
        path: PathBuf,
        /// Needed when the key file is encrypted.
        passphrase: Option<SecretString>,
    },
}

/// How the connector recognises the server's host key.
#[derive(Debug, Clone)]
pub enum HostKeyCheck {
    /// An OpenSSH known_hosts file, e.g. written by `ssh-keyscan -p 22 host >> known_hosts`;
    /// `[host]:port` entries and hashed host names (`ssh-keyscan -H`) are understood.
    KnownHosts(PathBuf),
    /// One pinned SHA-256 fingerprint, as `ssh-keygen -lf` prints it.
    Fingerprint(HostKeyFingerprint),
}

/// A host key's SHA-256 fingerprint, `SHA256:` followed by 43 unpadded base64 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct HostKeyFingerprint(Fingerprint);

impl HostKeyFingerprint {
    pub(super) fn matches(&self, offered: &Fingerprint) -> bool {
        self.0 == *offered
    }
}

impl FromStr for HostKeyFingerprint {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        let problem = || {
            format!(
                "host_key_fingerprint {text:?} is not a SHA-256 fingerprint; expected \
                 \"SHA256:\" and 43 base64 characters, as `ssh-keyscan -p PORT HOST | ssh-keygen -lf -` prints"
            )
        };
        if !text.starts_with("SHA256:") {
            return Err(problem());
        }
        text.parse::<Fingerprint>().map(Self).map_err(|_| problem())
    }
}

impl fmt::Display for HostKeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl fmt::Debug for HostKeyFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "HostKeyFingerprint({})", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target() -> SftpTarget {
        SftpTarget::new(
            "sftp.example.com",
            "acme",
            SftpAuth::Password(SecretString::from("pw")),
            HostKeyCheck::KnownHosts("known_hosts".into()),
        )
    }

    #[test]
    fn fingerprint_parses_what_ssh_keygen_prints_and_nothing_else() {
        let good = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s";
        assert_eq!(
            good.parse::<HostKeyFingerprint>().unwrap().to_string(),
            good
        );
        for bad in [
            "",
            "uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
            "SHA256:short",
            "MD5:16:27:ac:a5:76:28:2d:36:63:1b:56:4d:eb:df:a6:48",
            "SHA512:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s",
        ] {
            let err = bad.parse::<HostKeyFingerprint>().unwrap_err();
            assert!(err.contains("host_key_fingerprint"), "{err}");
        }
    }

    #[test]
    fn known_hosts_name_brackets_non_default_ports_like_openssh() {
        let mut t = target();
        assert_eq!(t.known_hosts_name(), "sftp.example.com");
        t.port = 2222;
        assert_eq!(t.known_hosts_name(), "[sftp.example.com]:2222");
    }

    #[test]
    fn validate_names_the_wrong_setting() {
        assert_eq!(target().validate(), Ok(()));
        type Break = fn(&mut SftpTarget);
        let cases: [(Break, &str); 5] = [
            (|t| t.host = "sftp.example.com:22".into(), "port setting"),
            (|t| t.host = String::new(), "host"),
            (|t| t.port = 0, "port"),
            (|t| t.username = String::new(), "username"),
            (|t| t.request_timeout = Duration::ZERO, "request_timeout"),
        ];
        for (break_it, named) in cases {
            let mut t = target();
            break_it(&mut t);
            let err = t.validate().unwrap_err();
            assert!(err.contains(named), "{err} should name {named}");
        }
        let mut v6 = target();
        v6.host = "::1".into();
        assert_eq!(v6.validate(), Ok(()));
    }

    #[test]
    fn debug_never_shows_the_password_or_passphrase() {
        let mut t = target();
        t.auth = SftpAuth::Password(SecretString::from("hunter2-password"));
        assert!(!format!("{t:?}").contains("hunter2"));
        t.auth = SftpAuth::PrivateKey {
            path: "/keys/id".into(),
            passphrase: Some(SecretString::from("hunter2-passphrase")),
        };
        let shown = format!("{t:?}");
        assert!(
            !shown.contains("hunter2") && shown.contains("/keys/id"),
            "{shown}"
        );
    }
}
