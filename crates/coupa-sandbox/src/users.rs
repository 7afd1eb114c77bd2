//! `/api/users`: query, show, create, update.

use crate::server::AppState;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
