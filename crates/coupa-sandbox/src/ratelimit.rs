//! Coupa's rate limit: a token bucket per client (25/s, burst 20 by default); over it, 429.
//!
//! Coupa documents "25 requests per second, burst of 20" but not its algorithm nor whether a 429
//! carries `Retry-After` (reference §4, UNCONFIRMED). The sandbox chooses GCRA, the usual exact form
//! of a token bucket: a bucket of `burst` tokens per OAuth2 client (keyed by `Caller.client_id`; all
//! legacy API-key calls share the client `api-key`), refilled continuously at `per_second`. A request
//! that finds the bucket empty is refused with 429, Coupa's error body in the `Accept` format and
//! `Retry-After` = whole seconds until one token is back (at least 1). Refused requests cost nothing.
//! Only `/api` requests that passed authentication count: `/oauth2/token` is not limited.

use crate::server::{AppState, wanted_format};
use crate::{ApiError, RateLimit, auth::Caller};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub(crate) struct Limiter {
    limit: RateLimit,
    /// Time for one token to come back: 1 / `per_second`.
    interval: Duration,
    /// How far a client's next theoretical arrival may run ahead of now: `burst - 1` intervals.
    tolerance: Duration,
    /// GCRA's state per client: the theoretical arrival time of its next request. A client with a
    /// time in the past has a full bucket. The map holds configured clients only, so it stays small.
    next_arrival: Mutex<HashMap<String, Instant>>,
}

impl Limiter {
    pub fn new(limit: RateLimit) -> Limiter {
        // `SandboxConfig::validate` refuses zeros; the floor keeps the arithmetic safe regardless.
        let interval = Duration::from_secs(1) / limit.per_second.max(1);
        Limiter {
            limit,
            interval,
            tolerance: interval * (limit.burst.max(1) - 1),
            next_arrival: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token from `client`'s bucket, or says how long until one is back.
    fn admit(&self, client: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut next_arrival = self.next_arrival.lock().unwrap_or_else(|e| e.into_inner());
        let start = next_arrival.get(client).map_or(now, |&tat| tat.max(now));
        let ahead = start - now;
        if ahead > self.tolerance {
            return Err(ahead - self.tolerance);
        }
        let tat = start + self.interval;
        match next_arrival.get_mut(client) {
            Some(slot) => *slot = tat,
            None => {
                next_arrival.insert(client.to_owned(), tat);
            }
        }
        Ok(())
    }
}

/// `Retry-After` in whole seconds, rounded up, at least 1 (the header has no fractions).
fn retry_after_secs(wait: Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A 429 in Coupa's error format with `Retry-After`; also used by the injected 429 fault.
pub(crate) fn too_many_requests(
    format: coupa_wire::Format,
    message: String,
    wait: Duration,
) -> Response {
    let secs = retry_after_secs(wait);
    ApiError::new(StatusCode::TOO_MANY_REQUESTS, format, vec![message])
        .with_header(header::RETRY_AFTER, HeaderValue::from(secs))
        .into_response()
}

pub(crate) async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let (Some(limiter), Some(caller)) = (&state.limiter, req.extensions().get::<Caller>()) else {
        return next.run(req).await;
    };
    match limiter.admit(&caller.client_id) {
        Ok(()) => next.run(req).await,
        Err(wait) => {
            let (parts, _) = req.into_parts();
            let message = format!(
                "Rate limit exceeded: {} requests per second with a burst of {}",
                limiter.limit.per_second, limiter.limit.burst
            );
            too_many_requests(wanted_format(&parts), message, wait)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_rounds_up_to_whole_seconds_and_never_says_zero() {
        assert_eq!(retry_after_secs(Duration::ZERO), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(40)), 1);
        assert_eq!(retry_after_secs(Duration::from_secs(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1001)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_admits_the_burst_then_refills_at_the_rate() {
        let limiter = Limiter::new(RateLimit {
            per_second: 4,
            burst: 3,
        });
        for _ in 0..3 {
            assert_eq!(limiter.admit("a"), Ok(()));
        }
        assert_eq!(limiter.admit("a"), Err(Duration::from_millis(250)));
        // Another client has its own bucket.
        assert_eq!(limiter.admit("b"), Ok(()));
        tokio::time::advance(Duration::from_millis(250)).await;
        assert_eq!(limiter.admit("a"), Ok(()));
        assert!(limiter.admit("a").is_err());
        // After a long pause the bucket is full again, but holds no more than `burst`.
        tokio::time::advance(Duration::from_secs(10)).await;
        for _ in 0..3 {
            assert_eq!(limiter.admit("a"), Ok(()));
        }
        assert!(limiter.admit("a").is_err());
    }
}
