//! Seeded faults for testing clients: 500/503 answers, 429s, slow answers, dropped connections.
//!
//! Each `/api` request takes one draw `u` in [0, 1) from a `StdRng` seeded with `FaultConfig::seed`,
//! so the N-th API request of a run gets the same fault for the same seed, whatever the timing (as long
//! as requests arrive in the same order). The rates split the unit interval in this order:
//! error (first half 500, second half 503), 429, drop, slow; past their sum, no fault. At most one
//! fault per request, so the rates must add up to 1 or less. `/oauth2` requests take no draw and
//! never fail: the faults target the API calls a client retries.
//!
//! - error: 500 or 503 with Coupa's error body; the request is not run.
//! - 429: `Retry-After: 1` and Coupa's error body; the request is not run.
//! - drop: the request runs (a POST or PUT lands), then the connection is closed before any byte of
//!   the answer is sent: the client sees a connection error, never a status.
//! - slow: the request waits `slow_by`, then runs. A client that gives up first cancels it.
//!
//! Injected answers carry `X-Sandbox-Fault: error|429|drop|slow`, and the access log names the fault.

use crate::FaultConfig;
use crate::server::{AppState, wanted_format};
use crate::{ApiError, ratelimit};
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use std::sync::Mutex;
use std::time::Duration;

/// The header that names an injected fault on the answers a client does receive.
pub const FAULT_HEADER: HeaderName = HeaderName::from_static("x-sandbox-fault");

/// A fault injected into one request; put in the response's extensions for the access log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Fault {
    Error(StatusCode),
    Throttle,
    Drop,
    Slow,
}

impl Fault {
    pub fn name(self) -> &'static str {
        match self {
            Fault::Error(_) => "error",
            Fault::Throttle => "429",
            Fault::Drop => "drop",
            Fault::Slow => "slow",
        }
    }
}

#[derive(Debug)]
pub(crate) struct Faults {
    config: FaultConfig,
    /// `None` when every rate is zero, so a sandbox without faults takes no lock per request.
    draws: Option<Mutex<StdRng>>,
}

impl Faults {
    pub fn new(config: &FaultConfig) -> Faults {
        let any = [
            config.error_rate,
            config.throttle_rate,
            config.drop_rate,
            config.slow_rate,
        ]
        .iter()
        .any(|&rate| rate > 0.0);
        Faults {
            config: config.clone(),
            draws: any.then(|| Mutex::new(StdRng::seed_from_u64(config.seed))),
        }
    }

    fn draw(&self) -> Option<Fault> {
        let draws = self.draws.as_ref()?;
        let u: f64 = draws.lock().unwrap_or_else(|e| e.into_inner()).random();
        let c = &self.config;
        let mut edge = c.error_rate;
        if u < edge {
            let status = if u < edge / 2.0 {
                StatusCode::INTERNAL_SERVER_ERROR
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            };
            return Some(Fault::Error(status));
        }
        for (rate, fault) in [
            (c.throttle_rate, Fault::Throttle),
            (c.drop_rate, Fault::Drop),
            (c.slow_rate, Fault::Slow),
        ] {
            edge += rate;
            if u < edge {
                return Some(fault);
            }
        }
        None
    }
}

/// A body that fails on its first poll: hyper then closes the connection without flushing the
/// status line it had buffered, which is how a dropped connection looks to the client.
fn broken_body() -> Body {
    Body::from_stream(futures::stream::once(async {
        Err::<bytes::Bytes, _>(std::io::Error::other("sandbox fault: connection dropped"))
    }))
}

pub(crate) async fn layer(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let on_api = req.uri().path() == "/api" || req.uri().path().starts_with("/api/");
    let fault = if on_api { state.faults.draw() } else { None };
    let Some(fault) = fault else {
        return next.run(req).await;
    };
    let (parts, body) = req.into_parts();
    let format = wanted_format(&parts);
    let req = Request::from_parts(parts, body);
    let mut res = match fault {
        Fault::Error(status) => {
            let message = status.canonical_reason().unwrap_or("Server error");
            ApiError::new(status, format, vec![message.to_string()]).into_response()
        }
        Fault::Throttle => ratelimit::too_many_requests(
            format,
            "Rate limit exceeded, retry later".into(),
            Duration::from_secs(1),
        ),
        Fault::Drop => {
            let mut res = next.run(req).await;
            res.headers_mut().remove(axum::http::header::CONTENT_LENGTH);
            res.map(|_| broken_body())
        }
        Fault::Slow => {
            tokio::time::sleep(state.faults.config.slow_by).await;
            next.run(req).await
        }
    };
    res.headers_mut()
        .insert(FAULT_HEADER, HeaderValue::from_static(fault.name()));
    res.extensions_mut().insert(fault);
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    fn faults(seed: u64) -> Faults {
        Faults::new(&FaultConfig {
            seed,
            error_rate: 0.2,
            throttle_rate: 0.2,
            slow_rate: 0.2,
            slow_by: Duration::from_millis(1),
            drop_rate: 0.2,
        })
    }

    #[test]
    fn the_same_seed_gives_the_same_faults_and_every_kind_occurs() {
        let first = faults(7);
        let b: Vec<_> = (0..400).map(|_| first.draw()).collect();
        let again = faults(7);
        let c: Vec<_> = (0..400).map(|_| again.draw()).collect();
        assert_eq!(b, c);
        for wanted in [
            Some(Fault::Error(StatusCode::INTERNAL_SERVER_ERROR)),
            Some(Fault::Error(StatusCode::SERVICE_UNAVAILABLE)),
            Some(Fault::Throttle),
            Some(Fault::Drop),
            Some(Fault::Slow),
            None,
        ] {
            assert!(
                b.contains(&wanted),
                "{wanted:?} never drawn in 400 requests"
            );
        }
        let other = faults(8);
        let d: Vec<_> = (0..400).map(|_| other.draw()).collect();
        assert_ne!(b, d);
    }

    #[test]
    fn no_rates_means_no_generator_and_no_faults() {
        let none = Faults::new(&FaultConfig::default());
        assert!(none.draws.is_none());
        assert_eq!(none.draw(), None);
    }
}
