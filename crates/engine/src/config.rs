//! The configuration file: one TOML document, every key documented below and in the README.
//!
//! A key this module does not know is an error naming the key and the file. Secrets are read into
//! `SecretString` the moment they are read, from the environment variable a `*_env` key names (or,
//! less safely, from the file), so `Debug` of a `Config` never shows them. Relative paths are taken
//! from the directory of the configuration file, so a config works from any working directory.

mod flatfile;
mod integration;

pub use flatfile::{CsvConfig, SftpConfig};
pub use integration::{History, INTEGRATION_SCOPES, IntegrationConfig};

use crate::fields::{Field, Standard, is_valid_email};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// The whole configuration, validated.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// The file this configuration was read from (not a key).
    #[serde(skip)]
    pub file: PathBuf,
    /// `[coupa]`: the instance and how to authenticate.
    pub coupa: CoupaConfig,
    /// `[hr]`: the HR extract.
    pub hr: HrConfig,
    /// `[match]`: how an HR person is found among Coupa's users.
    #[serde(rename = "match")]
    pub match_rule: MatchConfig,
    /// `[fields]`: Coupa user field ← HR value, e.g. `lastname = "last_name"`.
    #[serde(default)]
    pub fields: BTreeMap<Field, FieldSpec>,
    /// `[custom_fields]`: Coupa custom field (by field name) ← HR value.
    #[serde(default)]
    pub custom_fields: BTreeMap<String, FieldSpec>,
    /// `[roles]`: the user's roles from a column.
    pub roles: Option<SetConfig>,
    /// `[content_groups]`: the user's content groups from a column.
    pub content_groups: Option<SetConfig>,
    /// `[sync]`: how runs behave.
    #[serde(default)]
    pub sync: SyncConfig,
    /// `[store]`: where run history and the last applied state are kept.
    #[serde(default)]
    pub store: StoreConfig,
    /// `[notify]`: who hears about errors.
    #[serde(default)]
    pub notify: NotifyConfig,
    /// `[sftp]`: Coupa's SFTP server, for the flat-file path (`--mode csv`).
    pub sftp: Option<SftpConfig>,
    /// `[csv]`: how the flat-file path writes its files and waits for their load.
    #[serde(default)]
    pub csv: CsvConfig,
    /// `[integration]`: report each run into Coupa's Integrations APIs.
    pub integration: Option<IntegrationConfig>,
}

/// `[coupa]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CoupaConfig {
    /// The instance, e.g. `https://acme.coupahost.com` (the sandbox: `http://127.0.0.1:4010`).
    pub url: String,
    /// OAuth2 client-credentials client identifier.
    pub client_id: Option<String>,
    /// The OAuth2 client secret, inline. Prefer `client_secret_env`.
    pub client_secret: Option<SecretString>,
    /// The environment variable holding the OAuth2 client secret, e.g. `COUPA_CLIENT_SECRET`.
    pub client_secret_env: Option<String>,
    /// Legacy `X-COUPA-API-KEY`, inline. Prefer `api_key_env`.
    pub api_key: Option<SecretString>,
    /// The environment variable holding the legacy API key.
    pub api_key_env: Option<String>,
    /// OAuth2 scopes to request.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// Wire format: `xml` (default) or `json`.
    #[serde(default)]
    pub format: ApiFormat,
    /// Requests per second (Coupa documents 25).
    #[serde(default = "default_rate")]
    pub rate_per_second: u32,
    /// Requests allowed in a burst (Coupa documents 20).
    #[serde(default = "default_rate")]
    pub burst: u32,
}

/// How the connector authenticates, once the configuration is validated.
#[derive(Debug)]
pub enum CoupaAuth<'a> {
    OAuth {
        client_id: &'a str,
        client_secret: &'a SecretString,
        scopes: &'a [String],
    },
    ApiKey(&'a SecretString),
}

impl CoupaConfig {
    /// The credentials; always `Some` for a configuration that `Config::load` accepted.
    pub fn auth(&self) -> Option<CoupaAuth<'_>> {
        match (&self.client_id, &self.client_secret, &self.api_key) {
            (Some(client_id), Some(client_secret), _) => Some(CoupaAuth::OAuth {
                client_id,
                client_secret,
                scopes: &self.scopes,
            }),
            (_, _, Some(key)) => Some(CoupaAuth::ApiKey(key)),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApiFormat {
    #[default]
    Xml,
    Json,
}

impl ApiFormat {
    pub fn wire(self) -> coupa_wire::Format {
        match self {
            ApiFormat::Xml => coupa_wire::Format::Xml,
            ApiFormat::Json => coupa_wire::Format::Json,
        }
    }
}

/// `[hr]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HrConfig {
    /// The HR extract; relative paths are relative to the configuration file.
    pub path: PathBuf,
    /// `csv` (default; a header row) or `jsonl` (one JSON object per line).
    #[serde(default)]
    pub format: HrFormat,
    /// The column that identifies a person for good (an HR person id).
    pub key_column: String,
    /// The column saying whether a person still works here.
    pub status_column: Option<String>,
    /// Values of `status_column` meaning the person left (compared without case).
    #[serde(default = "default_terminated")]
    pub terminated_values: Vec<String>,
    /// People who vanish from the extract: `ignore` (default; for delta extracts) or `deactivate`
    /// (the extract always lists everyone).
    #[serde(default)]
    pub missing: Missing,
    /// CSV field delimiter, one character (default `,`; `"\t"` for tab).
    #[serde(default = "default_delimiter", deserialize_with = "delimiter")]
    pub delimiter: u8,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum HrFormat {
    #[default]
    Csv,
    Jsonl,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Missing {
    #[default]
    Ignore,
    Deactivate,
}

/// `[match]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchConfig {
    /// The Coupa field to look people up by: `login`, `email`, `employee-number`,
    /// `sso-identifier` or `custom-fields.<name>`.
    pub coupa_field: Field,
    /// The HR column holding that value. May be left out when the field is mapped in `[fields]` or
    /// `[custom_fields]`: the mapped value is then used.
    pub hr_column: Option<String>,
}

/// Where one Coupa field takes its value from, and how it is shaped.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldSpec {
    pub source: Source,
    /// Applied in order to the source value.
    pub transform: Vec<Transform>,
    /// Replaces the (transformed) value by the table's entry for it.
    pub lookup: Option<BTreeMap<String, String>>,
    /// Used when the value is empty or has no entry in `lookup`.
    pub default: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Source {
    Column(String),
    Constant(String),
    Template(Template),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transform {
    Trim,
    Lower,
    Upper,
}

impl Transform {
    /// Applies the transform, copying the value only when it changes (100,000 rows a run).
    pub fn apply(self, value: Cow<'_, str>) -> Cow<'_, str> {
        let ascii = value.is_ascii();
        match self {
            Transform::Trim => match value {
                Cow::Borrowed(s) => Cow::Borrowed(s.trim()),
                Cow::Owned(s) if s.trim().len() == s.len() => Cow::Owned(s),
                Cow::Owned(s) => Cow::Owned(s.trim().to_string()),
            },
            Transform::Lower if ascii && !value.bytes().any(|b| b.is_ascii_uppercase()) => value,
            Transform::Upper if ascii && !value.bytes().any(|b| b.is_ascii_lowercase()) => value,
            Transform::Lower => Cow::Owned(value.to_lowercase()),
            Transform::Upper => Cow::Owned(value.to_uppercase()),
        }
    }
}

/// `"{first}.{last}@acme.com"`: literal text and `{column}` references; `{{` and `}}` are braces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pub pieces: Vec<Piece>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    Text(String),
    Column(String),
}

impl Template {
    pub fn parse(text: &str) -> Result<Template, String> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = text.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '{' if chars.peek() == Some(&'{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek() == Some(&'}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut column = String::new();
                    loop {
                        match chars.next() {
                            Some('}') => break,
                            Some('{') | None => {
                                return Err(format!("unclosed `{{` in template {text:?}"));
                            }
                            Some(c) => column.push(c),
                        }
                    }
                    if column.trim().is_empty() {
                        return Err(format!("empty `{{}}` in template {text:?}"));
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Text(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Column(column.trim().to_string()));
                }
                '}' => {
                    return Err(format!(
                        "unmatched `}}` in template {text:?} (write `}}}}`)"
                    ));
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Text(literal));
        }
        if !pieces.iter().any(|p| matches!(p, Piece::Column(_))) {
            return Err(format!(
                "template {text:?} names no column; use `constant` for a fixed value"
            ));
        }
        Ok(Template { pieces })
    }

    pub fn columns(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|p| match p {
            Piece::Column(c) => Some(c.as_str()),
            Piece::Text(_) => None,
        })
    }
}

impl FieldSpec {
    /// The HR columns this spec reads.
    pub fn columns(&self) -> Vec<&str> {
        match &self.source {
            Source::Column(c) => vec![c.as_str()],
            Source::Constant(_) => Vec::new(),
            Source::Template(t) => t.columns().collect(),
        }
    }
}

/// `[roles]` and `[content_groups]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetConfig {
    /// The column listing the names.
    pub column: String,
    /// What separates names in the column (default `,`). JSON Lines may also give an array.
    #[serde(default = "default_separator")]
    pub separator: String,
    /// The names the connector owns. Only these are ever removed from a user; a name in the column
    /// that is not listed here is an error for that row.
    pub managed: Vec<String>,
}

/// `[sync]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// Coupa calls in flight at once.
    #[serde(default = "default_concurrency")]
    pub concurrency: u32,
    /// How a change is checked: `response` (the PUT/POST response) or `reread` (a fresh GET).
    #[serde(default)]
    pub verify: Verify,
    /// The run stops before changing more than this share of the people known (0 to 1).
    #[serde(default = "default_change_share")]
    pub max_change_share: f64,
    /// The run stops before deactivating more than this share of the people known (0 to 1).
    #[serde(default = "default_deactivate_share")]
    pub max_deactivate_share: f64,
    /// The shares above never stop a run touching at most this many users.
    #[serde(default = "default_safety_floor")]
    pub safety_floor: usize,
    /// An empty HR value: `keep` (default) leaves Coupa's value alone, `clear` empties it.
    #[serde(default)]
    pub empty_values: EmptyValues,
    /// New users are created with `generate-password-and-notify`: Coupa e-mails them an invitation
    /// to set a password (for users who do not sign in through SSO).
    #[serde(default)]
    pub invite_new_users: bool,
}

impl Default for SyncConfig {
    fn default() -> SyncConfig {
        SyncConfig {
            concurrency: default_concurrency(),
            verify: Verify::default(),
            max_change_share: default_change_share(),
            max_deactivate_share: default_deactivate_share(),
            safety_floor: default_safety_floor(),
            empty_values: EmptyValues::default(),
            invite_new_users: false,
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verify {
    #[default]
    Response,
    Reread,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EmptyValues {
    #[default]
    Keep,
    Clear,
}

/// `[store]`: a SQLite file (`path`, the default) or a PostgreSQL database (`url_env`), not both.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StoreConfig {
    /// The SQLite database file (default `coupa-sync.db` beside the configuration file); `None`
    /// once the configuration is loaded means PostgreSQL.
    pub path: Option<PathBuf>,
    /// The PostgreSQL URL (`postgres://user:password@host:port/database`), inline. Prefer
    /// `url_env`: the URL holds the password.
    pub url: Option<SecretString>,
    /// The environment variable holding the PostgreSQL URL, e.g. `COUPA_SYNC_DATABASE_URL`.
    pub url_env: Option<String>,
}

impl Default for StoreConfig {
    fn default() -> StoreConfig {
        StoreConfig {
            path: Some(default_store_path()),
            url: None,
            url_env: None,
        }
    }
}

/// Which backend `[store]` names.
#[derive(Debug, Clone, Copy)]
pub enum StoreBackend<'a> {
    Sqlite(&'a Path),
    Postgres(&'a SecretString),
}

impl StoreConfig {
    pub fn backend(&self) -> StoreBackend<'_> {
        match (&self.url, &self.path) {
            (Some(url), _) => StoreBackend::Postgres(url),
            (None, Some(path)) => StoreBackend::Sqlite(path),
            // Not after `Config::load`, which sets the default path.
            (None, None) => StoreBackend::Sqlite(Path::new("coupa-sync.db")),
        }
    }

    /// Where the store is, for people: the SQLite file, or the PostgreSQL URL without its password.
    pub fn describe(&self) -> String {
        match self.backend() {
            StoreBackend::Sqlite(path) => format!("SQLite {}", path.display()),
            StoreBackend::Postgres(url) => match crate::store::parse_postgres_url(url) {
                Ok((_, location)) => format!("PostgreSQL {location}"),
                Err(message) => format!("PostgreSQL (unusable URL: {message})"),
            },
        }
    }

    /// Exactly one of `path` and `url`/`url_env`; the SQLite default when neither is set.
    fn resolve(
        &mut self,
        file: &Path,
        base: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        let postgres_key = if self.url_env.is_some() {
            "store.url_env"
        } else {
            "store.url"
        };
        let postgres = self.url.is_some() || self.url_env.is_some();
        if postgres && self.path.is_some() {
            return Err(ConfigError::at(
                file,
                postgres_key,
                "set either store.path (SQLite) or store.url_env (PostgreSQL), not both",
            ));
        }
        resolve(file, "store.url", &mut self.url, &self.url_env, env)?;
        match &self.url {
            None => {
                let path = self.path.take().unwrap_or_else(default_store_path);
                self.path = Some(base.join(path));
            }
            Some(url) => {
                if let Err(message) = crate::store::parse_postgres_url(url) {
                    let source = match &self.url_env {
                        Some(name) => format!("the value of {name}"),
                        None => "the URL".into(),
                    };
                    return Err(ConfigError::at(
                        file,
                        postgres_key,
                        format!("{source} is not a PostgreSQL URL: {message}"),
                    ));
                }
            }
        }
        Ok(())
    }
}

/// `[notify]`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifyConfig {
    /// `[notify.smtp]`: the mail server.
    pub smtp: Option<SmtpConfig>,
    /// Who hears about bad HR rows (people in HR or the Coupa admins).
    #[serde(default)]
    pub data_errors_to: Vec<String>,
    /// Who hears about failed runs (IT operations).
    #[serde(default)]
    pub technical_errors_to: Vec<String>,
    /// A webhook receiving a JSON summary of each run, inline. Prefer `webhook_url_env`: such URLs
    /// usually carry a token.
    pub webhook_url: Option<SecretString>,
    /// The environment variable holding the webhook URL.
    pub webhook_url_env: Option<String>,
}

/// `[notify.smtp]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    #[serde(default = "default_smtp_port")]
    pub port: u16,
    /// The sender address.
    pub from: String,
    pub username: Option<String>,
    /// The SMTP password, inline. Prefer `password_env`.
    pub password: Option<SecretString>,
    /// The environment variable holding the SMTP password.
    pub password_env: Option<String>,
    /// Upgrade the connection with STARTTLS (default true).
    #[serde(default = "yes")]
    pub starttls: bool,
}

fn default_scopes() -> Vec<String> {
    vec!["core.user.read".into(), "core.user.write".into()]
}
fn default_rate() -> u32 {
    20
}
fn default_terminated() -> Vec<String> {
    vec!["terminated".into(), "inactive".into()]
}
fn default_delimiter() -> u8 {
    b','
}
fn default_separator() -> String {
    ",".into()
}
fn default_concurrency() -> u32 {
    4
}
fn default_change_share() -> f64 {
    0.2
}
fn default_deactivate_share() -> f64 {
    0.05
}
fn default_safety_floor() -> usize {
    10
}
fn default_store_path() -> PathBuf {
    PathBuf::from("coupa-sync.db")
}
fn default_smtp_port() -> u16 {
    587
}
fn yes() -> bool {
    true
}

fn delimiter<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    let s = String::deserialize(d)?;
    match s.as_bytes() {
        [b] if b.is_ascii() && !b.is_ascii_alphanumeric() && *b != b'"' && *b != b'\n' => Ok(*b),
        _ => Err(de::Error::custom(format!(
            "the delimiter must be one punctuation character or \"\\t\", found {s:?}"
        ))),
    }
}

/// A configuration that cannot be used, naming the file and the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the configuration file {}: {source}", file.display())]
    Read {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error("{}{}: {}: {message}", file.display(), line.map(|l| format!(", line {l}")).unwrap_or_default(), key.as_deref().unwrap_or("TOML syntax"))]
    Invalid {
        file: PathBuf,
        /// The key, dotted (`coupa.client_secret_env`); `None` for a TOML syntax error.
        key: Option<String>,
        line: Option<usize>,
        message: String,
    },
}

impl ConfigError {
    fn at(file: &Path, key: impl Into<String>, message: impl Into<String>) -> ConfigError {
        ConfigError::Invalid {
            file: file.to_path_buf(),
            key: Some(key.into()),
            line: None,
            message: message.into(),
        }
    }
}

impl Config {
    /// Reads and validates the configuration file; `*_env` keys are read from the environment.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            file: path.to_path_buf(),
            source,
        })?;
        Config::parse(&text, path, &|name| std::env::var(name).ok())
    }

    /// Parses and validates a configuration read from `file`, looking `*_env` keys up with `env`.
    pub fn parse(
        text: &str,
        file: &Path,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let line_of = |span: Option<std::ops::Range<usize>>| {
            span.map(|s| {
                let before = &text.as_bytes()[..s.start.min(text.len())];
                before.iter().filter(|b| **b == b'\n').count() + 1
            })
        };
        let document = toml::de::Deserializer::parse(text).map_err(|e| ConfigError::Invalid {
            file: file.to_path_buf(),
            key: None,
            line: line_of(e.span()),
            message: e.message().to_string(),
        })?;
        let mut config: Config = serde_path_to_error::deserialize(document).map_err(|e| {
            let path = e.path().to_string();
            ConfigError::Invalid {
                file: file.to_path_buf(),
                key: Some(if path == "." {
                    "(top level)".into()
                } else {
                    path
                }),
                line: line_of(e.inner().span()),
                message: e.inner().message().to_string(),
            }
        })?;
        config.file = file.to_path_buf();
        let base = file.parent().unwrap_or(Path::new(""));
        config.hr.path = base.join(&config.hr.path);
        config.store.resolve(file, base, env)?;
        if let Some(sftp) = &mut config.sftp {
            sftp.resolve_paths(base);
        }
        config.resolve_secrets(env)?;
        config.validate()?;
        Ok(config)
    }

    fn resolve_secrets(&mut self, env: &dyn Fn(&str) -> Option<String>) -> Result<(), ConfigError> {
        let file = self.file.clone();
        let c = &mut self.coupa;
        resolve(
            &file,
            "coupa.client_secret",
            &mut c.client_secret,
            &c.client_secret_env,
            env,
        )?;
        resolve(&file, "coupa.api_key", &mut c.api_key, &c.api_key_env, env)?;
        let n = &mut self.notify;
        resolve(
            &file,
            "notify.webhook_url",
            &mut n.webhook_url,
            &n.webhook_url_env,
            env,
        )?;
        if let Some(smtp) = &mut n.smtp {
            resolve(
                &file,
                "notify.smtp.password",
                &mut smtp.password,
                &smtp.password_env,
                env,
            )?;
        }
        if let Some(sftp) = &mut self.sftp {
            sftp.resolve_secrets(&file, env)?;
        }
        Ok(())
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let err = |key: &str, message: String| Err(ConfigError::at(&self.file, key, message));

        let c = &self.coupa;
        let after_scheme = c
            .url
            .strip_prefix("https://")
            .or_else(|| c.url.strip_prefix("http://"));
        if !after_scheme.is_some_and(|rest| !rest.is_empty() && !rest.starts_with('/')) {
            return err(
                "coupa.url",
                format!(
                    "expected http(s)://host, e.g. https://acme.coupahost.com, found {:?}",
                    c.url
                ),
            );
        }
        let oauth = c.client_id.is_some() || c.client_secret.is_some();
        match (oauth, c.api_key.is_some()) {
            (true, true) => {
                return err(
                    "coupa.api_key",
                    "configure an OAuth2 client (client_id, client_secret_env) or an API key, not both".into(),
                );
            }
            (false, false) => {
                return err(
                    "coupa",
                    "no credentials: set client_id and client_secret_env (OAuth2), or api_key_env (legacy)".into(),
                );
            }
            (true, false) if c.client_id.is_none() => {
                return err(
                    "coupa.client_id",
                    "the OAuth2 client secret is set but client_id is missing".into(),
                );
            }
            (true, false) if c.client_secret.is_none() => {
                return err(
                    "coupa.client_secret_env",
                    "client_id is set but no client secret: name its environment variable here"
                        .into(),
                );
            }
            _ => {}
        }
        if c.rate_per_second == 0 {
            return err("coupa.rate_per_second", "must be at least 1".into());
        }
        if c.burst == 0 {
            return err("coupa.burst", "must be at least 1".into());
        }

        if self.hr.key_column.trim().is_empty() {
            return err("hr.key_column", "must name a column".into());
        }

        for field in self.fields.keys() {
            let key = format!("fields.{field}");
            match field {
                Field::Standard(Standard::Active) => {
                    return err(
                        &key,
                        "active is set from [hr].status_column and terminated_values".into(),
                    );
                }
                Field::Roles => return err(&key, "roles are configured in [roles]".into()),
                Field::ContentGroups => {
                    return err(
                        &key,
                        "content groups are configured in [content_groups]".into(),
                    );
                }
                Field::Custom(_) => {
                    return err(
                        &key,
                        "custom fields are configured in [custom_fields] by field name".into(),
                    );
                }
                Field::Standard(_) => {}
            }
        }
        let missing: Vec<String> = [Field::LOGIN, Field::EMAIL]
            .into_iter()
            .chain([Standard::Firstname, Standard::Lastname].map(Field::Standard))
            .filter(|f| !self.fields.contains_key(f))
            .map(|f| f.to_string())
            .collect();
        if !missing.is_empty() {
            return err(
                "fields",
                format!(
                    "map {}: Coupa requires login, email, firstname and lastname to create a user",
                    missing.join(", ")
                ),
            );
        }
        for name in self.custom_fields.keys() {
            if format!("custom-fields.{name}").parse::<Field>().is_err() {
                return err(
                    &format!("custom_fields.{name}"),
                    "a custom field name holds letters, digits, `-` and `_` only".into(),
                );
            }
        }

        let m = &self.match_rule;
        if !m.coupa_field.is_queryable() {
            return err(
                "match.coupa_field",
                format!(
                    "`{}` cannot be looked up in Coupa; use login, email, employee-number, sso-identifier or custom-fields.<name>",
                    m.coupa_field
                ),
            );
        }
        match (self.spec_for(&m.coupa_field), &m.hr_column) {
            (None, None) => {
                return err(
                    "match.hr_column",
                    format!(
                        "name the HR column holding {}: the field is not mapped in [fields] or [custom_fields]",
                        m.coupa_field
                    ),
                );
            }
            (Some(spec), Some(column)) if spec.source != Source::Column(column.clone()) => {
                return err(
                    "match.hr_column",
                    format!(
                        "{column:?} differs from where {} is mapped from; leave hr_column out to match on the mapped value",
                        m.coupa_field
                    ),
                );
            }
            _ => {}
        }

        for (key, set) in [
            ("roles", &self.roles),
            ("content_groups", &self.content_groups),
        ] {
            let Some(set) = set else { continue };
            if set.column.trim().is_empty() {
                return err(&format!("{key}.column"), "must name a column".into());
            }
            if set.separator.is_empty() {
                return err(&format!("{key}.separator"), "must not be empty".into());
            }
            if set.managed.is_empty() || set.managed.iter().any(|n| n.trim().is_empty()) {
                return err(
                    &format!("{key}.managed"),
                    "list the names the connector owns (no empty names); only these are ever removed".into(),
                );
            }
        }

        let s = &self.sync;
        if !(1..=25).contains(&s.concurrency) {
            return err(
                "sync.concurrency",
                format!("must be 1 to 25, found {}", s.concurrency),
            );
        }
        for (key, share) in [
            ("sync.max_change_share", s.max_change_share),
            ("sync.max_deactivate_share", s.max_deactivate_share),
        ] {
            if !(0.0..=1.0).contains(&share) {
                return err(
                    key,
                    format!("a share is 0 to 1 (0.05 is 5%), found {share}"),
                );
            }
        }

        let n = &self.notify;
        for (key, list) in [
            ("notify.data_errors_to", &n.data_errors_to),
            ("notify.technical_errors_to", &n.technical_errors_to),
        ] {
            if let Some(bad) = list.iter().find(|a| !is_valid_email(a)) {
                return err(key, format!("{bad:?} is not an e-mail address"));
            }
            if !list.is_empty() && n.smtp.is_none() {
                return err(key, "sending mail needs a [notify.smtp] section".into());
            }
        }
        if let Some(smtp) = &n.smtp {
            if smtp.host.trim().is_empty() {
                return err("notify.smtp.host", "must name the mail server".into());
            }
            if !is_valid_email(&smtp.from) {
                return err(
                    "notify.smtp.from",
                    format!("{:?} is not an e-mail address", smtp.from),
                );
            }
            if smtp.password.is_some() && smtp.username.is_none() {
                return err(
                    "notify.smtp.username",
                    "a password is set but no username".into(),
                );
            }
        }
        if let Some(url) = &n.webhook_url {
            let url = url.expose_secret();
            if !(url.starts_with("https://") || url.starts_with("http://")) {
                // The URL is a secret: say what is wrong without showing it.
                return err("notify.webhook_url", "expected an http(s):// URL".into());
            }
        }
        if let Some(sftp) = &self.sftp
            && let Err((key, message)) = sftp.target()
        {
            return err(key, message);
        }
        if let Some(integration) = &self.integration {
            let oauth_scopes = self
                .coupa
                .client_id
                .is_some()
                .then_some(&self.coupa.scopes[..]);
            if let Err((key, message)) = integration.validate(oauth_scopes) {
                return err(&key, message);
            }
        }
        if let Err((key, message)) = flatfile::validate_csv(&self.csv, &self.custom_fields) {
            return err(&key, message);
        }
        Ok(())
    }

    /// The mapping of a field, from `[fields]` or `[custom_fields]`.
    pub fn spec_for(&self, field: &Field) -> Option<&FieldSpec> {
        match field {
            Field::Custom(name) => self.custom_fields.get(name),
            other => self.fields.get(other),
        }
    }
}

fn resolve(
    file: &Path,
    key: &str,
    inline: &mut Option<SecretString>,
    env_name: &Option<String>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(), ConfigError> {
    let Some(name) = env_name else {
        return Ok(());
    };
    let env_key = format!("{key}_env");
    if inline.is_some() {
        return Err(ConfigError::at(
            file,
            env_key,
            format!("set either {key} or {key}_env, not both"),
        ));
    }
    match env(name) {
        Some(value) if !value.is_empty() => {
            *inline = Some(SecretString::from(value));
            Ok(())
        }
        _ => Err(ConfigError::at(
            file,
            env_key,
            format!("the environment variable {name} is not set or empty"),
        )),
    }
}

/// `"column"`, or a table with exactly one of `column`, `constant`, `template`, plus options.
impl<'de> Deserialize<'de> for FieldSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FieldSpec, D::Error> {
        struct SpecVisitor;

        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Table {
            column: Option<String>,
            constant: Option<Constant>,
            template: Option<String>,
            #[serde(default)]
            transform: Vec<Transform>,
            lookup: Option<BTreeMap<String, String>>,
            default: Option<String>,
        }

        impl<'de> Visitor<'de> for SpecVisitor {
            type Value = FieldSpec;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a column name, or a table with `column`, `constant` or `template`")
            }

            fn visit_str<E: de::Error>(self, column: &str) -> Result<FieldSpec, E> {
                if column.trim().is_empty() {
                    return Err(E::custom("the column name is empty"));
                }
                Ok(FieldSpec {
                    source: Source::Column(column.to_string()),
                    transform: Vec::new(),
                    lookup: None,
                    default: None,
                })
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<FieldSpec, A::Error> {
                let t = Table::deserialize(de::value::MapAccessDeserializer::new(map))?;
                let source = match (t.column, t.constant, t.template) {
                    (Some(c), None, None) if !c.trim().is_empty() => Source::Column(c),
                    (Some(_), None, None) => {
                        return Err(de::Error::custom("the column name is empty"));
                    }
                    (None, Some(Constant(c)), None) => Source::Constant(c),
                    (None, None, Some(t)) => {
                        Source::Template(Template::parse(&t).map_err(de::Error::custom)?)
                    }
                    _ => {
                        return Err(de::Error::custom(
                            "give exactly one of `column`, `constant` or `template`",
                        ));
                    }
                };
                Ok(FieldSpec {
                    source,
                    transform: t.transform,
                    lookup: t.lookup,
                    default: t.default,
                })
            }
        }

        d.deserialize_any(SpecVisitor)
    }
}

/// A constant may be written as text, a boolean or a whole number.
struct Constant(String);

impl<'de> Deserialize<'de> for Constant {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Constant, D::Error> {
        struct ConstantVisitor;
        impl Visitor<'_> for ConstantVisitor {
            type Value = Constant;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("text, true/false or a whole number")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Constant, E> {
                Ok(Constant(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Constant, E> {
                Ok(Constant(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Constant, E> {
                Ok(Constant(v.to_string()))
            }
        }
        d.deserialize_any(ConstantVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_parse_columns_and_escaped_braces() {
        let t = Template::parse("{first}.{ last }@acme.com {{x}}").unwrap();
        assert_eq!(
            t.pieces,
            vec![
                Piece::Column("first".into()),
                Piece::Text(".".into()),
                Piece::Column("last".into()),
                Piece::Text("@acme.com {x}".into()),
            ]
        );
        for bad in ["{first", "a}b", "{}", "plain text", "{a{b}}"] {
            assert!(Template::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transforms_do_what_they_say() {
        let apply = |t: Transform, s: &str| t.apply(Cow::Borrowed(s)).into_owned();
        assert_eq!(apply(Transform::Trim, "  Jö "), "Jö");
        assert_eq!(apply(Transform::Trim, "Jö"), "Jö");
        assert_eq!(Transform::Trim.apply(Cow::Owned(" a ".into())), "a");
        assert_eq!(apply(Transform::Lower, "ÉVA"), "éva");
        assert_eq!(apply(Transform::Lower, "JDoe"), "jdoe");
        assert_eq!(apply(Transform::Lower, "jdoe"), "jdoe");
        assert_eq!(apply(Transform::Upper, "éva"), "ÉVA");
        assert_eq!(apply(Transform::Upper, "cc-1"), "CC-1");
        assert_eq!(apply(Transform::Upper, "CC-1"), "CC-1");
    }
}
