//! Minting tokens: the access token (a JWT), the refresh token with
//! `offline_access` and the ID token with `openid`, signed by the provider's key and
//! returned with the records that make them valid once stored.

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AdditionalClaims, Audience, AuthenticationMethodReference, ClientId, IdToken,
    IdTokenClaims, IssuerUrl, Nonce, StandardClaims, SubjectIdentifier,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};

use super::claims::{self, OFFLINE_ACCESS, OPENID};
use super::grants::TokenResponse;
use super::{Client, OAuthError, signing_key_of};
use crate::Timestamp;
use crate::ids::{GrantId, OAuth2TokenId, SessionId, UserId};
use crate::policies::Who;
use crate::secrets::{hash_key, random_key};
use crate::storage::Db;
use crate::storage::oauth2::{NewToken, TokenKind};

/// Claims beyond the standard ones in an ID token: the scope mappings' and `sid`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    #[serde(flatten)]
    claims: Map<String, Json>,
}

impl AdditionalClaims for Extra {}

type SignedIdToken =
    IdToken<Extra, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// What tokens are issued for.
pub(super) struct Issue<'a> {
    pub(super) client: &'a Client,
    pub(super) who: &'a Who,
    pub(super) user_id: UserId,
    pub(super) grant: GrantId,
    pub(super) scopes: Vec<String>,
    pub(super) nonce: Option<String>,
    pub(super) auth_time: Option<Timestamp>,
    pub(super) auth_methods: Json,
    pub(super) session_id: Option<SessionId>,
}

fn chrono_time(at: Timestamp) -> DateTime<Utc> {
    DateTime::from_timestamp(at.unix_timestamp(), 0).unwrap_or_default()
}

fn lifetime(delta: &gatehouse_config::objects::TimeDelta) -> time::Duration {
    time::Duration::try_from(delta.duration()).unwrap_or(time::Duration::MINUTE)
}

/// Signs an access token, a refresh token with `offline_access`, and an ID token with
/// `openid`; returns them with the records that make them valid once stored.
pub(super) async fn issue(
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
    let scope_claims = claims::scope_claims(db, client, &issue.scopes, issue.who).await?;
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
