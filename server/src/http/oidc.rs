//! The OpenID Connect provider's endpoints, at authentik's paths. So far: the JWKS
//! of each application's provider (`/application/o/<slug>/jwks/`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use gatehouse_config::objects::OAuth2Provider;
use gatehouse_core::ids::CertificateKeyPairId;
use gatehouse_core::oidc::keys::{SigningKey, jwks};
use gatehouse_core::storage::providers::ProviderKind;
use gatehouse_core::storage::{applications, certificates, providers};
use serde_json::json;

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

/// `GET /application/o/<slug>/jwks/`: the public keys that verify the tokens of the
/// application's OAuth2 provider (none when it signs with its client secret).
pub async fn jwks_of(State(state): State<AppState>, Path(slug): Path<String>) -> Response {
    let Ok(mut db) = state.store.acquire().await else {
        return unavailable();
    };
    let provider = match applications::find_by_slug(&mut db, &slug).await {
        Ok(Some(app)) => match app.provider_id {
            Some(id) => providers::get(&mut db, id).await,
            None => Ok(None),
        },
        Ok(None) => Ok(None),
        Err(err) => Err(err),
    };
    let provider = match provider {
        Ok(Some(p)) if p.kind == ProviderKind::OAuth2 => p,
        Ok(_) => return not_found(),
        Err(_) => return unavailable(),
    };
    let settings: OAuth2Provider =
        gatehouse_config::objects::deserialize(provider.settings).unwrap_or_default();
    let mut keys = Vec::new();
    if let Some(id) = settings.signing_key {
        match certificates::get(&mut db, CertificateKeyPairId(id)).await {
            Ok(Some(pair)) => match pair.key_pem.as_deref().map(SigningKey::from_pem) {
                Some(Ok(key)) => keys.push(key),
                Some(Err(err)) => {
                    tracing::error!(pair = %pair.name, error = %err, "signing key unusable");
                }
                None => tracing::error!(pair = %pair.name, "signing pair has no private key"),
            },
            Ok(None) => {}
            Err(_) => return unavailable(),
        }
    }
    let set = jwks(&keys.iter().collect::<Vec<_>>());
    let mut response = Json(set).into_response();
    // Relying parties cache keys; an hour keeps rotation quick enough.
    response.headers_mut().insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}
