//! Configuring a client: the builder and its knobs (credentials, format, rate, retries, timeouts,
//! body cap, URL limit, call hook), checked when the client is built.

use crate::auth::{Credentials, TokenCache};
use crate::call::{CallHook, CallRecord};
use crate::client::{Client, Inner};
use crate::error::{Error, Result};
use crate::governor::{Governor, Rate};
use crate::retry::RetryPolicy;
use coupa_wire::Format;
use std::sync::Arc;
use std::time::Duration;

/// How long the client waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// To open a connection. Default 10 s.
    pub connect: Duration,
    /// For one attempt, from sending to having read the whole answer. Default 30 s.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(10),
            request: Duration::from_secs(30),
        }
    }
}

/// The largest answer read by default: a page of 50 full users is a few hundred kilobytes.
pub const DEFAULT_BODY_CAP: usize = 8 * 1024 * 1024;
/// The longest URL `find_by` builds by default; proxies commonly refuse beyond 2 to 8 KB.
pub const DEFAULT_MAX_URL_LEN: usize = 2000;

/// Builds a [`Client`]. Only the base URL and credentials are required.
#[derive(Clone)]
pub struct ClientBuilder {
    base_url: String,
    credentials: Option<Credentials>,
    format: Format,
    rate: Option<Rate>,
    retry: RetryPolicy,
    timeouts: Timeouts,
    body_cap: usize,
    max_url_len: usize,
    hook: Option<CallHook>,
}

impl std::fmt::Debug for ClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientBuilder")
            .field("base_url", &self.base_url)
            .field("credentials", &self.credentials)
            .field("format", &self.format)
            .field("rate", &self.rate)
            .field("retry", &self.retry)
            .field("timeouts", &self.timeouts)
            .field("body_cap", &self.body_cap)
            .field("max_url_len", &self.max_url_len)
            .field("hook", &self.hook.is_some())
            .finish()
    }
}

impl ClientBuilder {
    pub(crate) fn new(base_url: String) -> ClientBuilder {
        ClientBuilder {
            base_url,
            credentials: None,
            format: Format::Xml,
            rate: Some(Rate::default()),
            retry: RetryPolicy::default(),
            timeouts: Timeouts::default(),
            body_cap: DEFAULT_BODY_CAP,
            max_url_len: DEFAULT_MAX_URL_LEN,
            hook: None,
        }
    }

    /// Credentials (required): [`Credentials::oauth`] or [`Credentials::api_key`].
    pub fn credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self
    }

    /// XML (the default, Coupa's own) or JSON.
    pub fn format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }

    /// The rate governor's limit (default: Coupa's 25/s, burst 20, one spare slot); `None` sends
    /// without pacing, which only makes sense against a server that does not limit.
    pub fn rate(mut self, rate: Option<Rate>) -> Self {
        self.rate = rate;
        self
    }

    pub fn retry(mut self, policy: RetryPolicy) -> Self {
        self.retry = policy;
        self
    }

    pub fn timeouts(mut self, timeouts: Timeouts) -> Self {
        self.timeouts = timeouts;
        self
    }

    /// The largest answer body read, in bytes; a larger one is an error. Default 8 MiB.
    pub fn body_cap(mut self, bytes: usize) -> Self {
        self.body_cap = bytes;
        self
    }

    /// The longest URL `find_by` builds. Default 2000 bytes.
    pub fn max_url_len(mut self, bytes: usize) -> Self {
        self.max_url_len = bytes;
        self
    }

    /// Called with a [`CallRecord`] for every HTTP exchange, token requests included.
    pub fn on_call(mut self, hook: impl Fn(&CallRecord<'_>) + Send + Sync + 'static) -> Self {
        self.hook = Some(Arc::new(hook));
        self
    }

    pub fn build(self) -> Result<Client> {
        let base = self.base_url.trim().trim_end_matches('/').to_string();
        let url = reqwest::Url::parse(&base)
            .map_err(|e| Error::invalid(format!("base URL {base:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
            return Err(Error::invalid(format!(
                "base URL {base:?} must be http(s)://host"
            )));
        }
        if url.query().is_some() || !url.username().is_empty() || url.password().is_some() {
            return Err(Error::invalid(format!(
                "base URL {base:?} must not carry a query or credentials"
            )));
        }
        let credentials = self.credentials.ok_or_else(|| {
            Error::invalid("no credentials: set OAuth client credentials or an API key")
        })?;
        if let Credentials::OAuth {
            client_id, scopes, ..
        } = &credentials
            && (client_id.trim().is_empty()
                || scopes.iter().any(|s| s.contains(char::is_whitespace)))
        {
            return Err(Error::invalid(
                "OAuth client id must not be empty, and each scope must be one word",
            ));
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::invalid("retry max_attempts must be at least 1"));
        }
        let governor = Governor::new(self.rate).map_err(Error::invalid)?;
        let http = reqwest::Client::builder()
            .connect_timeout(self.timeouts.connect)
            .timeout(self.timeouts.request)
            .pool_max_idle_per_host(64)
            .build()
            .map_err(|e| Error::invalid(format!("HTTP client: {e}")))?;
        Ok(Client::new(Inner {
            http,
            base,
            format: self.format,
            credentials,
            tokens: TokenCache::default(),
            governor,
            retry: self.retry,
            body_cap: self.body_cap,
            max_url_len: self.max_url_len,
            hook: self.hook,
        }))
    }
}
