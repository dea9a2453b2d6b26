//! A signed-in user's own sessions: listed on `/` and at
//! `/api/v1/core/authenticated_sessions/` (authentik's path), each revocable there.
//!
//! The caller is known by the session cookie. A form on `/` revokes with a CSRF token
//! bound to the caller's session key; the JSON `DELETE` needs no token, because a
//! browser does not send a cross-site `DELETE` without a CORS preflight this server
//! never grants.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Form, Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::Timestamp;
use gatehouse_core::ids::SessionId;
use gatehouse_core::storage::sessions::{self, Session};
use serde::Serialize;
use serde_json::json;

use super::flows::{Caller, SESSION_COOKIE, csrf_ok, csrf_refused, current_session, now};
use crate::state::AppState;

/// One session as its owner sees it.
#[derive(Debug, Serialize)]
pub struct SessionView {
    /// Session id.
    pub uuid: SessionId,
    /// The session this request came with.
    pub current: bool,
    /// Client address at sign-in.
    pub last_ip: String,
    /// `User-Agent` at sign-in.
    pub last_user_agent: String,
    /// Sign-in time.
    pub created: Timestamp,
    /// Last request seen (to the minute).
    pub last_used: Timestamp,
    /// When it ends on its own.
    pub expires: Timestamp,
}

impl SessionView {
    fn of(session: Session, current: SessionId) -> Self {
        Self {
            uuid: session.id,
            current: session.id == current,
            last_ip: session.client_ip,
            last_user_agent: session.user_agent,
            created: session.created_at,
            last_used: session.last_seen_at,
            expires: session.expires_at,
        }
    }
}

/// The sessions in force of the owner of `current`, oldest first.
pub(crate) async fn own_sessions(
    state: &AppState,
    current: &Session,
    now: Timestamp,
) -> Option<Vec<SessionView>> {
    let mut db = state.store.acquire().await.ok()?;
    let list = sessions::list_active_for_user(&mut db, current.user_id, now)
        .await
        .ok()?;
    Some(
        list.into_iter()
            .map(|s| SessionView::of(s, current.id))
            .collect(),
    )
}

fn not_signed_in() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({"detail": "Authentication credentials were not provided."})),
    )
        .into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"detail": "The database did not answer."})),
    )
        .into_response()
}

/// Revokes `id` when it is a session of the owner of `current`. `None`: the database
/// failed.
async fn revoke_own(
    state: &AppState,
    current: &Session,
    id: SessionId,
    now: Timestamp,
) -> Option<bool> {
    let mut db = state.store.acquire().await.ok()?;
    match sessions::get(&mut db, id).await.ok()? {
        Some(target) if target.user_id == current.user_id => {
            let revoked = sessions::revoke(&mut db, id, now).await.ok()?;
            drop(db);
            if revoked {
                tracing::info!(session = %id, user = %current.user_id, "session revoked by its owner");
                state
                    .hub
                    .publish(crate::outposts::Change::Revocations)
                    .await;
            }
            Some(revoked)
        }
        _ => Some(false),
    }
}

/// `GET /api/v1/core/authenticated_sessions/`: the caller's sessions.
pub async fn list(State(state): State<AppState>, caller: Caller) -> Response {
    let now = now();
    let Some(current) = current_session(&state, &caller, now).await else {
        return not_signed_in();
    };
    match own_sessions(&state, &current, now).await {
        Some(list) => Json(json!({"results": list})).into_response(),
        None => unavailable(),
    }
}

/// `DELETE /api/v1/core/authenticated_sessions/<uuid>/`: ends one of the caller's
/// sessions (204), or 404 for any other id.
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Response {
    let now = now();
    let Some(current) = current_session(&state, &caller, now).await else {
        return not_signed_in();
    };
    let Ok(id) = id.parse::<SessionId>() else {
        return (StatusCode::NOT_FOUND, Json(json!({"detail": "Not found."}))).into_response();
    };
    match revoke_own(&state, &current, id, now).await {
        Some(true) => StatusCode::NO_CONTENT.into_response(),
        Some(false) => {
            (StatusCode::NOT_FOUND, Json(json!({"detail": "Not found."}))).into_response()
        }
        None => unavailable(),
    }
}

/// `POST /if/user/sessions/revoke/` from the list on `/`: fields `session` and
/// `csrf_token`; back to `/` afterwards.
pub async fn revoke_form(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let now = now();
    let (Some(current), Some(key)) = (
        current_session(&state, &caller, now).await,
        caller.cookie(SESSION_COOKIE),
    ) else {
        return Redirect::to("/").into_response();
    };
    let token = form.get("csrf_token").map(String::as_str).unwrap_or("");
    if !csrf_ok(state.secret_key.expose(), key, token) {
        return csrf_refused();
    }
    let Some(id) = form
        .get("session")
        .and_then(|s| s.parse::<SessionId>().ok())
    else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match revoke_own(&state, &current, id, now).await {
        Some(_) => Redirect::to("/").into_response(),
        None => StatusCode::SERVICE_UNAVAILABLE.into_response(),
    }
}
