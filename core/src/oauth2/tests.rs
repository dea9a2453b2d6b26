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
fn test_pair() -> (String, String) {
    static PAIR: OnceLock<(String, String)> = OnceLock::new();
    PAIR.get_or_init(|| {
        let pair = crate::oidc::keys::generate_rsa_pair("test", t0().as_datetime()).unwrap();
        (pair.certificate_pem, pair.key_pem)
    })
    .clone()
}

/// The clients above, the seed's groups and Gitea, the shipped defaults and the
/// self-signed pair; returns ada's id and the key of a session of hers.
async fn setup(store: &Store) -> (UserId, String) {
    let (certificate_pem, key_pem) = test_pair();
    crate::oidc::ensure_self_signed(store, t0(), async {
        Ok(crate::oidc::keys::GeneratedPair {
            certificate_pem,
            key_pem,
        })
    })
    .await
    .unwrap();
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

storage_test!(a_replayed_code_is_refused_and_revokes_its_tokens, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email offline_access"),
    )
    .await;
    let exchange = code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER));
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    assert!(
        userinfo(&store, &caches, &tokens.access_token, t0())
            .await
            .is_ok()
    );
    let again = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await;
    assert!(
        matches!(again, Err(OAuthError::InvalidGrant(_))),
        "{again:?}"
    );
    assert_eq!(
        userinfo(&store, &caches, &tokens.access_token, t0()).await,
        Err(OAuthError::InvalidToken)
    );
    let introspected = introspect(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &refresh,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(introspected, json!({"active": false}));
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &refresh_params(&refresh),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
});

storage_test!(a_missing_or_wrong_pkce_verifier_is_refused, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    let code = &answer["code"];
    let wrong = "another-verifier-of-the-right-length-0123456789-abcdef";
    for verifier in [None, Some(wrong), Some("short")] {
        let refused = token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(code, "https://rp.test/cb", verifier),
            BASE,
            t0(),
        )
        .await;
        assert!(
            matches!(refused, Err(OAuthError::InvalidGrant(_))),
            "{verifier:?}: {refused:?}"
        );
    }
    // A redirect_uri other than the request's is refused too.
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(code, "https://rp.test/re/other", Some(VERIFIER)),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    // A code requested without a challenge takes no verifier.
    let mut bare = params("rp", "https://rp.test/cb", "openid");
    bare.code_challenge = None;
    bare.code_challenge_method = None;
    let answer = authorize_code(&store, ada, &session, &bare).await;
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(&answer["code"], "https://rp.test/cb", None),
            BASE,
            t0()
        )
        .await
        .is_ok()
    );
});

storage_test!(an_expired_code_is_refused, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    // The provider keeps codes for a minute (the default `access_code_validity`).
    let later = t0() + time::Duration::seconds(61);
    let refused = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        later,
    )
    .await;
    assert_eq!(
        refused.unwrap_err(),
        OAuthError::InvalidGrant("The code has expired.".into())
    );
});

storage_test!(a_wrong_client_secret_is_refused_everywhere, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    let exchange = code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER));
    for bad in [
        auth("rp", "rp-secret-rp-secret-rp-secreT"),
        auth("rp", ""),
        ClientAuth {
            client_id: Some("rp".into()),
            client_secret: None,
        },
        auth("gitea", GITEA_SECRET),
        auth("nobody", RP_SECRET),
    ] {
        let refused = token(&store, &caches, &bad, &exchange, BASE, t0()).await;
        assert!(
            matches!(
                refused,
                Err(OAuthError::InvalidClient | OAuthError::InvalidGrant(_))
            ),
            "{bad:?}: {refused:?}"
        );
    }
    // The right secret still works: the refusals consumed nothing.
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let bad = auth("rp", "wrong");
    assert_eq!(
        introspect(&store, &caches, &bad, &tokens.access_token, BASE, t0()).await,
        Err(OAuthError::InvalidClient)
    );
    assert_eq!(
        revoke(&store, &caches, &bad, &tokens.access_token, t0()).await,
        Err(OAuthError::InvalidClient)
    );
    // Another client learns nothing about the token and cannot revoke it.
    let other = auth("gitea", GITEA_SECRET);
    assert_eq!(
        introspect(&store, &caches, &other, &tokens.access_token, BASE, t0())
            .await
            .unwrap(),
        json!({"active": false})
    );
    revoke(&store, &caches, &other, &tokens.access_token, t0())
        .await
        .unwrap();
    let mine = introspect(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &tokens.access_token,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(mine["active"], true);
    assert_eq!(mine["username"], "ada");
    assert_eq!(mine["client_id"], "rp");
    // Its own client can.
    revoke(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &tokens.access_token,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(
        introspect(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &tokens.access_token,
            BASE,
            t0()
        )
        .await
        .unwrap(),
        json!({"active": false})
    );
});

storage_test!(a_reused_refresh_token_revokes_its_grant, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email offline_access"),
    )
    .await;
    let rp = auth("rp", RP_SECRET);
    let first = token(
        &store,
        &caches,
        &rp,
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let later = t0() + time::Duration::seconds(30);
    let second = token(
        &store,
        &caches,
        &rp,
        &refresh_params(first.refresh_token.as_deref().unwrap()),
        BASE,
        later,
    )
    .await
    .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert!(second.id_token.is_some());
    assert!(
        payload(second.id_token.as_deref().unwrap())
            .get("nonce")
            .is_none()
    );
    assert!(
        userinfo(&store, &caches, &second.access_token, later)
            .await
            .is_ok()
    );
    // Narrowing the scope is allowed, widening it is not.
    let mut wider = refresh_params(second.refresh_token.as_deref().unwrap());
    wider.scope = Some("openid profile".into());
    assert!(matches!(
        token(&store, &caches, &rp, &wider, BASE, later).await,
        Err(OAuthError::InvalidScope(_))
    ));

    // The first refresh token comes back: somebody kept a copy.
    let reused = token(
        &store,
        &caches,
        &rp,
        &refresh_params(first.refresh_token.as_deref().unwrap()),
        BASE,
        later,
    )
    .await;
    assert!(
        matches!(reused, Err(OAuthError::InvalidGrant(_))),
        "{reused:?}"
    );
    // Every token of the grant is revoked: the current refresh token and both access
    // tokens.
    assert!(matches!(
        token(
            &store,
            &caches,
            &rp,
            &refresh_params(second.refresh_token.as_deref().unwrap()),
            BASE,
            later
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    for access in [&first.access_token, &second.access_token] {
        assert_eq!(
            userinfo(&store, &caches, access, later).await,
            Err(OAuthError::InvalidToken)
        );
    }
});

storage_test!(a_permanent_consent_is_asked_once, |store| {
    let (ada, session) = setup(&store).await;
    let mut ask = params("asking", "https://asking.test/cb", "openid email");
    ask.code_challenge = None;
    ask.code_challenge_method = None;
    let validated = {
        let mut db = store.acquire().await.unwrap();
        validate(&mut db, &ask, BASE).await.unwrap()
    };
    let req = request(ada, &session, t0());
    let outcome = executor::authorize(&store, "ask-once", validated.pending.clone(), &req)
        .await
        .unwrap();
    let Challenge::Consent {
        header_text,
        permissions,
        ..
    } = &outcome.challenge
    else {
        panic!("{:?}", outcome.challenge);
    };
    assert!(header_text.contains("Asking App"), "{header_text}");
    assert_eq!(permissions.len(), 1);
    assert_eq!(permissions[0].name, "Your email address");
    // Agreeing (on the flow's page) ends the flow with the code.
    let key = outcome.effects.set_flow_key.clone().unwrap();
    let yes = serde_json::Map::from_iter([("consent".to_owned(), json!("yes"))]);
    let agreed = executor::run(&store, "ask-once", Some(&key), Some(&yes), &req)
        .await
        .unwrap();
    let Challenge::Redirect { to } = agreed.challenge else {
        panic!("{:?}", agreed.challenge);
    };
    assert!(query_of(&to).contains_key("code"), "{to}");
    // The next time, nothing is asked; prompt=consent asks again.
    let again = executor::authorize(&store, "ask-once", validated.pending.clone(), &req)
        .await
        .unwrap();
    assert!(matches!(again.challenge, Challenge::Redirect { .. }));
    let mut forced = validated.pending.clone();
    forced.force_consent = true;
    let asked = executor::authorize(&store, "ask-once", forced, &req)
        .await
        .unwrap();
    assert!(matches!(asked.challenge, Challenge::Consent { .. }));
});

storage_test!(
    client_credentials_act_as_the_clients_service_account,
    |store| {
        let caches = Caches::default();
        setup(&store).await;
        let params = TokenParams {
            grant_type: Some("client_credentials".into()),
            scope: Some("openid email offline_access".into()),
            ..TokenParams::default()
        };
        let tokens = token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0())
            .await
            .unwrap();
        assert!(tokens.refresh_token.is_none());
        assert!(tokens.id_token.is_none());
        assert_eq!(tokens.scope, "email");
        let seen = introspect(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &tokens.access_token,
            BASE,
            t0(),
        )
        .await
        .unwrap();
        assert_eq!(seen["username"], service_account_name("rp"));
        // The same account the next time.
        token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0())
            .await
            .unwrap();
        let mut db = store.acquire().await.unwrap();
        let account = users::find_by_username(&mut db, &service_account_name("rp"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.user_type, users::UserType::InternalServiceAccount);
        drop(db);
        // A public client has no secret to prove itself with; a wrong secret fails.
        let public = ClientAuth {
            client_id: Some("spa".into()),
            client_secret: None,
        };
        assert!(matches!(
            token(&store, &caches, &public, &params, BASE, t0()).await,
            Err(OAuthError::UnauthorizedClient(_))
        ));
        assert_eq!(
            token(&store, &caches, &auth("rp", "nope"), &params, BASE, t0())
                .await
                .unwrap_err(),
            OAuthError::InvalidClient
        );
        // The application's bindings apply to the service account like to anyone.
        apply_text(
            &store,
            "bind.yaml",
            "version: 1
entries:
  - model: gatehouse_policies.policybinding
    identifiers:
      target: !Find [gatehouse_core.application, [slug, rp]]
      group: !Find [gatehouse_core.group, [name, Admins]]
      order: 0
",
        )
        .await;
        assert!(matches!(
            token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0()).await,
            Err(OAuthError::InvalidGrant(_))
        ));
    }
);

storage_test!(
    a_device_polls_until_its_user_approves_then_gets_tokens_once,
    |store| {
        let caches = Caches::default();
        let (ada, session) = setup(&store).await;
        let rp = auth("rp", RP_SECRET);
        let started =
            device::device_authorize(&store, &caches, &rp, Some("openid email"), BASE, t0())
                .await
                .unwrap();
        assert_eq!(started.verification_uri, "https://id.test/if/device/");
        assert_eq!(started.user_code.len(), 9);
        let poll = TokenParams {
            grant_type: Some(device::DEVICE_CODE_GRANT.into()),
            device_code: Some(started.device_code.clone()),
            ..TokenParams::default()
        };
        assert_eq!(
            token(&store, &caches, &rp, &poll, BASE, t0())
                .await
                .unwrap_err(),
            OAuthError::AuthorizationPending
        );
        // Polling again within the interval: slow down.
        assert_eq!(
            token(
                &store,
                &caches,
                &rp,
                &poll,
                BASE,
                t0() + time::Duration::seconds(1)
            )
            .await
            .unwrap_err(),
            OAuthError::SlowDown
        );
        // The user types the code in another case and without its dash.
        let typed = started.user_code.replace('-', " ").to_lowercase();
        let (waiting, client) = {
            let mut db = store.acquire().await.unwrap();
            device::waiting_device(&mut db, &typed, t0())
                .await
                .unwrap()
                .unwrap()
        };
        let pending = device::pending_for_device(&waiting, &client, BASE).unwrap();
        let approved = executor::authorize(
            &store,
            "default-provider-authorization-implicit-consent",
            pending,
            &request(ada, &session, t0()),
        )
        .await
        .unwrap();
        assert_eq!(
            approved.challenge,
            Challenge::Redirect {
                to: "/if/device/?approved=1".into()
            }
        );
        // An answered code is no longer offered to users.
        let mut db = store.acquire().await.unwrap();
        assert!(
            device::waiting_device(&mut db, &typed, t0())
                .await
                .unwrap()
                .is_none()
        );
        drop(db);
        let later = t0() + time::Duration::seconds(10);
        let tokens = token(&store, &caches, &rp, &poll, BASE, later)
            .await
            .unwrap();
        assert_eq!(
            payload(tokens.id_token.as_deref().unwrap())["email"],
            "ada@example.org"
        );
        assert!(matches!(
            token(&store, &caches, &rp, &poll, BASE, later).await,
            Err(OAuthError::InvalidGrant(_))
        ));
        // Another client cannot use it; an unanswered one expires.
        let other = device::device_authorize(&store, &caches, &rp, None, BASE, t0())
            .await
            .unwrap();
        let mut expired = poll.clone();
        expired.device_code = Some(other.device_code);
        assert!(matches!(
            token(
                &store,
                &caches,
                &auth("gitea", GITEA_SECRET),
                &expired,
                BASE,
                t0()
            )
            .await,
            Err(OAuthError::InvalidGrant(_))
        ));
        assert_eq!(
            token(
                &store,
                &caches,
                &rp,
                &expired,
                BASE,
                t0() + time::Duration::minutes(11)
            )
            .await
            .unwrap_err(),
            OAuthError::ExpiredToken
        );
    }
);

storage_test!(a_provider_with_a_p256_key_signs_es256, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let mut db = store.acquire().await.unwrap();
    crate::storage::certificates::create(
        &mut db,
        crate::storage::certificates::NewCertificateKeyPair {
            name: "es".into(),
            managed: None,
            certificate_pem: certificate.pem(),
            key_pem: Some(pair.serialize_pem()),
        },
        t0(),
    )
    .await
    .unwrap();
    drop(db);
    apply_text(
        &store,
        "es.yaml",
        "version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: RP}
    attrs:
      signing_key: !Find [gatehouse_crypto.certificatekeypair, [name, es]]
",
    )
    .await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email"),
    )
    .await;
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let mut db = store.acquire().await.unwrap();
    let client = find_client(&mut db, "rp").await.unwrap().unwrap();
    let key = signing_key_of(&mut db, &client.settings)
        .await
        .unwrap()
        .unwrap();
    drop(db);
    let id_token: CoreIdToken = tokens.id_token.as_deref().unwrap().parse().unwrap();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new("rp".into()),
        IssuerUrl::new("https://id.test/application/o/rp/".into()).unwrap(),
        crate::oidc::keys::jwks(&[&key]),
    )
    .set_allowed_algs(vec![
        openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ])
    .set_time_fn(|| chrono::DateTime::from_timestamp(t0().unix_timestamp(), 0).unwrap());
    let claims = id_token
        .claims(&verifier, &Nonce::new("n-1".into()))
        .unwrap();
    assert_eq!(claims.email().unwrap().as_str(), "ada@example.org");
    let header: Json = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(tokens.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], key.kid());
});

storage_test!(
    a_new_provider_gets_a_client_id_and_secret_that_stay,
    |store| {
        let text = "version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: Bare}
    attrs:
      redirect_uris: [{url: 'https://bare.test/cb'}]
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: Bare public}
    attrs:
      client_type: public
";
        let settings = |store: &Store, name: &'static str| {
            let store = store.clone();
            async move {
                let mut db = store.acquire().await.unwrap();
                crate::storage::providers::find_by_name(&mut db, name)
                    .await
                    .unwrap()
                    .unwrap()
                    .settings
            }
        };
        apply_text(&store, "bare.yaml", text).await;
        let first = settings(&store, "Bare").await;
        let client_id = first["client_id"].as_str().unwrap().to_owned();
        let secret = first["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(client_id.len(), 40);
        assert!(secret.len() >= 80, "{secret}");
        assert_eq!(settings(&store, "Bare public").await["client_secret"], "");
        // Applying again (every start does) keeps them, and the client is found by its id.
        apply_text(&store, "bare.yaml", text).await;
        assert_eq!(settings(&store, "Bare").await, first);
        let mut db = store.acquire().await.unwrap();
        let client = find_client(&mut db, &client_id).await.unwrap().unwrap();
        assert!(client.authenticates_with(Some(&secret)));
        assert!(!client.authenticates_with(Some("guess")));
    }
);

storage_test!(an_expiring_consent_is_asked_again_once_it_lapses, |store| {
    let (ada, session) = setup(&store).await;
    apply_text(
        &store,
        "expiring.yaml",
        "version: 1
entries:
  - model: gatehouse_stages_consent.consentstage
    identifiers: {name: consent-once}
    attrs: {mode: expiring, consent_expire_in: days=1}
",
    )
    .await;
    let mut ask = params("asking", "https://asking.test/cb", "openid email");
    ask.code_challenge = None;
    ask.code_challenge_method = None;
    let pending = {
        let mut db = store.acquire().await.unwrap();
        validate(&mut db, &ask, BASE).await.unwrap().pending
    };
    let at = |hours: i64| request(ada, &session, t0() + time::Duration::hours(hours));
    let first = executor::authorize(&store, "ask-once", pending.clone(), &at(0))
        .await
        .unwrap();
    assert!(matches!(first.challenge, Challenge::Consent { .. }));
    let key = first.effects.set_flow_key.clone().unwrap();
    let yes = serde_json::Map::from_iter([("consent".to_owned(), json!("yes"))]);
    executor::run(&store, "ask-once", Some(&key), Some(&yes), &at(0))
        .await
        .unwrap();
    let within = executor::authorize(&store, "ask-once", pending.clone(), &at(2))
        .await
        .unwrap();
    assert!(matches!(within.challenge, Challenge::Redirect { .. }));
    let lapsed = executor::authorize(&store, "ask-once", pending, &at(25))
        .await
        .unwrap();
    assert!(matches!(lapsed.challenge, Challenge::Consent { .. }));
});
