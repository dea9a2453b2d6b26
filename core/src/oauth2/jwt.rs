//! Access tokens as JWTs (RFC 9068): the claims, serialised and signed by the
//! provider's key through openidconnect's signing trait. ID tokens go through
//! openidconnect's own `IdToken`.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::PrivateSigningKey;
use serde_json::{Map, Value as Json, json};

use super::OAuthError;
use crate::oidc::keys::SigningKey;

/// `claims` signed by `key` as a compact JWS with `typ: at+jwt`.
pub(super) fn sign_access_token(
    key: &SigningKey,
    claims: &Map<String, Json>,
) -> Result<String, OAuthError> {
    let algorithm = key.algorithm();
    let header = json!({"alg": algorithm, "kid": key.kid(), "typ": "at+jwt"});
    let encode = |value: &Json| {
        serde_json::to_vec(value)
            .map(|bytes| URL_SAFE_NO_PAD.encode(bytes))
            .map_err(|e| OAuthError::ServerError(format!("cannot encode a token: {e}")))
    };
    let mut jws = encode(&header)?;
    jws.push('.');
    jws.push_str(&encode(&Json::Object(claims.clone()))?);
    let signature = key
        .sign(&algorithm, jws.as_bytes())
        .map_err(|e| OAuthError::ServerError(format!("cannot sign a token: {e}")))?;
    jws.push('.');
    jws.push_str(&URL_SAFE_NO_PAD.encode(signature));
    Ok(jws)
}
