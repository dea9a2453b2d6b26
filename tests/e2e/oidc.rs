//! The OAuth 2.0 / OpenID Connect provider against a running server: node's
//! openid-client as the relying party, and the error paths over plain HTTP.

use std::process::Command;

use reqwest::header::{COOKIE, LOCATION, WWW_AUTHENTICATE};
use serde_json::Value;

use crate::flows::{Jar, client, csrf_of, server_with_blueprints};
use crate::harness::Server;

const RP_SECRET: &str = "grafana-secret-grafana-secret-grafana";
const RP_CALLBACK: &str = "http://rp.test/login/generic_oauth";

/// An application with the standard scopes, refresh tokens and a custom `role`
/// scope (the seed's Gitea pattern), open only to the group `Staff`.
const APP: &str = r#"version: 1
entries:
  - model: gatehouse_core.group
    id: staff
    identifiers: {name: Staff}
    attrs: {users: [!Find [gatehouse_core.user, [username, alice]]]}
  - model: gatehouse_providers_oauth2.scopemapping
    id: role
    identifiers: {name: Grafana role}
    attrs:
      scope_name: role
      description: Your role in Grafana
      expression: '"Staff" in user.groups ? {"role": "Editor"} : {}'
  - model: gatehouse_providers_oauth2.oauth2provider
    id: provider
    identifiers: {name: Grafana}
    attrs:
      client_id: grafana
      client_secret: grafana-secret-grafana-secret-grafana
      redirect_uris: [{url: "http://rp.test/login/generic_oauth"}]
      authorization_flow: !Find [gatehouse_flows.flow, [slug, default-provider-authorization-explicit-consent]]
      property_mappings:
        - !KeyOf role
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-openid]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-email]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-profile]]
        - !Find [gatehouse_providers_oauth2.scopemapping, [managed, gatehouse.dev/providers/oauth2/scope-offline_access]]
  - model: gatehouse_core.application
    id: app
    identifiers: {slug: grafana}
    attrs: {name: Grafana, provider: !KeyOf provider}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf app, group: !KeyOf staff, order: 0}
  - model: gatehouse_stages_deny.denystage
    id: closed
    identifiers: {name: closed}
    attrs: {deny_message: Closed for maintenance.}
  - model: gatehouse_flows.flow
    id: closed-flow
    identifiers: {slug: closed-authorization}
    attrs: {name: Closed, designation: authorization, authentication: require_authenticated}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf closed-flow, stage: !KeyOf closed, order: 0}
  - model: gatehouse_providers_oauth2.oauth2provider
    id: closed-provider
    identifiers: {name: Closed}
    attrs:
      client_id: closed
      client_secret: closed-secret-closed-secret-closed
      redirect_uris: [{url: "http://closed.test/cb"}]
      authorization_flow: !KeyOf closed-flow
  - model: gatehouse_core.application
    identifiers: {slug: closed}
    attrs: {name: Closed, provider: !KeyOf closed-provider}
"#;

/// A server with the sign-in users (alice, bob) and the application, once the
/// application's discovery document is served.
async fn server() -> (tempfile::TempDir, Server) {
    let (data, server) = server_with_blueprints(&[], &[("app.yaml", APP)]).await;
    let url = server.http_url("/application/o/grafana/.well-known/openid-configuration");
    for _ in 0..150 {
        if reqwest::get(&url).await.unwrap().status() == 200 {
            return (data, server);
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the application never appeared:\n{}", server.log_text());
}

#[tokio::test]
async fn openid_client_signs_in_refreshes_introspects_and_revokes() {
    let Some(scripts) = std::env::var_os("GH_TEST_BROWSER_DIR") else {
        panic!(
            "GH_TEST_BROWSER_DIR is not set: run the tests with tests/run, which installs openid-client"
        );
    };
    let (_data, server) = server().await;
    let base = format!("http://{}", server.http);
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("oidc-rp.mjs")
            .args([
                base.as_str(),
                "grafana",
                "grafana",
                RP_SECRET,
                RP_CALLBACK,
                "alice",
                "correct-horse",
            ])
            .current_dir(scripts)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "openid-client failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        server.log_text()
    );
    let seen: Value = serde_json::from_str(stdout.trim()).unwrap();
    let issuer = format!("http://{}/application/o/grafana/", server.http);
    assert_eq!(seen["issuer"], issuer.as_str());
    assert_eq!(seen["scope"], "openid email profile offline_access role");
    let sub = seen["id_token"]["sub"].as_str().unwrap();
    assert_eq!(sub.len(), 64, "a hashed user id: {sub}");
    assert_eq!(seen["id_token"]["email"], "alice@example.org");
    assert_eq!(seen["id_token"]["role"], "Editor");
    assert!(seen["id_token"]["nonce"].is_string());
    assert_eq!(seen["userinfo"]["sub"], sub);
    assert_eq!(seen["userinfo"]["preferred_username"], "alice");
    assert_eq!(seen["userinfo"]["role"], "Editor");
    assert_eq!(seen["refreshed"]["rotated"], true);
    assert_eq!(seen["refreshed"]["sub"], sub);
    assert_eq!(seen["introspection"]["active"], true);
    assert_eq!(seen["introspection"]["username"], "alice");
    assert_eq!(seen["introspection"]["client_id"], "grafana");
    assert_eq!(seen["after_revocation"]["active"], false);
    assert_eq!(seen["logout"], "bye");
    assert_eq!(seen["silent_after_logout"], "login_required");
}

/// Signs `username` in over the HTML form and returns the cookie jar.
async fn signed_in(server: &Server, username: &str) -> Jar {
    let login = server.http_url("/if/flow/sign-in/");
    let mut jar = Jar::default();
    let page = client().get(&login).send().await.unwrap();
    jar.take(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let done = client()
        .post(&login)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", username),
            ("password", "correct-horse"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303, "{}", done.text().await.unwrap());
    jar.take(&done);
    jar
}

fn authorize_url(server: &Server, client_id: &str, redirect_uri: &str) -> String {
    let query = [
        ("client_id", client_id),
        ("redirect_uri", redirect_uri),
        ("response_type", "code"),
        ("scope", "openid email"),
        ("state", "s1"),
    ];
    let url = reqwest::Url::parse_with_params(&server.http_url("/application/o/authorize/"), query)
        .unwrap();
    url.to_string()
}

#[tokio::test]
async fn authorize_refuses_unknown_clients_redirects_and_users_the_bindings_deny() {
    let (_data, server) = server().await;
    let alice = signed_in(&server, "alice").await;
    // An unregistered redirect URI or an unknown client is said on a page, and the
    // browser goes nowhere.
    for url in [
        authorize_url(&server, "grafana", "http://evil.test/login/generic_oauth"),
        authorize_url(&server, "grafana", "http://rp.test/login/generic_oauth/x"),
        authorize_url(&server, "nobody", RP_CALLBACK),
        // A parameter given twice: which one was meant cannot be known.
        format!(
            "{}&redirect_uri=http%3A%2F%2Fevil.test%2F",
            authorize_url(&server, "grafana", RP_CALLBACK)
        ),
    ] {
        let response = client()
            .get(&url)
            .header(COOKIE, alice.header())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{url}");
        assert!(response.headers().get(LOCATION).is_none(), "{url}");
        let html = response.text().await.unwrap();
        assert!(!html.contains("evil.test"), "{html}");
    }
    // Someone who is not signed in is sent to sign in first, and back afterwards.
    let anonymous = client()
        .get(authorize_url(&server, "grafana", RP_CALLBACK))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    let to = anonymous.headers()[LOCATION].to_str().unwrap();
    assert!(
        to.starts_with(
            "/if/flow/default-authentication-flow/?next=%2Fapplication%2Fo%2Fauthorize%2F%3F"
        ),
        "{to}"
    );
    // bob is not in Staff, the group bound to the application.
    let bob = signed_in(&server, "bob").await;
    let denied = client()
        .get(authorize_url(&server, "grafana", RP_CALLBACK))
        .header(COOKIE, bob.header())
        .send()
        .await
        .unwrap();
    assert_eq!(denied.status(), 403);
    assert!(denied.headers().get(LOCATION).is_none());
    let html = denied.text().await.unwrap();
    assert!(html.contains("You may not open Grafana."), "{html}");
    // A silent request (prompt=none) for bob goes back to the client with the error.
    let silent = client()
        .get(format!(
            "{}&prompt=none",
            authorize_url(&server, "grafana", RP_CALLBACK)
        ))
        .header(COOKIE, bob.header())
        .send()
        .await
        .unwrap();
    assert_eq!(silent.status(), 303);
    let to = silent.headers()[LOCATION].to_str().unwrap();
    assert!(to.starts_with(RP_CALLBACK), "{to}");
    assert!(
        to.contains("error=access_denied") && to.contains("state=s1"),
        "{to}"
    );
    // prompt=login signs alice in again, and the way back does not ask again.
    let again = client()
        .get(format!(
            "{}&prompt=login",
            authorize_url(&server, "grafana", RP_CALLBACK)
        ))
        .header(COOKIE, alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 303);
    let to = again.headers()[LOCATION].to_str().unwrap();
    assert!(
        to.starts_with("/if/flow/default-authentication-flow/"),
        "{to}"
    );
    assert!(!to.contains("prompt"), "{to}");
    // An authorization flow that refuses (here a deny stage) says why on the spot.
    let closed = client()
        .get(authorize_url(&server, "closed", "http://closed.test/cb"))
        .header(COOKIE, alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(closed.status(), 403);
    assert!(closed.headers().get(LOCATION).is_none());
    let html = closed.text().await.unwrap();
    assert!(html.contains("Closed for maintenance."), "{html}");
    // alice is: she gets the consent page of the explicit-consent flow.
    let allowed = client()
        .get(authorize_url(&server, "grafana", RP_CALLBACK))
        .header(COOKIE, alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(allowed.status(), 303);
    assert_eq!(
        allowed.headers()[LOCATION],
        "/if/flow/default-provider-authorization-explicit-consent/"
    );
}

#[tokio::test]
async fn the_token_endpoints_answer_in_the_rfc_6749_shapes() {
    let (_data, server) = server().await;
    let token = server.http_url("/application/o/token/");
    let wrong = client()
        .post(&token)
        .basic_auth("grafana", Some("not-the-secret"))
        .form(&[("grant_type", "authorization_code"), ("code", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 401);
    assert!(wrong.headers().contains_key(WWW_AUTHENTICATE));
    assert_eq!(wrong.headers()["cache-control"], "no-store");
    let body: Value = wrong.json().await.unwrap();
    assert_eq!(body["error"], "invalid_client");

    let unknown_grant = client()
        .post(&token)
        .basic_auth("grafana", Some(RP_SECRET))
        .form(&[("grant_type", "password")])
        .send()
        .await
        .unwrap();
    assert_eq!(unknown_grant.status(), 400);
    let body: Value = unknown_grant.json().await.unwrap();
    assert_eq!(body["error"], "unsupported_grant_type");

    let bad_code = client()
        .post(&token)
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", "made-up"),
            ("redirect_uri", RP_CALLBACK),
            ("client_id", "grafana"),
            ("client_secret", RP_SECRET),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(bad_code.status(), 400);
    let body: Value = bad_code.json().await.unwrap();
    assert_eq!(body["error"], "invalid_grant");

    let not_a_form = client()
        .post(&token)
        .json(&serde_json::json!({"grant_type": "authorization_code"}))
        .send()
        .await
        .unwrap();
    assert_eq!(not_a_form.status(), 400);
    let body: Value = not_a_form.json().await.unwrap();
    assert_eq!(body["error"], "invalid_request");

    let userinfo = client()
        .get(server.http_url("/application/o/userinfo/"))
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(userinfo.status(), 401);
    assert_eq!(
        userinfo.headers()[WWW_AUTHENTICATE],
        "Bearer error=\"invalid_token\""
    );

    let discovery: Value =
        reqwest::get(server.http_url("/application/o/grafana/.well-known/openid-configuration"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_eq!(discovery["code_challenge_methods_supported"][0], "S256");
    assert_eq!(discovery["response_types_supported"][0], "code");
    assert_eq!(
        discovery["id_token_signing_alg_values_supported"][0],
        "RS256"
    );
    // Every endpoint the document names is served.
    for key in [
        "authorization_endpoint",
        "token_endpoint",
        "userinfo_endpoint",
        "jwks_uri",
        "introspection_endpoint",
        "revocation_endpoint",
        "end_session_endpoint",
    ] {
        let url = discovery[key].as_str().unwrap();
        let get = client().get(url).send().await.unwrap().status().as_u16();
        let post = client().post(url).send().await.unwrap().status().as_u16();
        assert!(
            ![404, 405].contains(&get) || ![404, 405].contains(&post),
            "{key} {url} answered {get} to GET and {post} to POST"
        );
    }
}

/// Starts a device authorization for the application's client.
async fn start_device(server: &Server) -> Value {
    let response = client()
        .post(server.http_url("/application/o/device/"))
        .form(&[
            ("client_id", "grafana"),
            ("client_secret", RP_SECRET),
            ("scope", "openid email"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

async fn poll(server: &Server, device: &Value) -> (u16, Value) {
    let response = client()
        .post(server.http_url("/application/o/token/"))
        .basic_auth("grafana", Some(RP_SECRET))
        .form(&[
            ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
            ("device_code", device["device_code"].as_str().unwrap()),
        ])
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// Types the device's code on `/if/device/` as the signed-in owner of `jar`.
async fn type_code(server: &Server, jar: &mut Jar, device: &Value) -> reqwest::Response {
    let code = device["user_code"].as_str().unwrap();
    let form = client()
        .get(device["verification_uri_complete"].as_str().unwrap())
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 200);
    let html = form.text().await.unwrap();
    assert!(html.contains(code), "the code is filled in: {html}");
    let submitted = client()
        .post(server.http_url("/if/device/"))
        .header(COOKIE, jar.header())
        .form(&[("code", code), ("csrf_token", &csrf_of(&html))])
        .send()
        .await
        .unwrap();
    jar.take(&submitted);
    submitted
}

#[tokio::test]
async fn a_device_is_signed_in_on_the_code_page_by_a_user_the_bindings_let_in() {
    let (_data, server) = server().await;
    let device = start_device(&server).await;
    assert_eq!(
        device["verification_uri"],
        server.http_url("/if/device/").as_str()
    );
    assert_eq!(
        poll(&server, &device).await.1["error"],
        "authorization_pending"
    );
    // Not signed in: the page sends the browser to sign in first, and back.
    let anonymous = client()
        .get(device["verification_uri_complete"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 303);
    assert!(
        anonymous.headers()[LOCATION]
            .to_str()
            .unwrap()
            .contains("next=%2Fif%2Fdevice%2F%3Fcode%3D")
    );

    let mut alice = signed_in(&server, "alice").await;
    let submitted = type_code(&server, &mut alice, &device).await;
    assert_eq!(submitted.status(), 303);
    // The application's flow asks for consent on its own page.
    let consent_url = server.http_url(submitted.headers()[LOCATION].to_str().unwrap());
    let consent = client()
        .get(&consent_url)
        .header(COOKIE, alice.header())
        .send()
        .await
        .unwrap();
    let html = consent.text().await.unwrap();
    assert!(
        html.contains("Grafana would like to sign you in."),
        "{html}"
    );
    let agreed = client()
        .post(&consent_url)
        .header(COOKIE, alice.header())
        .form(&[("consent", "yes"), ("csrf_token", &csrf_of(&html))])
        .send()
        .await
        .unwrap();
    assert_eq!(agreed.headers()[LOCATION], "/if/device/?approved=1");
    let (status, tokens) = poll(&server, &device).await;
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["id_token"].is_string());
    assert_eq!(poll(&server, &device).await.1["error"], "invalid_grant");

    // bob is not in the bound group: the page refuses and the device is told.
    let device = start_device(&server).await;
    let mut bob = signed_in(&server, "bob").await;
    let refused = type_code(&server, &mut bob, &device).await;
    assert_eq!(refused.status(), 403);
    assert_eq!(poll(&server, &device).await.1["error"], "access_denied");
    // A made-up code is said to be wrong, on the form again.
    let wrong = type_code(
        &server,
        &mut bob,
        &serde_json::json!({
            "user_code": "BCDF-GHJK",
            "verification_uri_complete": server.http_url("/if/device/?code=BCDF-GHJK"),
        }),
    )
    .await;
    assert_eq!(wrong.status(), 400);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("This code is not valid")
    );
}
