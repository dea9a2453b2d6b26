//! What a client or resource server does with an access token: userinfo, and the
//! introspection (RFC 7662) and revocation (RFC 7009) endpoints.

use std::sync::Arc;

use serde_json::{Map, Value as Json, json};

use super::grants::{ClientAuth, authenticate};
use super::{CachedToken, Caches, LazyConn, OAuthError, claims, client_of, split_scopes};
use crate::Timestamp;
use crate::policies::who;
use crate::secrets::hash_key;
use crate::storage::oauth2::{self, TokenKind};
use crate::storage::{Store, providers, users};

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
    let mut claims = claims::scope_claims(db, &client, &scopes, &found).await?;
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
