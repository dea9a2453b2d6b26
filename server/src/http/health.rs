//! Health endpoints at authentik's paths, for load balancers and orchestrators.

use axum::extract::State;
use axum::http::StatusCode;

use crate::state::AppState;

/// `/-/health/live/`: the process answers. 204, no body.
pub async fn live() -> StatusCode {
    StatusCode::NO_CONTENT
}

/// `/-/health/ready/`: the process can serve, i.e. its database answers. 204 when it
/// does, 503 when it does not (the cause goes to the log, not to the caller).
pub async fn ready(State(state): State<AppState>) -> StatusCode {
    match state.store.ping().await {
        Ok(()) => StatusCode::NO_CONTENT,
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed: database unreachable");
            StatusCode::SERVICE_UNAVAILABLE
        }
    }
}
