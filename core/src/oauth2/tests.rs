use std::sync::OnceLock;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use openidconnect::core::{CoreIdToken, CoreIdTokenVerifier};
use openidconnect::{ClientId, IssuerUrl, Nonce};
use serde_json::{Value as Json, json};
use sha2::{Digest, Sha256};

use super::*;
use crate::blueprints::apply::{apply_shipped_cheaply, apply_text_cheaply as apply_text};
use crate::flows::{Challenge, RequestInfo, Throttle, executor};
use crate::ids::UserId;
use crate::secrets::{PasswordCost, hash_key};
use crate::storage::sessions::{self, NewSession};
use crate::storage::testing::{storage_test, t0};
use crate::storage::{Store, users};

const BASE: &str = "https://id.test";
const VERIFIER: &str = "a-verifier-of-the-right-length-0123456789-abcdefghij";

/// Relying parties: a confidential one with refresh tokens, a public one, one that
/// asks for consent once, and the seed's Gitea (from its example blueprint).
const CLIENTS: &str = r#"version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    id: rp
    identifiers: {name: RP}
    attrs:
      client_id: rp
      client_secret: rp-secret-rp-secret-rp-secret
      redirect_uris: [{url: "https://rp.test/cb"}, {url: "https://rp\\.test/re/[a-z]+", matching_mode: regex}]
      authorization_flow: !Find [gatehouse_flows.flow, [slug, default-provider-authorization-implicit-consent]]
      property_mappings:
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-openid]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-email]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-offline_access]]
  - model: gatehouse_core.application
    identifiers: {slug: rp}
    attrs: {name: RP, provider: !KeyOf rp}
  - model: gatehouse_providers_oauth2.oauth2provider
    id: spa
    identifiers: {name: SPA}
    attrs:
      client_id: spa
      client_type: public
      redirect_uris: [{url: "https://spa.test/cb"}]
  - model: gatehouse_core.application
    identifiers: {slug: spa}
    attrs: {name: SPA, provider: !KeyOf spa}
  - model: gatehouse_stages_consent.consentstage
    id: once
    identifiers: {name: consent-once}
    attrs: {mode: permanent}
  - model: gatehouse_flows.flow
    id: ask
    identifiers: {slug: ask-once}
    attrs: {name: Ask once, designation: authorization, authentication: require_authenticated}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf ask, stage: !KeyOf once, order: 0}
  - model: gatehouse_providers_oauth2.oauth2provider
    id: asking
    identifiers: {name: Asking}
    attrs:
      client_id: asking
      client_secret: asking-secret-asking-secret
      redirect_uris: [{url: "https://asking.test/cb"}]
      authorization_flow: !KeyOf ask
      property_mappings:
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-email]]
  - model: gatehouse_core.application
    identifiers: {slug: asking}
    attrs: {name: Asking App, provider: !KeyOf asking}
  - model: gatehouse_core.user
    identifiers: {username: ada}
    attrs:
      email: ada@example.org
      name: Ada
      groups: [!Find [gatehouse_core.group, [name, Admins]], !Find [gatehouse_core.group, [name, Users]]]
"#;

/// One RSA pair for every test: making one takes seconds in a debug build.
pub(crate) fn test_pair() -> (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let pair = crate::oidc::keys::generate_rsa_pair("test", t0().as_datetime()).unwrap();
        (pair.certificate_pem, pair.key_pem)
    })
    .clone()
}

/// Makes the test pair the instance's self-signed signing key.
pub(crate) async fn with_self_signed(store: &Store) {
    let (certificate_pem, key_pem) = test_pair();
    crate::oidc::ensure_self_signed(store, t0(), async {
        Ok(crate::oidc::keys::GeneratedPair {
            certificate_pem,
            key_pem,
        })
    })
    .await
    .unwrap();
}

/// The clients above, the seed's groups and Gitea, the shipped defaults and the
/// self-signed pair; returns ada's id and the key of a session of hers.
async fn setup(store: &Store) -> (UserId, String) {
    with_self_signed(store).await;
    apply_shipped_cheaply(store).await;
    apply_text(
        store,
        "groups.yaml",
        include_str!("../../../config/blueprints/examples/groups.yaml"),
    )
    .await;
    apply_text(
        store,
        "gitea.yaml",
        include_str!("../../../config/blueprints/examples/gitea.yaml"),
    )
    .await;
    apply_text(store, "clients.yaml", CLIENTS).await;
    let mut db = store.acquire().await.unwrap();
    let ada = users::find_by_username(&mut db, "ada")
        .await
        .unwrap()
        .unwrap();
    let key = crate::secrets::random_key().unwrap();
    sessions::create(
        &mut db,
        NewSession {
            key_hash: hash_key(&key),
            user_id: ada.id,
            auth_methods: json!(["pwd"]),
            client_ip: "192.0.2.1".into(),
            user_agent: "test".into(),
            expires_at: t0() + time::Duration::hours(8),
        },
        t0(),
    )
    .await
    .unwrap();
    (ada.id, key)
}

fn request(user: UserId, session_key: &str, now: crate::Timestamp) -> RequestInfo {
    RequestInfo {
        session_user: Some(user),
        session_key: Some(session_key.to_owned()),
        client_ip: "192.0.2.1".into(),
        host: "id.test".into(),
        method: "GET".into(),
        path: "/application/o/authorize/".into(),
        user_agent: "test".into(),
        headers: Default::default(),
        next: None,
        now,
        password_cost: PasswordCost {
            memory_kib: 1024,
            iterations: 1,
            parallelism: 1,
        },
        throttle: Throttle::default(),
    }
}

fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn params(client: &str, redirect: &str, scope: &str) -> AuthorizeParams {
    AuthorizeParams {
        client_id: Some(client.into()),
        redirect_uri: Some(redirect.into()),
        response_type: Some("code".into()),
        scope: Some(scope.into()),
        state: Some("st-1".into()),
        nonce: Some("n-1".into()),
        code_challenge: Some(challenge_of(VERIFIER)),
        code_challenge_method: Some("S256".into()),
        ..AuthorizeParams::default()
    }
}

/// The query parameters of `url`.
fn query_of(url: &str) -> std::collections::HashMap<String, String> {
    openidconnect::url::Url::parse(url)
        .unwrap()
        .query_pairs()
        .into_owned()
        .collect()
}

/// Runs an authorization request to its end (the implicit-consent flow shows
/// nothing) and returns the redirect's query.
async fn authorize_code(
    store: &Store,
    user: UserId,
    session: &str,
    params: &AuthorizeParams,
) -> std::collections::HashMap<String, String> {
    let validated = {
        let mut db = store.acquire().await.unwrap();
        validate(&mut db, params, BASE)
            .await
            .unwrap_or_else(|e| panic!("{e:?}"))
    };
    let flow = {
        let mut db = store.acquire().await.unwrap();
        let id = validated.client.provider.authorization_flow_id.unwrap();
        crate::storage::flows::get(&mut db, id)
            .await
            .unwrap()
            .unwrap()
            .slug
    };
    let outcome = executor::authorize(
        store,
        &flow,
        validated.pending,
        &request(user, session, t0()),
    )
    .await
    .unwrap();
    let Challenge::Redirect { to } = outcome.challenge else {
        panic!("no redirect: {:?}", outcome.challenge);
    };
    query_of(&to)
}

fn auth(client: &str, secret: &str) -> ClientAuth {
    ClientAuth {
        client_id: Some(client.into()),
        client_secret: Some(secret.into()),
    }
}

fn code_params(code: &str, redirect: &str, verifier: Option<&str>) -> TokenParams {
    TokenParams {
        grant_type: Some("authorization_code".into()),
        code: Some(code.into()),
        redirect_uri: Some(redirect.into()),
        code_verifier: verifier.map(str::to_owned),
        ..TokenParams::default()
    }
}

fn refresh_params(refresh: &str) -> TokenParams {
    TokenParams {
        grant_type: Some("refresh_token".into()),
        refresh_token: Some(refresh.into()),
        ..TokenParams::default()
    }
}

const GITEA_SECRET: &str = "change-me-to-a-long-random-string";
const GITEA_CALLBACK: &str = "https://git.example.org/user/oauth2/gatehouse/callback";
const RP_SECRET: &str = "rp-secret-rp-secret-rp-secret";

/// The token endpoint for a request at `now` (policies see a bare request).
async fn token(
    store: &Store,
    caches: &Caches,
    auth: &ClientAuth,
    params: &TokenParams,
    base_url: &str,
    now: crate::Timestamp,
) -> Result<TokenResponse, OAuthError> {
    let request = crate::expr::RequestInput {
        ip: "192.0.2.9".into(),
        host: "id.test".into(),
        path: "/application/o/token/".into(),
        method: "POST".into(),
        user_agent: "rp".into(),
        headers: Default::default(),
        time: now,
    };
    super::token(store, caches, auth, params, &request, base_url).await
}

/// The JSON payload of a JWT (its signature is checked elsewhere).
fn payload(jwt: &str) -> Json {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

storage_test!(
    the_seed_gitea_role_reaches_the_id_token_and_userinfo,
    |store| {
        let caches = Caches::default();
        let (ada, session) = setup(&store).await;
        let answer = authorize_code(
            &store,
            ada,
            &session,
            &params("gitea", GITEA_CALLBACK, "openid email profile gitea"),
        )
        .await;
        assert_eq!(answer["state"], "st-1");
        assert_eq!(answer["iss"], "https://id.test/application/o/gitea/");
        let tokens = token(
            &store,
            &caches,
            &auth("gitea", GITEA_SECRET),
            &code_params(&answer["code"], GITEA_CALLBACK, Some(VERIFIER)),
            BASE,
            t0(),
        )
        .await
        .unwrap();
        assert_eq!(tokens.scope, "openid email profile gitea");
        assert!(tokens.refresh_token.is_none(), "no offline_access asked");

        // The ID token verifies against the published key set.
        let mut db = store.acquire().await.unwrap();
        let client = find_client(&mut db, "gitea").await.unwrap().unwrap();
        let key = signing_key_of(&mut db, &client.settings)
            .await
            .unwrap()
            .unwrap();
        drop(db);
        let id_token: CoreIdToken = tokens.id_token.as_deref().unwrap().parse().unwrap();
        let verifier = CoreIdTokenVerifier::new_public_client(
            ClientId::new("gitea".into()),
            IssuerUrl::new("https://id.test/application/o/gitea/".into()).unwrap(),
            crate::oidc::keys::jwks(&[&key]),
        )
        .set_time_fn(|| chrono::DateTime::from_timestamp(t0().unix_timestamp(), 0).unwrap());
        let claims = id_token
            .claims(&verifier, &Nonce::new("n-1".into()))
            .unwrap();
        assert_eq!(claims.email().unwrap().as_str(), "ada@example.org");
        let id = payload(tokens.id_token.as_deref().unwrap());
        assert_eq!(id["gitea"], "admin");
        assert_eq!(id["preferred_username"], "ada");
        assert_eq!(id["amr"], json!(["pwd"]));
        assert!(id["at_hash"].is_string());

        let info = userinfo(&store, &caches, &tokens.access_token, t0())
            .await
            .unwrap();
        assert_eq!(info["gitea"], "admin");
        assert_eq!(info["email"], "ada@example.org");
        assert_eq!(info["sub"], id["sub"]);
        assert_eq!(payload(&tokens.access_token)["gitea"], "admin");
    }
);

storage_test!(
    an_unknown_client_or_redirect_uri_is_shown_never_redirected,
    |store| {
        setup(&store).await;
        let mut db = store.acquire().await.unwrap();
        for (client, redirect) in [
            ("rp", "https://evil.test/cb"),
            ("rp", "https://rp.test/cb/extra"),
            ("rp", "https://rp.test/re/abc/../x"),
            ("nobody", "https://rp.test/cb"),
            ("", "https://rp.test/cb"),
            ("rp", ""),
        ] {
            let refused = validate(&mut db, &params(client, redirect, "openid"), BASE).await;
            assert!(
                matches!(refused, Err(AuthorizeRefusal::Page(_))),
                "{client} {redirect}: {refused:?}"
            );
        }
        // A registered pattern matches as a whole.
        assert!(
            validate(
                &mut db,
                &params("rp", "https://rp.test/re/abc", "openid"),
                BASE
            )
            .await
            .is_ok()
        );
        // Once the redirect URI is trusted, errors go back to it with state and iss.
        let mut bad = params("rp", "https://rp.test/cb", "openid");
        bad.response_type = Some("token".into());
        let Err(AuthorizeRefusal::Redirect(to)) = validate(&mut db, &bad, BASE).await else {
            panic!("not redirected");
        };
        let query = query_of(&to);
        assert_eq!(query["error"], "unsupported_response_type");
        assert_eq!(query["state"], "st-1");
        assert_eq!(query["iss"], "https://id.test/application/o/rp/");
        // A public client must use PKCE, with S256.
        let mut no_pkce = params("spa", "https://spa.test/cb", "openid");
        no_pkce.code_challenge = None;
        let Err(AuthorizeRefusal::Redirect(to)) = validate(&mut db, &no_pkce, BASE).await else {
            panic!("not redirected");
        };
        assert_eq!(query_of(&to)["error"], "invalid_request");
        let mut plain = params("spa", "https://spa.test/cb", "openid");
        plain.code_challenge_method = Some("plain".into());
        assert!(matches!(
            validate(&mut db, &plain, BASE).await,
            Err(AuthorizeRefusal::Redirect(_))
        ));
    }
);

mod clients;
mod consent;
mod grants;
mod tokens;
