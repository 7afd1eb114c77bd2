//! `[sftp]` and `[csv]`: the flat-file path's settings (`--mode csv`). Coupa's SFTP server, how the
//! connector proves who it is and recognises the server, and how long it waits for Coupa's load.

use super::ConfigError;
use crate::sftp::{DEFAULT_REMOTE_FOLDER, HostKeyCheck, HostKeyFingerprint, SftpAuth, SftpTarget};
use secrecy::SecretString;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// `[sftp]`: Coupa's SFTP server.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SftpConfig {
    /// Host name or IP address, without a port, e.g. `sftp.acme.coupahost.com`.
    pub host: String,
    /// TCP port (default 22).
    #[serde(default = "default_port")]
    pub port: u16,
    /// The SFTP user Coupa created for the integration.
    pub username: String,
    /// An OpenSSH private key file; relative to the configuration file.
    pub private_key_file: Option<PathBuf>,
    /// The key file's passphrase, inline. Prefer `private_key_passphrase_env`.
    pub private_key_passphrase: Option<SecretString>,
    /// The environment variable holding the key file's passphrase.
    pub private_key_passphrase_env: Option<String>,
    /// The SFTP password, inline. Prefer `password_env`.
    pub password: Option<SecretString>,
    /// The environment variable holding the SFTP password.
    pub password_env: Option<String>,
    /// An OpenSSH known_hosts file holding the server's key (`ssh-keyscan -p PORT HOST`).
    pub known_hosts_file: Option<PathBuf>,
    /// The server key's SHA-256 fingerprint, `SHA256:…`, instead of a known_hosts file.
    pub host_key_fingerprint: Option<String>,
    /// Where users files are dropped (default `/Incoming/Users`).
    #[serde(default = "default_remote_folder")]
    pub remote_folder: String,
}

/// `[csv]`: how the flat-file path writes its files and waits for Coupa to load them.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CsvConfig {
    /// How long to wait for Coupa's load of an uploaded file before leaving it for the next run
    /// (default 900: Coupa picks files up every 3 to 6 minutes, and loads take time).
    #[serde(default = "default_load_timeout")]
    pub load_timeout_seconds: u64,
    /// How often to ask Coupa whether a file was loaded (default 30).
    #[serde(default = "default_poll")]
    pub poll_seconds: u64,
    /// Custom field name → the custom field's prompt, which Coupa's CSV uses as the column header
    /// (`cost-center = "Cost Center"`). Every mapped custom field needs one.
    #[serde(default)]
    pub custom_field_headers: BTreeMap<String, String>,
}

impl Default for CsvConfig {
    fn default() -> CsvConfig {
        CsvConfig {
            load_timeout_seconds: default_load_timeout(),
            poll_seconds: default_poll(),
            custom_field_headers: BTreeMap::new(),
        }
    }
}

impl CsvConfig {
    pub fn load_timeout(&self) -> Duration {
        Duration::from_secs(self.load_timeout_seconds)
    }

    pub fn poll_interval(&self) -> Duration {
        Duration::from_secs(self.poll_seconds)
    }
}

fn default_port() -> u16 {
    crate::sftp::DEFAULT_PORT
}
fn default_remote_folder() -> String {
    DEFAULT_REMOTE_FOLDER.into()
}
fn default_load_timeout() -> u64 {
    900
}
fn default_poll() -> u64 {
    30
}

impl SftpConfig {
    /// Relative paths are taken from the configuration file's directory.
    pub(super) fn resolve_paths(&mut self, base: &Path) {
        for path in [&mut self.private_key_file, &mut self.known_hosts_file]
            .into_iter()
            .flatten()
        {
            *path = base.join(&*path);
        }
    }

    pub(super) fn resolve_secrets(
        &mut self,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        super::resolve(
            file,
            "sftp.password",
            &mut self.password,
            &self.password_env,
            env,
        )?;
        super::resolve(
            file,
            "sftp.private_key_passphrase",
            &mut self.private_key_passphrase,
            &self.private_key_passphrase_env,
            env,
        )
    }

    /// The uploader's target; `Err((key, message))` names the setting that is wrong.
    pub fn target(&self) -> Result<SftpTarget, (&'static str, String)> {
        let auth = match (&self.private_key_file, &self.password) {
            (Some(path), None) => SftpAuth::PrivateKey {
                path: path.clone(),
                passphrase: self.private_key_passphrase.clone(),
            },
            (None, Some(password)) if self.private_key_passphrase.is_none() => {
                SftpAuth::Password(password.clone())
            }
            (None, Some(_)) => {
                return Err((
                    "sftp.private_key_passphrase",
                    "a passphrase is set but no private_key_file".into(),
                ));
            }
            (Some(_), Some(_)) => {
                return Err((
                    "sftp.password",
                    "set a private_key_file or a password (password_env), not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "sftp",
                    "no credentials: set private_key_file, or password_env (or password)".into(),
                ));
            }
        };
        let host_key = match (&self.known_hosts_file, &self.host_key_fingerprint) {
            (Some(path), None) => HostKeyCheck::KnownHosts(path.clone()),
            (None, Some(text)) => HostKeyCheck::Fingerprint(
                text.parse::<HostKeyFingerprint>()
                    .map_err(|e| ("sftp.host_key_fingerprint", e))?,
            ),
            (Some(_), Some(_)) => {
                return Err((
                    "sftp.host_key_fingerprint",
                    "set known_hosts_file or host_key_fingerprint, not both".into(),
                ));
            }
            (None, None) => {
                return Err((
                    "sftp",
                    "the server's host key must be pinned: set known_hosts_file or host_key_fingerprint"
                        .into(),
                ));
            }
        };
        let mut target = SftpTarget::new(&self.host, &self.username, auth, host_key);
        target.port = self.port;
        target.remote_folder = self.remote_folder.clone();
        target.validate().map_err(|e| ("sftp", e))?;
        Ok(target)
    }
}

/// Checks `[csv]` against the rest of the configuration.
pub(super) fn validate_csv(
    csv: &CsvConfig,
    custom_fields: &BTreeMap<String, super::FieldSpec>,
) -> Result<(), (String, String)> {
    if csv.load_timeout_seconds == 0 {
        return Err((
            "csv.load_timeout_seconds".into(),
            "must be at least 1".into(),
        ));
    }
    if csv.poll_seconds == 0 || csv.poll_seconds > csv.load_timeout_seconds {
        return Err((
            "csv.poll_seconds".into(),
            format!(
                "must be 1 to load_timeout_seconds ({}), found {}",
                csv.load_timeout_seconds, csv.poll_seconds
            ),
        ));
    }
    for (name, header) in &csv.custom_field_headers {
        let key = format!("csv.custom_field_headers.{name}");
        if !custom_fields.contains_key(name) {
            return Err((key, "not a field of [custom_fields]".into()));
        }
        if header.trim().is_empty() || header.chars().any(char::is_control) {
            return Err((key, format!("{header:?} is not a column header")));
        }
        if coupa_wire::flatfile::column_by_header(header).is_some() {
            return Err((
                key,
                format!("{header:?} is one of Coupa's standard user columns"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Config;
    use crate::sftp::{HostKeyCheck, SftpAuth};
    use std::path::Path;

    const BASE: &str = r#"
[coupa]
url = "http://127.0.0.1:4010"
client_id = "coupa-sync"
client_secret_env = "SECRET"

[hr]
path = "hr.csv"
key_column = "id"

[match]
coupa_field = "login"

[fields]
login = "login"
email = "email"
firstname = "first"
lastname = "last"

[custom_fields]
cost-center = "cc"
"#;

    fn env(name: &str) -> Option<String> {
        match name {
            "SECRET" => Some("client-secret".into()),
            "SFTP_PASSWORD" => Some("sftp-hunter2".into()),
            _ => None,
        }
    }

    fn parse(extra: &str) -> Result<Config, String> {
        Config::parse(
            &format!("{BASE}{extra}"),
            Path::new("/etc/coupa-sync/sync.toml"),
            &env,
        )
        .map_err(|e| e.to_string())
    }

    #[test]
    fn defaults_wait_fifteen_minutes_asking_every_thirty_seconds() {
        let config = parse("").unwrap();
        assert!(config.sftp.is_none());
        assert_eq!(config.csv.load_timeout().as_secs(), 900);
        assert_eq!(config.csv.poll_interval().as_secs(), 30);
    }

    #[test]
    fn a_key_file_and_known_hosts_are_taken_from_the_config_directory() {
        let config = parse(
            r#"
[sftp]
host = "sftp.acme.coupahost.com"
username = "acme"
private_key_file = "keys/coupa"
known_hosts_file = "known_hosts"

[csv]
load_timeout_seconds = 60
poll_seconds = 2
custom_field_headers = { cost-center = "Cost Center" }
"#,
        )
        .unwrap();
        let target = config.sftp.as_ref().unwrap().target().unwrap();
        assert_eq!(
            (target.port, target.remote_folder.as_str()),
            (22, "/Incoming/Users")
        );
        assert!(matches!(
            &target.auth,
            SftpAuth::PrivateKey { path, passphrase: None } if path == Path::new("/etc/coupa-sync/keys/coupa")
        ));
        assert!(matches!(
            &target.host_key,
            HostKeyCheck::KnownHosts(path) if path == Path::new("/etc/coupa-sync/known_hosts")
        ));
        assert_eq!(
            config.csv.custom_field_headers["cost-center"],
            "Cost Center"
        );
    }

    #[test]
    fn the_password_comes_from_the_environment_and_is_never_shown() {
        let config = parse(
            r#"
[sftp]
host = "127.0.0.1"
port = 2222
username = "acme"
password_env = "SFTP_PASSWORD"
host_key_fingerprint = "SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s"
"#,
        )
        .unwrap();
        let target = config.sftp.as_ref().unwrap().target().unwrap();
        assert!(matches!(target.auth, SftpAuth::Password(_)));
        assert!(matches!(target.host_key, HostKeyCheck::Fingerprint(_)));
        assert!(!format!("{config:?}").contains("hunter2"));
    }

    #[test]
    fn mistakes_name_the_key() {
        let sftp = |body: &str| format!("\n[sftp]\nhost = \"h\"\nusername = \"u\"\n{body}\n");
        let fingerprint =
            "host_key_fingerprint = \"SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s\"";
        let cases = [
            (sftp(fingerprint), "sftp: no credentials"),
            (
                sftp("password_env = \"SFTP_PASSWORD\""),
                "host key must be pinned",
            ),
            (
                sftp(&format!(
                    "password_env = \"SFTP_PASSWORD\"\nprivate_key_file = \"k\"\n{fingerprint}"
                )),
                "sftp.password",
            ),
            (
                sftp("password_env = \"SFTP_PASSWORD\"\nhost_key_fingerprint = \"MD5:aa\""),
                "sftp.host_key_fingerprint",
            ),
            (
                sftp(&format!("password_env = \"UNSET\"\n{fingerprint}")),
                "sftp.password_env",
            ),
            (sftp("pasword = \"x\""), "unknown field"),
            (
                "\n[csv]\nload_timeout_seconds = 0\n".into(),
                "csv.load_timeout_seconds",
            ),
            (
                "\n[csv]\nload_timeout_seconds = 10\npoll_seconds = 11\n".into(),
                "csv.poll_seconds",
            ),
            (
                "\n[csv.custom_field_headers]\nbadge = \"Badge\"\n".into(),
                "csv.custom_field_headers.badge: not a field of [custom_fields]",
            ),
            (
                "\n[csv.custom_field_headers]\ncost-center = \"Email\"\n".into(),
                "standard user columns",
            ),
        ];
        for (extra, named) in cases {
            let err = parse(&extra).unwrap_err();
            assert!(err.contains(named), "{err} should name {named}");
        }
    }
}
