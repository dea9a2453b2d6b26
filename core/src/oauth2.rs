//! The OAuth 2.0 / OpenID Connect provider, without HTTP: clients and their
//! authentication, authorization requests (fulfilled at the end of the provider's
//! authorization flow), the token endpoint's grants, userinfo, introspection and
//! revocation, each returning RFC 6749 error codes the server turns into responses.
//!
//! Codes and refresh tokens are random keys; access tokens are JWTs signed with the
//! provider's key (resource servers and outposts can check them offline). Only SHA-256
//! hashes of them are stored. Every token issued from one code shares a grant id, so a
//! replayed code or a reused refresh token revokes the whole grant.

use std::sync::{Arc, LazyLock};

use gatehouse_config::objects::{
    ClientType, OAuth2Provider, ProxyMode, ProxyProvider, RedirectUri, RedirectUriMatching, SubMode,
};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::ids::CertificateKeyPairId;
use crate::oidc::keys::SigningKey;
use crate::storage::applications::{self, Application};
use crate::storage::providers::{self, Provider, ProviderKind};
use crate::storage::{Db, StorageError, certificates};

mod authorize;
pub mod claims;
pub mod device;
mod grants;
mod issue;
mod jwt;
mod resources;

pub use authorize::{
    AuthorizeParams, AuthorizeRefusal, PendingAuthorization, Prompt, Validated, fulfil, validate,
};
pub use grants::{ClientAuth, TokenParams, TokenResponse, service_account_name, token};
pub use resources::{introspect, revoke, userinfo};

/// What OAuth2 requests keep in memory between them, for one store: clients by id
/// (every token, introspection and revocation request authenticates one) and tokens
/// in force by hash (every introspection and userinfo request looks one up).
///
/// Entries live a few seconds, which bounds how stale they can be after a change this
/// process did not make (another replica's revocation, a user deactivated); what this
/// process revokes or rotates is forgotten at once.
#[derive(Debug, Clone)]
pub struct Caches {
    clients: moka::sync::Cache<String, Arc<Client>>,
    tokens: moka::sync::Cache<String, Arc<CachedToken>>,
}

/// A token in force with what introspection says about its user.
#[derive(Debug, Clone)]
pub(crate) struct CachedToken {
    pub token: crate::storage::oauth2::Token,
    pub uid: String,
    pub username: String,
    pub email: String,
}

/// How long a cached client or token may go unchecked.
const CLIENT_TTL: std::time::Duration = std::time::Duration::from_secs(5);
const TOKEN_TTL: std::time::Duration = std::time::Duration::from_secs(10);

impl Default for Caches {
    fn default() -> Self {
        Self {
            clients: moka::sync::Cache::builder()
                .max_capacity(10_000)
                .time_to_live(CLIENT_TTL)
                .build(),
            tokens: moka::sync::Cache::builder()
                .max_capacity(100_000)
                .time_to_live(TOKEN_TTL)
                .build(),
        }
    }
}

impl Caches {
    /// Forgets every cached token: one was revoked or rotated.
    pub fn forget_tokens(&self) {
        self.tokens.invalidate_all();
    }
}

/// A pooled connection taken only when a cache cannot answer: an introspection whose
/// client and token are both cached never touches the pool.
pub(crate) struct LazyConn<'a> {
    store: &'a crate::storage::Store,
    conn: Option<crate::storage::Conn>,
}

impl<'a> LazyConn<'a> {
    pub(crate) fn new(store: &'a crate::storage::Store) -> Self {
        Self { store, conn: None }
    }

    /// The connection, taken from the pool on first use.
    pub(crate) async fn get(&mut self) -> Result<&mut crate::storage::Conn, StorageError> {
        let conn = match self.conn.take() {
            Some(conn) => conn,
            None => self.store.acquire().await?,
        };
        Ok(self.conn.insert(conn))
    }
}

/// A relying party: an OAuth2 provider with the application it backs.
#[derive(Debug, Clone)]
pub struct Client {
    /// The stored provider.
    pub provider: Provider,
    /// Its OAuth2 settings.
    pub settings: OAuth2Provider,
    /// The application it backs (whose policy bindings decide who may use it).
    pub application: Option<Application>,
}

/// The client whose id is `client_id`.
pub async fn find_client(
    db: &mut impl Db,
    client_id: &str,
) -> Result<Option<Client>, StorageError> {
    let Some(provider) = providers::find_by_client_id(db, client_id).await? else {
        return Ok(None);
    };
    client_of(db, provider).await
}

/// The client of the application with this slug.
pub async fn client_of_application(
    db: &mut impl Db,
    slug: &str,
) -> Result<Option<Client>, StorageError> {
    let Some(application) = applications::find_by_slug(db, slug).await? else {
        return Ok(None);
    };
    let Some(provider_id) = application.provider_id else {
        return Ok(None);
    };
    let Some(provider) = providers::get(db, provider_id).await? else {
        return Ok(None);
    };
    let mut client = client_of(db, provider).await?;
    if let Some(client) = &mut client {
        client.application = Some(application);
    }
    Ok(client)
}

async fn client_of(db: &mut impl Db, provider: Provider) -> Result<Option<Client>, StorageError> {
    // Stored settings were checked when written.
    let settings: OAuth2Provider = match provider.kind {
        ProviderKind::OAuth2 => {
            gatehouse_config::objects::deserialize(provider.settings.clone()).unwrap_or_default()
        }
        ProviderKind::Proxy => proxy_client(
            &gatehouse_config::objects::deserialize(provider.settings.clone()).unwrap_or_default(),
        ),
    };
    let application = applications::find_by_provider(db, provider.id).await?;
    Ok(Some(Client {
        provider,
        settings,
        application,
    }))
}

/// The OAuth2 client a proxy provider's outposts sign users in with, as authentik
/// makes it: confidential, the provider's token lifetime, and the outpost's callback
/// on the external host (on any host under the cookie domain in domain mode).
fn proxy_client(proxy: &ProxyProvider) -> OAuth2Provider {
    let external = proxy.external_host.trim_end_matches('/');
    let mut redirect_uris = vec![RedirectUri {
        matching_mode: RedirectUriMatching::Strict,
        url: format!("{external}{}", ProxyProvider::CALLBACK_PATH),
    }];
    let domain = proxy.cookie_domain.trim_start_matches('.');
    if proxy.mode == ProxyMode::ForwardDomain && !domain.is_empty() {
        redirect_uris.push(RedirectUri {
            matching_mode: RedirectUriMatching::Regex,
            url: format!(
                r"https?://([A-Za-z0-9-]+\.)*{}(:[0-9]+)?{}",
                regex::escape(domain),
                regex::escape(ProxyProvider::CALLBACK_PATH)
            ),
        });
    }
    OAuth2Provider {
        client_id: proxy.client_id.clone(),
        client_type: ClientType::Confidential,
        client_secret: proxy.client_secret.clone(),
        redirect_uris,
        access_token_validity: proxy.access_token_validity.clone(),
        // The outpost's cookie names the user by id: a user revocation names it too.
        sub_mode: SubMode::UserUuid,
        ..OAuth2Provider::default()
    }
}

impl Client {
    /// Whether `uri` is one of the client's redirect URIs: compared as exact strings,
    /// or matched as a whole against the ones marked as regular expressions.
    pub fn redirect_allowed(&self, uri: &str) -> bool {
        self.settings
            .redirect_uris
            .iter()
            .any(|allowed| match allowed.matching_mode {
                RedirectUriMatching::Strict => allowed.url == uri,
                RedirectUriMatching::Regex => regex::Regex::new(&format!("^(?:{})$", allowed.url))
                    .is_ok_and(|re| re.is_match(uri)),
            })
    }

    /// Whether the client proved who it is: a confidential client by its secret (a
    /// constant-time comparison of SHA-256 digests: the secret is high-entropy, so a
    /// password hash would only cost time), a public client by its id alone.
    pub fn authenticates_with(&self, secret: Option<&str>) -> bool {
        match self.settings.client_type {
            ClientType::Public => true,
            ClientType::Confidential => {
                let stored = &self.settings.client_secret;
                secret.is_some_and(|given| {
                    !stored.is_empty()
                        && bool::from(
                            Sha256::digest(given.as_bytes())
                                .ct_eq(&Sha256::digest(stored.as_bytes())),
                        )
                })
            }
        }
    }

    /// The issuer the client's tokens name, for a server reached at `base_url`
    /// (`https://host`, no trailing slash).
    pub fn issuer(&self, base_url: &str) -> String {
        match (self.settings.issuer_mode, &self.application) {
            (gatehouse_config::objects::IssuerMode::PerProvider, Some(app)) => {
                format!("{base_url}/application/o/{}/", app.slug)
            }
            _ => format!("{base_url}/"),
        }
    }
}

/// The key that signs a provider's tokens: its own pair, or the self-signed pair made
/// at first start when it names none. `None` when neither exists or is usable.
pub async fn signing_key_of(
    db: &mut impl Db,
    settings: &OAuth2Provider,
) -> Result<Option<Arc<SigningKey>>, StorageError> {
    let pair = match settings.signing_key {
        Some(id) => certificates::get(db, CertificateKeyPairId(id)).await?,
        None => certificates::find_by_managed(db, crate::oidc::SELF_SIGNED_MANAGED).await?,
    };
    let Some(pair) = pair else { return Ok(None) };
    let Some(pem) = pair.key_pem.as_deref() else {
        tracing::error!(pair = %pair.name, "signing pair has no private key");
        return Ok(None);
    };
    // Parsing an RSA key takes milliseconds; keep parsed keys by the hash of their PEM.
    static PARSED: LazyLock<moka::sync::Cache<String, Arc<SigningKey>>> =
        LazyLock::new(|| moka::sync::Cache::new(64));
    let digest = crate::secrets::hash_key(pem);
    if let Some(key) = PARSED.get(&digest) {
        return Ok(Some(key));
    }
    match SigningKey::from_pem(pem) {
        Ok(key) => {
            let key = Arc::new(key);
            PARSED.insert(digest, key.clone());
            Ok(Some(key))
        }
        Err(err) => {
            tracing::error!(pair = %pair.name, error = %err, "signing key unusable");
            Ok(None)
        }
    }
}

/// An OAuth 2.0 error (RFC 6749 §5.2, RFC 6750 §3.1): its code and a description
/// meant for the client's developer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuthError {
    /// A parameter is missing, repeated or malformed.
    #[error("{0}")]
    InvalidRequest(String),
    /// The client is unknown or did not prove who it is.
    #[error("Client authentication failed.")]
    InvalidClient,
    /// The code or refresh token is invalid, expired, revoked or not the client's.
    #[error("{0}")]
    InvalidGrant(String),
    /// The client may not use this grant type.
    #[error("{0}")]
    UnauthorizedClient(String),
    /// The grant type is not one this server knows.
    #[error("The grant type is not supported.")]
    UnsupportedGrantType,
    /// The scope asked for exceeds what was granted.
    #[error("{0}")]
    InvalidScope(String),
    /// The access token is missing, invalid, expired or revoked.
    #[error("The access token is invalid.")]
    InvalidToken,
    /// RFC 8628 §3.5: the user has not answered yet; poll again.
    #[error("The user has not approved the device yet.")]
    AuthorizationPending,
    /// RFC 8628 §3.5: poll less often (by 5 more seconds).
    #[error("The device polls too often.")]
    SlowDown,
    /// RFC 8628 §3.5: the device code expired; start over.
    #[error("The device code has expired.")]
    ExpiredToken,
    /// RFC 8628 §3.5: the user may not sign the device in.
    #[error("{0}")]
    AccessDenied(String),
    /// Something failed on the server's side.
    #[error("{0}")]
    ServerError(String),
}

impl OAuthError {
    /// The `error` code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidRequest(_) => "invalid_request",
            Self::InvalidClient => "invalid_client",
            Self::InvalidGrant(_) => "invalid_grant",
            Self::UnauthorizedClient(_) => "unauthorized_client",
            Self::UnsupportedGrantType => "unsupported_grant_type",
            Self::InvalidScope(_) => "invalid_scope",
            Self::InvalidToken => "invalid_token",
            Self::AuthorizationPending => "authorization_pending",
            Self::SlowDown => "slow_down",
            Self::ExpiredToken => "expired_token",
            Self::AccessDenied(_) => "access_denied",
            Self::ServerError(_) => "server_error",
        }
    }
}

impl From<StorageError> for OAuthError {
    fn from(err: StorageError) -> Self {
        tracing::error!(error = %err, "OAuth2 request failed in the database");
        Self::ServerError("The database did not answer.".into())
    }
}

/// The scopes in a space-separated `scope` value, each once, in order.
pub fn split_scopes(scope: &str) -> Vec<String> {
    let mut scopes: Vec<String> = Vec::new();
    for s in scope.split(' ').filter(|s| !s.is_empty()) {
        if !scopes.iter().any(|k| k == s) {
            scopes.push(s.to_owned());
        }
    }
    scopes
}

#[cfg(test)]
pub(crate) mod tests;
