//! RFC 8628 device authorization: the endpoint devices call
//! (`/application/o/device/`) and the page where their users type the code
//! (`/if/device/`).

use std::collections::HashMap;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use gatehouse_core::oauth2::device::{self, DEVICE_PAGE};

use crate::http::flows::{
    Caller, SESSION_COOKIE, brand_of, csrf_ok, csrf_refused, csrf_token, current_session, now,
};
use crate::http::oauth2::{
    client_auth, no_store, oauth_error, read_form, run_authorization, sign_in_first_to,
};
use crate::state::AppState;

/// `POST /application/o/device/` (RFC 8628 §3.1–3.2).
pub async fn authorize_device(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let answer = async {
        let form = read_form(form)?;
        let auth = client_auth(&headers, &form)?;
        device::device_authorize(
            &state.store,
            &state.oauth2,
            &auth,
            form.get("scope").map(String::as_str),
            &caller.base_url(),
            now(),
        )
        .await
    }
    .await;
    match answer {
        Ok(started) => no_store(serde_json::to_value(started).unwrap_or_default()),
        Err(err) => oauth_error(&err),
    }
}

async fn page(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    code: &str,
    error: Option<&str>,
    approved: bool,
) -> Response {
    let key = caller.cookie(SESSION_COOKIE).unwrap_or_default();
    let csrf = csrf_token(state.secret_key.expose(), key);
    let brand = brand_of(state, caller.host()).await;
    match crate::http::templates::render_device(&brand, &csrf, code, error, approved) {
        Ok(html) => (status, Html(html)).into_response(),
        Err(err) => {
            tracing::error!(error = %err, "cannot render the device page");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

fn back_here(code: &str) -> String {
    let query = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .append_pair("code", code)
        .finish();
    format!("{DEVICE_PAGE}?{query}")
}

/// `GET /if/device/`: the form (signed-in users only), or the confirmation.
pub async fn device_page(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
    caller: Caller,
) -> Response {
    let code = query.get("code").map(String::as_str).unwrap_or_default();
    if current_session(&state, &caller, now()).await.is_none() {
        return sign_in_first_to(&state, &caller, &back_here(code)).await;
    }
    let approved = query.contains_key("approved");
    page(&state, &caller, StatusCode::OK, code, None, approved).await
}

/// `POST /if/device/`: a typed code; on to the application's authorization flow.
pub async fn device_submit(
    State(state): State<AppState>,
    caller: Caller,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    let code = form.get("code").map(String::as_str).unwrap_or_default();
    let now = now();
    let Some(session) = current_session(&state, &caller, now).await else {
        return sign_in_first_to(&state, &caller, &back_here(code)).await;
    };
    let key = caller.cookie(SESSION_COOKIE).unwrap_or_default();
    let token = form
        .get("csrf_token")
        .map(String::as_str)
        .unwrap_or_default();
    if !csrf_ok(state.secret_key.expose(), key, token) {
        return csrf_refused();
    }
    let waiting = match state.store.acquire().await {
        Ok(mut db) => device::waiting_device(&mut db, code, now).await,
        Err(err) => Err(err),
    };
    let (device, client) = match waiting {
        Ok(Some(found)) => found,
        Ok(None) => {
            let error = "This code is not valid, was used, or has expired.";
            return page(
                &state,
                &caller,
                StatusCode::BAD_REQUEST,
                code,
                Some(error),
                false,
            )
            .await;
        }
        Err(_) => return StatusCode::SERVICE_UNAVAILABLE.into_response(),
    };
    let Some(pending) = device::pending_for_device(&device, &client, &caller.base_url()) else {
        let error = "No application uses this device's client.";
        return page(
            &state,
            &caller,
            StatusCode::BAD_REQUEST,
            code,
            Some(error),
            false,
        )
        .await;
    };
    run_authorization(
        &state,
        &caller,
        client.provider.authorization_flow_id,
        pending,
        session.user_id,
        false,
    )
    .await
}
