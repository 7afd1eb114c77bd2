//! Reference data endpoints: departments, content groups (`/api/business_groups`), roles, currencies,
//! custom-field definitions.

use crate::server::AppState;
use axum::Router;

pub(crate) fn routes() -> Router<AppState> {
    Router::new()
}
