//! The Coupa client a run talks through, built from `[coupa]` (credentials, format, the governor's
//! rate), and the call hook that files every HTTP exchange in the store's call log, under the person
//! it was made for, and counts it.

use crate::apply::current_person;
use crate::config::{CoupaAuth, CoupaConfig};
use crate::store::{CallRecord, Store};
use coupa_client::{Client, Credentials, Rate};
use serde::Serialize;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// Why no client could be built.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error("{file}: [coupa] has no credentials")]
    NoCredentials { file: String },
    #[error("{file}: [coupa]: {source}")]
    Client {
        file: String,
        source: coupa_client::Error,
    },
}

/// The HTTP exchanges of a run, by kind. Every attempt counts: a retried call is two exchanges.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ApiCalls {
    /// `GET`s: lookups and re-reads.
    pub get: u64,
    /// `POST /api/users`: creates.
    pub post: u64,
    /// `PUT /api/users/{id}`: updates.
    pub put: u64,
    /// Token requests (`POST /oauth2/token`).
    pub token: u64,
}

impl ApiCalls {
    pub fn total(&self) -> u64 {
        self.get + self.post + self.put + self.token
    }
}

/// Counts exchanges as the hook sees them.
#[derive(Debug, Default)]
pub(crate) struct Tally {
    get: AtomicU64,
    post: AtomicU64,
    put: AtomicU64,
    token: AtomicU64,
}

impl Tally {
    fn count(&self, method: &str, path: &str) {
        let counter = match method {
            _ if path.starts_with("/oauth2/") => &self.token,
            "GET" => &self.get,
            "POST" => &self.post,
            _ => &self.put,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn read(&self) -> ApiCalls {
        ApiCalls {
            get: self.get.load(Ordering::Relaxed),
            post: self.post.load(Ordering::Relaxed),
            put: self.put.load(Ordering::Relaxed),
            token: self.token.load(Ordering::Relaxed),
        }
    }
}

/// A client for the configured Coupa instance, calling `hook` for every exchange.
pub fn client(
    config: &CoupaConfig,
    file: &str,
    hook: Option<coupa_client::CallHook>,
) -> Result<Client, ConnectError> {
    let credentials = match config.auth() {
        Some(CoupaAuth::OAuth {
            client_id,
            client_secret,
            scopes,
        }) => {
            Credentials::oauth(client_id, client_secret.clone()).with_scopes(scopes.iter().cloned())
        }
        Some(CoupaAuth::ApiKey(key)) => Credentials::api_key(key.clone()),
        None => {
            return Err(ConnectError::NoCredentials {
                file: file.to_string(),
            });
        }
    };
    let rate = Rate {
        per_second: f64::from(config.rate_per_second),
        burst: config.burst,
        // One burst slot kept spare absorbs requests that reach Coupa bunched together.
        spare: u32::from(config.burst > 1),
    };
    let mut builder = Client::builder(config.url.clone())
        .credentials(credentials)
        .format(config.format.wire())
        .rate(Some(rate));
    if let Some(hook) = hook {
        builder = builder.on_call(move |exchange| hook(exchange));
    }
    builder.build().map_err(|source| ConnectError::Client {
        file: file.to_string(),
        source,
    })
}

/// The hook of a run: the exchange goes to the store's call log (which removes secrets), filed under
/// the person it was made for, and is counted.
pub(crate) fn call_log<S: Store + 'static>(
    store: Arc<S>,
    run_id: i64,
    tally: Arc<Tally>,
) -> coupa_client::CallHook {
    Arc::new(move |exchange: &coupa_client::CallRecord<'_>| {
        tally.count(exchange.method.as_str(), exchange.path);
        store.record_call(CallRecord::from_exchange(
            run_id,
            current_person(),
            exchange,
        ));
    })
}
