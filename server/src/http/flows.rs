//! Flows over HTTP: the HTML pages at `/if/flow/<slug>/` (forms that work without
//! JavaScript, CSRF-protected) and the JSON executor at
//! `/api/v1/flows/executor/<slug>/`, both driving the same engine.
//!
//! Two cookies: `gatehouse_flow` names the flow session (the flow in progress) and
//! `gatehouse_session` the core session once signed in. Both are HttpOnly,
//! SameSite=Lax, and Secure when the request came over HTTPS.

use std::collections::HashMap;
use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cookie::{Cookie, SameSite};
use gatehouse_core::Timestamp;
use gatehouse_core::flows::executor::run;
use gatehouse_core::flows::{Challenge, Effects, FlowError, Outcome, RequestInfo, Throttle};
use gatehouse_core::ids::UserId;
use gatehouse_core::secrets::{PasswordCost, hash_key};
use gatehouse_core::storage::{brands, providers, sessions};
use hmac::{Hmac, Mac};
use serde_json::{Map, Value};
use sha2::Sha256;
use time::OffsetDateTime;

use crate::state::AppState;

/// The flow in progress.
pub const FLOW_COOKIE: &str = "gatehouse_flow";
/// The signed-in core session.
pub const SESSION_COOKIE: &str = "gatehouse_session";

/// Marks a request that came over the HTTPS listener.
#[derive(Debug, Clone, Copy)]
pub struct OverTls;

/// What every flow request carries.
pub struct Caller {
    cookies: HashMap<String, String>,
    headers: std::collections::BTreeMap<String, String>,
    method: String,
    path: String,
    host: String,
    client_ip: String,
    user_agent: String,
    tls: bool,
}

impl<S: Send + Sync> axum::extract::FromRequestParts<S> for Caller {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        _state: &S,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map(|c| c.0);
        let tls = parts.extensions.get::<OverTls>().is_some();
        let mut caller = Self::new(&parts.headers, peer, tls);
        caller.method = parts.method.to_string();
        caller.path = parts.uri.path().to_owned();
        Ok(caller)
    }
}

impl Caller {
    fn new(headers: &HeaderMap, peer: Option<SocketAddr>, tls: bool) -> Self {
        let mut cookies = HashMap::new();
        for value in headers.get_all(header::COOKIE) {
            if let Ok(text) = value.to_str() {
                for cookie in Cookie::split_parse(text).flatten() {
                    cookies.insert(cookie.name().to_owned(), cookie.value().to_owned());
                }
            }
        }
        let text = |name| {
            headers
                .get(name)
                .and_then(|v: &HeaderValue| v.to_str().ok())
                .unwrap_or_default()
                .to_owned()
        };
        // What policies may read: every header but the credentials.
        let mut seen = std::collections::BTreeMap::<String, String>::new();
        for (name, value) in headers {
            if name == header::COOKIE || name == header::AUTHORIZATION {
                continue;
            }
            if let Ok(value) = value.to_str() {
                seen.entry(name.as_str().to_owned())
                    .and_modify(|v| {
                        v.push_str(", ");
                        v.push_str(value);
                    })
                    .or_insert_with(|| value.to_owned());
            }
        }
        Self {
            cookies,
            headers: seen,
            method: String::new(),
            path: String::new(),
            host: text(header::HOST),
            client_ip: peer.map(|p| p.ip().to_string()).unwrap_or_default(),
            user_agent: text(header::USER_AGENT),
            tls,
        }
    }

    /// The request as policies see it.
    pub(crate) fn request_input(&self, now: Timestamp) -> gatehouse_core::expr::RequestInput {
        gatehouse_core::expr::RequestInput {
            ip: self.client_ip.clone(),
            host: self.host.clone(),
            path: self.path.clone(),
            method: self.method.clone(),
            user_agent: self.user_agent.clone(),
            headers: self.headers.clone(),
            time: now,
        }
    }

    /// The `Host` header.
    pub(crate) fn host(&self) -> &str {
        &self.host
    }

    /// Whether the request came over TLS.
    pub(crate) fn tls(&self) -> bool {
        self.tls
    }

    /// Where this server is reached, as the caller reached it: `http(s)://host`.
    pub(crate) fn base_url(&self) -> String {
        let scheme = if self.tls { "https" } else { "http" };
        format!("{scheme}://{}", self.host)
    }

    pub(crate) fn cookie(&self, name: &str) -> Option<&str> {
        self.cookies.get(name).map(String::as_str)
    }
}

/// `next` when it is safe to send a browser to: a path on this site, or an http(s)
/// URL on one of `hosts` (the brands' domains and the proxy providers' hosts).
/// Anything else (`//evil`, `https://evil/`, user info, backslashes) is refused.
pub fn safe_next(next: Option<&str>, hosts: &[String]) -> Option<String> {
    let next = next?;
    if next.contains('\\') || next.chars().any(char::is_control) {
        return None;
    }
    if next.starts_with('/') && !next.starts_with("//") {
        return Some(next.to_owned());
    }
    let rest = next
        .strip_prefix("https://")
        .or_else(|| next.strip_prefix("http://"))?;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.contains('@') {
        return None;
    }
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(host, _)| host)
        .to_lowercase();
    hosts
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(&host))
        .then(|| next.to_owned())
}

/// The hosts `next` may point at: every brand's domain and every proxy provider's
/// external host.
async fn redirect_hosts(state: &AppState) -> Vec<String> {
    let Ok(mut db) = state.store.acquire().await else {
        return Vec::new();
    };
    let mut hosts: Vec<String> = brands::list(&mut db)
        .await
        .unwrap_or_default()
        .into_iter()
        .map(|b| b.domain)
        .collect();
    for provider in providers::list(&mut db).await.unwrap_or_default() {
        if let Some(url) = provider
            .settings
            .get("external_host")
            .and_then(|v| v.as_str())
            && let Some(rest) = url
                .strip_prefix("https://")
                .or_else(|| url.strip_prefix("http://"))
        {
            let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
            let host = authority.rsplit_once(':').map_or(authority, |(h, _)| h);
            hosts.push(host.to_lowercase());
        }
    }
    hosts
}

pub(crate) fn now() -> Timestamp {
    Timestamp::from_datetime(OffsetDateTime::now_utc())
}

/// How stale a session's "last seen" may get before a request writes it again: a
/// write per request would make every page view a database write.
const TOUCH_EVERY: time::Duration = time::Duration::minutes(1);

/// The caller's core session, if it is in force (its "last seen" brought up to date).
pub(crate) async fn current_session(
    state: &AppState,
    caller: &Caller,
    now: Timestamp,
) -> Option<sessions::Session> {
    let key = caller.cookie(SESSION_COOKIE)?;
    let mut db = state.store.acquire().await.ok()?;
    let mut session = sessions::find_active_by_key_hash(&mut db, &hash_key(key), now)
        .await
        .ok()??;
    if now - TOUCH_EVERY > session.last_seen_at
        && sessions::touch(&mut db, session.id, now)
            .await
            .unwrap_or(false)
    {
        session.last_seen_at = now;
    }
    Some(session)
}

/// The user of the caller's core session, if it is in force.
pub(crate) async fn session_user(
    state: &AppState,
    caller: &Caller,
    now: Timestamp,
) -> Option<UserId> {
    current_session(state, caller, now).await.map(|s| s.user_id)
}

pub(crate) async fn request_info(
    state: &AppState,
    caller: &Caller,
    next: Option<&str>,
) -> RequestInfo {
    let now = now();
    let session_key = caller.cookie(SESSION_COOKIE).map(str::to_owned);
    let session_user = session_user(state, caller, now).await;
    RequestInfo {
        session_user,
        session_key,
        client_ip: caller.client_ip.clone(),
        host: caller.host.clone(),
        method: caller.method.clone(),
        path: caller.path.clone(),
        user_agent: caller.user_agent.clone(),
        headers: caller.headers.clone(),
        // Only a URL with a host needs the list of allowed hosts from the database.
        next: match safe_next(next, &[]) {
            Some(local) => Some(local),
            None if next.is_some_and(|n| n.starts_with("http")) => {
                safe_next(next, &redirect_hosts(state).await)
            }
            None => None,
        },
        now,
        password_cost: PasswordCost {
            memory_kib: state.settings.password_hash.memory_kib,
            iterations: state.settings.password_hash.iterations,
            parallelism: state.settings.password_hash.parallelism,
        },
        throttle: Throttle {
            per_user: state.settings.login.lock_after,
            per_ip: state.settings.login.lock_after_per_ip,
            window: time::Duration::seconds(i64::from(state.settings.login.lock_seconds)),
        },
    }
}

fn cookie_header(name: &str, value: &str, expires: Option<Timestamp>, tls: bool) -> String {
    let mut cookie = Cookie::build((name.to_owned(), value.to_owned()))
        .path("/")
        .http_only(true)
        .secure(tls)
        .same_site(SameSite::Lax)
        .build();
    if let Some(at) = expires {
        cookie.set_expires(at.as_datetime());
    }
    cookie.to_string()
}

fn removal_header(name: &str, tls: bool) -> String {
    let mut cookie = Cookie::build((name.to_owned(), String::new()))
        .path("/")
        .http_only(true)
        .secure(tls)
        .same_site(SameSite::Lax)
        .build();
    cookie.make_removal();
    cookie.to_string()
}

/// Adds the Set-Cookie headers `effects` ask for.
pub(crate) fn apply_effects(response: &mut Response, effects: &Effects, tls: bool) {
    let mut set = Vec::new();
    if let Some(key) = &effects.set_flow_key {
        set.push(cookie_header(FLOW_COOKIE, key, None, tls));
    } else if effects.clear_flow_key {
        set.push(removal_header(FLOW_COOKIE, tls));
    }
    if let Some((key, expires)) = &effects.login {
        set.push(cookie_header(SESSION_COOKIE, key, *expires, tls));
    } else if effects.logout {
        set.push(removal_header(SESSION_COOKIE, tls));
    }
    for value in set {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().append(header::SET_COOKIE, value);
        }
    }
    // Flow pages hold per-user state and tokens: never cache them.
    response
        .headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
}

fn error_response(err: &FlowError) -> Response {
    match err {
        FlowError::UnknownFlow(_) => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"detail": err.to_string()})),
        )
            .into_response(),
        _ => {
            tracing::error!(error = %err, "flow failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                axum::Json(serde_json::json!({"detail": "The flow could not run; try again."})),
            )
                .into_response()
        }
    }
}

/// `GET /api/v1/flows/executor/<slug>/`: the current challenge.
pub async fn executor_get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    caller: Caller,
) -> Response {
    executor(
        &state,
        &slug,
        &caller,
        query.get("next").map(String::as_str),
        None,
    )
    .await
}

/// `POST /api/v1/flows/executor/<slug>/`: a JSON object answering the challenge. Only
/// `application/json` is taken: browsers cannot send that cross-site without CORS.
pub async fn executor_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    caller: Caller,
    body: axum::body::Bytes,
) -> Response {
    let json_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if !json_type {
        return (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            axum::Json(serde_json::json!({"detail": "Send the answer as application/json."})),
        )
            .into_response();
    }
    let answer: Map<String, Value> = match serde_json::from_slice(&body) {
        Ok(answer) => answer,
        Err(err) => {
            return (
                StatusCode::BAD_REQUEST,
                axum::Json(
                    serde_json::json!({"detail": format!("The body is not a JSON object: {err}")}),
                ),
            )
                .into_response();
        }
    };
    executor(
        &state,
        &slug,
        &caller,
        query.get("next").map(String::as_str),
        Some(&answer),
    )
    .await
}

async fn executor(
    state: &AppState,
    slug: &str,
    caller: &Caller,
    next: Option<&str>,
    answer: Option<&Map<String, Value>>,
) -> Response {
    let info = request_info(state, caller, next).await;
    match run(
        &state.store,
        slug,
        caller.cookie(FLOW_COOKIE),
        answer,
        &info,
    )
    .await
    {
        Ok(Outcome { challenge, effects }) => {
            slow_down(&effects).await;
            tell_outposts(state, &effects).await;
            let mut body = serde_json::to_value(&challenge).unwrap_or_default();
            if let Value::Object(map) = &mut body {
                let kind = if matches!(challenge, Challenge::Redirect { .. }) {
                    "redirect"
                } else {
                    "native"
                };
                map.insert("type".into(), Value::String(kind.into()));
            }
            let mut response = axum::Json(body).into_response();
            apply_effects(&mut response, &effects, caller.tls);
            response
        }
        Err(err) => error_response(&err),
    }
}

/// Holds the answer to a repeated failed sign-in (the engine asks; the database
/// transaction is already over, so waiting holds nothing).
/// Outposts hear about the sessions a flow step ended.
pub(crate) async fn tell_outposts(state: &AppState, effects: &Effects) {
    if effects.sessions_revoked {
        state
            .hub
            .publish(crate::outposts::Change::Revocations)
            .await;
    }
}

async fn slow_down(effects: &Effects) {
    if let Some(delay) = effects.delay {
        tokio::time::sleep(delay).await;
    }
}

/// The CSRF token of a flow session: an HMAC of its key under the secret key, so it
/// is bound to that browser's flow and cannot be made without the secret.
/// The answer to a form whose CSRF token is missing or wrong.
pub(crate) fn csrf_refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Html("<!doctype html><title>Forbidden</title><p>The form expired or did not come from this site (CSRF token missing or wrong). Go back and try again.</p>"),
    )
        .into_response()
}

/// The keyed MAC a CSRF token is, bound to `key` (a flow or session cookie's key).
fn csrf_mac(secret: &str, key: &str) -> Option<Hmac<Sha256>> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).ok()?;
    mac.update(b"gatehouse csrf\0");
    mac.update(key.as_bytes());
    Some(mac)
}

pub(crate) fn csrf_token(secret: &str, key: &str) -> String {
    csrf_mac(secret, key)
        .map(|mac| URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes()))
        .unwrap_or_default()
}

pub(crate) fn csrf_ok(secret: &str, key: &str, token: &str) -> bool {
    let (Ok(given), Some(mac)) = (URL_SAFE_NO_PAD.decode(token), csrf_mac(secret, key)) else {
        return false;
    };
    // verify_slice compares in constant time.
    mac.verify_slice(&given).is_ok()
}

/// `GET /if/flow/<slug>/`: the current stage as an HTML page.
pub async fn page_get(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    caller: Caller,
) -> Response {
    page(
        &state,
        &slug,
        &caller,
        query.get("next").map(String::as_str),
        None,
    )
    .await
}

/// `POST /if/flow/<slug>/`: a form answering the current stage.
pub async fn page_post(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    caller: Caller,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> Response {
    let next = query.get("next").map(String::as_str);
    let Some(flow_key) = caller.cookie(FLOW_COOKIE) else {
        // No flow in progress (expired, or cookies refused): start over.
        return page(&state, &slug, &caller, next, None).await;
    };
    let token = form
        .get("csrf_token")
        .map(String::as_str)
        .unwrap_or_default();
    if !csrf_ok(state.secret_key.expose(), flow_key, token) {
        return csrf_refused();
    }
    let answer: Map<String, Value> = form
        .into_iter()
        .filter(|(k, _)| k != "csrf_token")
        .map(|(k, v)| (k, Value::String(v)))
        .collect();
    page(&state, &slug, &caller, next, Some(&answer)).await
}

async fn page(
    state: &AppState,
    slug: &str,
    caller: &Caller,
    next: Option<&str>,
    answer: Option<&Map<String, Value>>,
) -> Response {
    let info = request_info(state, caller, next).await;
    let outcome = match run(
        &state.store,
        slug,
        caller.cookie(FLOW_COOKIE),
        answer,
        &info,
    )
    .await
    {
        Ok(outcome) => outcome,
        Err(err) => return error_response(&err),
    };
    slow_down(&outcome.effects).await;
    tell_outposts(state, &outcome.effects).await;
    let flow_key = outcome
        .effects
        .set_flow_key
        .as_deref()
        .or(caller.cookie(FLOW_COOKIE))
        .unwrap_or_default();
    let mut response = match &outcome.challenge {
        // 303: the browser follows with a GET.
        Challenge::Redirect { to } => Redirect::to(to).into_response(),
        challenge => {
            let csrf = csrf_token(state.secret_key.expose(), flow_key);
            let brand = brand_of(state, &caller.host).await;
            match crate::http::templates::render(challenge, &brand, &csrf) {
                Ok(html) => Html(html).into_response(),
                Err(err) => {
                    tracing::error!(error = %err, "cannot render flow page");
                    StatusCode::INTERNAL_SERVER_ERROR.into_response()
                }
            }
        }
    };
    apply_effects(&mut response, &outcome.effects, caller.tls);
    response
}

/// The brand serving `host` (the default brand when none claims it).
pub(crate) async fn brand_for(state: &AppState, host: &str) -> Option<brands::Brand> {
    let mut db = state.store.acquire().await.ok()?;
    brands::find_for_host(&mut db, host).await.ok().flatten()
}

/// Title, logo, favicon and CSS of the brand serving `host`.
pub(crate) async fn brand_of(state: &AppState, host: &str) -> crate::http::templates::BrandView {
    crate::http::templates::BrandView::of(brand_for(state, host).await.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_is_a_local_path_or_a_configured_host() {
        let hosts = vec!["grafana.example.org".to_owned()];
        assert_eq!(
            safe_next(Some("/app/?a=1"), &hosts),
            Some("/app/?a=1".into())
        );
        for good in [
            "https://grafana.example.org/d/1",
            "http://GRAFANA.example.org:3000/",
            "https://grafana.example.org?x=1",
        ] {
            assert_eq!(safe_next(Some(good), &hosts), Some(good.into()), "{good}");
        }
        for bad in [
            "https://evil.example/",
            "//evil.example/",
            "/\\evil",
            "evil",
            "/a\nb",
            "https://grafana.example.org@evil.example/",
            "https://evil.example/grafana.example.org",
            "https://grafana.example.org.evil.example/",
            "javascript:alert(1)",
        ] {
            assert_eq!(safe_next(Some(bad), &hosts), None, "{bad}");
        }
        assert_eq!(safe_next(None, &hosts), None);
    }

    #[test]
    fn csrf_tokens_are_bound_to_the_flow_key_and_secret() {
        let token = csrf_token("secret-one-that-is-long-enough-00", "flow-a");
        assert!(csrf_ok(
            "secret-one-that-is-long-enough-00",
            "flow-a",
            &token
        ));
        assert!(!csrf_ok(
            "secret-one-that-is-long-enough-00",
            "flow-b",
            &token
        ));
        assert!(!csrf_ok(
            "secret-two-that-is-long-enough-00",
            "flow-a",
            &token
        ));
        assert!(!csrf_ok("secret-one-that-is-long-enough-00", "flow-a", ""));
        assert!(!csrf_ok(
            "secret-one-that-is-long-enough-00",
            "flow-a",
            "%%%"
        ));
    }
}
