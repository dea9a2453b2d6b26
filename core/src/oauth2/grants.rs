//! The token endpoint's grants (authorization code, refresh token), userinfo,
//! introspection (RFC 7662) and revocation (RFC 7009).

use chrono::{DateTime, Utc};
use gatehouse_config::objects::ClientType;
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationMethodReference, ClientId, IdToken,
    IdTokenClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::authorize::pkce_matches;
use super::claims::{self, OFFLINE_ACCESS, OPENID};
use super::{
    CachedToken, Caches, Client, LazyConn, OAuthError, client_of, find_client, signing_key_of,
    split_scopes,
};
use crate::Timestamp;
use crate::expr::RequestInput;
use crate::ids::{DeviceCodeId, GrantId, OAuth2CodeId, OAuth2TokenId, SessionId, UserId};
use crate::policies::{Who, who};
use crate::secrets::{hash_key, random_key};
use crate::storage::oauth2::{self, NewToken, TokenKind};
use crate::storage::{Db, Store, Tx, providers, users};
use std::sync::Arc;

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

/// Claims beyond the standard ones in an ID token: the scope mappings' and `sid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    #[serde(flatten)]
    claims: Map<String, Json>,
}

impl AdditionalClaims for Extra {}

type SignedIdToken =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

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

/// What tokens are issued for.
struct Issue<'a> {
    client: &'a Client,
    who: &'a Who,
    user_id: UserId,
    grant: GrantId,
    scopes: Vec<String>,
    nonce: Option<String>,
    auth_time: Option<Timestamp>,
    auth_methods: Json,
    session_id: Option<SessionId>,
}

fn chrono_time(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), 0).unwrap_or_default()
}

fn lifetime(delta: &gatehouse_config::objects::TimeDelta) -> time::Duration {
    time::Duration::try_from(delta.duration()).unwrap_or(time::Duration::MINUTE)
}

/// Signs an access token, a refresh token with `offline_access`, and an ID token with
/// `openid`; returns them with the records that make them valid once stored.
async fn issue(
    db: &mut impl Db,
    issue: Issue<'_>,
    base_url: &str,
    now: Timestamp,
) -> Result<(TokenResponse, Vec<NewToken>), OAuthError> {
    let client = issue.client;
    let settings = &client.settings;
    let Some(key) = signing_key_of(db, settings).await? else {
        return Err(OAuthError::ServerError(
            "The provider has no usable signing key.".into(),
        ));
    };
    let Some(user) = &issue.who.user else {
        return Err(OAuthError::InvalidGrant("The user is gone.".into()));
    };
    let issuer = client.issuer(base_url);
    let sub = claims::subject(
        settings,
        client.provider.id,
        &user.uid,
        &user.username,
        &user.email,
    );
    let scope_claims = claims::scope_claims(
        db,
        client.provider.id,
        &issue.scopes,
        issue.who,
        client.application.as_ref(),
    )
    .await?;
    let access_lifetime = lifetime(&settings.access_token_validity);
    let expires_at = now + access_lifetime;
    let jti = OAuth2TokenId::new();
    let scope = issue.scopes.join(" ");
    let mut access_claims = scope_claims.clone();
    access_claims.extend([
        ("iss".to_owned(), json!(issuer)),
        ("sub".to_owned(), json!(sub)),
        ("aud".to_owned(), json!(settings.client_id)),
        ("azp".to_owned(), json!(settings.client_id)),
        ("exp".to_owned(), json!(expires_at.unix_timestamp())),
        ("iat".to_owned(), json!(now.unix_timestamp())),
        ("jti".to_owned(), json!(jti.to_string())),
        ("scope".to_owned(), json!(scope)),
    ]);
    if let Some(at) = issue.auth_time {
        access_claims.insert("auth_time".into(), json!(at.unix_timestamp()));
    }
    if let Some(sid) = issue.session_id {
        access_claims.insert("sid".into(), json!(sid.to_string()));
    }
    let access_token = super::jwt::sign_access_token(&key, &access_claims)?;
    let record = |kind, id, hash, expires_at| NewToken {
        id,
        kind,
        token_hash: hash,
        provider_id: client.provider.id,
        user_id: Some(issue.user_id),
        session_id: issue.session_id,
        grant_id: issue.grant,
        scope: scope.clone(),
        nonce: issue.nonce.clone(),
        auth_time: issue.auth_time,
        auth_methods: issue.auth_methods.clone(),
        expires_at,
    };
    let mut records = vec![record(
        TokenKind::Access,
        jti,
        hash_key(&access_token),
        expires_at,
    )];
    let refresh_token = if issue.scopes.iter().any(|s| s == OFFLINE_ACCESS) {
        let secret =
            random_key().map_err(|e| OAuthError::ServerError(format!("no randomness: {e}")))?;
        let until = now + lifetime(&settings.refresh_token_validity);
        records.push(record(
            TokenKind::Refresh,
            OAuth2TokenId::new(),
            hash_key(&secret),
            until,
        ));
        Some(secret)
    } else {
        None
    };
    let id_token = if issue.scopes.iter().any(|s| s == OPENID) {
        let mut extra = if settings.include_claims_in_id_token {
            scope_claims
        } else {
            Map::new()
        };
        if let Some(sid) = issue.session_id {
            extra.insert("sid".into(), json!(sid.to_string()));
        }
        let issuer_url = IssuerUrl::new(issuer.clone())
            .map_err(|e| OAuthError::ServerError(format!("bad issuer URL: {e}")))?;
        let amr: Vec<AuthenticationMethodReference> = issue
            .auth_methods
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Json::as_str)
            .map(|m| AuthenticationMethodReference::new(m.to_owned()))
            .collect();
        let claims = IdTokenClaims::new(
            issuer_url,
            vec![Audience::new(settings.client_id.clone())],
            chrono_time(expires_at),
            chrono_time(now),
            StandardClaims::new(SubjectIdentifier::new(sub.clone())),
            Extra { claims: extra },
        )
        .set_nonce(issue.nonce.clone().map(Nonce::new))
        .set_auth_time(issue.auth_time.map(chrono_time))
        .set_auth_method_refs((!amr.is_empty()).then_some(amr))
        .set_authorized_party(Some(ClientId::new(settings.client_id.clone())));
        let token = SignedIdToken::new(
            claims,
            key.as_ref(),
            key.algorithm(),
            Some(&AccessToken::new(access_token.clone())),
            None,
        )
        .map_err(|e| OAuthError::ServerError(format!("cannot sign the ID token: {e}")))?;
        Some(token.to_string())
    } else {
        None
    };
    let response = TokenResponse {
        access_token,
        token_type: "Bearer",
        expires_in: access_lifetime.whole_seconds(),
        refresh_token,
        id_token,
        scope,
    };
    Ok((response, records))
}

/// The token `presented` with its user, if it is in force at `now`: from the cache,
/// or from the store (and then cached).
async fn token_in_force(
    db: &mut LazyConn<'_>,
    caches: &Caches,
    presented: &str,
    now: Timestamp,
) -> Result<Option<Arc<CachedToken>>, OAuthError> {
    let hash = hash_key(presented);
    if let Some(found) = caches.tokens.get(&hash) {
        return Ok(found.token.is_active(now).then_some(found));
    }
    let db = db.get().await?;
    let Some(token) = oauth2::find_token(db, &hash).await? else {
        return Ok(None);
    };
    if !token.is_active(now) {
        return Ok(None);
    }
    let user = match token.user_id {
        Some(id) => users::get(db, id).await?,
        None => None,
    };
    let Some(user) = user.filter(|u| u.is_active) else {
        return Ok(None);
    };
    let found = Arc::new(CachedToken {
        token,
        uid: user.id.to_string(),
        username: user.username,
        email: user.email,
    });
    caches.tokens.insert(hash, found.clone());
    Ok(Some(found))
}

/// The claims userinfo returns for the access token `presented`: `sub` and the
/// claims of its scopes.
pub async fn userinfo(
    store: &Store,
    caches: &Caches,
    presented: &str,
    now: Timestamp,
) -> Result<Map<String, Json>, OAuthError> {
    let mut lazy = LazyConn::new(store);
    let token = token_in_force(&mut lazy, caches, presented, now)
        .await?
        .filter(|t| t.token.kind == TokenKind::Access)
        .ok_or(OAuthError::InvalidToken)?;
    let db = lazy.get().await?;
    let found = who(db, token.token.user_id).await?;
    if !found.user.as_ref().is_some_and(|u| u.is_active) {
        return Err(OAuthError::InvalidToken);
    }
    let Some(provider) = providers::get(db, token.token.provider_id).await? else {
        return Err(OAuthError::InvalidToken);
    };
    let Some(client) = client_of(db, provider).await? else {
        return Err(OAuthError::InvalidToken);
    };
    let scopes = split_scopes(&token.token.scope);
    let mut claims = claims::scope_claims(
        db,
        client.provider.id,
        &scopes,
        &found,
        client.application.as_ref(),
    )
    .await?;
    claims.insert(
        "sub".into(),
        json!(claims::subject(
            &client.settings,
            client.provider.id,
            &token.uid,
            &token.username,
            &token.email
        )),
    );
    Ok(claims)
}

/// RFC 7662: what the client `auth` may learn about `presented`. A token that is
/// unknown, not in force or another client's is just `{"active": false}` (§2.2).
pub async fn introspect(
    store: &Store,
    caches: &Caches,
    auth: &ClientAuth,
    presented: &str,
    base_url: &str,
    now: Timestamp,
) -> Result<Json, OAuthError> {
    let mut lazy = LazyConn::new(store);
    let client = authenticate(&mut lazy, caches, auth).await?;
    let found = token_in_force(&mut lazy, caches, presented, now).await?;
    let Some(found) = found.filter(|t| t.token.provider_id == client.provider.id) else {
        return Ok(json!({"active": false}));
    };
    let token = &found.token;
    let sub = claims::subject(
        &client.settings,
        client.provider.id,
        &found.uid,
        &found.username,
        &found.email,
    );
    Ok(json!({
        "active": true,
        "scope": token.scope,
        "client_id": client.settings.client_id,
        "username": found.username,
        "token_type": if token.kind == TokenKind::Access { "Bearer" } else { "refresh_token" },
        "exp": token.expires_at.unix_timestamp(),
        "iat": token.created_at.unix_timestamp(),
        "sub": sub,
        "aud": client.settings.client_id,
        "iss": client.issuer(base_url),
        "jti": token.id.to_string(),
    }))
}

/// RFC 7009: revokes `presented` if it is the client's; a refresh token takes the
/// access tokens of its grant with it. Unknown tokens are not an error (§2.2).
pub async fn revoke(
    store: &Store,
    caches: &Caches,
    auth: &ClientAuth,
    presented: &str,
    now: Timestamp,
) -> Result<(), OAuthError> {
    let client = authenticate(&mut LazyConn::new(store), caches, auth).await?;
    let mut tx = store.begin().await?;
    if let Some(token) = oauth2::find_token(&mut tx, &hash_key(presented)).await?
        && token.provider_id == client.provider.id
    {
        match token.kind {
            TokenKind::Refresh => {
                oauth2::revoke_grant(&mut tx, token.grant_id, now).await?;
            }
            TokenKind::Access => {
                oauth2::revoke_token(&mut tx, token.id, now).await?;
            }
        }
    }
    tx.commit().await?;
    caches.forget_tokens();
    Ok(())
}
