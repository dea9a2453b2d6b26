//! The token endpoint: client authentication and the grants (authorization code,
//! refresh token, device code, client credentials).

use std::sync::Arc;

use gatehouse_config::objects::ClientType;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::authorize::pkce_matches;
use super::claims::{self, OFFLINE_ACCESS, OPENID};
use super::issue::{Issue, issue};
use super::{Caches, Client, LazyConn, OAuthError, find_client, split_scopes};
use crate::Timestamp;
use crate::expr::RequestInput;
use crate::ids::{DeviceCodeId, GrantId, OAuth2CodeId, OAuth2TokenId, UserId};
use crate::policies::{Who, who};
use crate::secrets::hash_key;
use crate::storage::oauth2::{self, NewToken, TokenKind};
use crate::storage::{Db, Store, Tx, users};

/// The body of a token request.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct TokenParams {
    /// `authorization_code` or `refresh_token`.
    pub grant_type: Option<String>,
    /// The code.
    pub code: Option<String>,
    /// The redirect URI the code was requested with.
    pub redirect_uri: Option<String>,
    /// PKCE verifier.
    pub code_verifier: Option<String>,
    /// The refresh token.
    pub refresh_token: Option<String>,
    /// Narrower scopes for a refresh.
    pub scope: Option<String>,
    /// The device code a device polls with (RFC 8628 §3.4).
    pub device_code: Option<String>,
}

/// How the client identified itself (HTTP Basic, or `client_id` and
/// `client_secret` in the body).
#[derive(Debug, Clone, Default)]
pub struct ClientAuth {
    /// The client id.
    pub client_id: Option<String>,
    /// Its secret; none for a public client.
    pub client_secret: Option<String>,
}

/// A successful token response (RFC 6749 §5.1).
#[derive(Debug, Clone, Serialize)]
pub struct TokenResponse {
    /// The access token (a JWT).
    pub access_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds the access token lasts.
    pub expires_in: i64,
    /// With `offline_access`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// With `openid`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token: Option<String>,
    /// The granted scopes.
    pub scope: String,
}

/// The client `auth` names, if it proves who it is.
pub(super) async fn authenticate(
    db: &mut LazyConn<'_>,
    caches: &Caches,
    auth: &ClientAuth,
) -> Result<Arc<Client>, OAuthError> {
    let client_id = auth.client_id.as_deref().unwrap_or_default();
    if client_id.is_empty() {
        return Err(OAuthError::InvalidClient);
    }
    let client = match caches.clients.get(client_id) {
        Some(client) => Some(client),
        None => match find_client(db.get().await?, client_id).await? {
            Some(client) => {
                let client = Arc::new(client);
                caches.clients.insert(client_id.to_owned(), client.clone());
                Some(client)
            }
            None => None,
        },
    };
    match client {
        Some(client) if client.authenticates_with(auth.client_secret.as_deref()) => Ok(client),
        _ => Err(OAuthError::InvalidClient),
    }
}

/// How a grant failed: refused; refused after recording a device's poll; or refused
/// after showing that a secret leaked, in which case every token of the grant is
/// revoked too.
enum Failure {
    Refuse(OAuthError),
    Poll(DeviceCodeId, OAuthError),
    RevokeGrant(GrantId, OAuthError),
}

impl From<OAuthError> for Failure {
    fn from(err: OAuthError) -> Self {
        Self::Refuse(err)
    }
}

impl From<crate::storage::StorageError> for Failure {
    fn from(err: crate::storage::StorageError) -> Self {
        Self::Refuse(err.into())
    }
}

/// What a grant uses up when its tokens are stored. It is marked used in the same
/// transaction that stores the tokens; losing that race to another request is a
/// replay.
enum Claim {
    Code(OAuth2CodeId),
    Refresh(OAuth2TokenId),
    Device(DeviceCodeId),
}

/// Tokens checked and signed on a read connection, waiting for the short write that
/// makes them valid: the signatures (most of the cost) stay outside the write lock.
struct Prepared {
    claim: Claim,
    grant: GrantId,
    response: TokenResponse,
    records: Vec<NewToken>,
}

/// Answers a token request (`request` is the HTTP request as policies see it, with its
/// time); `base_url` is where the server is reached.
pub async fn token(
    store: &Store,
    caches: &Caches,
    auth: &ClientAuth,
    params: &TokenParams,
    request: &RequestInput,
    base_url: &str,
) -> Result<TokenResponse, OAuthError> {
    let now = request.time;
    let mut lazy = LazyConn::new(store);
    let client = authenticate(&mut lazy, caches, auth).await?;
    if params.grant_type.as_deref() == Some("client_credentials") {
        drop(lazy);
        return client_credentials_grant(store, &client, params, request, base_url).await;
    }
    let prepared = {
        let db = lazy.get().await?;
        match params.grant_type.as_deref() {
            Some("authorization_code") => code_grant(db, &client, params, base_url, now).await,
            Some("refresh_token") => refresh_grant(db, &client, params, base_url, now).await,
            Some(super::device::DEVICE_CODE_GRANT) => {
                device_code_grant(db, &client, params, base_url, now).await
            }
            Some(_) => Err(OAuthError::UnsupportedGrantType.into()),
            None => Err(OAuthError::InvalidRequest("grant_type is missing.".into()).into()),
        }
    };
    // The read connection goes back to the pool before the write begins.
    drop(lazy);
    let failure = match prepared {
        Ok(prepared) => match store_prepared(store, caches, prepared, now).await? {
            Ok(response) => return Ok(response),
            Err(failure) => failure,
        },
        Err(failure) => failure,
    };
    match failure {
        Failure::Refuse(err) => Err(err),
        Failure::Poll(device, err) => {
            let mut tx = store.begin().await?;
            oauth2::poll_device_code(&mut tx, device, now).await?;
            tx.commit().await?;
            Err(err)
        }
        Failure::RevokeGrant(grant, err) => {
            let mut tx = store.begin().await?;
            let revoked = oauth2::revoke_grant(&mut tx, grant, now).await?;
            tx.commit().await?;
            caches.forget_tokens();
            tracing::warn!(client = %client.settings.client_id, revoked, "{err}");
            Err(err)
        }
    }
}

/// Uses up what `prepared` claims and stores its tokens, in one transaction.
async fn store_prepared(
    store: &Store,
    caches: &Caches,
    prepared: Prepared,
    now: Timestamp,
) -> Result<Result<TokenResponse, Failure>, OAuthError> {
    let mut tx = store.begin().await?;
    let claimed = match prepared.claim {
        Claim::Code(id) => oauth2::use_code(&mut tx, id, now).await?,
        Claim::Refresh(id) => oauth2::use_token(&mut tx, id, now).await?,
        Claim::Device(id) => oauth2::use_device_code(&mut tx, id, now).await?,
    };
    if !claimed {
        tx.rollback().await?;
        return Ok(Err(match prepared.claim {
            Claim::Device(_) => Failure::Refuse(OAuthError::InvalidGrant(
                "The device code was used already.".into(),
            )),
            Claim::Code(_) => Failure::RevokeGrant(prepared.grant, code_replayed()),
            Claim::Refresh(_) => Failure::RevokeGrant(prepared.grant, refresh_reused()),
        }));
    }
    for record in prepared.records {
        oauth2::create_token(&mut tx, record, now).await?;
    }
    tx.commit().await?;
    if matches!(prepared.claim, Claim::Refresh(_)) {
        // The old refresh token is no longer in force.
        caches.forget_tokens();
    }
    Ok(Ok(prepared.response))
}

fn code_replayed() -> OAuthError {
    OAuthError::InvalidGrant(
        "The code was used before; the tokens issued from it are revoked.".into(),
    )
}

fn refresh_reused() -> OAuthError {
    OAuthError::InvalidGrant(
        "The refresh token was used before; every token of its grant is revoked.".into(),
    )
}

fn required<'a>(value: &'a Option<String>, name: &str) -> Result<&'a str, OAuthError> {
    value
        .as_deref()
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OAuthError::InvalidRequest(format!("{name} is missing.")))
}

async fn code_grant(
    db: &mut impl Db,
    client: &Client,
    params: &TokenParams,
    base_url: &str,
    now: Timestamp,
) -> Result<Prepared, Failure> {
    let invalid = |m: &str| Failure::Refuse(OAuthError::InvalidGrant(m.to_owned()));
    let presented = required(&params.code, "code")?;
    let Some(code) = oauth2::find_code(db, &hash_key(presented)).await? else {
        return Err(invalid("The code is not valid."));
    };
    if code.provider_id != client.provider.id {
        return Err(invalid("The code was issued to another client."));
    }
    let grant = GrantId(code.id.0);
    if code.used_at.is_some() {
        return Err(Failure::RevokeGrant(grant, code_replayed()));
    }
    if code.expires_at <= now {
        return Err(invalid("The code has expired."));
    }
    if params.redirect_uri.as_deref() != Some(code.redirect_uri.as_str()) {
        return Err(invalid(
            "redirect_uri differs from the one the code was requested with.",
        ));
    }
    match (&code.code_challenge, params.code_verifier.as_deref()) {
        (Some(challenge), Some(verifier)) if pkce_matches(challenge, verifier) => {}
        (Some(_), Some(_)) => return Err(invalid("The code_verifier does not match.")),
        (Some(_), None) => return Err(invalid("The code_verifier is missing.")),
        (None, Some(_)) => {
            return Err(invalid(
                "A code_verifier was sent for a code requested without code_challenge.",
            ));
        }
        (None, None) => {}
    }
    let user = active_user(db, code.user_id).await?;
    let (response, records) = issue(
        db,
        Issue {
            client,
            who: &user,
            user_id: code.user_id,
            grant,
            scopes: split_scopes(&code.scope),
            nonce: code.nonce,
            auth_time: Some(code.auth_time),
            auth_methods: code.auth_methods,
            session_id: code.session_id,
        },
        base_url,
        now,
    )
    .await?;
    Ok(Prepared {
        claim: Claim::Code(code.id),
        grant,
        response,
        records,
    })
}

async fn active_user(db: &mut impl Db, user: UserId) -> Result<Who, Failure> {
    let found = who(db, Some(user)).await?;
    match &found.user {
        Some(u) if u.is_active => Ok(found),
        _ => Err(Failure::Refuse(OAuthError::InvalidGrant(
            "The user is no longer active.".into(),
        ))),
    }
}

async fn refresh_grant(
    db: &mut impl Db,
    client: &Client,
    params: &TokenParams,
    base_url: &str,
    now: Timestamp,
) -> Result<Prepared, Failure> {
    let invalid = |m: &str| Failure::Refuse(OAuthError::InvalidGrant(m.to_owned()));
    let presented = required(&params.refresh_token, "refresh_token")?;
    let Some(old) = oauth2::find_token(db, &hash_key(presented)).await? else {
        return Err(invalid("The refresh token is not valid."));
    };
    if old.kind != TokenKind::Refresh || old.provider_id != client.provider.id {
        return Err(invalid("The refresh token is not valid."));
    }
    if old.revoked_at.is_some() {
        return Err(invalid("The refresh token was revoked."));
    }
    if old.used_at.is_some() {
        // A rotated token came back: someone holds a copy. End the whole grant.
        return Err(Failure::RevokeGrant(old.grant_id, refresh_reused()));
    }
    if old.expires_at <= now {
        return Err(invalid("The refresh token has expired."));
    }
    let granted = split_scopes(&old.scope);
    let scopes = match params.scope.as_deref() {
        Some(asked) if !asked.is_empty() => {
            let asked = split_scopes(asked);
            if let Some(extra) = asked.iter().find(|s| !granted.contains(s)) {
                return Err(Failure::Refuse(OAuthError::InvalidScope(format!(
                    "The scope {extra:?} was not granted."
                ))));
            }
            asked
        }
        _ => granted,
    };
    let Some(user_id) = old.user_id else {
        return Err(invalid("The refresh token has no user."));
    };
    let user = active_user(db, user_id).await?;
    let (response, records) = issue(
        db,
        Issue {
            client,
            who: &user,
            user_id,
            grant: old.grant_id,
            scopes,
            // An ID token from a refresh carries no nonce (OIDC Core §12.2).
            nonce: None,
            auth_time: old.auth_time,
            auth_methods: old.auth_methods,
            session_id: old.session_id,
        },
        base_url,
        now,
    )
    .await?;
    Ok(Prepared {
        claim: Claim::Refresh(old.id),
        grant: old.grant_id,
        response,
        records,
    })
}

/// RFC 8628 §3.4–3.5: a device polls until its user approved, then gets its tokens
/// once.
async fn device_code_grant(
    db: &mut impl Db,
    client: &Client,
    params: &TokenParams,
    base_url: &str,
    now: Timestamp,
) -> Result<Prepared, Failure> {
    let presented = required(&params.device_code, "device_code")?;
    let Some(device) = oauth2::find_device_code(db, &hash_key(presented)).await? else {
        return Err(OAuthError::InvalidGrant("The device code is not valid.".into()).into());
    };
    if device.provider_id != client.provider.id {
        return Err(OAuthError::InvalidGrant("The device code is another client's.".into()).into());
    }
    if device.used_at.is_some() {
        return Err(OAuthError::InvalidGrant("The device code was used already.".into()).into());
    }
    if device.expires_at <= now {
        return Err(OAuthError::ExpiredToken.into());
    }
    if device.denied_at.is_some() {
        return Err(
            OAuthError::AccessDenied("The user may not use this application.".into()).into(),
        );
    }
    let (Some(user_id), Some(_)) = (device.user_id, device.approved_at) else {
        let too_soon = device
            .last_polled_at
            .is_some_and(|at| now < at + time::Duration::seconds(super::device::POLL_INTERVAL));
        return Err(Failure::Poll(
            device.id,
            if too_soon {
                OAuthError::SlowDown
            } else {
                OAuthError::AuthorizationPending
            },
        ));
    };
    let user = active_user(db, user_id).await?;
    let grant = GrantId(device.id.0);
    let (response, records) = issue(
        db,
        Issue {
            client,
            who: &user,
            user_id,
            grant,
            scopes: split_scopes(&device.scope),
            nonce: None,
            auth_time: device.auth_time,
            auth_methods: device.auth_methods,
            session_id: device.session_id,
        },
        base_url,
        now,
    )
    .await?;
    Ok(Prepared {
        claim: Claim::Device(device.id),
        grant,
        response,
        records,
    })
}

/// The username of the service account a client's `client_credentials` tokens act
/// for (authentik names it `ak-<provider>-client_credentials`).
pub fn service_account_name(client_id: &str) -> String {
    format!("gh-{client_id}-client_credentials")
}

/// RFC 6749 §4.4: a confidential client gets an access token for itself, acting as
/// its service account (made on first use), which the application's policy bindings
/// must let in like any user. No refresh token and no ID token: nobody signed in.
async fn client_credentials_grant(
    store: &Store,
    client: &Client,
    params: &TokenParams,
    request: &RequestInput,
    base_url: &str,
) -> Result<TokenResponse, OAuthError> {
    let mut tx = store.begin().await?;
    let issued = client_credentials_in(&mut tx, client, params, request, base_url).await;
    match issued {
        Ok(response) => {
            tx.commit().await?;
            Ok(response)
        }
        Err(err) => {
            tx.rollback().await?;
            Err(err)
        }
    }
}

/// The work of a client_credentials grant, in one write transaction (it may make the
/// service account; the grant is rare next to code exchanges and refreshes).
async fn client_credentials_in(
    tx: &mut Tx,
    client: &Client,
    params: &TokenParams,
    request: &RequestInput,
    base_url: &str,
) -> Result<TokenResponse, OAuthError> {
    let now = request.time;
    if client.settings.client_type != ClientType::Confidential {
        return Err(OAuthError::UnauthorizedClient(
            "Only a confidential client may use client_credentials.".into(),
        ));
    }
    let name = service_account_name(&client.settings.client_id);
    let account = match users::find_by_username(tx, &name).await? {
        Some(user) => user,
        None => {
            let mut new = users::NewUser::new(name);
            new.name = format!("Service account of {}", client.provider.name);
            new.path = "service-accounts".into();
            new.user_type = users::UserType::InternalServiceAccount;
            users::create(tx, new, now).await?
        }
    };
    let account_who = who(tx, Some(account.id)).await?;
    if !account.is_active {
        return Err(OAuthError::InvalidGrant(
            "The client's service account is deactivated.".into(),
        ));
    }
    if let Some(application) = &client.application {
        let window = time::Duration::minutes(5);
        let decision =
            crate::access::may_open(tx, application, account.id, request, window).await?;
        if !decision.passing {
            return Err(OAuthError::InvalidGrant(
                "The application's policies do not let this client in.".into(),
            ));
        }
    }
    let requested = split_scopes(params.scope.as_deref().unwrap_or_default());
    let scopes: Vec<String> = claims::granted_scopes(tx, client.provider.id, &requested)
        .await?
        .into_iter()
        .filter(|s| s != OFFLINE_ACCESS && s != OPENID)
        .collect();
    let (mut response, records) = issue(
        &mut *tx,
        Issue {
            client,
            who: &account_who,
            user_id: account.id,
            grant: GrantId::new(),
            scopes,
            nonce: None,
            auth_time: None,
            auth_methods: Json::Array(Vec::new()),
            session_id: None,
        },
        base_url,
        now,
    )
    .await?;
    for record in records.into_iter().filter(|r| r.kind == TokenKind::Access) {
        oauth2::create_token(tx, record, now).await?;
    }
    response.refresh_token = None;
    Ok(response)
}
