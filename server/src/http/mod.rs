//! The core's router, built from small layers so tests can drive it with `oneshot`.

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

pub mod device;
pub mod flows;
pub mod health;
pub mod home;
pub mod oauth2;
pub mod oidc;
pub mod sessions;
pub mod templates;

/// The core's HTTP surface (served on both the HTTP and the HTTPS listener).
pub fn app(state: AppState) -> Router {
    Router::new()
        .route("/", get(home::home))
        .route("/-/health/live/", get(health::live))
        .route("/-/health/ready/", get(health::ready))
        .route(
            "/if/flow/{slug}/",
            get(flows::page_get).post(flows::page_post),
        )
        .route("/application/o/{slug}/jwks/", get(oidc::jwks_of))
        .route(
            "/application/o/{slug}/.well-known/openid-configuration",
            get(oidc::discovery),
        )
        .route(
            "/application/o/{slug}/end-session/",
            get(oidc::end_session).post(oidc::end_session),
        )
        .route(
            "/application/o/authorize/",
            get(oauth2::authorize_get).post(oauth2::authorize_post),
        )
        .route("/application/o/token/", axum::routing::post(oauth2::token))
        .route(
            "/application/o/userinfo/",
            get(oauth2::userinfo_get).post(oauth2::userinfo_post),
        )
        .route(
            "/application/o/introspect/",
            axum::routing::post(oauth2::introspect),
        )
        .route(
            "/application/o/revoke/",
            axum::routing::post(oauth2::revoke),
        )
        .route(
            "/application/o/device/",
            axum::routing::post(device::authorize_device),
        )
        .route(
            "/if/device/",
            get(device::device_page).post(device::device_submit),
        )
        .route("/api/v1/core/authenticated_sessions/", get(sessions::list))
        .route(
            "/api/v1/core/authenticated_sessions/{id}/",
            axum::routing::delete(sessions::delete),
        )
        .route(
            "/if/user/sessions/revoke/",
            axum::routing::post(sessions::revoke_form),
        )
        .route(
            "/outpost.gatehouse/{*rest}",
            axum::routing::any(crate::outposts::embedded::handle),
        )
        .route(
            gatehouse_config::control::PATH,
            get(crate::outposts::connection::upgrade),
        )
        .route(
            "/api/v1/flows/executor/{slug}/",
            get(flows::executor_get).post(flows::executor_post),
        )
        // route_layer, not layer: it runs after routing, so the metric can be labelled
        // with the route template instead of raw paths (which would explode the label
        // set with ids and scanner noise).
        .route_layer(axum::middleware::from_fn(crate::metrics::track_request))
        .fallback(not_found)
        .with_state(state)
}

/// Unknown paths answer with a JSON 404 like the rest of the API.
async fn not_found() -> impl IntoResponse {
    (
        StatusCode::NOT_FOUND,
        axum::Json(serde_json::json!({"detail": "Not found."})),
    )
}

#[cfg(test)]
mod tests;
