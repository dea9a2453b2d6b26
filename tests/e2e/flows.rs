//! Signing in over HTTP against a running server: the JSON executor and the HTML
//! forms, with their cookies and CSRF token.

use std::collections::HashMap;

use reqwest::header::{CONTENT_TYPE, COOKIE, LOCATION, SET_COOKIE};
use reqwest::redirect::Policy;
use serde_json::{Value, json};

use crate::harness::Server;

pub(crate) const LOGIN_FLOW: &str = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: alice}
    attrs: {password: correct-horse, email: alice@example.org}
  - model: gatehouse_core.user
    identifiers: {username: bob}
    attrs: {password: correct-horse}
  - model: gatehouse_core.user
    identifiers: {username: frozen}
    attrs: {password: correct-horse, is_active: false}
  - model: gatehouse_stages_password.passwordstage
    id: password
    identifiers: {name: password}
  - model: gatehouse_stages_identification.identificationstage
    id: ident
    identifiers: {name: ident}
    attrs: {password_stage: !KeyOf password}
  - model: gatehouse_stages_user_login.userloginstage
    id: login
    identifiers: {name: login}
  - model: gatehouse_flows.flow
    id: flow
    identifiers: {slug: sign-in}
    attrs: {name: Sign in, title: Welcome, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf ident, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 20}
";

/// Cookies by name, as a browser would keep them for one site.
#[derive(Default)]
pub(crate) struct Jar(pub(crate) HashMap<String, String>);

impl Jar {
    pub(crate) fn take(&mut self, response: &reqwest::Response) {
        for value in response.headers().get_all(SET_COOKIE) {
            let text = value.to_str().unwrap();
            let (pair, attributes) = text.split_once(';').unwrap_or((text, ""));
            let (name, value) = pair.split_once('=').unwrap();
            assert!(attributes.contains("HttpOnly"), "{text}");
            assert!(attributes.contains("SameSite=Lax"), "{text}");
            if value.is_empty() {
                self.0.remove(name);
            } else {
                self.0.insert(name.to_owned(), value.to_owned());
            }
        }
    }

    pub(crate) fn header(&self) -> String {
        self.0
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(Policy::none())
        .build()
        .unwrap()
}

pub(crate) async fn server() -> (tempfile::TempDir, Server) {
    server_with(&[]).await
}

async fn server_with(env: &[(&str, &str)]) -> (tempfile::TempDir, Server) {
    server_with_blueprints(env, &[]).await
}

/// A server with the sign-in flow and `extra` blueprint files (name, text), once the
/// flow exists.
pub(crate) async fn server_with_blueprints(
    env: &[(&str, &str)],
    extra: &[(&str, &str)],
) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("login.yaml"), LOGIN_FLOW).unwrap();
    for (name, text) in extra {
        std::fs::write(folder.join(name), text).unwrap();
    }
    let server = Server::start(data.path(), env);
    wait_for_sign_in(&server).await;
    (data, server)
}

/// Blueprints apply in the background: waits for the sign-in flow to exist.
pub(crate) async fn wait_for_sign_in(server: &Server) {
    let url = server.http_url("/api/v1/flows/executor/sign-in/");
    for _ in 0..150 {
        if reqwest::get(&url).await.unwrap().status() == 200 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the login flow never appeared:\n{}", server.log_text());
}

pub(crate) async fn post_json(url: &str, jar: &mut Jar, body: Value) -> Value {
    let response = client()
        .post(url)
        .header(COOKIE, jar.header())
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    jar.take(&response);
    response.json().await.unwrap()
}

#[tokio::test]
async fn the_json_executor_refuses_a_wrong_password_and_an_inactive_user_then_signs_in() {
    let (_data, server) = server().await;
    let url = server.http_url("/api/v1/flows/executor/sign-in/?next=/dashboard");
    let mut jar = Jar::default();
    let first = client().get(&url).send().await.unwrap();
    jar.take(&first);
    let challenge: Value = first.json().await.unwrap();
    assert_eq!(challenge["component"], "ak-stage-identification");
    assert_eq!(challenge["password_fields"], true);
    assert_eq!(challenge["flow_info"]["title"], "Welcome");
    assert!(jar.0.contains_key("gatehouse_flow"));

    let wrong = post_json(
        &url,
        &mut jar,
        json!({"uid_field": "alice", "password": "nope"}),
    )
    .await;
    assert_eq!(
        wrong["response_errors"]["non_field_errors"][0]["string"],
        "Failed to authenticate."
    );
    let frozen = post_json(
        &url,
        &mut jar,
        json!({"uid_field": "frozen", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(
        frozen["response_errors"]["non_field_errors"][0]["string"],
        "Failed to authenticate."
    );
    let done = post_json(
        &url,
        &mut jar,
        json!({"uid_field": "alice@example.org", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(done["type"], "redirect");
    assert_eq!(done["to"], "/dashboard");
    assert!(jar.0.contains_key("gatehouse_session"));
    assert!(!jar.0.contains_key("gatehouse_flow"));

    // A form post to the JSON executor is refused (CSRF protection for scripts' API).
    let form = client()
        .post(&url)
        .header(CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body("uid_field=alice")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    let missing = client()
        .get(server.http_url("/api/v1/flows/executor/no-such-flow/"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

pub(crate) fn csrf_of(html: &str) -> String {
    let marker = r#"name="csrf_token" value=""#;
    let start = html.find(marker).unwrap() + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

#[tokio::test]
async fn the_html_form_needs_its_csrf_token_and_signs_in_with_it() {
    let (_data, server) = server().await;
    let url = server.http_url("/if/flow/sign-in/?next=/after/login");
    let mut jar = Jar::default();
    let page = client().get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    jar.take(&page);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(r#"<label for="uid_field">Username or email</label>"#),
        "{html}"
    );
    assert!(
        html.contains("<title>Welcome – Gatehouse</title>"),
        "{html}"
    );
    let csrf = csrf_of(&html);

    let without = client()
        .post(&url)
        .header(COOKIE, jar.header())
        .form(&[("uid_field", "alice"), ("password", "correct-horse")])
        .send()
        .await
        .unwrap();
    assert_eq!(without.status(), 403);
    let forged = client()
        .post(&url)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", "alice"),
            ("password", "correct-horse"),
            ("csrf_token", "AAAA"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);

    let wrong = client()
        .post(&url)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", "alice"),
            ("password", "nope"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 200);
    assert!(
        wrong
            .text()
            .await
            .unwrap()
            .contains("Failed to authenticate.")
    );

    let right = client()
        .post(&url)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", "alice"),
            ("password", "correct-horse"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(right.status(), 303);
    assert_eq!(right.headers()[LOCATION], "/after/login");
    jar.take(&right);
    assert!(jar.0.contains_key("gatehouse_session"));

    // An outside `next` is not followed.
    let mut jar = Jar::default();
    let evil = server.http_url("/if/flow/sign-in/?next=https://evil.example/");
    let page = client().get(&evil).send().await.unwrap();
    jar.take(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let done = client()
        .post(&evil)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", "alice"),
            ("password", "correct-horse"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/");
}

#[tokio::test]
async fn the_shipped_flows_sign_in_from_the_home_page_and_sign_out() {
    let (_data, server) = server().await;
    let home = server.http_url("/");
    // Not signed in: the home page sends the browser to the brand's sign-in flow.
    let start = client().get(&home).send().await.unwrap();
    assert_eq!(start.status(), 303);
    let login_path = start.headers()[LOCATION].to_str().unwrap().to_owned();
    assert_eq!(login_path, "/if/flow/default-authentication-flow/?next=/");
    let login = server.http_url(&login_path);

    let mut jar = Jar::default();
    let page = client().get(&login).send().await.unwrap();
    jar.take(&page);
    let csrf = csrf_of(&page.text().await.unwrap());
    let stay = client()
        .post(&login)
        .header(COOKIE, jar.header())
        .form(&[
            ("uid_field", "alice"),
            ("password", "correct-horse"),
            ("csrf_token", &csrf),
        ])
        .send()
        .await
        .unwrap();
    // The default flow offers "stay signed in" before the session starts.
    assert_eq!(stay.status(), 200);
    let html = stay.text().await.unwrap();
    assert!(html.contains("Stay signed in"), "{html}");
    let done = client()
        .post(&login)
        .header(COOKIE, jar.header())
        .form(&[("remember_me", "on"), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], "/");
    let session_cookie = done
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .find(|v| v.starts_with("gatehouse_session="))
        .unwrap();
    assert!(
        session_cookie.contains("Expires="),
        "stay signed in keeps the cookie: {session_cookie}"
    );
    jar.take(&done);

    let signed_in = client()
        .get(&home)
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(signed_in.status(), 200);
    let html = signed_in.text().await.unwrap();
    assert!(
        html.contains("You are signed in as <strong>alice</strong>"),
        "{html}"
    );
    assert!(html.contains("default-invalidation-flow"), "{html}");

    let out = client()
        .get(server.http_url("/if/flow/default-invalidation-flow/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
    let old_cookies = jar.header();
    jar.take(&out);
    assert!(!jar.0.contains_key("gatehouse_session"));
    // The old cookie no longer signs anyone in: the session was revoked, not just forgotten.
    let replay = client()
        .get(&home)
        .header(COOKIE, old_cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(replay.status(), 303);
}

#[tokio::test]
async fn repeated_failures_lock_sign_in_even_with_the_right_password() {
    let (_data, server) = server_with(&[("GATEHOUSE_LOGIN__LOCK_AFTER", "2")]).await;
    let url = server.http_url("/api/v1/flows/executor/sign-in/");
    let attempt = |password: &'static str| {
        let url = url.clone();
        async move {
            let mut jar = Jar::default();
            let first = client().get(&url).send().await.unwrap();
            jar.take(&first);
            post_json(
                &url,
                &mut jar,
                json!({"uid_field": "alice", "password": password}),
            )
            .await
        }
    };
    for _ in 0..2 {
        let out = attempt("wrong").await;
        assert_eq!(
            out["response_errors"]["non_field_errors"][0]["string"],
            "Failed to authenticate."
        );
    }
    let locked = attempt("correct-horse").await;
    assert_eq!(
        locked["response_errors"]["non_field_errors"][0]["string"],
        "Too many failed sign-ins; try again in a few minutes."
    );
}

#[tokio::test]
async fn a_brand_on_another_host_uses_its_own_flow_and_title() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("login.yaml"), LOGIN_FLOW).unwrap();
    std::fs::write(
        folder.join("brand.yaml"),
        "version: 1
entries:
  - model: gatehouse_brands.brand
    identifiers: {domain: other.test}
    attrs:
      branding_title: Other Co
      branding_logo: /static/other.svg
      flow_authentication: !Find [gatehouse_flows.flow, [slug, sign-in]]
",
    )
    .unwrap();
    let server = Server::start(data.path(), &[]);
    let home = server.http_url("/");
    let mut location = String::new();
    for _ in 0..150 {
        let response = client()
            .get(&home)
            .header(reqwest::header::HOST, "other.test")
            .send()
            .await
            .unwrap();
        location = response
            .headers()
            .get(LOCATION)
            .map(|v| v.to_str().unwrap().to_owned())
            .unwrap_or_default();
        if location.starts_with("/if/flow/sign-in/") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(
        location,
        "/if/flow/sign-in/?next=/",
        "{}",
        server.log_text()
    );
    let page = client()
        .get(server.http_url(&location))
        .header(reqwest::header::HOST, "other.test")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("<title>Welcome – Other Co</title>"), "{page}");
    assert!(page.contains(r#"alt="Other Co""#), "{page}");
    // A brand's domain is a place `next` may send the browser after signing in.
    let url = server.http_url("/api/v1/flows/executor/sign-in/?next=https://other.test/app");
    let mut jar = Jar::default();
    let first = client().get(&url).send().await.unwrap();
    jar.take(&first);
    let done = post_json(
        &url,
        &mut jar,
        json!({"uid_field": "alice", "password": "correct-horse"}),
    )
    .await;
    assert_eq!(done["to"], "https://other.test/app");
    // Any other host gets the default brand and its flow.
    let default = client().get(&home).send().await.unwrap();
    assert_eq!(
        default.headers()[LOCATION],
        "/if/flow/default-authentication-flow/?next=/"
    );
}

#[tokio::test]
async fn initial_setup_sets_the_admin_password_once_over_the_html_forms() {
    let (_data, server) = server().await;
    let setup_url = server.http_url("/if/flow/initial-setup/");
    // The server says where to go while no administrator has a password.
    let mut announced = false;
    for _ in 0..100 {
        if server.log_text().contains("if/flow/initial-setup/") {
            announced = true;
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(
        announced,
        "no initial-setup URL logged:\n{}",
        server.log_text()
    );

    let mut jar = Jar::default();
    let page = client().get(&setup_url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    jar.take(&page);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("<title>Welcome to Gatehouse! – Gatehouse</title>"),
        "{html}"
    );
    assert!(
        html.contains(r#"<label for="email">Email</label>"#),
        "{html}"
    );
    assert!(html.contains(r#"<label for="password_repeat">Password (repeat)</label>"#));
    let csrf = csrf_of(&html);
    let submit = |password: &'static str, repeat: &'static str, cookies: String| {
        let (url, csrf) = (setup_url.clone(), csrf.clone());
        async move {
            client()
                .post(url)
                .header(COOKIE, cookies)
                .form(&[
                    ("email", "root@example.org"),
                    ("password", password),
                    ("password_repeat", repeat),
                    ("csrf_token", &csrf),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    let mismatch = submit("admin-password-1", "admin-password-2", jar.header()).await;
    assert_eq!(mismatch.status(), 200);
    assert!(
        mismatch
            .text()
            .await
            .unwrap()
            .contains("The passwords do not match.")
    );

    let done = submit("admin-password-1", "admin-password-1", jar.header()).await;
    assert_eq!(done.status(), 303, "{}", server.log_text());
    assert_eq!(done.headers()[LOCATION], "/");
    jar.take(&done);
    let home = client()
        .get(server.http_url("/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    let html = home.text().await.unwrap();
    assert!(
        html.contains("You are signed in as <strong>akadmin</strong>"),
        "{html}"
    );

    // Closed for everyone from now on, with the reason on the page.
    let again = client().get(&setup_url).send().await.unwrap();
    let html = again.text().await.unwrap();
    assert!(html.contains("Initial setup is done already"), "{html}");
    assert!(!html.contains(r#"name="password""#), "{html}");

    // The password set there signs akadmin in (by its new email, too).
    let executor = server.http_url("/api/v1/flows/executor/sign-in/");
    let mut jar = Jar::default();
    let first = client().get(&executor).send().await.unwrap();
    jar.take(&first);
    let done = post_json(
        &executor,
        &mut jar,
        json!({"uid_field": "root@example.org", "password": "admin-password-1"}),
    )
    .await;
    assert_eq!(done["component"], "xak-flow-redirect", "{done}");
    assert!(jar.0.contains_key("gatehouse_session"));
}
