//! OAuth 2.0 grants: authorization codes, access and refresh tokens, consents. Only
//! hashes of codes and tokens are stored; the secrets are shown once, to the client.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, dispatch, fetch_optional};
use crate::Timestamp;
use crate::ids::{
    ApplicationId, DeviceCodeId, GrantId, OAuth2CodeId, OAuth2TokenId, ProviderId, SessionId,
    UserId,
};
use crate::text_enum::text_enum;

/// A stored authorization code.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Code {
    /// Stable id; also the grant id of the tokens issued from it.
    pub id: OAuth2CodeId,
    /// Hash of the code.
    pub code_hash: String,
    /// The client it was issued to.
    pub provider_id: ProviderId,
    /// Who authorized.
    pub user_id: UserId,
    /// The core session it was issued in (the `sid` claim).
    pub session_id: Option<SessionId>,
    /// The redirect URI of the request, which the token request must repeat.
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The `nonce` of the request, for the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge, when the request had one.
    pub code_challenge: Option<String>,
    /// When the user signed in.
    pub auth_time: Timestamp,
    /// How they signed in (JSON array, `amr`).
    #[sqlx(json)]
    pub auth_methods: Value,
    /// Issue time.
    pub created_at: Timestamp,
    /// The code is refused from then on.
    pub expires_at: Timestamp,
    /// When it was exchanged; a second exchange is a replay.
    pub used_at: Option<Timestamp>,
}

/// What is needed to store a code.
#[derive(Debug, Clone)]
pub struct NewCode {
    /// Hash of the code.
    pub code_hash: String,
    /// The client.
    pub provider_id: ProviderId,
    /// Who authorized.
    pub user_id: UserId,
    /// The core session.
    pub session_id: Option<SessionId>,
    /// The request's redirect URI.
    pub redirect_uri: String,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The request's nonce.
    pub nonce: Option<String>,
    /// The PKCE challenge.
    pub code_challenge: Option<String>,
    /// When the user signed in.
    pub auth_time: Timestamp,
    /// How they signed in.
    pub auth_methods: Value,
    /// Expiry.
    pub expires_at: Timestamp,
}

macro_rules! code_columns {
    () => {
        "id, code_hash, provider_id, user_id, session_id, redirect_uri, scope, nonce, \
         code_challenge, auth_time, auth_methods, created_at, expires_at, used_at"
    };
}

/// Stores a code.
pub async fn create_code(db: &mut impl Db, new: NewCode, now: Timestamp) -> Result<Code> {
    let code = Code {
        id: OAuth2CodeId::new(),
        code_hash: new.code_hash,
        provider_id: new.provider_id,
        user_id: new.user_id,
        session_id: new.session_id,
        redirect_uri: new.redirect_uri,
        scope: new.scope,
        nonce: new.nonce,
        code_challenge: new.code_challenge,
        auth_time: new.auth_time,
        auth_methods: new.auth_methods,
        created_at: now,
        expires_at: new.expires_at,
        used_at: None,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO oauth2_codes (",
            code_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ))
        .bind(code.id)
        .bind(&code.code_hash)
        .bind(code.provider_id)
        .bind(code.user_id)
        .bind(code.session_id)
        .bind(&code.redirect_uri)
        .bind(&code.scope)
        .bind(&code.nonce)
        .bind(&code.code_challenge)
        .bind(code.auth_time)
        .bind(Json(&code.auth_methods))
        .bind(code.created_at)
        .bind(code.expires_at)
        .bind(code.used_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(code)
}

/// The code with this hash, used or not, expired or not.
pub async fn find_code(db: &mut impl Db, code_hash: &str) -> Result<Option<Code>> {
    let sql = concat!(
        "SELECT ",
        code_columns!(),
        " FROM oauth2_codes WHERE code_hash = $1"
    );
    fetch_optional!(db, sql, code_hash)
}

/// Marks the code used. Returns whether this call did (false: it was used already, by
/// a request that got there first).
pub async fn use_code(db: &mut impl Db, id: OAuth2CodeId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE oauth2_codes SET used_at = $2 WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

text_enum!(
    /// Access or refresh.
    TokenKind {
        /// A bearer token for userinfo and resource servers.
        Access = "access",
        /// Gets new tokens at the token endpoint.
        Refresh = "refresh",
    }
);

/// A stored access or refresh token.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Token {
    /// Stable id (an access token's `jti`).
    pub id: OAuth2TokenId,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Hash of the token.
    pub token_hash: String,
    /// The client it was issued to.
    pub provider_id: ProviderId,
    /// The user it acts for.
    pub user_id: Option<UserId>,
    /// The core session it came from.
    pub session_id: Option<SessionId>,
    /// Every token of one grant shares it.
    pub grant_id: GrantId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// The authorization request's nonce.
    pub nonce: Option<String>,
    /// When the user signed in.
    pub auth_time: Option<Timestamp>,
    /// How they signed in (JSON array).
    #[sqlx(json)]
    pub auth_methods: Value,
    /// Issue time.
    pub created_at: Timestamp,
    /// Expiry.
    pub expires_at: Timestamp,
    /// When a refresh token was exchanged for new ones (rotation).
    pub used_at: Option<Timestamp>,
    /// When it was revoked.
    pub revoked_at: Option<Timestamp>,
}

impl Token {
    /// Whether the token is in force at `now` (not expired, revoked or rotated).
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.used_at.is_none() && self.expires_at > now
    }
}

/// What is needed to store a token.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Stable id (chosen by the caller: an access token carries it as `jti`).
    pub id: OAuth2TokenId,
    /// Access or refresh.
    pub kind: TokenKind,
    /// Hash of the token.
    pub token_hash: String,
    /// The client.
    pub provider_id: ProviderId,
    /// The user.
    pub user_id: Option<UserId>,
    /// The core session.
    pub session_id: Option<SessionId>,
    /// The grant.
    pub grant_id: GrantId,
    /// Scopes.
    pub scope: String,
    /// Nonce.
    pub nonce: Option<String>,
    /// Sign-in time.
    pub auth_time: Option<Timestamp>,
    /// Sign-in methods.
    pub auth_methods: Value,
    /// Expiry.
    pub expires_at: Timestamp,
}

macro_rules! token_columns {
    () => {
        "id, kind, token_hash, provider_id, user_id, session_id, grant_id, scope, nonce, \
         auth_time, auth_methods, created_at, expires_at, used_at, revoked_at"
    };
}

/// Stores a token.
pub async fn create_token(db: &mut impl Db, new: NewToken, now: Timestamp) -> Result<Token> {
    let token = Token {
        id: new.id,
        kind: new.kind,
        token_hash: new.token_hash,
        provider_id: new.provider_id,
        user_id: new.user_id,
        session_id: new.session_id,
        grant_id: new.grant_id,
        scope: new.scope,
        nonce: new.nonce,
        auth_time: new.auth_time,
        auth_methods: new.auth_methods,
        created_at: now,
        expires_at: new.expires_at,
        used_at: None,
        revoked_at: None,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO oauth2_tokens (",
            token_columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)"
        ))
        .bind(token.id)
        .bind(token.kind)
        .bind(&token.token_hash)
        .bind(token.provider_id)
        .bind(token.user_id)
        .bind(token.session_id)
        .bind(token.grant_id)
        .bind(&token.scope)
        .bind(&token.nonce)
        .bind(token.auth_time)
        .bind(Json(&token.auth_methods))
        .bind(token.created_at)
        .bind(token.expires_at)
        .bind(token.used_at)
        .bind(token.revoked_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(token)
}

/// The token with this hash, whatever its state.
pub async fn find_token(db: &mut impl Db, token_hash: &str) -> Result<Option<Token>> {
    let sql = concat!(
        "SELECT ",
        token_columns!(),
        " FROM oauth2_tokens WHERE token_hash = $1"
    );
    fetch_optional!(db, sql, token_hash)
}

/// Marks a refresh token exchanged. Returns whether this call did (false: another
/// request rotated it first, which is a reuse).
pub async fn use_token(db: &mut impl Db, id: OAuth2TokenId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE oauth2_tokens SET used_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Revokes one token. Returns whether it was in force.
pub async fn revoke_token(db: &mut impl Db, id: OAuth2TokenId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE oauth2_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Revokes every token of a grant; returns how many were in force.
pub async fn revoke_grant(db: &mut impl Db, grant: GrantId, now: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query(
            "UPDATE oauth2_tokens SET revoked_at = $2 \
             WHERE grant_id = $1 AND revoked_at IS NULL",
        )
        .bind(grant)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?)
}

/// Forgets codes, tokens and device codes that expired before `before`; returns how many.
pub async fn delete_expired(db: &mut impl Db, before: Timestamp) -> Result<u64> {
    let mut deleted = 0;
    for sql in [
        "DELETE FROM oauth2_codes WHERE expires_at < $1",
        "DELETE FROM oauth2_tokens WHERE expires_at < $1",
        "DELETE FROM oauth2_device_codes WHERE expires_at < $1",
    ] {
        deleted += dispatch!(db, |c| {
            sqlx::query(sql)
                .bind(before)
                .execute(c)
                .await
                .map(|r| r.rows_affected())
        })?;
    }
    Ok(deleted)
}

/// A user's consent to an application.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Consent {
    /// Who consented.
    pub user_id: UserId,
    /// To which application.
    pub application_id: ApplicationId,
    /// The scopes consented to, space-separated.
    pub scope: String,
    /// When.
    pub created_at: Timestamp,
    /// Until when; `None` for good.
    pub expires_at: Option<Timestamp>,
}

/// The consent of `user` to `application`, if any (expired ones too).
pub async fn find_consent(
    db: &mut impl Db,
    user: UserId,
    application: ApplicationId,
) -> Result<Option<Consent>> {
    fetch_optional!(
        db,
        "SELECT user_id, application_id, scope, created_at, expires_at FROM oauth2_consents \
         WHERE user_id = $1 AND application_id = $2",
        user,
        application
    )
}

/// Records (or replaces) the consent of `user` to `application`.
pub async fn save_consent(
    db: &mut impl Db,
    user: UserId,
    application: ApplicationId,
    scope: &str,
    now: Timestamp,
    expires_at: Option<Timestamp>,
) -> Result<()> {
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO oauth2_consents (user_id, application_id, scope, created_at, expires_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, application_id) \
             DO UPDATE SET scope = $3, created_at = $4, expires_at = $5",
        )
        .bind(user)
        .bind(application)
        .bind(scope)
        .bind(now)
        .bind(expires_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// A device authorization (RFC 8628) from request to approval and exchange.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct DeviceCode {
    /// Stable id; also the grant id of the tokens issued for it.
    pub id: DeviceCodeId,
    /// Hash of the device code the device polls with.
    pub device_code_hash: String,
    /// What the user types (normalised: `BCDF-GHJK`).
    pub user_code: String,
    /// The client.
    pub provider_id: ProviderId,
    /// Granted scopes, space-separated.
    pub scope: String,
    /// Who approved, once someone did.
    pub user_id: Option<UserId>,
    /// Their core session.
    pub session_id: Option<SessionId>,
    /// When they signed in.
    pub auth_time: Option<Timestamp>,
    /// How (JSON array).
    #[sqlx(json)]
    pub auth_methods: Value,
    /// Request time.
    pub created_at: Timestamp,
    /// Neither code works after this.
    pub expires_at: Timestamp,
    /// When the user approved.
    pub approved_at: Option<Timestamp>,
    /// When the application's policies refused the user.
    pub denied_at: Option<Timestamp>,
    /// The device's last poll, for `slow_down`.
    pub last_polled_at: Option<Timestamp>,
    /// When the device got its tokens.
    pub used_at: Option<Timestamp>,
}

macro_rules! device_columns {
    () => {
        "id, device_code_hash, user_code, provider_id, scope, user_id, session_id, auth_time, \
         auth_methods, created_at, expires_at, approved_at, denied_at, last_polled_at, used_at"
    };
}

/// Stores a new device authorization. A taken user code is
/// [`super::StorageError::Conflict`] (the caller draws another).
pub async fn create_device_code(
    db: &mut impl Db,
    device_code_hash: String,
    user_code: String,
    provider_id: ProviderId,
    scope: String,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<DeviceCode> {
    let device = DeviceCode {
        id: DeviceCodeId::new(),
        device_code_hash,
        user_code,
        provider_id,
        scope,
        user_id: None,
        session_id: None,
        auth_time: None,
        auth_methods: Value::Array(Vec::new()),
        created_at: now,
        expires_at,
        approved_at: None,
        denied_at: None,
        last_polled_at: None,
        used_at: None,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO oauth2_device_codes (id, device_code_hash, user_code, provider_id, \
             scope, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(device.id)
        .bind(&device.device_code_hash)
        .bind(&device.user_code)
        .bind(device.provider_id)
        .bind(&device.scope)
        .bind(device.created_at)
        .bind(device.expires_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(device)
}

/// The device authorization the device polls for with this hash.
pub async fn find_device_code(
    db: &mut impl Db,
    device_code_hash: &str,
) -> Result<Option<DeviceCode>> {
    let sql = concat!(
        "SELECT ",
        device_columns!(),
        " FROM oauth2_device_codes WHERE device_code_hash = $1"
    );
    fetch_optional!(db, sql, device_code_hash)
}

/// The device authorization a user typed the code of.
pub async fn find_user_code(db: &mut impl Db, user_code: &str) -> Result<Option<DeviceCode>> {
    let sql = concat!(
        "SELECT ",
        device_columns!(),
        " FROM oauth2_device_codes WHERE user_code = $1"
    );
    fetch_optional!(db, sql, user_code)
}

/// Records the user's approval (first one wins). Returns whether this call did.
pub async fn approve_device_code(
    db: &mut impl Db,
    id: DeviceCodeId,
    user: UserId,
    session: Option<SessionId>,
    auth_time: Timestamp,
    auth_methods: &Value,
    now: Timestamp,
) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE oauth2_device_codes SET user_id = $2, session_id = $3, auth_time = $4, \
             auth_methods = $5, approved_at = $6 \
             WHERE id = $1 AND approved_at IS NULL AND denied_at IS NULL",
        )
        .bind(id)
        .bind(user)
        .bind(session)
        .bind(auth_time)
        .bind(Json(auth_methods))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Records that the user may not have the device signed in.
pub async fn deny_device_code(db: &mut impl Db, id: DeviceCodeId, now: Timestamp) -> Result<()> {
    dispatch!(db, |c| {
        sqlx::query(
            "UPDATE oauth2_device_codes SET denied_at = $2 \
             WHERE id = $1 AND approved_at IS NULL AND denied_at IS NULL",
        )
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Records a poll of the device.
pub async fn poll_device_code(db: &mut impl Db, id: DeviceCodeId, now: Timestamp) -> Result<()> {
    dispatch!(db, |c| {
        sqlx::query("UPDATE oauth2_device_codes SET last_polled_at = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    Ok(())
}

/// Marks the device authorization exchanged. Returns whether this call did.
pub async fn use_device_code(db: &mut impl Db, id: DeviceCodeId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE oauth2_device_codes SET used_at = $2 \
             WHERE id = $1 AND used_at IS NULL AND approved_at IS NOT NULL",
        )
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

#[cfg(test)]
mod tests;
