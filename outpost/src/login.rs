//! The outpost as an OpenID Connect relying party of the core, with openidconnect:
//! [`begin`] makes the authorization request (code flow, PKCE S256, `state` and
//! `nonce`) and the pending login to keep in a sealed cookie; [`finish`] checks the
//! ID token the code was exchanged for (signature against the JWKS of the config
//! snapshot, issuer, audience, expiry, nonce) and makes the outpost's session.
//! Where the browser goes afterwards (`rd`) is only ever a URL on a host the provider
//! serves.

use chrono::{DateTime, Utc};
use gatehouse_config::control::ProviderSnapshot;
use gatehouse_config::objects::{ProxyMode, ProxyProvider};
use openidconnect::core::{
    CoreAuthenticationFlow, CoreClient, CoreGenderClaim, CoreJsonWebKeySet,
    CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AdditionalClaims, AuthUrl, ClientId, ClientSecret, CsrfToken, IdToken, IssuerUrl, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl,
};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::session::OutpostSession;

/// How long a started login may take before its cookie is refused.
pub const LOGIN_LIFETIME: i64 = 600;

/// A login between [`begin`] and [`finish`], kept in a sealed cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PendingLogin {
    /// The `state` sent to the core; the callback must bring it back.
    pub state: String,
    /// The `nonce` the ID token must carry.
    pub nonce: String,
    /// The PKCE verifier of the challenge sent.
    pub pkce_verifier: String,
    /// Where to send the browser once signed in.
    pub rd: String,
    /// When this pending login stops counting (Unix seconds).
    pub expires_at: i64,
}

/// What a proxy provider's ID tokens carry beyond the standard claims.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProxyClaims {
    /// The core session.
    #[serde(default)]
    pub sid: Option<String>,
    /// The user's groups, inherited ones too, by name.
    #[serde(default)]
    pub groups: Vec<String>,
    /// Attributes and superuser status.
    #[serde(default)]
    pub gatehouse_proxy: ProxyExtra,
}

impl AdditionalClaims for ProxyClaims {}

/// The `gatehouse_proxy` claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProxyExtra {
    /// The user's attributes.
    #[serde(default)]
    pub user_attributes: serde_json::Value,
    /// Member of a superuser group.
    #[serde(default)]
    pub is_superuser: bool,
}

type ProxyIdToken = IdToken<
    ProxyClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

/// Why a login could not begin or finish.
#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// A URL the config or the request gave is not one.
    #[error("not a URL: {0}")]
    Url(String),
    /// The provider's JWKS is unreadable.
    #[error("the provider's keys are unreadable: {0}")]
    Keys(String),
    /// The ID token is unreadable or does not verify.
    #[error("the ID token does not verify: {0}")]
    IdToken(String),
    /// The ID token lacks what an outpost session needs.
    #[error("the ID token lacks {0}")]
    Missing(&'static str),
    /// The pending login is too old or for another `state`.
    #[error("the login expired or does not match; start again")]
    Stale,
}

/// The issuer of the provider's tokens for a core reached at `core`
/// (`http(s)://host`): per application, as the core names it.
pub fn issuer(core: &str, slug: &str) -> String {
    format!("{}/application/o/{slug}/", core.trim_end_matches('/'))
}

fn client(provider: &ProviderSnapshot, issuer: &str) -> Result<CoreClient, LoginError> {
    let jwks: CoreJsonWebKeySet = serde_json::from_value(provider.jwks.clone())
        .map_err(|e| LoginError::Keys(e.to_string()))?;
    let issuer = IssuerUrl::new(issuer.to_owned()).map_err(|e| LoginError::Url(e.to_string()))?;
    Ok(CoreClient::new(
        ClientId::new(provider.settings.client_id.clone()),
        issuer,
        jwks,
    )
    .set_client_secret(ClientSecret::new(provider.settings.client_secret.clone())))
}

/// The authorization request for `provider` at the core the browser reaches at
/// `core_browser` (`http(s)://host`), coming back to `callback`, and the pending
/// login to keep. `rd` is kept only when the provider serves its host; otherwise
/// the browser ends at the provider's external host.
pub fn begin(
    provider: &ProviderSnapshot,
    core_browser: &str,
    issuer: &str,
    callback: &str,
    rd: &str,
    now: i64,
) -> Result<(String, PendingLogin), LoginError> {
    let authorize = AuthUrl::new(format!(
        "{}/application/o/authorize/",
        core_browser.trim_end_matches('/')
    ))
    .map_err(|e| LoginError::Url(e.to_string()))?;
    let redirect =
        RedirectUrl::new(callback.to_owned()).map_err(|e| LoginError::Url(e.to_string()))?;
    let client = client(provider, issuer)?
        .set_auth_uri(authorize)
        .set_redirect_uri(redirect);
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let (url, state, nonce) = client
        .authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        )
        .set_pkce_challenge(challenge)
        .url();
    Ok((
        url.to_string(),
        PendingLogin {
            state: state.secret().clone(),
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            rd: safe_rd(&provider.settings, rd),
            expires_at: now + LOGIN_LIFETIME,
        },
    ))
}

/// `rd` when it is an http(s) URL on a host the provider serves, else the external
/// host: never an open redirect.
pub fn safe_rd(settings: &ProxyProvider, rd: &str) -> String {
    let fallback = settings.external_host.clone();
    let Ok(url) = rd.parse::<hyper::Uri>() else {
        return fallback;
    };
    let (Some(scheme), Some(authority)) = (url.scheme_str(), url.authority()) else {
        return fallback;
    };
    if !matches!(scheme, "http" | "https") || authority.as_str().contains('@') {
        return fallback;
    }
    let host = authority.host().to_ascii_lowercase();
    let external = settings
        .external_host
        .parse::<hyper::Uri>()
        .ok()
        .and_then(|u| u.host().map(str::to_ascii_lowercase));
    let domain = settings
        .cookie_domain
        .trim_start_matches('.')
        .to_ascii_lowercase();
    let allowed = external.as_deref() == Some(host.as_str())
        || (settings.mode == ProxyMode::ForwardDomain
            && !domain.is_empty()
            && (host == domain || host.ends_with(&format!(".{domain}"))));
    if allowed { rd.to_owned() } else { fallback }
}

/// The PKCE verifier to send with the code.
pub fn pkce_verifier(pending: &PendingLogin) -> PkceCodeVerifier {
    PkceCodeVerifier::new(pending.pkce_verifier.clone())
}

/// Checks the ID token `raw` the code was exchanged for and makes the session, valid
/// for the provider's `access_token_validity` from `now`. `returned_state` is what the
/// callback got.
pub fn finish(
    provider: &ProviderSnapshot,
    issuer: &str,
    pending: &PendingLogin,
    returned_state: &str,
    raw: &str,
    now: i64,
) -> Result<OutpostSession, LoginError> {
    // Both are the outpost's own secrets, compared in constant time.
    let state_matches: bool =
        subtle::ConstantTimeEq::ct_eq(pending.state.as_bytes(), returned_state.as_bytes()).into();
    if !state_matches || pending.expires_at <= now {
        return Err(LoginError::Stale);
    }
    let token: ProxyIdToken = raw
        .parse()
        .map_err(|e: serde_json::Error| LoginError::IdToken(e.to_string()))?;
    let at = DateTime::<Utc>::from_timestamp(now, 0).unwrap_or_default();
    let client = client(provider, issuer)?;
    // What the core signs with; never HS256 with the client secret.
    let verifier = client
        .id_token_verifier()
        .set_allowed_algs([
            CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        ])
        .set_time_fn(move || at);
    let claims = token
        .claims(&verifier, &Nonce::new(pending.nonce.clone()))
        .map_err(|e| LoginError::IdToken(e.to_string()))?;
    let extra = claims.additional_claims();
    let sid = extra
        .sid
        .as_deref()
        .and_then(|s| s.parse::<Uuid>().ok())
        .ok_or(LoginError::Missing("sid"))?;
    let uid = claims
        .subject()
        .as_str()
        .parse::<Uuid>()
        .map_err(|_| LoginError::Missing("a user id as sub"))?;
    let username = claims
        .preferred_username()
        .map(|u| u.as_str().to_owned())
        .ok_or(LoginError::Missing("preferred_username"))?;
    let validity = provider.settings.access_token_validity.duration().as_secs();
    Ok(OutpostSession {
        sid,
        uid,
        username,
        email: claims
            .email()
            .map(|e| e.as_str().to_owned())
            .unwrap_or_default(),
        name: claims
            .name()
            .and_then(|n| n.get(None))
            .map(|n| n.as_str().to_owned())
            .unwrap_or_default(),
        groups: extra.groups.clone(),
        attributes: extra.gatehouse_proxy.user_attributes.clone(),
        issued_at: claims.issue_time().timestamp(),
        expires_at: now.saturating_add(i64::try_from(validity).unwrap_or(i64::MAX)),
    })
}

#[cfg(test)]
mod tests;
