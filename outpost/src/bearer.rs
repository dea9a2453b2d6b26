//! `Authorization: Bearer` access tokens of the core (`intercept_header_auth`): a
//! client that holds one of the provider's access tokens (a script, another
//! service) is let in without a cookie. The token is checked locally, against the
//! JWKS the control channel brought: signed (RS256 or ES256) by the key that signs
//! the provider's tokens, typed as an access token (`typ: at+jwt`, so the client's
//! ID tokens do not pass), issued to the provider's client (`aud`), and in force
//! (`exp`, `nbf`). The issuer is not compared: it is the core's URL as the browser
//! reached it, which the outpost may know by another name; the key and audience
//! already bind the token to this provider. The identity comes from its claims, as the sign-in reads the ID
//! token's. A token revoked at the core still passes until it expires, unless its
//! session (`sid`) or user is revoked, which outposts hear about.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreJsonWebKeySet, CoreJwsSigningAlgorithm};
use openidconnect::{JsonWebKey, JsonWebKeyId};
use serde::Deserialize;
use serde_json::Value as Json;
use uuid::Uuid;

use crate::session::OutpostSession;

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
}

#[derive(Deserialize)]
struct Claims {
    sub: String,
    #[serde(default)]
    aud: Audience,
    exp: i64,
    #[serde(default)]
    iat: i64,
    nbf: Option<i64>,
    sid: Option<Uuid>,
    #[serde(default)]
    preferred_username: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    groups: Vec<String>,
    #[serde(default)]
    gatehouse_proxy: Proxy,
}

#[derive(Deserialize, Default)]
#[serde(untagged)]
enum Audience {
    One(String),
    Many(Vec<String>),
    #[default]
    None,
}

#[derive(Deserialize, Default)]
struct Proxy {
    #[serde(default)]
    user_attributes: Json,
}

/// The session an access token stands for, or `None` when it is not a valid token
/// of `client_id` signed by a key of `jwks` at `now`.
pub fn open(
    jwks: &CoreJsonWebKeySet,
    client_id: &str,
    token: &str,
    now: i64,
) -> Option<OutpostSession> {
    let mut parts = token.split('.');
    let (Some(header), Some(payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let head: Header = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(header).ok()?).ok()?;
    // An access token, not an ID token of the same client (RFC 9068 `typ`).
    let typ = head.typ.as_deref().unwrap_or_default();
    if !typ.eq_ignore_ascii_case("at+jwt") && !typ.eq_ignore_ascii_case("application/at+jwt") {
        return None;
    }
    let alg = match head.alg.as_str() {
        "RS256" => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
        "ES256" => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        _ => return None,
    };
    let signature = URL_SAFE_NO_PAD.decode(signature).ok()?;
    let signed = &token[..header.len() + 1 + payload.len()];
    let kid = head.kid.map(JsonWebKeyId::new);
    let verified = jwks
        .keys()
        .iter()
        .filter(|key| kid.is_none() || key.key_id() == kid.as_ref())
        .any(|key| {
            key.verify_signature(&alg, signed.as_bytes(), &signature)
                .is_ok()
        });
    if !verified {
        return None;
    }
    let claims: Claims = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).ok()?).ok()?;
    let for_client = match &claims.aud {
        Audience::One(aud) => aud == client_id,
        Audience::Many(auds) => auds.iter().any(|a| a == client_id),
        Audience::None => false,
    };
    if !for_client || claims.exp <= now || claims.nbf.is_some_and(|nbf| nbf > now) {
        return None;
    }
    Some(OutpostSession {
        // A token without a session (client credentials) is revoked by user only.
        sid: claims.sid.unwrap_or(Uuid::nil()),
        uid: claims.sub.parse().ok()?,
        username: claims.preferred_username,
        email: claims.email,
        name: claims.name,
        groups: claims.groups,
        attributes: claims.gatehouse_proxy.user_attributes,
        issued_at: claims.iat,
        expires_at: claims.exp,
    })
}

#[cfg(test)]
mod tests {
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    use super::*;

    const NOW: i64 = 1_800_000_000;

    struct Signer {
        pair: EcdsaKeyPair,
        jwks: CoreJsonWebKeySet,
    }

    fn signer(kid: &str) -> Signer {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        // The uncompressed point: 0x04, then x and y.
        let point = pair.public_key().as_ref();
        let jwk = json!({
            "kty": "EC", "crv": "P-256", "use": "sig", "alg": "ES256", "kid": kid,
            "x": URL_SAFE_NO_PAD.encode(&point[1..33]),
            "y": URL_SAFE_NO_PAD.encode(&point[33..65]),
        });
        Signer {
            pair,
            jwks: serde_json::from_value(json!({"keys": [jwk]})).unwrap(),
        }
    }

    impl Signer {
        fn sign(&self, kid: &str, claims: &Json) -> String {
            self.sign_typed(kid, "at+jwt", claims)
        }

        fn sign_typed(&self, kid: &str, typ: &str, claims: &Json) -> String {
            let head =
                URL_SAFE_NO_PAD.encode(json!({"alg": "ES256", "kid": kid, "typ": typ}).to_string());
            let body = URL_SAFE_NO_PAD.encode(claims.to_string());
            let signed = format!("{head}.{body}");
            let signature = self
                .pair
                .sign(&SystemRandom::new(), signed.as_bytes())
                .unwrap();
            format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()))
        }
    }

    fn claims(uid: Uuid) -> Json {
        json!({
            "iss": "https://id.example.org/application/o/prometheus/",
            "sub": uid.to_string(), "aud": "proxy-client", "exp": NOW + 300, "iat": NOW - 10,
            "sid": Uuid::from_u128(9).to_string(), "preferred_username": "ada",
            "email": "ada@example.org", "name": "Ada", "groups": ["ops"],
            "gatehouse_proxy": {"user_attributes": {"team": "infra"}, "is_superuser": false}
        })
    }

    #[test]
    fn a_token_of_the_providers_client_signed_by_its_key_is_a_session() {
        let key = signer("k1");
        let uid = Uuid::new_v4();
        let session = open(
            &key.jwks,
            "proxy-client",
            &key.sign("k1", &claims(uid)),
            NOW,
        )
        .unwrap();
        assert_eq!(session.uid, uid);
        assert_eq!(session.sid, Uuid::from_u128(9));
        assert_eq!(session.username, "ada");
        assert_eq!(session.groups, ["ops"]);
        assert_eq!(session.attributes["team"], "infra");
        assert_eq!(
            (session.issued_at, session.expires_at),
            (NOW - 10, NOW + 300)
        );
    }

    #[test]
    fn other_clients_other_keys_expired_and_tampered_tokens_are_not() {
        let key = signer("k1");
        let uid = Uuid::new_v4();
        let token = key.sign("k1", &claims(uid));
        assert!(
            open(&key.jwks, "another-client", &token, NOW).is_none(),
            "audience"
        );
        assert!(
            open(&key.jwks, "proxy-client", &token, NOW + 300).is_none(),
            "expired"
        );
        let mut early = claims(uid);
        early["nbf"] = json!(NOW + 60);
        assert!(
            open(&key.jwks, "proxy-client", &key.sign("k1", &early), NOW).is_none(),
            "not yet"
        );
        let stranger = signer("k1");
        assert!(
            open(&stranger.jwks, "proxy-client", &token, NOW).is_none(),
            "another key"
        );
        // The payload swapped for another user's, the signature kept.
        let (head, rest) = token.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let forged_body = URL_SAFE_NO_PAD.encode(claims(Uuid::new_v4()).to_string());
        let forged = format!("{head}.{forged_body}.{signature}");
        assert!(
            open(&key.jwks, "proxy-client", &forged, NOW).is_none(),
            "tampered"
        );
        // alg "none", HS256 and garbage.
        let none = format!(
            "{}.{forged_body}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#)
        );
        assert!(
            open(&key.jwks, "proxy-client", &none, NOW).is_none(),
            "alg none"
        );
        let hs = format!(
            "{}.{forged_body}.{signature}",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"HS256"}"#)
        );
        assert!(open(&key.jwks, "proxy-client", &hs, NOW).is_none(), "HS256");
        for garbage in ["", "a.b", "a.b.c.d", "....", "ü.ü.ü"] {
            assert!(
                open(&key.jwks, "proxy-client", garbage, NOW).is_none(),
                "{garbage}"
            );
        }
        let mut no_user = claims(uid);
        no_user["sub"] = json!("not-a-uuid");
        assert!(
            open(&key.jwks, "proxy-client", &key.sign("k1", &no_user), NOW).is_none(),
            "sub"
        );
        let id_token = key.sign_typed("k1", "JWT", &claims(uid));
        assert!(
            open(&key.jwks, "proxy-client", &id_token, NOW).is_none(),
            "an ID token"
        );
        let mut many = claims(uid);
        many["aud"] = json!(["other", "proxy-client"]);
        assert!(
            open(&key.jwks, "proxy-client", &key.sign("k1", &many), NOW).is_some(),
            "one of many"
        );
    }
}
