//! `/`: the signed-in user's page, or the brand's sign-in flow for everyone else.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use gatehouse_core::storage::{flows, users};

use super::flows::{Caller, SESSION_COOKIE, brand_for, csrf_token, current_session, now};
use crate::state::AppState;

/// `GET /`.
pub async fn home(State(state): State<AppState>, caller: Caller) -> Response {
    let brand = brand_for(&state, caller.host()).await;
    let flow_slug = |id| {
        let state = state.clone();
        async move {
            let mut db = state.store.acquire().await.ok()?;
            flows::get(&mut db, id).await.ok()?.map(|f| f.slug)
        }
    };
    let now = now();
    let Some(session) = current_session(&state, &caller, now).await else {
        let login = match brand.as_ref().and_then(|b| b.flow_authentication) {
            Some(id) => flow_slug(id).await,
            None => None,
        };
        return match login {
            Some(slug) => Redirect::to(&format!("/if/flow/{slug}/?next=/")).into_response(),
            None => (
                StatusCode::SERVICE_UNAVAILABLE,
                Html("<!doctype html><title>Gatehouse</title><p>No sign-in flow is configured for this site.</p>"),
            )
                .into_response(),
        };
    };
    let user = match state.store.acquire().await {
        Ok(mut db) => users::get(&mut db, session.user_id).await.ok().flatten(),
        Err(_) => None,
    };
    let (Some(user), Some(sessions)) = (
        user,
        super::sessions::own_sessions(&state, &session, now).await,
    ) else {
        return StatusCode::SERVICE_UNAVAILABLE.into_response();
    };
    let flow_url = |id: Option<gatehouse_core::ids::FlowId>| {
        let flow_slug = &flow_slug;
        async move {
            match id {
                Some(id) => flow_slug(id).await.map(|slug| format!("/if/flow/{slug}/")),
                None => None,
            }
        }
    };
    let applications = launcher(&state, &caller, session.user_id, now).await;
    let home = crate::http::templates::HomeView {
        username: &user.username,
        name: &user.name,
        sign_out_url: flow_url(brand.as_ref().and_then(|b| b.flow_invalidation)).await,
        settings_url: flow_url(brand.as_ref().and_then(|b| b.flow_user_settings)).await,
        applications,
        sessions: &sessions,
        // The revoke buttons' token is bound to this browser's session key.
        csrf_token: csrf_token(
            state.secret_key.expose(),
            caller.cookie(SESSION_COOKIE).unwrap_or_default(),
        ),
    };
    // The brand read above gives the look too: no second lookup.
    let view = crate::http::templates::BrandView::of(brand.as_ref());
    match crate::http::templates::render_home(&view, &home) {
        Ok(html) => {
            let mut response = Html(html).into_response();
            response.headers_mut().insert(
                axum::http::header::CACHE_CONTROL,
                axum::http::HeaderValue::from_static("no-store"),
            );
            response
        }
        Err(err) => {
            tracing::error!(error = %err, "cannot render the home page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// The applications `user` may open, as links; a failure shows none rather than
/// failing the page.
async fn launcher(
    state: &AppState,
    caller: &Caller,
    user: gatehouse_core::ids::UserId,
    now: gatehouse_core::Timestamp,
) -> Vec<crate::http::templates::AppLink> {
    let request = caller.request_input(now);
    let Ok(mut tx) = state.store.begin().await else {
        return Vec::new();
    };
    let window = time::Duration::seconds(i64::from(state.settings.login.lock_seconds));
    let apps = gatehouse_core::access::applications_for(&mut tx, user, &request, window).await;
    // Evaluating may record policy_exception events: keep them.
    let committed = tx.commit().await;
    match (apps, committed) {
        (Ok(apps), Ok(())) => apps
            .into_iter()
            .map(|a| crate::http::templates::AppLink {
                name: a.name,
                // Only web addresses become links (no `javascript:`).
                url: if ["https://", "http://", "/"]
                    .iter()
                    .any(|p| a.launch_url.starts_with(p))
                {
                    a.launch_url
                } else {
                    String::new()
                },
                group: a.group_name,
            })
            .collect(),
        (Err(err), _) | (_, Err(err)) => {
            tracing::warn!(error = %err, "cannot list the applications");
            Vec::new()
        }
    }
}
