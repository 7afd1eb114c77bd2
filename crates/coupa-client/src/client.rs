//! The client and the one path every request takes: governor, credentials, the HTTP exchange with a
//! capped body, the call record, and the retry loop around them.

use crate::auth::{Credentials, Fetched, Token, TokenCache};
use crate::call::{self, CallHook, CallRecord};
use crate::config::ClientBuilder;
use crate::error::{Error, ErrorKind, RequestLine, Result, TransportFailure, excerpt};
use crate::governor::Governor;
use crate::retry::{self, RetryPolicy, Verdict};
use crate::users::Users;
use bytes::{Bytes, BytesMut};
use coupa_wire::{ErrorsBody, Format};
use reqwest::header::{self, HeaderValue};
use reqwest::{Method, StatusCode};
use secrecy::{ExposeSecret, SecretString};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// A Coupa client: one per Coupa instance, cheap to clone, shared by every task so that all of them
/// pass through one rate governor and one token.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.base)
            .field("format", &self.inner.format)
            .field("credentials", &self.inner.credentials)
            .finish_non_exhaustive()
    }
}

pub(crate) struct Inner {
    pub(crate) http: reqwest::Client,
    pub(crate) base: String,
    pub(crate) format: Format,
    pub(crate) credentials: Credentials,
    pub(crate) tokens: TokenCache,
    pub(crate) governor: Governor,
    pub(crate) retry: RetryPolicy,
    pub(crate) body_cap: usize,
    pub(crate) max_url_len: usize,
    pub(crate) hook: Option<CallHook>,
}

/// A request ready to send (and to send again).
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub method: Method,
    /// Path and query, starting with `/`.
    pub path: String,
    pub body: Option<Bytes>,
    /// The body as the call record may show it, secrets removed; `None`: the body itself.
    pub logged_body: Option<Bytes>,
}

impl Outgoing {
    pub fn new(method: Method, path: String) -> Outgoing {
        Outgoing {
            method,
            path,
            body: None,
            logged_body: None,
        }
    }

    fn line(&self) -> RequestLine {
        RequestLine {
            method: self.method.clone(),
            path: self.path.clone(),
        }
    }
}

/// An answer, read whole.
#[derive(Debug)]
pub(crate) struct Answer {
    pub status: StatusCode,
    pub content_type: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Bytes,
    pub request: RequestLine,
    /// The error messages of a non-2xx answer: Coupa's `<errors>`, or RFC 6749's for a token request.
    pub messages: Vec<String>,
}

impl Answer {
    /// The answer itself when it is a 2xx; otherwise an error carrying Coupa's messages.
    fn success(self) -> Result<Answer> {
        if self.status.is_success() {
            return Ok(self);
        }
        let body_excerpt = (self.messages.is_empty()
            && !self.body.iter().all(u8::is_ascii_whitespace))
        .then(|| {
            let kind = self
                .content_type
                .as_deref()
                .unwrap_or("a body without content type");
            format!("{kind}: {}", excerpt(&self.body))
        });
        Err(Error::new(ErrorKind::Status {
            messages: self.messages,
            excerpt: body_excerpt,
            retry_after: self.retry_after,
        })
        .with_status(self.status)
        .with_request(self.request))
    }
}

/// Who the request claims to be.
enum Authorization<'a> {
    None,
    Bearer(&'a Token),
    ApiKey(&'a SecretString),
}

impl Client {
    pub(crate) fn new(inner: Inner) -> Client {
        Client {
            inner: Arc::new(inner),
        }
    }

    /// Starts a builder for the Coupa instance at `base_url` (`https://acme.coupahost.com`).
    pub fn builder(base_url: impl Into<String>) -> ClientBuilder {
        ClientBuilder::new(base_url.into())
    }

    /// The users API.
    pub fn users(&self) -> Users {
        Users::new(self.clone())
    }

    /// The data file sources API: how Coupa's loads of flat files went.
    /// The Integrations APIs: report runs and failed records into Coupa.
    pub fn integrations(&self) -> crate::Integrations {
        crate::Integrations::new(self.clone())
    }

    pub fn data_file_sources(&self) -> crate::DataFileSources {
        crate::DataFileSources::new(self.clone())
    }

    pub fn format(&self) -> Format {
        self.inner.format
    }

    pub(crate) fn base_url(&self) -> &str {
        &self.inner.base
    }

    pub(crate) fn max_url_len(&self) -> usize {
        self.inner.max_url_len
    }

    pub(crate) fn retry_policy(&self) -> &RetryPolicy {
        &self.inner.retry
    }

    /// Sends `out` under the retry policy; a 2xx answer, or the last error.
    pub(crate) async fn send(&self, out: &Outgoing) -> Result<Answer> {
        let renewed = AtomicBool::new(false);
        retry::run(&self.inner.retry, |attempt| {
            let renewed = &renewed;
            async move {
                match self.attempt(out, attempt, renewed).await {
                    Ok(answer) => Verdict::Success(answer),
                    Err(e) => retry::classify(&out.method, e),
                }
            }
        })
        .await
    }

    /// One attempt: with a 401 on a cached OAuth token, the token is renewed (once per call, shared
    /// with every task that saw the same 401) and the request sent again.
    pub(crate) async fn attempt(
        &self,
        out: &Outgoing,
        attempt: u32,
        renewed: &AtomicBool,
    ) -> Result<Answer> {
        let token = match &self.inner.credentials {
            Credentials::OAuth { .. } => Some(
                self.inner
                    .tokens
                    .get(|| self.fetch_token(attempt))
                    .await
                    .map_err(Error::unsent)?,
            ),
            Credentials::ApiKey(_) => None,
        };
        let result = self
            .exchange(out, self.authorization(token.as_deref()), attempt)
            .await
            .and_then(Answer::success);
        match (result, token) {
            (Err(e), Some(stale))
                if e.status() == Some(StatusCode::UNAUTHORIZED)
                    && !renewed.swap(true, Ordering::Relaxed) =>
            {
                let fresh = self
                    .inner
                    .tokens
                    .renew(stale.generation, || self.fetch_token(attempt))
                    .await
                    .map_err(Error::unsent)?;
                self.exchange(out, Authorization::Bearer(&fresh), attempt)
                    .await
                    .and_then(Answer::success)
            }
            (result, _) => result,
        }
    }

    fn authorization<'a>(&'a self, token: Option<&'a Token>) -> Authorization<'a> {
        match (token, &self.inner.credentials) {
            (Some(t), _) => Authorization::Bearer(t),
            (None, Credentials::ApiKey(key)) => Authorization::ApiKey(key),
            (None, _) => Authorization::None,
        }
    }

    /// The client-credentials grant: a form POST to `/oauth2/token`.
    async fn fetch_token(&self, attempt: u32) -> Result<Fetched> {
        let Credentials::OAuth {
            client_id,
            secret,
            scopes,
        } = &self.inner.credentials
        else {
            return Err(Error::invalid("no OAuth credentials"));
        };
        let scope = scopes.join(" ");
        let pairs = [
            ("grant_type", "client_credentials"),
            ("client_id", client_id.as_str()),
            ("client_secret", secret.expose_secret()),
            ("scope", scope.as_str()),
        ];
        let form = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(pairs)
            .finish();
        let out = Outgoing {
            method: Method::POST,
            path: "/oauth2/token".into(),
            body: Some(Bytes::from(form)),
            logged_body: Some(Bytes::from(call::redact_form(&pairs))),
        };
        let answer = self.exchange(&out, Authorization::None, attempt).await?;
        if !answer.status.is_success() {
            return Err(token_refusal(answer));
        }
        #[derive(serde::Deserialize)]
        struct TokenAnswer {
            access_token: SecretString,
            #[serde(default)]
            expires_in: Option<serde_json::Value>,
        }
        let parsed: TokenAnswer = serde_json::from_slice(&answer.body).map_err(|e| {
            // The body may hold the token: describe the failure, never the body.
            Error::body(
                "a JSON token answer with an access_token",
                format!(
                    "{:?} error at line {} column {}",
                    e.classify(),
                    e.line(),
                    e.column()
                ),
                None,
            )
            .with_request(answer.request.clone())
            .with_status(answer.status)
        })?;
        let expires_in = parsed.expires_in.and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_u64(),
            serde_json::Value::String(s) => s.trim().parse().ok(),
            _ => None,
        });
        Ok((parsed.access_token, expires_in.map(Duration::from_secs)))
    }

    /// One HTTP exchange: wait for the governor, send, read the answer (capped), record it. A non-2xx
    /// answer becomes an error carrying Coupa's messages.
    async fn exchange(
        &self,
        out: &Outgoing,
        auth: Authorization<'_>,
        attempt: u32,
    ) -> Result<Answer> {
        let inner = &*self.inner;
        let rate_limit_wait = inner.governor.acquire().await;
        let token_call = out.path.starts_with("/oauth2/");
        let accept = if token_call {
            "application/json"
        } else {
            inner.format.mime()
        };
        let mut request = inner
            .http
            .request(out.method.clone(), format!("{}{}", inner.base, out.path))
            .header(header::ACCEPT, accept);
        match auth {
            Authorization::None => {}
            Authorization::Bearer(token) => {
                request = request.header(
                    header::AUTHORIZATION,
                    sensitive(&format!("Bearer {}", token.value.expose_secret()))?,
                );
            }
            Authorization::ApiKey(key) => {
                request = request.header("X-COUPA-API-KEY", sensitive(key.expose_secret())?);
            }
        }
        if let Some(body) = &out.body {
            let content_type = if token_call {
                "application/x-www-form-urlencoded"
            } else {
                inner.format.mime()
            };
            request = request
                .header(header::CONTENT_TYPE, content_type)
                .body(body.clone());
        }
        let started = Instant::now();
        let outcome = self.read(request).await;
        let duration = started.elapsed();

        let mut record = CallRecord {
            method: &out.method,
            path: &out.path,
            status: None,
            transport_error: None,
            duration,
            attempt,
            rate_limit_wait,
            request_body: out
                .logged_body
                .as_ref()
                .or(out.body.as_ref())
                .map(|b| &b[..]),
            response_body: None,
            messages: &[],
        };
        let (status, content_type, retry_after, body) = match outcome {
            Ok(parts) => parts,
            Err(error) => {
                let detail = error.to_string();
                record.transport_error = Some(&detail);
                self.publish(&record);
                return Err(error.with_request(out.line()));
            }
        };
        let logged_answer = token_call.then(|| call::redact_token_answer(&body));
        let messages = match (status.is_success(), token_call) {
            (true, _) => Vec::new(),
            (false, true) => oauth_messages(&body),
            (false, false) => coupa_messages(content_type.as_deref(), inner.format, &body),
        };
        record.status = Some(status);
        record.response_body = Some(logged_answer.as_deref().unwrap_or(&body));
        record.messages = &messages;
        self.publish(&record);
        if status == StatusCode::TOO_MANY_REQUESTS {
            inner
                .governor
                .throttled(retry_after, |n| inner.retry.backoff(n));
        } else {
            inner.governor.relieved();
        }
        Ok(Answer {
            status,
            content_type,
            retry_after,
            body,
            request: out.line(),
            messages,
        })
    }

    fn publish(&self, record: &CallRecord<'_>) {
        call::trace(record);
        if let Some(hook) = &self.inner.hook {
            hook(record);
        }
    }

    /// Sends and reads the whole answer, refusing bodies over the cap.
    async fn read(
        &self,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Option<String>, Option<Duration>, Bytes)> {
        let cap = self.inner.body_cap;
        let mut response = request.send().await.map_err(transport)?;
        let status = response.status();
        let headers = response.headers();
        let content_type = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let retry_after = headers
            .get(header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| retry::parse_retry_after(v, SystemTime::now()));
        let too_large = || {
            Error::body(
                "an answer of at most the body cap",
                format!("the answer is larger than {cap} bytes"),
                None,
            )
            .with_status(status)
        };
        if response.content_length().is_some_and(|n| n > cap as u64) {
            return Err(too_large());
        }
        let mut body = BytesMut::new();
        while let Some(chunk) = response.chunk().await.map_err(transport)? {
            if body.len() + chunk.len() > cap {
                return Err(too_large());
            }
            body.extend_from_slice(&chunk);
        }
        Ok((status, content_type, retry_after, body.freeze()))
    }
}

/// Makes a header value that HTTP tooling (and reqwest's Debug) will not show.
fn sensitive(value: &str) -> Result<HeaderValue> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Error::invalid("a credential holds characters a header cannot carry").unsent()
    })?;
    v.set_sensitive(true);
    Ok(v)
}

fn transport(e: reqwest::Error) -> Error {
    let failure = if e.is_timeout() {
        TransportFailure::Timeout
    } else if e.is_connect() {
        TransportFailure::Connect
    } else {
        TransportFailure::Interrupted
    };
    let e = e.without_url();
    let mut detail = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push_str(": ");
        detail.push_str(&s.to_string());
        source = s.source();
    }
    Error::new(ErrorKind::Transport { failure, detail })
}

/// Coupa's messages from an error body; none when the body is something else (a proxy's HTML page).
fn coupa_messages(content_type: Option<&str>, expected: Format, body: &[u8]) -> Vec<String> {
    let format = match content_type {
        Some(ct) => Format::from_media_type(ct),
        None => Some(expected),
    };
    format
        .and_then(|f| ErrorsBody::decode(f, body).ok())
        .map(|e| e.messages)
        .unwrap_or_default()
}

/// RFC 6749's `error` and `error_description` from a refused token request.
fn oauth_messages(body: &[u8]) -> Vec<String> {
    #[derive(serde::Deserialize)]
    struct Refusal {
        error: String,
        #[serde(default)]
        error_description: Option<String>,
    }
    match serde_json::from_slice::<Refusal>(body) {
        Ok(r) => std::iter::once(r.error)
            .chain(r.error_description)
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// A refused token request. Its body is never quoted: only the RFC 6749 fields are kept.
fn token_refusal(answer: Answer) -> Error {
    let mut messages = answer.messages.into_iter();
    let error = messages
        .next()
        .unwrap_or_else(|| format!("HTTP {}", answer.status.as_u16()));
    Error::new(ErrorKind::Token {
        error,
        description: messages.next().unwrap_or_default(),
    })
    .with_status(answer.status)
    .with_request(answer.request)
}
