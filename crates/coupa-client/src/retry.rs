//! Retries: a classifier that says whether an outcome may be retried, and one loop that retries with
//! full-jitter exponential backoff, bounded by a number of attempts and a total time.

use crate::error::{Error, ErrorKind, TransportFailure};
use rand::RngExt;
use reqwest::Method;
use std::time::{Duration, SystemTime};
use tokio::time::Instant;

/// How often and for how long a call is retried.
#[derive(Debug, Clone, PartialEq)]
pub struct RetryPolicy {
    /// Attempts per call, the first included (1: never retry). Default 5.
    pub max_attempts: u32,
    /// No retry starts after this much time since the first attempt. Default 60 s.
    pub max_elapsed: Duration,
    /// The backoff ceiling for the first retry; it doubles with each retry. Default 250 ms.
    pub base_delay: Duration,
    /// The backoff ceiling never exceeds this. Default 10 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 5,
            max_elapsed: Duration::from_secs(60),
            base_delay: Duration::from_millis(250),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// Never retry.
    pub fn none() -> RetryPolicy {
        RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        }
    }

    /// The backoff ceiling after `failures` consecutive failures: base · 2^(failures-1), capped.
    pub(crate) fn ceiling(&self, failures: u32) -> Duration {
        let doubling = 2u32.saturating_pow(failures.saturating_sub(1).min(30));
        self.base_delay.saturating_mul(doubling).min(self.max_delay)
    }

    /// Full jitter: a uniform draw between zero and the ceiling, so clients that failed together do
    /// not come back together.
    pub(crate) fn backoff(&self, failures: u32) -> Duration {
        let ceiling = self.ceiling(failures);
        if ceiling.is_zero() {
            return ceiling;
        }
        rand::rng().random_range(Duration::ZERO..=ceiling)
    }
}

/// What to do with the outcome of one attempt.
#[derive(Debug)]
pub(crate) enum Verdict<T> {
    Success(T),
    /// Try again after `after` (the answer's `Retry-After`), or after a backoff when `None`.
    Retry {
        error: Error,
        after: Option<Duration>,
    },
    DontRetry(Error),
}

/// Classifies a failed exchange. A throttled request (429) and one that never left (no connection, no
/// token) are retried whatever the method; timeouts, broken connections and 500/502/503/504 only when
/// the method is idempotent (GET, PUT): a POST may have run.
pub(crate) fn classify<T>(method: &Method, error: Error) -> Verdict<T> {
    let idempotent = matches!(*method, Method::GET | Method::PUT | Method::HEAD);
    let status = error.status().map(|s| s.as_u16());
    let retry_after = match error.kind() {
        ErrorKind::Status { retry_after, .. } => *retry_after,
        _ => None,
    };
    let transient_status = matches!(status, Some(429 | 500 | 502 | 503 | 504));
    let transient = transient_status || matches!(error.kind(), ErrorKind::Transport { .. });
    let not_run = status == Some(429)
        || error.is_unsent()
        || matches!(
            error.kind(),
            ErrorKind::Transport {
                failure: TransportFailure::Connect,
                ..
            }
        );
    if transient && (idempotent || not_run) {
        Verdict::Retry {
            error,
            after: retry_after,
        }
    } else {
        Verdict::DontRetry(error)
    }
}

/// Runs `attempt` until it succeeds, fails for good, or the policy's attempts or time run out. The
/// error returned is the last one, with the number of attempts made.
pub(crate) async fn run<T, F: Future<Output = Verdict<T>>>(
    policy: &RetryPolicy,
    mut attempt: impl FnMut(u32) -> F,
) -> Result<T, Error> {
    let started = Instant::now();
    let mut n = 1;
    loop {
        let (error, after) = match attempt(n).await {
            Verdict::Success(value) => return Ok(value),
            Verdict::DontRetry(error) => return Err(error.with_attempts(n)),
            Verdict::Retry { error, after } => (error, after),
        };
        let delay = after.unwrap_or_else(|| policy.backoff(n));
        if n >= policy.max_attempts || started.elapsed() + delay > policy.max_elapsed {
            return Err(error.with_attempts(n));
        }
        tracing::debug!(attempt = n, delay_ms = delay.as_millis() as u64, %error, "retrying Coupa call");
        tokio::time::sleep(delay).await;
        n += 1;
    }
}

/// Reads `Retry-After` in either form: delay-seconds (`120`) or an HTTP-date, relative to `now`.
/// A date in the past means no wait; anything else unreadable is ignored.
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let date = httpdate::parse_http_date(value).ok()?;
    Some(date.duration_since(now).unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;
    use reqwest::StatusCode;

    fn status(code: u16, retry_after: Option<Duration>) -> Error {
        Error::new(ErrorKind::Status {
            messages: vec![],
            excerpt: None,
            retry_after,
        })
        .with_status(StatusCode::from_u16(code).unwrap())
    }

    fn transport(failure: TransportFailure) -> Error {
        Error::new(ErrorKind::Transport {
            failure,
            detail: String::new(),
        })
    }

    fn retried(method: &Method, error: Error) -> bool {
        matches!(classify::<()>(method, error), Verdict::Retry { .. })
    }

    #[test]
    fn idempotent_methods_retry_transient_failures() {
        for method in [Method::GET, Method::PUT] {
            for code in [429, 500, 502, 503, 504] {
                assert!(retried(&method, status(code, None)), "{method} {code}");
            }
            for failure in [
                TransportFailure::Connect,
                TransportFailure::Timeout,
                TransportFailure::Interrupted,
            ] {
                assert!(retried(&method, transport(failure)));
            }
            for code in [400, 401, 403, 404, 422, 501] {
                assert!(!retried(&method, status(code, None)), "{code}");
            }
        }
    }

    #[test]
    fn post_retries_only_what_never_ran() {
        assert!(retried(&Method::POST, status(429, None)));
        assert!(retried(&Method::POST, transport(TransportFailure::Connect)));
        assert!(retried(&Method::POST, status(503, None).unsent()));
        assert!(!retried(&Method::POST, status(503, None)));
        assert!(!retried(&Method::POST, status(500, None)));
        assert!(!retried(
            &Method::POST,
            transport(TransportFailure::Timeout)
        ));
        assert!(!retried(
            &Method::POST,
            transport(TransportFailure::Interrupted)
        ));
    }

    #[test]
    fn retry_after_is_carried_to_the_loop() {
        match classify::<()>(&Method::GET, status(429, Some(Duration::from_secs(7)))) {
            Verdict::Retry { after, .. } => assert_eq!(after, Some(Duration::from_secs(7))),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn backoff_is_full_jitter_under_a_doubling_capped_ceiling() {
        let p = RetryPolicy {
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(700),
            ..RetryPolicy::default()
        };
        let ceilings: Vec<_> = (1..=5).map(|n| p.ceiling(n).as_millis()).collect();
        assert_eq!(ceilings, [100, 200, 400, 700, 700]);
        let draws: Vec<_> = (0..200).map(|_| p.backoff(3)).collect();
        assert!(draws.iter().all(|d| *d <= Duration::from_millis(400)));
        // Full jitter spreads the draws over the whole range, not just near the ceiling.
        assert!(draws.iter().any(|d| *d < Duration::from_millis(100)));
        assert!(draws.iter().any(|d| *d > Duration::from_millis(300)));
    }

    #[test]
    fn parses_both_retry_after_forms() {
        let now = httpdate::parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT").unwrap();
        assert_eq!(
            parse_retry_after("120", now),
            Some(Duration::from_secs(120))
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:49:47 GMT", now),
            Some(Duration::from_secs(10))
        );
        // The obsolete RFC 850 and asctime forms are still HTTP-dates.
        assert_eq!(
            parse_retry_after("Sunday, 06-Nov-94 08:50:37 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(
            parse_retry_after("Sun Nov  6 08:49:37 1994", now),
            Some(Duration::ZERO)
        );
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-5", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_stops_at_max_attempts() {
        let policy = RetryPolicy {
            max_attempts: 3,
            ..RetryPolicy::default()
        };
        let mut calls = 0;
        let result: Result<(), _> = run(&policy, |_| {
            calls += 1;
            async {
                Verdict::Retry {
                    error: status(503, None),
                    after: None,
                }
            }
        })
        .await;
        let error = result.unwrap_err();
        assert_eq!((calls, error.attempts()), (3, 3));
        assert_eq!(error.status(), Some(StatusCode::SERVICE_UNAVAILABLE));
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_honours_retry_after_and_the_time_budget() {
        let policy = RetryPolicy {
            max_attempts: 10,
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::default()
        };
        let start = Instant::now();
        let mut seen = Vec::new();
        let result: Result<(), _> = run(&policy, |_| {
            seen.push(start.elapsed().as_secs());
            async {
                Verdict::Retry {
                    error: status(429, Some(Duration::from_secs(4))),
                    after: Some(Duration::from_secs(4)),
                }
            }
        })
        .await;
        // Attempts at 0 s, 4 s and 8 s; a fourth would start at 12 s, past the 10 s budget, so the
        // loop gives up at once instead of sleeping.
        assert_eq!(seen, [0, 4, 8]);
        assert_eq!(result.unwrap_err().attempts(), 3);
        assert_eq!(start.elapsed(), Duration::from_secs(8));
    }

    #[tokio::test(start_paused = true)]
    async fn the_loop_returns_the_first_success() {
        let mut calls = 0;
        let value = run(&RetryPolicy::default(), |n| {
            calls += 1;
            async move {
                if n < 3 {
                    Verdict::Retry {
                        error: status(500, None),
                        after: None,
                    }
                } else {
                    Verdict::Success(n)
                }
            }
        })
        .await
        .unwrap();
        assert_eq!((value, calls), (3, 3));
    }
}
