//! The sign-in endpoints: `start` sends the browser to the core's authorization
//! endpoint, `callback` exchanges the code, checks the ID token and sets the
//! outpost's session cookie, `sign_out` clears it and ends the core session through
//! the application's end-session endpoint.

use cookie::{Cookie, SameSite};
use gatehouse_config::control::ProviderSnapshot;
use gatehouse_config::objects::{ProxyMode, ProxyProvider};
use hyper::StatusCode;
use hyper::header::{COOKIE, HOST, SET_COOKIE};
use serde::Deserialize;

use crate::decide::provider_for;
use crate::http::{Answer, Parts, header, page};
use crate::login::{self, PendingLogin};
use crate::session::{cookie_name, find_cookie, key_of, open_json, seal, seal_json};
use crate::state::Outpost;

/// Why a sign-in step failed (said in the log; the browser gets a short page).
#[derive(Debug, thiserror::Error)]
pub enum SignInError {
    /// The core could not be reached or refused the code.
    #[error("code exchange: {0}")]
    Exchange(String),
    /// The login itself failed.
    #[error(transparent)]
    Login(#[from] login::LoginError),
}

/// The core as the outpost's sign-in reaches it.
#[derive(Debug, Clone)]
pub struct Core {
    /// `http(s)://host[:port]` the outpost talks to (`GATEHOUSE_HOST`).
    pub url: String,
    client: reqwest::Client,
}

impl Core {
    /// The core at `url`, trusted like the control channel trusts it.
    pub fn new(url: &str, danger_insecure: bool) -> Result<Self, crate::control::ControlError> {
        let tls = crate::tls::client_config(danger_insecure)?;
        let client = reqwest::Client::builder()
            .use_preconfigured_tls(rustls::ClientConfig::clone(&tls))
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(15))
            .build()
            .map_err(|e| crate::control::ControlError::Tls(e.to_string()))?;
        Ok(Self {
            url: url.trim_end_matches('/').to_owned(),
            client,
        })
    }

    /// Exchanges `code` for tokens (client_secret_post) and returns the ID token.
    async fn exchange(
        &self,
        provider: &ProviderSnapshot,
        code: &str,
        redirect_uri: &str,
        pending: &PendingLogin,
    ) -> Result<String, SignInError> {
        #[derive(Deserialize)]
        struct Tokens {
            id_token: Option<String>,
        }
        let response = self
            .client
            .post(format!("{}/application/o/token/", self.url))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", &pending.pkce_verifier),
                ("client_id", &provider.settings.client_id),
                ("client_secret", &provider.settings.client_secret),
            ])
            .send()
            .await
            .map_err(|e| SignInError::Exchange(e.to_string()))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            return Err(SignInError::Exchange(format!("{status}: {body}")));
        }
        let tokens: Tokens = response
            .json()
            .await
            .map_err(|e| SignInError::Exchange(e.to_string()))?;
        tokens
            .id_token
            .ok_or_else(|| SignInError::Exchange("no id_token in the answer".into()))
    }
}

fn query(req: &Parts, name: &str) -> Option<String> {
    openidconnect::url::form_urlencoded::parse(req.uri.query().unwrap_or_default().as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The `rd` of a `start` query. nginx cannot encode the URL it appends
/// (`?rd=$scheme://$http_host$request_uri`), so an `rd` that starts unencoded with
/// `http://` or `https://` takes the rest of the query, `&`s and all; an encoded one
/// is decoded as usual. Either way it is checked against the provider's hosts.
fn rd_of(query: &str) -> String {
    if let Some(raw) = query.strip_prefix("rd=")
        && (raw.starts_with("http://") || raw.starts_with("https://"))
    {
        return raw.to_owned();
    }
    openidconnect::url::form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == "rd")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

/// The scheme browsers use for the provider's hosts (its external host's).
pub(crate) fn scheme(settings: &ProxyProvider) -> &'static str {
    if settings.external_host.starts_with("https://") {
        "https"
    } else {
        "http"
    }
}

fn redirect(to: &str, cookies: Vec<String>) -> Answer {
    let mut response = crate::http::redirect(to);
    for cookie in cookies {
        if let Ok(value) = cookie.parse() {
            response.headers_mut().append(SET_COOKIE, value);
        }
    }
    response
}

/// The name of the cookie that holds the login started with `state`: one per login,
/// so logins started in two tabs do not undo each other.
fn login_cookie(provider: &ProviderSnapshot, state: &str) -> String {
    let tag: String = state
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(12)
        .collect();
    format!("{}_login_{tag}", cookie_name(provider.id))
}

/// Which hosts a cookie goes to.
#[derive(Clone, Copy, PartialEq)]
enum Reach {
    /// The host that set it (a pending login).
    ThisHost,
    /// The provider's: every host under `cookie_domain` in domain mode (a session).
    Provider,
}

fn cookie(
    name: String,
    value: String,
    settings: &ProxyProvider,
    reach: Reach,
    max_age: i64,
) -> String {
    let mut cookie = Cookie::build((name, value))
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(scheme(settings) == "https")
        .path("/")
        .max_age(cookie::time::Duration::seconds(max_age));
    let domain = settings.cookie_domain.trim_start_matches('.');
    if reach == Reach::Provider && settings.mode == ProxyMode::ForwardDomain && !domain.is_empty() {
        cookie = cookie.domain(domain.to_owned());
    }
    cookie.build().to_string()
}

/// Where the core sends the browser back to, on the host it signs in at.
fn callback_url(settings: &ProxyProvider, host: &str) -> String {
    format!(
        "{}://{host}{}",
        scheme(settings),
        ProxyProvider::CALLBACK_PATH
    )
}

/// The request's host and the provider serving it, or the page saying none does.
// The error is the response itself, made at most once per sign-in request: boxing
// it would buy nothing.
#[allow(clippy::result_large_err)]
fn served(outpost: &Outpost, req: &Parts) -> Result<(String, ProviderSnapshot), Answer> {
    let host = header(req, HOST.as_str()).unwrap_or_default().to_owned();
    match provider_for(&outpost.enforced(), &host) {
        Some(provider) => Ok((host, provider.snapshot.clone())),
        None => Err(page(
            StatusCode::NOT_FOUND,
            "No application is served on this host.",
        )),
    }
}

/// `GET /outpost.gatehouse/start?rd=…`: to the core's authorization endpoint.
pub fn start(outpost: &Outpost, core: &Core, req: &Parts, now: i64) -> Answer {
    let (host, snapshot) = match served(outpost, req) {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(app) = &snapshot.application else {
        return page(StatusCode::FORBIDDEN, "No application uses this provider.");
    };
    let settings = &snapshot.settings;
    let callback = callback_url(settings, &host);
    let browser_core = outpost.browser_core().unwrap_or_else(|| core.url.clone());
    let issuer = login::issuer(&core.url, &app.slug);
    let rd = rd_of(req.uri.query().unwrap_or_default());
    match login::begin(&snapshot, &browser_core, &issuer, &callback, &rd, now) {
        Ok((to, pending)) => {
            let name = login_cookie(&snapshot, &pending.state);
            let sealed = seal_json(&key_of(&settings.cookie_secret), &name, &pending);
            let login = cookie(
                name,
                sealed,
                settings,
                Reach::ThisHost,
                login::LOGIN_LIFETIME,
            );
            redirect(&to, vec![login])
        }
        Err(err) => {
            tracing::error!(provider = %snapshot.name, error = %err, "cannot start a sign-in");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Cannot start signing in.",
            )
        }
    }
}

/// `GET /outpost.gatehouse/callback?code=…&state=…`: the session cookie, then `rd`.
pub async fn callback(outpost: &Outpost, core: &Core, req: &Parts, now: i64) -> Answer {
    let (host, snapshot) = match served(outpost, req) {
        Ok(found) => found,
        Err(page) => return page,
    };
    let Some(app) = &snapshot.application else {
        return page(StatusCode::FORBIDDEN, "No application uses this provider.");
    };
    let (Some(code), Some(state)) = (query(req, "code"), query(req, "state")) else {
        let error = query(req, "error").unwrap_or_else(|| "no code".into());
        tracing::info!(provider = %snapshot.name, %error, "sign-in not completed");
        return page(StatusCode::FORBIDDEN, "Signing in did not complete.");
    };
    let settings = &snapshot.settings;
    let key = key_of(&settings.cookie_secret);
    let name = login_cookie(&snapshot, &state);
    let cookies = header(req, COOKIE.as_str()).unwrap_or_default();
    let Some(pending) = find_cookie(cookies, &name)
        .and_then(|sealed| open_json::<PendingLogin>(&key, &name, sealed))
    else {
        return page(
            StatusCode::BAD_REQUEST,
            "This sign-in expired; start again.",
        );
    };
    let callback = callback_url(settings, &host);
    let issuer = login::issuer(&core.url, &app.slug);
    let session = match core.exchange(&snapshot, &code, &callback, &pending).await {
        Ok(id_token) => login::finish(&snapshot, &issuer, &pending, &state, &id_token, now)
            .map_err(SignInError::from),
        Err(err) => Err(err),
    };
    match session {
        Ok(session) => {
            tracing::info!(provider = %snapshot.name, user = %session.username, "signed in");
            let session_name = cookie_name(snapshot.id);
            let sealed = seal(&key, &session_name, &session);
            let lifetime = session.expires_at - now;
            redirect(
                &pending.rd,
                vec![
                    cookie(session_name, sealed, settings, Reach::Provider, lifetime),
                    cookie(name, String::new(), settings, Reach::ThisHost, 0),
                ],
            )
        }
        Err(err) => {
            tracing::warn!(provider = %snapshot.name, error = %err, "sign-in failed");
            page(StatusCode::FORBIDDEN, "Signing in failed.")
        }
    }
}

/// `GET /outpost.gatehouse/sign_out`: clears the session cookie and ends the core
/// session (the application's end-session endpoint), which every outpost then hears.
pub fn sign_out(outpost: &Outpost, core: &Core, req: &Parts) -> Answer {
    let (_, snapshot) = match served(outpost, req) {
        Ok(found) => found,
        Err(page) => return page,
    };
    let browser_core = outpost.browser_core().unwrap_or_else(|| core.url.clone());
    let to = match &snapshot.application {
        Some(app) => format!("{browser_core}/application/o/{}/end-session/", app.slug),
        None => browser_core,
    };
    redirect(
        &to,
        vec![cookie(
            cookie_name(snapshot.id),
            String::new(),
            &snapshot.settings,
            Reach::Provider,
            0,
        )],
    )
}

#[cfg(test)]
mod tests {
    use gatehouse_config::objects::{ProxyMode, ProxyProvider};

    use super::{Reach, cookie, rd_of};

    #[test]
    fn only_a_domain_mode_session_cookie_spans_the_cookie_domain() {
        let mut settings = ProxyProvider {
            mode: ProxyMode::ForwardDomain,
            external_host: "https://prom.example.org".into(),
            cookie_domain: ".example.org".into(),
            ..ProxyProvider::default()
        };
        let session = cookie("s".into(), "v".into(), &settings, Reach::Provider, 60);
        assert!(session.contains("Domain=example.org"), "{session}");
        assert!(
            session.contains("Secure") && session.contains("HttpOnly"),
            "{session}"
        );
        let login = cookie("l".into(), "v".into(), &settings, Reach::ThisHost, 60);
        assert!(!login.contains("Domain"), "{login}");
        settings.mode = ProxyMode::ForwardSingle;
        let single = cookie("s".into(), "v".into(), &settings, Reach::Provider, 60);
        assert!(!single.contains("Domain"), "{single}");
    }

    #[test]
    fn rd_is_read_encoded_or_as_nginx_appends_it() {
        assert_eq!(
            rd_of("rd=http%3A%2F%2Fh%2Fp%3Fa%3D1%26b%3D2"),
            "http://h/p?a=1&b=2"
        );
        assert_eq!(rd_of("rd=http://h/p?a=1&b=2"), "http://h/p?a=1&b=2");
        assert_eq!(rd_of("x=1&rd=https%3A%2F%2Fh%2F"), "https://h/");
        assert_eq!(rd_of(""), "");
    }
}
