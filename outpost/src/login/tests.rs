use chrono::{DateTime, Utc};
use gatehouse_config::objects::ProxyMode;
use gatehouse_core::oidc::keys::{SigningKey, jwks};
use openidconnect::{
    Audience, EndUserEmail, EndUserName, EndUserUsername, IdTokenClaims, LocalizedClaim,
    StandardClaims, SubjectIdentifier,
};

use super::*;
use crate::testing::snapshot;

const NOW: i64 = 1_800_000_000;
const CORE: &str = "https://id.example.org";

fn key() -> SigningKey {
    let pair = rcgen::KeyPair::generate().unwrap();
    SigningKey::from_pem(&pair.serialize_pem()).unwrap()
}

/// The test snapshot's provider, its JWKS made of `key`'s public half.
fn provider(key: &SigningKey) -> ProviderSnapshot {
    let mut provider = snapshot(ProxyMode::ForwardDomain).providers.remove(0);
    provider.settings.client_id = "outpost-client".into();
    provider.settings.client_secret = "outpost-secret".into();
    provider.jwks = serde_json::to_value(jwks(&[key])).unwrap();
    provider
}

struct Token<'a> {
    key: &'a SigningKey,
    issuer: String,
    audience: &'a str,
    nonce: &'a str,
    sub: String,
    sid: Option<String>,
    expires: i64,
}

impl Token<'_> {
    fn sign(&self) -> String {
        let time = |t: i64| DateTime::<Utc>::from_timestamp(t, 0).unwrap();
        let mut name = LocalizedClaim::new();
        name.insert(None, EndUserName::new("Ada Lovelace".into()));
        let claims = IdTokenClaims::new(
            IssuerUrl::new(self.issuer.clone()).unwrap(),
            vec![Audience::new(self.audience.into())],
            time(self.expires),
            time(NOW - 5),
            StandardClaims::new(SubjectIdentifier::new(self.sub.clone()))
                .set_preferred_username(Some(EndUserUsername::new("ada".into())))
                .set_email(Some(EndUserEmail::new("ada@example.org".into())))
                .set_name(Some(name)),
            ProxyClaims {
                sid: self.sid.clone(),
                groups: vec!["ops".into(), "staff".into()],
                gatehouse_proxy: ProxyExtra {
                    user_attributes: serde_json::json!({"team": "red"}),
                    is_superuser: false,
                },
            },
        )
        .set_nonce(Some(Nonce::new(self.nonce.into())));
        ProxyIdToken::new(claims, self.key, self.key.algorithm(), None, None)
            .unwrap()
            .to_string()
    }
}

fn pending(nonce: &str) -> PendingLogin {
    PendingLogin {
        state: "the-state".into(),
        nonce: nonce.into(),
        pkce_verifier: "v".repeat(43),
        rd: "https://prom.example.org/graph".into(),
        expires_at: NOW + 60,
    }
}

#[test]
fn begin_asks_for_the_code_flow_with_pkce_state_and_nonce() {
    let key = key();
    let provider = provider(&key);
    let issuer = issuer(CORE, "prometheus");
    let callback = "https://prom.example.org/outpost.gatehouse/callback";
    let (url, pending) = begin(
        &provider,
        CORE,
        &issuer,
        callback,
        "https://grafana.example.org/d/1?x=y",
        NOW,
    )
    .unwrap();
    let url: openidconnect::url::Url = url.parse().unwrap();
    assert_eq!(
        url.as_str().split('?').next(),
        Some("https://id.example.org/application/o/authorize/")
    );
    let query: std::collections::HashMap<_, _> = url.query_pairs().into_owned().collect();
    assert_eq!(query["response_type"], "code");
    assert_eq!(query["client_id"], "outpost-client");
    assert_eq!(query["redirect_uri"], callback);
    assert_eq!(query["scope"], "openid");
    assert_eq!(query["state"], pending.state);
    assert_eq!(query["nonce"], pending.nonce);
    assert_eq!(query["code_challenge_method"], "S256");
    assert!(!pending.pkce_verifier.is_empty());
    // Domain mode: another host under the cookie domain is a place to come back to.
    assert_eq!(pending.rd, "https://grafana.example.org/d/1?x=y");
    assert_eq!(pending.expires_at, NOW + LOGIN_LIFETIME);
}

#[test]
fn rd_never_leaves_the_providers_hosts() {
    let settings = provider(&key()).settings;
    let home = settings.external_host.clone();
    for (rd, kept) in [
        ("https://prom.example.org/graph", true),
        ("https://a.b.example.org/", true),
        ("https://evil.test/", false),
        ("https://example.org.evil.test/", false),
        ("https://evil.test\\.example.org/", false),
        ("https://user@evil.test/", false),
        ("//evil.test/", false),
        ("javascript:alert(1)", false),
        ("/relative", false),
        ("", false),
    ] {
        let got = safe_rd(&settings, rd);
        assert_eq!(got == rd, kept, "{rd} gave {got}");
        if !kept {
            assert_eq!(got, home);
        }
    }
}

#[test]
fn a_verified_id_token_makes_the_session_with_the_users_groups_and_attributes() {
    let key = key();
    let provider = provider(&key);
    let issuer = issuer(CORE, "prometheus");
    let (sid, uid) = (Uuid::new_v4(), Uuid::new_v4());
    let token = Token {
        key: &key,
        issuer: issuer.clone(),
        audience: "outpost-client",
        nonce: "the-nonce",
        sub: uid.to_string(),
        sid: Some(sid.to_string()),
        expires: NOW + 300,
    };
    let session = finish(
        &provider,
        &issuer,
        &pending("the-nonce"),
        "the-state",
        &token.sign(),
        NOW,
    )
    .unwrap();
    assert_eq!(session.sid, sid);
    assert_eq!(session.uid, uid);
    assert_eq!(session.username, "ada");
    assert_eq!(session.email, "ada@example.org");
    assert_eq!(session.name, "Ada Lovelace");
    assert_eq!(session.groups, vec!["ops".to_owned(), "staff".to_owned()]);
    assert_eq!(session.attributes, serde_json::json!({"team": "red"}));
    assert_eq!(session.issued_at, NOW - 5);
    // The provider's default validity: 24 hours.
    assert_eq!(session.expires_at, NOW + 86_400);
}

#[test]
fn a_token_that_does_not_verify_or_a_stale_login_makes_no_session() {
    let key = key();
    let provider = provider(&key);
    let issuer = issuer(CORE, "prometheus");
    let good = || Token {
        key: &key,
        issuer: issuer.clone(),
        audience: "outpost-client",
        nonce: "the-nonce",
        sub: Uuid::new_v4().to_string(),
        sid: Some(Uuid::new_v4().to_string()),
        expires: NOW + 300,
    };
    let check = |raw: &str, state: &str, pending: &PendingLogin| {
        finish(&provider, &issuer, pending, state, raw, NOW)
    };
    let p = pending("the-nonce");
    assert!(check(&good().sign(), "the-state", &p).is_ok());
    let other_key = crate::login::tests::key();
    let cases: Vec<(&str, String)> = vec![
        (
            "another key",
            Token {
                key: &other_key,
                ..good()
            }
            .sign(),
        ),
        (
            "another nonce",
            Token {
                nonce: "other",
                ..good()
            }
            .sign(),
        ),
        (
            "another audience",
            Token {
                audience: "other-client",
                ..good()
            }
            .sign(),
        ),
        (
            "another issuer",
            Token {
                issuer: issuer_of_other(),
                ..good()
            }
            .sign(),
        ),
        (
            "expired",
            Token {
                expires: NOW - 1,
                ..good()
            }
            .sign(),
        ),
        (
            "no sid",
            Token {
                sid: None,
                ..good()
            }
            .sign(),
        ),
        (
            "a sub that is no user id",
            Token {
                sub: "ada".into(),
                ..good()
            }
            .sign(),
        ),
        ("garbage", "not.a.jwt".into()),
    ];
    for (what, raw) in cases {
        assert!(check(&raw, "the-state", &p).is_err(), "{what} was accepted");
    }
    assert!(matches!(
        check(&good().sign(), "other-state", &p),
        Err(LoginError::Stale)
    ));
    let mut old = pending("the-nonce");
    old.expires_at = NOW;
    assert!(matches!(
        check(&good().sign(), "the-state", &old),
        Err(LoginError::Stale)
    ));
}

fn issuer_of_other() -> String {
    issuer(CORE, "other-app")
}
