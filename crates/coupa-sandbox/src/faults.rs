//! Seeded faults for testing clients: 500/503 answers, 429s, slow answers, dropped connections.

use crate::FaultConfig;
use crate::server::AppState;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

#[derive(Debug)]
pub(crate) struct Faults {}

impl Faults {
    pub fn new(_config: &FaultConfig) -> Faults {
        Faults {}
    }
}

pub(crate) async fn layer(State(_state): State<AppState>, req: Request, next: Next) -> Response {
    next.run(req).await
}
