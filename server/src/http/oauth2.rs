//! The OAuth 2.0 endpoints at authentik's paths: authorize, token, userinfo,
//! introspection and revocation. The protocol lives in `gatehouse_core::oauth2`; this
//! module reads requests and writes RFC 6749 responses.

use std::collections::HashMap;

use axum::extract::rejection::{FormRejection, QueryRejection};
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use gatehouse_core::flows::challenge::FlowInfo;
use gatehouse_core::flows::{Challenge, executor};
use gatehouse_core::oauth2::{
    self, AuthorizeParams, AuthorizeRefusal, ClientAuth, OAuthError, TokenParams,
};
use gatehouse_core::storage::flows;
use serde_json::json;

use crate::http::flows::{
    Caller, apply_effects, brand_for, brand_of, current_session, now, request_info,
};
use crate::state::AppState;

/// Slug of the shipped authorization flow a provider without one uses.
const IMPLICIT_CONSENT_FLOW: &str = "default-provider-authorization-implicit-consent";

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        axum::Json(json!({"detail": "The database did not answer."})),
    )
        .into_response()
}

/// A page saying why the request stops here (never a redirect to the client).
async fn stop_page(
    state: &AppState,
    caller: &Caller,
    status: StatusCode,
    title: &str,
    message: &str,
) -> Response {
    let challenge = Challenge::AccessDenied {
        flow_info: FlowInfo {
            title: title.to_owned(),
            slug: String::new(),
            layout: String::new(),
            background: String::new(),
        },
        error_message: message.to_owned(),
    };
    let brand = brand_of(state, caller.host()).await;
    match crate::http::templates::render(&challenge, &brand, "") {
        Ok(html) => (status, Html(html)).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

/// `GET /application/o/authorize/`.
pub async fn authorize_get(
    State(state): State<AppState>,
    uri: Uri,
    params: Result<Query<AuthorizeParams>, QueryRejection>,
    caller: Caller,
) -> Response {
    let Ok(Query(params)) = params else {
        // Nothing in it can be trusted, the redirect URI least: say so here.
        return stop_page(
            &state,
            &caller,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The request's parameters could not be read.",
        )
        .await;
    };
    authorize(&state, &caller, uri.query().unwrap_or_default(), params).await
}

/// `POST /application/o/authorize/` (OIDC Core §3.1.2.1 allows the form).
pub async fn authorize_post(
    State(state): State<AppState>,
    caller: Caller,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let Ok(Form(form)) = form else {
        return stop_page(
            &state,
            &caller,
            StatusCode::BAD_REQUEST,
            "Bad request",
            "The form could not be read.",
        )
        .await;
    };
    let query = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(form.iter())
        .finish();
    let params: AuthorizeParams =
        serde_json::from_value(serde_json::to_value(&form).unwrap_or_default()).unwrap_or_default();
    authorize(&state, &caller, &query, params).await
}

async fn authorize(
    state: &AppState,
    caller: &Caller,
    query: &str,
    params: AuthorizeParams,
) -> Response {
    let now = now();
    let validated = {
        let Ok(mut db) = state.store.acquire().await else {
            return unavailable();
        };
        oauth2::validate(&mut db, &params, &caller.base_url()).await
    };
    let validated = match validated {
        Ok(v) => v,
        Err(AuthorizeRefusal::Page(message)) => {
            return stop_page(
                state,
                caller,
                StatusCode::BAD_REQUEST,
                "Cannot sign in",
                &message,
            )
            .await;
        }
        Err(AuthorizeRefusal::Redirect(to)) => return Redirect::to(&to).into_response(),
        Err(AuthorizeRefusal::Storage(_)) => return unavailable(),
    };
    let pending = validated.pending;
    let session = current_session(state, caller, now).await;
    let too_old = |s: &gatehouse_core::storage::sessions::Session| {
        validated
            .max_age
            .is_some_and(|max| now.unix_timestamp() - s.created_at.unix_timestamp() > max)
    };
    let session = match session {
        Some(s) if !validated.prompt.login && !too_old(&s) => s,
        _ if validated.prompt.none => {
            return Redirect::to(
                &pending.error_redirect("login_required", "The user is not signed in."),
            )
            .into_response();
        }
        _ => return sign_in_first(state, caller, query).await,
    };
    let provider = validated.client.provider.authorization_flow_id;
    run_authorization(
        state,
        caller,
        provider,
        pending,
        session.user_id,
        validated.prompt.none,
    )
    .await
}

/// Checks the application's policy bindings for `user`, then runs the provider's
/// authorization flow (`flow`; the shipped implicit-consent one when `None`) for
/// `pending`. A flow with a page to show hands over to it; one without ends with the
/// redirect its fulfilment gives. `prompt_none`: a page to show is an error instead.
pub(crate) async fn run_authorization(
    state: &AppState,
    caller: &Caller,
    flow: Option<gatehouse_core::ids::FlowId>,
    pending: oauth2::PendingAuthorization,
    user: gatehouse_core::ids::UserId,
    prompt_none: bool,
) -> Response {
    let now = now();
    // The application's policy bindings decide who may use it.
    let Ok(mut tx) = state.store.begin().await else {
        return unavailable();
    };
    let application =
        match gatehouse_core::storage::applications::get(&mut tx, pending.application_id).await {
            Ok(Some(app)) => app,
            Ok(None) => {
                return stop_page(
                    state,
                    caller,
                    StatusCode::NOT_FOUND,
                    "Cannot sign in",
                    "The application is gone.",
                )
                .await;
            }
            Err(_) => return unavailable(),
        };
    let window = time::Duration::seconds(i64::from(state.settings.login.lock_seconds));
    let decision = gatehouse_core::access::may_open(
        &mut tx,
        &application,
        user,
        &caller.request_input(now),
        window,
    )
    .await;
    let flow_slug = match flow {
        Some(id) => flows::get(&mut tx, id).await.map(|f| f.map(|f| f.slug)),
        None => Ok(Some(IMPLICIT_CONSENT_FLOW.to_owned())),
    };
    if let (Ok(d), Some(device)) = (&decision, pending.device)
        && !d.passing
        && gatehouse_core::storage::oauth2::deny_device_code(&mut tx, device, now)
            .await
            .is_err()
    {
        return unavailable();
    }
    if tx.commit().await.is_err() {
        return unavailable();
    }
    match decision {
        Ok(d) if d.passing => {}
        // A silent request (an iframe, a background refresh) gets the error, not a page.
        Ok(_) if prompt_none => {
            let to =
                pending.error_redirect("access_denied", "The user may not use this application.");
            return Redirect::to(&to).into_response();
        }
        Ok(d) => {
            let mut message = format!("You may not open {}.", application.name);
            for m in d.messages {
                message.push(' ');
                message.push_str(&m);
            }
            return stop_page(
                state,
                caller,
                StatusCode::FORBIDDEN,
                "Access denied",
                &message,
            )
            .await;
        }
        Err(_) => return unavailable(),
    }
    let flow_slug = match flow_slug {
        Ok(Some(slug)) => slug,
        Ok(None) => {
            return stop_page(
                state,
                caller,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot sign in",
                "The application's authorization flow is gone.",
            )
            .await;
        }
        Err(_) => return unavailable(),
    };
    let info = request_info(state, caller, None).await;
    let outcome = match executor::authorize(&state.store, &flow_slug, pending.clone(), &info).await
    {
        Ok(outcome) => outcome,
        Err(gatehouse_core::flows::FlowError::UnknownFlow(_)) => {
            return stop_page(
                state,
                caller,
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot sign in",
                "The application's authorization flow does not exist.",
            )
            .await;
        }
        Err(err) => {
            tracing::error!(error = %err, "authorization flow failed");
            return unavailable();
        }
    };
    let mut response = match &outcome.challenge {
        Challenge::Redirect { to } => Redirect::to(to).into_response(),
        // The flow refused (its policies, a deny stage) and has ended: a fresh run of
        // its page would no longer know the request, so the refusal is said here.
        Challenge::AccessDenied { error_message, .. } if prompt_none => {
            Redirect::to(&pending.error_redirect("access_denied", error_message)).into_response()
        }
        Challenge::AccessDenied { error_message, .. } => {
            stop_page(
                state,
                caller,
                StatusCode::FORBIDDEN,
                "Access denied",
                error_message,
            )
            .await
        }
        _ if prompt_none => Redirect::to(
            &pending.error_redirect("consent_required", "The user has to consent first."),
        )
        .into_response(),
        // The flow has something to show: its page takes over, with the flow cookie.
        _ => Redirect::to(&format!("/if/flow/{flow_slug}/")).into_response(),
    };
    super::flows::tell_outposts(state, &outcome.effects).await;
    apply_effects(&mut response, &outcome.effects, caller.tls());
    response
}

/// Sends the browser to the brand's sign-in flow, to come back to this request. A
/// `prompt=login` is dropped from the way back, or the browser would loop.
async fn sign_in_first(state: &AppState, caller: &Caller, query: &str) -> Response {
    let back: String = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(
            openidconnect::url::form_urlencoded::parse(query.as_bytes())
                .filter(|(k, v)| !(k == "prompt" && v.split(' ').any(|w| w == "login")))
                .filter(|(k, _)| k != "max_age"),
        )
        .finish();
    sign_in_first_to(state, caller, &format!("/application/o/authorize/?{back}")).await
}

/// Sends the browser to the brand's sign-in flow, to come back to `next` (a local
/// path) afterwards.
pub(crate) async fn sign_in_first_to(state: &AppState, caller: &Caller, next: &str) -> Response {
    let slug = match brand_for(state, caller.host())
        .await
        .and_then(|b| b.flow_authentication)
    {
        Some(id) => match state.store.acquire().await {
            Ok(mut db) => flows::get(&mut db, id).await.ok().flatten().map(|f| f.slug),
            Err(_) => return unavailable(),
        },
        None => None,
    };
    let Some(slug) = slug else {
        return stop_page(
            state,
            caller,
            StatusCode::INTERNAL_SERVER_ERROR,
            "Cannot sign in",
            "No sign-in flow is set up for this site.",
        )
        .await;
    };
    let query = openidconnect::url::form_urlencoded::Serializer::new(String::new())
        .append_pair("next", next)
        .finish();
    let to = format!("/if/flow/{slug}/?{query}");
    Redirect::to(&to).into_response()
}

/// An RFC 6749 §5.2 error response.
pub(crate) fn oauth_error(err: &OAuthError) -> Response {
    let status = match err {
        OAuthError::InvalidClient | OAuthError::InvalidToken => StatusCode::UNAUTHORIZED,
        OAuthError::ServerError(_) => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::BAD_REQUEST,
    };
    let mut response = (
        status,
        axum::Json(json!({"error": err.code(), "error_description": err.to_string()})),
    )
        .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    match err {
        OAuthError::InvalidClient => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"gatehouse\""),
            );
        }
        OAuthError::InvalidToken => {
            headers.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer error=\"invalid_token\""),
            );
        }
        _ => {}
    }
    response
}

pub(crate) fn no_store(value: serde_json::Value) -> Response {
    let mut response = axum::Json(value).into_response();
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

/// The client's credentials: HTTP Basic (RFC 6749 §2.3.1, each part form-encoded)
/// or `client_id` / `client_secret` in the body.
pub(crate) fn client_auth(
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<ClientAuth, OAuthError> {
    if let Some(value) = headers.get(header::AUTHORIZATION) {
        let basic = value.to_str().ok().and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        });
        if let Some(encoded) = basic {
            let decoded = STANDARD
                .decode(encoded.trim())
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .ok_or(OAuthError::InvalidClient)?;
            let (id, secret) = decoded.split_once(':').ok_or(OAuthError::InvalidClient)?;
            return Ok(ClientAuth {
                client_id: Some(form_decode(id)),
                client_secret: Some(form_decode(secret)),
            });
        }
    }
    Ok(ClientAuth {
        client_id: form.get("client_id").cloned(),
        client_secret: form.get("client_secret").cloned(),
    })
}

fn form_decode(text: &str) -> String {
    openidconnect::url::form_urlencoded::parse(format!("v={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

pub(crate) fn read_form(
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<HashMap<String, String>, OAuthError> {
    form.map(|Form(f)| f).map_err(|_| {
        OAuthError::InvalidRequest(
            "The body must be a form (application/x-www-form-urlencoded).".into(),
        )
    })
}

/// `POST /application/o/token/`.
pub async fn token(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let answer = async {
        let form = read_form(form)?;
        let auth = client_auth(&headers, &form)?;
        let params: TokenParams =
            serde_json::from_value(serde_json::to_value(&form).unwrap_or_default())
                .unwrap_or_default();
        oauth2::token(
            &state.store,
            &state.oauth2,
            &auth,
            &params,
            &caller.request_input(now()),
            &caller.base_url(),
        )
        .await
    }
    .await;
    match answer {
        Ok(tokens) => no_store(serde_json::to_value(tokens).unwrap_or_default()),
        Err(err) => oauth_error(&err),
    }
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    value
        .strip_prefix("Bearer ")
        .or_else(|| value.strip_prefix("bearer "))
        .map(|t| t.trim().to_owned())
}

/// `GET /application/o/userinfo/`.
pub async fn userinfo_get(State(state): State<AppState>, headers: HeaderMap) -> Response {
    userinfo(&state, bearer(&headers)).await
}

/// `POST /application/o/userinfo/` (the token in the header or the form).
pub async fn userinfo_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let from_form = form.ok().and_then(|Form(f)| f.get("access_token").cloned());
    userinfo(&state, bearer(&headers).or(from_form)).await
}

async fn userinfo(state: &AppState, token: Option<String>) -> Response {
    let Some(token) = token.filter(|t| !t.is_empty()) else {
        return oauth_error(&OAuthError::InvalidToken);
    };
    match oauth2::userinfo(&state.store, &state.oauth2, &token, now()).await {
        Ok(claims) => no_store(serde_json::Value::Object(claims)),
        Err(err) => oauth_error(&err),
    }
}

/// The client's credentials and the `token` field of an introspection or
/// revocation form.
fn client_and_token(
    headers: &HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<(ClientAuth, String), OAuthError> {
    let form = read_form(form)?;
    let auth = client_auth(headers, &form)?;
    let token = form
        .get("token")
        .filter(|t| !t.is_empty())
        .cloned()
        .ok_or_else(|| OAuthError::InvalidRequest("token is missing.".into()))?;
    Ok((auth, token))
}

/// `POST /application/o/introspect/` (RFC 7662).
pub async fn introspect(
    State(state): State<AppState>,
    headers: HeaderMap,
    caller: Caller,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let answer = async {
        let (auth, token) = client_and_token(&headers, form)?;
        oauth2::introspect(
            &state.store,
            &state.oauth2,
            &auth,
            &token,
            &caller.base_url(),
            now(),
        )
        .await
    }
    .await;
    match answer {
        Ok(value) => no_store(value),
        Err(err) => oauth_error(&err),
    }
}

/// `POST /application/o/revoke/` (RFC 7009).
pub async fn revoke(
    State(state): State<AppState>,
    headers: HeaderMap,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Response {
    let answer = async {
        let (auth, token) = client_and_token(&headers, form)?;
        oauth2::revoke(&state.store, &state.oauth2, &auth, &token, now()).await
    }
    .await;
    match answer {
        Ok(()) => StatusCode::OK.into_response(),
        Err(err) => oauth_error(&err),
    }
}
