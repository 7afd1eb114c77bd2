//! Credentials (OAuth2 client credentials or the legacy API key) and the access-token cache: one token
//! for every task, renewed before it expires and, after a 401, renewed once for all tasks together.

use secrecy::SecretString;
use std::sync::Arc;
use std::sync::RwLock;
use std::time::Duration;
use tokio::time::Instant;

/// The scopes a sync needs on users.
pub const DEFAULT_SCOPES: &[&str] = &["core.user.read", "core.user.write"];

/// How the client proves who it is. `Debug` shows no secret.
#[derive(Debug, Clone)]
pub enum Credentials {
    /// OAuth2 client credentials: a form POST to `/oauth2/token`, then `Authorization: Bearer`.
    OAuth {
        client_id: String,
        secret: SecretString,
        scopes: Vec<String>,
    },
    /// Coupa's deprecated `X-COUPA-API-KEY` header.
    ApiKey(SecretString),
}

impl Credentials {
    /// OAuth2 client credentials with the default scopes (`core.user.read core.user.write`).
    pub fn oauth(client_id: impl Into<String>, secret: SecretString) -> Credentials {
        Credentials::OAuth {
            client_id: client_id.into(),
            secret,
            scopes: DEFAULT_SCOPES.iter().map(|s| s.to_string()).collect(),
        }
    }

    /// Replaces the scopes requested (OAuth only).
    pub fn with_scopes<S: Into<String>>(self, new: impl IntoIterator<Item = S>) -> Credentials {
        match self {
            Credentials::OAuth {
                client_id, secret, ..
            } => Credentials::OAuth {
                client_id,
                secret,
                scopes: new.into_iter().map(Into::into).collect(),
            },
            key => key,
        }
    }

    pub fn api_key(key: SecretString) -> Credentials {
        Credentials::ApiKey(key)
    }
}

/// Renew a token once this share of its lifetime has passed: Coupa's 24 h tokens at 20 h, as Coupa
/// advises.
const RENEW_AT: f64 = 5.0 / 6.0;

/// A cached access token.
#[derive(Debug)]
pub(crate) struct Token {
    pub value: SecretString,
    /// Which fetch produced it; a 401 names the generation it failed with.
    pub generation: u64,
    renew_at: Option<Instant>,
}

impl Token {
    fn fresh(&self, now: Instant) -> bool {
        self.renew_at.is_none_or(|at| now < at)
    }
}

/// What a token fetch returns: the token and its `expires_in` (unknown: renewed only after a 401).
pub(crate) type Fetched = (SecretString, Option<Duration>);

#[derive(Debug, Default)]
pub(crate) struct TokenCache {
    current: RwLock<Option<Arc<Token>>>,
    /// Held while fetching, so concurrent tasks wait for one fetch instead of each making their own.
    fetching: tokio::sync::Mutex<u64>,
}

impl TokenCache {
    fn current(&self) -> Option<Arc<Token>> {
        self.current
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    fn fresh(&self) -> Option<Arc<Token>> {
        self.current().filter(|t| t.fresh(Instant::now()))
    }

    /// The cached token, fetched first if there is none or it is due for renewal.
    pub async fn get<E, F: Future<Output = Result<Fetched, E>>>(
        &self,
        fetch: impl FnOnce() -> F,
    ) -> Result<Arc<Token>, E> {
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let mut generations = self.fetching.lock().await;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        Ok(self.store(&mut generations, fetch().await?))
    }

    /// After a 401 with the token of `stale` generation: a new token, fetched unless another task
    /// already replaced that one.
    pub async fn renew<E, F: Future<Output = Result<Fetched, E>>>(
        &self,
        stale: u64,
        fetch: impl FnOnce() -> F,
    ) -> Result<Arc<Token>, E> {
        let mut generations = self.fetching.lock().await;
        if let Some(token) = self.current().filter(|t| t.generation != stale) {
            return Ok(token);
        }
        Ok(self.store(&mut generations, fetch().await?))
    }

    fn store(&self, generations: &mut u64, (value, expires_in): Fetched) -> Arc<Token> {
        *generations += 1;
        let token = Arc::new(Token {
            value,
            generation: *generations,
            renew_at: expires_in.map(|ttl| Instant::now() + ttl.mul_f64(RENEW_AT)),
        });
        *self.current.write().unwrap_or_else(|e| e.into_inner()) = Some(token.clone());
        token
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;
    use std::sync::atomic::{AtomicU32, Ordering};

    async fn fetch(count: &AtomicU32, ttl: Option<Duration>) -> Result<Fetched, ()> {
        let n = count.fetch_add(1, Ordering::SeqCst) + 1;
        tokio::task::yield_now().await;
        Ok((SecretString::from(format!("token-{n}")), ttl))
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_tasks_share_one_fetch() {
        let cache = Arc::new(TokenCache::default());
        let count = Arc::new(AtomicU32::new(0));
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, count) = (cache.clone(), count.clone());
                tokio::spawn(async move {
                    let t = cache.get(|| fetch(&count, None)).await.unwrap();
                    t.value.expose_secret().to_string()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-1");
        }
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn a_401_renews_once_for_every_task_that_saw_it() {
        let cache = Arc::new(TokenCache::default());
        let count = Arc::new(AtomicU32::new(0));
        let first = cache.get(|| fetch(&count, None)).await.unwrap();
        let tasks: Vec<_> = (0..16)
            .map(|_| {
                let (cache, count) = (cache.clone(), count.clone());
                let stale = first.generation;
                tokio::spawn(async move {
                    let t = cache.renew(stale, || fetch(&count, None)).await.unwrap();
                    t.value.expose_secret().to_string()
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap(), "token-2");
        }
        assert_eq!(count.load(Ordering::SeqCst), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_are_renewed_at_five_sixths_of_their_life() {
        let cache = TokenCache::default();
        let count = AtomicU32::new(0);
        let ttl = Some(Duration::from_secs(600));
        cache.get(|| fetch(&count, ttl)).await.unwrap();
        tokio::time::advance(Duration::from_secs(499)).await;
        cache.get(|| fetch(&count, ttl)).await.unwrap();
        assert_eq!(count.load(Ordering::SeqCst), 1);
        tokio::time::advance(Duration::from_secs(2)).await;
        let t = cache.get(|| fetch(&count, ttl)).await.unwrap();
        assert_eq!(t.value.expose_secret(), "token-2");
    }

    #[test]
    fn debug_never_shows_a_secret() {
        let oauth = Credentials::oauth("sync", SecretString::from("hunter2"));
        let key = Credentials::api_key(SecretString::from("0123456789abcdef"));
        for c in [oauth, key] {
            let shown = format!("{c:?}");
            assert!(
                !shown.contains("hunter2") && !shown.contains("0123456789abcdef"),
                "{shown}"
            );
        }
    }
}
