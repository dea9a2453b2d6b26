//! The authorization endpoint's request: checked here, then carried through the
//! provider's authorization flow (consent), which ends by issuing the code.
//!
//! An unknown client or a redirect URI the client did not register is shown on a page
//! and never redirected to (RFC 6749 §4.1.2.1); every later error goes back to the
//! client with `error`, `state` and `iss`.

use openidconnect::url::Url;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::claims::{self, OPENID};
use super::{Client, find_client, split_scopes};
use crate::flows::{FlowError, RequestInfo};
use crate::ids::{ApplicationId, ProviderId};
use crate::secrets::{hash_key, random_key};
use crate::storage::oauth2::{self, NewCode};
use crate::storage::{Db, StorageError, Tx, providers, sessions};
use gatehouse_config::objects::{ClientType, OAuth2Provider};

/// The query of an authorization request, every parameter as sent.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct AuthorizeParams {
    /// The client.
    pub client_id: Option<String>,
    /// Where the code goes.
    pub redirect_uri: Option<String>,
    /// Must be `code`.
    pub response_type: Option<String>,
    /// Space-separated scopes.
    pub scope: Option<String>,
    /// Returned as sent.
    pub state: Option<String>,
    /// Put in the ID token.
    pub nonce: Option<String>,
    /// PKCE challenge.
    pub code_challenge: Option<String>,
    /// PKCE method; only `S256`.
    pub code_challenge_method: Option<String>,
    /// `none`, `login`, `consent` (space-separated).
    pub prompt: Option<String>,
    /// Seconds since sign-in after which the user must sign in again.
    pub max_age: Option<String>,
    /// Only `query`.
    pub response_mode: Option<String>,
}

/// What `prompt` asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Prompt {
    /// Show nothing: fail with `login_required` or `consent_required` instead.
    pub none: bool,
    /// Sign in again even with a session.
    pub login: bool,
    /// Ask for consent even when it was given before.
    pub consent: bool,
}

/// A checked request, as it travels through the authorization flow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAuthorization {
    /// The client.
    pub provider_id: ProviderId,
    /// Its application.
    pub application_id: ApplicationId,
    /// Shown on the consent page.
    pub application_name: String,
    /// Where the answer goes.
    pub redirect_uri: String,
    /// Granted scopes.
    pub scopes: Vec<String>,
    /// Returned as sent.
    pub state: Option<String>,
    /// For the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=consent`: ask even when consent was given before.
    pub force_consent: bool,
    /// `iss` of the answer (RFC 9207).
    pub issuer: String,
    /// The device authorization this approves (RFC 8628), instead of a code for a
    /// redirect URI.
    #[serde(default)]
    pub device: Option<crate::ids::DeviceCodeId>,
}

impl PendingAuthorization {
    fn answer(&self, pairs: &[(&str, &str)]) -> String {
        answer_url(
            &self.redirect_uri,
            pairs,
            self.state.as_deref(),
            &self.issuer,
        )
    }

    /// Where to send the browser to tell the client of `error`.
    pub fn error_redirect(&self, error: &str, description: &str) -> String {
        self.answer(&[("error", error), ("error_description", description)])
    }
}

fn answer_url(
    redirect_uri: &str,
    pairs: &[(&str, &str)],
    state: Option<&str>,
    iss: &str,
) -> String {
    // Checked against the registered URIs already; one that does not parse cannot
    // have been registered as an absolute URL, so it is used as it is.
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return redirect_uri.to_owned();
    };
    {
        let mut query = url.query_pairs_mut();
        for (k, v) in pairs {
            query.append_pair(k, v);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", iss);
    }
    url.to_string()
}

/// A checked request and what it asks of the sign-in.
#[derive(Debug, Clone)]
pub struct Validated {
    /// The client.
    pub client: Client,
    /// What the authorization flow carries.
    pub pending: PendingAuthorization,
    /// `prompt`.
    pub prompt: Prompt,
    /// `max_age`, seconds.
    pub max_age: Option<i64>,
}

/// Why a request cannot go on.
#[derive(Debug)]
pub enum AuthorizeRefusal {
    /// Show this on a page: the client or redirect URI cannot be trusted with an
    /// answer.
    Page(String),
    /// Send the browser back to the client with this error URL.
    Redirect(String),
    /// The database failed.
    Storage(StorageError),
}

impl From<StorageError> for AuthorizeRefusal {
    fn from(err: StorageError) -> Self {
        Self::Storage(err)
    }
}

/// Checks an authorization request (client, redirect URI, response type, scopes,
/// PKCE, prompt); `base_url` is where the server is reached, for the issuer.
pub async fn validate(
    db: &mut impl Db,
    params: &AuthorizeParams,
    base_url: &str,
) -> Result<Validated, AuthorizeRefusal> {
    let page = |m: &str| AuthorizeRefusal::Page(m.to_owned());
    let client_id = params.client_id.as_deref().unwrap_or_default();
    if client_id.is_empty() {
        return Err(page("The request names no client (client_id)."));
    }
    let Some(client) = find_client(db, client_id).await? else {
        return Err(page("No application has this client id."));
    };
    let Some(redirect_uri) = params.redirect_uri.as_deref().filter(|u| !u.is_empty()) else {
        return Err(page("The request names no redirect_uri."));
    };
    if !client.redirect_allowed(redirect_uri) {
        return Err(page(
            "The redirect URI is not one the application registered.",
        ));
    }
    let Some(application) = client.application.clone() else {
        return Err(page("No application uses this provider."));
    };
    let issuer = client.issuer(base_url);
    let state = params.state.clone();
    let refuse = |error: &str, description: &str| {
        AuthorizeRefusal::Redirect(answer_url(
            redirect_uri,
            &[("error", error), ("error_description", description)],
            state.as_deref(),
            &issuer,
        ))
    };
    if params.response_type.as_deref() != Some("code") {
        return Err(refuse(
            "unsupported_response_type",
            "Only the authorization code flow (response_type=code) is supported.",
        ));
    }
    if params
        .response_mode
        .as_deref()
        .is_some_and(|m| m != "query")
    {
        return Err(refuse(
            "invalid_request",
            "Only response_mode=query is supported.",
        ));
    }
    let code_challenge = params.code_challenge.clone().filter(|c| !c.is_empty());
    match (&code_challenge, params.code_challenge_method.as_deref()) {
        (Some(challenge), Some("S256")) if is_s256_challenge(challenge) => {}
        (Some(_), Some("S256")) => {
            return Err(refuse(
                "invalid_request",
                "The code_challenge is malformed.",
            ));
        }
        (Some(_), _) => {
            return Err(refuse(
                "invalid_request",
                "Only the S256 code_challenge_method is supported.",
            ));
        }
        (None, _) if client.settings.client_type == ClientType::Public => {
            return Err(refuse(
                "invalid_request",
                "A public client must use PKCE (code_challenge with S256).",
            ));
        }
        (None, _) => {}
    }
    let mut prompt = Prompt::default();
    for word in params.prompt.as_deref().unwrap_or_default().split(' ') {
        match word {
            "none" => prompt.none = true,
            "login" => prompt.login = true,
            "consent" => prompt.consent = true,
            "" | "select_account" => {}
            _ => return Err(refuse("invalid_request", "Unknown prompt value.")),
        }
    }
    if prompt.none && (prompt.login || prompt.consent) {
        return Err(refuse(
            "invalid_request",
            "prompt=none cannot be combined with other values.",
        ));
    }
    let max_age = match params.max_age.as_deref().filter(|m| !m.is_empty()) {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seconds) if seconds >= 0 => Some(seconds),
            _ => {
                return Err(refuse(
                    "invalid_request",
                    "max_age must be a number of seconds.",
                ));
            }
        },
    };
    let requested = split_scopes(params.scope.as_deref().unwrap_or_default());
    let scopes = claims::granted_scopes(db, client.provider.id, &requested).await?;
    if !scopes.iter().any(|s| s == OPENID) && requested.iter().any(|s| s == OPENID) {
        return Err(refuse("invalid_scope", "The openid scope is not granted."));
    }
    let pending = PendingAuthorization {
        provider_id: client.provider.id,
        application_id: application.id,
        application_name: application.name.clone(),
        redirect_uri: redirect_uri.to_owned(),
        scopes,
        state: params.state.clone(),
        nonce: params.nonce.clone().filter(|n| !n.is_empty()),
        code_challenge,
        force_consent: prompt.consent,
        issuer,
        device: None,
    };
    Ok(Validated {
        client,
        pending,
        prompt,
        max_age,
    })
}

/// An S256 challenge is the base64url of a SHA-256 digest: 43 characters.
fn is_s256_challenge(challenge: &str) -> bool {
    challenge.len() == 43
        && challenge
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Whether `verifier` answers the S256 `challenge` (RFC 7636 §4.6).
pub(super) fn pkce_matches(challenge: &str, verifier: &str) -> bool {
    use base64::Engine;
    let valid_verifier = (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b));
    let computed = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(Sha256::digest(verifier.as_bytes()));
    valid_verifier
        && bool::from(subtle::ConstantTimeEq::ct_eq(
            computed.as_bytes(),
            challenge.as_bytes(),
        ))
}

/// Ends an authorization flow: issues the code for the caller's core session and
/// returns where to send the browser. `Err` carries what to show instead when there
/// is no session (it ended while the flow ran).
pub async fn fulfil(
    tx: &mut Tx,
    pending: &PendingAuthorization,
    request: &RequestInfo,
) -> Result<Result<String, String>, FlowError> {
    let now = request.now;
    let session = match &request.session_key {
        Some(key) => sessions::find_active_by_key_hash(tx, &hash_key(key), now).await?,
        None => None,
    };
    let Some(session) = session else {
        return Ok(Err("Your session ended; sign in again.".into()));
    };
    if let Some(device) = pending.device {
        let approved = oauth2::approve_device_code(
            tx,
            device,
            session.user_id,
            Some(session.id),
            session.created_at,
            &session.auth_methods,
            now,
        )
        .await?;
        return Ok(if approved {
            Ok(format!("{}?approved=1", super::device::DEVICE_PAGE))
        } else {
            Err("This code was answered already.".into())
        });
    }
    let Some(provider) = providers::get(tx, pending.provider_id).await? else {
        return Ok(Err("The application's provider is gone.".into()));
    };
    let settings: OAuth2Provider =
        gatehouse_config::objects::deserialize(provider.settings).unwrap_or_default();
    let code = random_key()?;
    let lifetime = time::Duration::try_from(settings.access_code_validity.duration())
        .unwrap_or(time::Duration::MINUTE);
    oauth2::create_code(
        tx,
        NewCode {
            code_hash: hash_key(&code),
            provider_id: provider.id,
            user_id: session.user_id,
            session_id: Some(session.id),
            redirect_uri: pending.redirect_uri.clone(),
            scope: pending.scopes.join(" "),
            nonce: pending.nonce.clone(),
            code_challenge: pending.code_challenge.clone(),
            auth_time: session.created_at,
            auth_methods: session.auth_methods.clone(),
            expires_at: now + lifetime,
        },
        now,
    )
    .await?;
    Ok(Ok(pending.answer(&[("code", &code)])))
}
