//! What a sandbox is started with: every `coupa-sync sandbox` flag has a field here.

use crate::SandboxError;
use secrecy::{ExposeSecret, SecretString};
use std::path::PathBuf;
use std::time::Duration;

/// An OAuth2 client the sandbox accepts at `/oauth2/token`.
#[derive(Debug, Clone)]
pub struct ClientCredentials {
    pub id: String,
    pub secret: SecretString,
    /// The scopes this client may be granted. Defaults to every scope the sandbox knows.
    pub scopes: Vec<String>,
}

/// The token bucket applied to each client.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    /// Sustained requests per second (Coupa: 25).
    pub per_second: u32,
    /// Requests that may arrive at once beyond the rate (Coupa: 20).
    pub burst: u32,
}

impl Default for RateLimit {
    fn default() -> RateLimit {
        RateLimit {
            per_second: 25,
            burst: 20,
        }
    }
}

/// Faults injected into API answers, drawn from a generator seeded with `seed` so a run can be replayed.
/// Each rate is a probability in 0..=1 per request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FaultConfig {
    pub seed: u64,
    /// Answer 500 or 503 (alternately drawn) without running the request.
    pub error_rate: f64,
    /// Answer 429 with `Retry-After` without running the request.
    pub throttle_rate: f64,
    /// Delay the answer by `slow_by`.
    pub slow_rate: f64,
    pub slow_by: Duration,
    /// Run the request, then drop the connection before the answer: a write lands, its answer is lost.
    pub drop_rate: f64,
}

/// Everything a sandbox needs to start.
#[derive(Debug, Clone)]
pub struct SandboxConfig {
    pub clients: Vec<ClientCredentials>,
    /// Accept `X-COUPA-API-KEY: <key>` (Coupa's deprecated legacy auth) when set.
    pub api_key: Option<SecretString>,
    /// Lifetime of an issued access token (Coupa: 86399 s).
    pub token_ttl: Duration,
    /// `None` turns rate limiting off.
    pub rate_limit: Option<RateLimit>,
    pub faults: FaultConfig,
    /// One JSON line per request is appended here.
    pub access_log: Option<PathBuf>,
    /// Keep state in SQLite in this folder, so it survives a restart. `None`: memory only.
    pub data_dir: Option<PathBuf>,
    /// Reference data (departments, content groups, custom fields…) loaded at start.
    pub reference: Option<PathBuf>,
    /// Run the mailbox's SMTP server on this address (`127.0.0.1:0` picks a port); its messages are
    /// listed at `/mailbox/messages`. `None`: no mailbox.
    pub smtp: Option<String>,
    /// Run the SFTP server (Coupa's flat-file drop folder). `None`: no SFTP.
    pub sftp: Option<crate::SftpConfig>,
    /// How often the users loader polls `/Incoming/Users` (Coupa: every 3 to 6 minutes). Default 5
    /// minutes; tests use a fraction of a second or `Sandbox::run_loader_once`.
    pub loader_interval: Duration,
    /// Where the loader's failure notices are sent, through the mailbox. Default
    /// `admin@coupa-sandbox.invalid`.
    pub admin_email: String,
    /// Write a users export to `/Outgoing/Users` when the sandbox starts and every 24 hours.
    pub export_daily: bool,
}

impl Default for SandboxConfig {
    fn default() -> SandboxConfig {
        SandboxConfig {
            clients: Vec::new(),
            api_key: None,
            token_ttl: Duration::from_secs(86399),
            rate_limit: Some(RateLimit::default()),
            faults: FaultConfig::default(),
            access_log: None,
            data_dir: None,
            reference: None,
            smtp: None,
            sftp: None,
            loader_interval: crate::loader::DEFAULT_INTERVAL,
            admin_email: crate::loader::DEFAULT_ADMIN_EMAIL.into(),
            export_daily: false,
        }
    }
}

impl SandboxConfig {
    /// Rejects what would make the sandbox misbehave rather than fail: a zero rate, fault rates that
    /// are not probabilities, clients without a name or secret, or scopes the sandbox does not know.
    pub fn validate(&self) -> Result<(), SandboxError> {
        let bad = |message: String| Err(SandboxError::Config(message));
        if let Some(limit) = self.rate_limit
            && (limit.per_second == 0 || limit.burst == 0)
        {
            return bad("rate limit: requests per second and burst must both be at least 1".into());
        }
        let f = &self.faults;
        let rates = [
            ("error rate", f.error_rate),
            ("429 rate", f.throttle_rate),
            ("slow rate", f.slow_rate),
            ("drop rate", f.drop_rate),
        ];
        for (name, rate) in rates {
            if !(0.0..=1.0).contains(&rate) {
                return bad(format!("fault {name} {rate} is not between 0 and 1"));
            }
        }
        // One draw per request picks at most one fault, so the rates share the unit interval.
        let total: f64 = rates.iter().map(|(_, rate)| rate).sum();
        if total > 1.0 {
            return bad(format!("fault rates add up to {total}, more than 1"));
        }
        if self.token_ttl.is_zero() {
            return bad("token lifetime must be at least 1 second".into());
        }
        for (i, client) in self.clients.iter().enumerate() {
            if client.id.is_empty() {
                return bad(format!("client #{}: empty client id", i + 1));
            }
            if client.secret.expose_secret().is_empty() {
                return bad(format!("client {}: empty secret", client.id));
            }
            if self.clients[..i].iter().any(|c| c.id == client.id) {
                return bad(format!("client {} is given twice", client.id));
            }
            if let Some(scope) = client
                .scopes
                .iter()
                .find(|s| !crate::auth::KNOWN_SCOPES.contains(&s.as_str()))
            {
                return bad(format!(
                    "client {}: unknown scope {scope} (known: {})",
                    client.id,
                    crate::auth::KNOWN_SCOPES.join(", ")
                ));
            }
        }
        if self
            .api_key
            .as_ref()
            .is_some_and(|k| k.expose_secret().is_empty())
        {
            return bad("the API key is empty".into());
        }
        Ok(())
    }
}
