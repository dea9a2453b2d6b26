//! The OpenID Connect provider's per-application endpoints, at authentik's paths:
//! discovery (`/application/o/<slug>/.well-known/openid-configuration`), the JWKS
//! (`/application/o/<slug>/jwks/`) and RP-initiated logout
//! (`/application/o/<slug>/end-session/`).

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use gatehouse_core::oauth2::{self, Client};
use gatehouse_core::oidc::keys::jwks;
use gatehouse_core::secrets::hash_key;
use gatehouse_core::storage::sessions;
use openidconnect::core::{
    CoreAuthDisplay, CoreClaimName, CoreClaimType, CoreClientAuthMethod, CoreGrantType,
    CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJweKeyManagementAlgorithm,
    CoreResponseMode, CoreResponseType, CoreSubjectIdentifierType,
};
use openidconnect::{
    AdditionalProviderMetadata, AuthUrl, EndSessionUrl, IssuerUrl, JsonWebKeySetUrl,
    LogoutProviderMetadata, ProviderMetadata, ResponseTypes, Scope, TokenUrl, UserInfoUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::http::flows::{Caller, SESSION_COOKIE, now};
use crate::state::AppState;

fn not_found() -> Response {
    (StatusCode::NOT_FOUND, Json(json!({"detail": "Not found."}))).into_response()
}

fn unavailable() -> Response {
    (
        StatusCode::SERVICE_UNAVAILABLE,
        Json(json!({"detail": "The database did not answer."})),
    )
        .into_response()
}

/// The OAuth2 client of application `slug`: `Err` is the response to give instead.
async fn client_for(state: &AppState, slug: &str) -> Result<Client, Response> {
    let Ok(mut db) = state.store.acquire().await else {
        return Err(unavailable());
    };
    match oauth2::client_of_application(&mut db, slug).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(not_found()),
        Err(_) => Err(unavailable()),
    }
}

/// The key that signs `client`'s tokens, if it has a usable one.
async fn signing_key(
    state: &AppState,
    client: &Client,
) -> Result<Option<std::sync::Arc<gatehouse_core::oidc::keys::SigningKey>>, Response> {
    let Ok(mut db) = state.store.acquire().await else {
        return Err(unavailable());
    };
    oauth2::signing_key_of(&mut db, &client.settings)
        .await
        .map_err(|_| unavailable())
}

/// `GET /application/o/<slug>/jwks/`: the public key that verifies the tokens of the
/// application's OAuth2 provider.
pub async fn jwks_of(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let client = match client_for(&state, &slug).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let key = match signing_key(&state, &client).await {
        Ok(key) => key,
        Err(response) => return response,
    };
    let keys: Vec<_> = key.iter().map(|k| k.as_ref()).collect();
    let mut response = Json(jwks(&keys)).into_response();
    // Relying parties cache keys; an hour keeps rotation quick enough.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

/// Discovery fields openidconnect's metadata type does not have.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Extra {
    code_challenge_methods_supported: Vec<String>,
    introspection_endpoint: String,
    introspection_endpoint_auth_methods_supported: Vec<CoreClientAuthMethod>,
    revocation_endpoint: String,
    revocation_endpoint_auth_methods_supported: Vec<CoreClientAuthMethod>,
    device_authorization_endpoint: String,
    /// RFC 9207: the answer to an authorization request names its issuer.
    authorization_response_iss_parameter_supported: bool,
}

impl AdditionalProviderMetadata for Extra {}

type Metadata = ProviderMetadata<
    LogoutProviderMetadata<Extra>,
    CoreAuthDisplay,
    CoreClientAuthMethod,
    CoreClaimName,
    CoreClaimType,
    CoreGrantType,
    CoreJweContentEncryptionAlgorithm,
    CoreJweKeyManagementAlgorithm,
    CoreJsonWebKey,
    CoreResponseMode,
    CoreResponseType,
    CoreSubjectIdentifierType,
>;

/// `GET /application/o/<slug>/.well-known/openid-configuration`: where everything
/// is, and what the provider supports. Every endpoint named here exists.
pub async fn discovery(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    caller: Caller,
) -> Response {
    let client = match client_for(&state, &slug).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let algorithm = match signing_key(&state, &client).await {
        Ok(Some(key)) => key.algorithm(),
        Ok(None) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({"detail": "The provider has no usable signing key."})),
            )
                .into_response();
        }
        Err(response) => return response,
    };
    match metadata(&client, &caller.base_url(), &slug, algorithm) {
        Ok(metadata) => {
            let mut response = Json(metadata).into_response();
            response.headers_mut().insert(
                header::CACHE_CONTROL,
                HeaderValue::from_static("public, max-age=300"),
            );
            response
        }
        Err(err) => {
            tracing::warn!(error = %err, "cannot build discovery document");
            (
                StatusCode::BAD_REQUEST,
                Json(json!({"detail": "The Host header does not make a valid URL."})),
            )
                .into_response()
        }
    }
}

fn metadata(
    client: &Client,
    base: &str,
    slug: &str,
    algorithm: openidconnect::core::CoreJwsSigningAlgorithm,
) -> Result<Metadata, openidconnect::url::ParseError> {
    let endpoint = |path: &str| format!("{base}/application/o/{path}");
    let auth_methods = vec![
        CoreClientAuthMethod::ClientSecretBasic,
        CoreClientAuthMethod::ClientSecretPost,
    ];
    let extra = Extra {
        code_challenge_methods_supported: vec!["S256".into()],
        introspection_endpoint: endpoint("introspect/"),
        introspection_endpoint_auth_methods_supported: auth_methods.clone(),
        revocation_endpoint: endpoint("revoke/"),
        revocation_endpoint_auth_methods_supported: auth_methods.clone(),
        device_authorization_endpoint: endpoint("device/"),
        authorization_response_iss_parameter_supported: true,
    };
    let claims = [
        "sub",
        "iss",
        "aud",
        "exp",
        "iat",
        "auth_time",
        "nonce",
        "amr",
        "sid",
        "email",
        "email_verified",
        "name",
        "given_name",
        "preferred_username",
        "nickname",
        "groups",
    ];
    Ok(Metadata::new(
        IssuerUrl::new(client.issuer(base))?,
        AuthUrl::new(endpoint("authorize/"))?,
        JsonWebKeySetUrl::new(endpoint(&format!("{slug}/jwks/")))?,
        vec![ResponseTypes::new(vec![CoreResponseType::Code])],
        vec![CoreSubjectIdentifierType::Public],
        vec![algorithm],
        LogoutProviderMetadata {
            end_session_endpoint: Some(EndSessionUrl::new(endpoint(&format!(
                "{slug}/end-session/"
            )))?),
            additional_metadata: extra,
        },
    )
    .set_token_endpoint(Some(TokenUrl::new(endpoint("token/"))?))
    .set_userinfo_endpoint(Some(UserInfoUrl::new(endpoint("userinfo/"))?))
    .set_scopes_supported(Some(
        ["openid", "email", "profile", "offline_access"]
            .into_iter()
            .map(|s| Scope::new(s.into()))
            .collect(),
    ))
    .set_response_modes_supported(Some(vec![CoreResponseMode::Query]))
    .set_grant_types_supported(Some(vec![
        CoreGrantType::AuthorizationCode,
        CoreGrantType::RefreshToken,
        CoreGrantType::ClientCredentials,
        CoreGrantType::DeviceCode,
    ]))
    .set_token_endpoint_auth_methods_supported(Some(auth_methods))
    .set_claims_supported(Some(
        claims
            .into_iter()
            .map(|c| CoreClaimName::new(c.into()))
            .collect(),
    )))
}

/// `GET|POST /application/o/<slug>/end-session/` (OpenID Connect RP-Initiated
/// Logout): ends the caller's core session, then goes to `post_logout_redirect_uri`
/// when it is one of the application's redirect URIs, or to the start page.
pub async fn end_session(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(query): Query<HashMap<String, String>>,
    caller: Caller,
) -> Response {
    let client = match client_for(&state, &slug).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let now = now();
    if let Some(key) = caller.cookie(SESSION_COOKIE) {
        let Ok(mut db) = state.store.acquire().await else {
            return unavailable();
        };
        match sessions::find_active_by_key_hash(&mut db, &hash_key(key), now).await {
            Ok(Some(session)) => {
                if sessions::revoke(&mut db, session.id, now).await.is_err() {
                    return unavailable();
                }
                drop(db);
                state
                    .hub
                    .publish(crate::outposts::Change::Revocations)
                    .await;
            }
            Ok(None) => {}
            Err(_) => return unavailable(),
        }
    }
    let to = match query.get("post_logout_redirect_uri") {
        Some(uri) if client.redirect_allowed(uri) => match openidconnect::url::Url::parse(uri) {
            Ok(mut url) => {
                if let Some(state) = query.get("state") {
                    url.query_pairs_mut().append_pair("state", state);
                }
                url.to_string()
            }
            Err(_) => "/".to_owned(),
        },
        _ => "/".to_owned(),
    };
    let mut response = Redirect::to(&to).into_response();
    let mut removal = cookie::Cookie::build((SESSION_COOKIE, ""))
        .path("/")
        .http_only(true)
        .secure(caller.tls())
        .same_site(cookie::SameSite::Lax)
        .build();
    removal.make_removal();
    if let Ok(value) = HeaderValue::from_str(&removal.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, value);
    }
    response
}
