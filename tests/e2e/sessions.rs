//! A signed-in user lists their sessions and ends one, from `/` and through the JSON
//! API, and cannot touch anyone else's.

use reqwest::StatusCode;
use reqwest::header::{COOKIE, LOCATION};
use serde_json::{Value, json};

use crate::flows::{Jar, client, csrf_of, server};
use crate::harness::Server;

/// A browser signed in as `who` through the JSON executor.
pub(crate) async fn signed_in(server: &Server, who: &str, agent: &str) -> Jar {
    let url = server.http_url("/api/v1/flows/executor/sign-in/");
    let mut jar = Jar::default();
    let first = client()
        .get(&url)
        .header("user-agent", agent)
        .send()
        .await
        .unwrap();
    jar.take(&first);
    let done = client()
        .post(&url)
        .header(COOKIE, jar.header())
        .header("user-agent", agent)
        .json(&json!({"uid_field": who, "password": "correct-horse"}))
        .send()
        .await
        .unwrap();
    jar.take(&done);
    assert!(
        jar.0.contains_key("gatehouse_session"),
        "{who} not signed in"
    );
    jar
}

async fn listed(server: &Server, jar: &Jar) -> Vec<Value> {
    let response = client()
        .get(server.http_url("/api/v1/core/authenticated_sessions/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    body["results"].as_array().unwrap().clone()
}

async fn home_status(server: &Server, jar: &Jar) -> StatusCode {
    client()
        .get(server.http_url("/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn a_user_lists_and_ends_their_own_sessions_only() {
    let (_data, server) = server().await;
    let laptop = signed_in(&server, "alice", "Laptop/1.0").await;
    let phone = signed_in(&server, "alice", "Phone/2.0").await;
    let bob = signed_in(&server, "bob", "Bob/1.0").await;
    // A second session gives Bob's page a form, so a token of his own.
    signed_in(&server, "bob", "Bob/2.0").await;

    let sessions = listed(&server, &laptop).await;
    assert_eq!(sessions.len(), 2, "{sessions:?}");
    let (mine, other): (Vec<&Value>, Vec<&Value>) =
        sessions.iter().partition(|s| s["current"] == true);
    assert_eq!(mine.len(), 1);
    assert_eq!(mine[0]["last_user_agent"], "Laptop/1.0");
    assert_eq!(other[0]["last_user_agent"], "Phone/2.0");
    assert_eq!(other[0]["last_ip"], "127.0.0.1");
    let phone_id = other[0]["uuid"].as_str().unwrap().to_owned();

    // `/` lists them with a button for the other one, bound to this session.
    let page = client()
        .get(server.http_url("/"))
        .header(COOKIE, laptop.header())
        .send()
        .await
        .unwrap();
    let html = page.text().await.unwrap();
    assert!(html.contains("This browser"), "{html}");
    assert!(html.contains("Phone&#x2f;2.0"), "{html}");
    assert_eq!(html.matches("Sign out this session").count(), 1, "{html}");
    let csrf = csrf_of(&html);
    let revoke = server.http_url("/if/user/sessions/revoke/");
    let forged = client()
        .post(&revoke)
        .header(COOKIE, laptop.header())
        .form(&[("session", phone_id.as_str()), ("csrf_token", "AAAA")])
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 403);
    assert_eq!(home_status(&server, &phone).await, 200);
    // Bob cannot use his own token to end Alice's session either.
    let bob_html = client()
        .get(server.http_url("/"))
        .header(COOKIE, bob.header())
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let bob_csrf = csrf_of(&bob_html);
    let sneaky = client()
        .post(&revoke)
        .header(COOKIE, bob.header())
        .form(&[("session", phone_id.as_str()), ("csrf_token", &bob_csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(sneaky.status(), 303);
    assert_eq!(home_status(&server, &phone).await, 200);

    let ended = client()
        .post(&revoke)
        .header(COOKIE, laptop.header())
        .form(&[("session", phone_id.as_str()), ("csrf_token", &csrf)])
        .send()
        .await
        .unwrap();
    assert_eq!(ended.status(), 303);
    assert_eq!(ended.headers()[LOCATION], "/");
    // The phone is signed out (sent to sign in); the laptop is not.
    assert_eq!(home_status(&server, &phone).await, 303);
    assert_eq!(home_status(&server, &laptop).await, 200);
    assert_eq!(listed(&server, &laptop).await.len(), 1);

    // The JSON API: another user's session is "not found"; one's own ends.
    let tablet = signed_in(&server, "alice", "Tablet/3.0").await;
    let bob_id = listed(&server, &bob)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    let delete = |id: String, jar: &Jar| {
        client()
            .delete(server.http_url(&format!("/api/v1/core/authenticated_sessions/{id}/")))
            .header(COOKIE, jar.header())
            .send()
    };
    assert_eq!(delete(bob_id, &laptop).await.unwrap().status(), 404);
    assert_eq!(home_status(&server, &bob).await, 200);
    assert_eq!(
        delete("not-a-uuid".into(), &laptop).await.unwrap().status(),
        404
    );
    let tablet_id = listed(&server, &tablet)
        .await
        .into_iter()
        .find(|s| s["current"] == true)
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(delete(tablet_id, &laptop).await.unwrap().status(), 204);
    assert_eq!(home_status(&server, &tablet).await, 303);

    // Without a session there is nothing to list.
    let anonymous = client()
        .get(server.http_url("/api/v1/core/authenticated_sessions/"))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 403);
}

/// The seed's "hide an application from a user": two applications bound to groups,
/// one open to all, one behind a CEL rule on the client address.
const APPS: &str = "version: 1
entries:
  - model: gatehouse_core.group
    id: admins
    identifiers: {name: Admins}
  - model: gatehouse_core.user
    identifiers: {username: bob}
    attrs: {groups: [!KeyOf admins]}
  - model: gatehouse_core.application
    id: prometheus
    identifiers: {slug: prometheus}
    attrs: {name: Prometheus, meta_launch_url: 'https://prometheus.example.org/'}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf prometheus, group: !KeyOf admins, order: 0}
  - model: gatehouse_core.application
    identifiers: {slug: wiki}
    attrs: {name: Wiki, meta_launch_url: 'https://wiki.example.org/'}
  - model: gatehouse_core.application
    id: vpn-only
    identifiers: {slug: vpn-only}
    attrs: {name: VPN only}
  - model: gatehouse_policies_expression.expressionpolicy
    id: from-vpn
    identifiers: {name: from-vpn}
    attrs: {expression: 'request.ip.in_cidr(\"10.8.0.0/16\")'}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf vpn-only, policy: !KeyOf from-vpn, order: 0}
";

#[tokio::test]
async fn the_home_page_lists_only_the_applications_a_user_may_open() {
    let (_data, server) = crate::flows::server_with_blueprints(&[], &[("apps.yaml", APPS)]).await;
    let page = |jar: &Jar| {
        let (server, cookies) = (&server, jar.header());
        async move {
            client()
                .get(server.http_url("/"))
                .header(COOKIE, cookies)
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        }
    };
    // The applications arrive with the flow's file or just after: wait for them.
    let bob = signed_in(&server, "bob", "Bob/1.0").await;
    let mut bob_page = String::new();
    for _ in 0..50 {
        bob_page = page(&bob).await;
        if bob_page.contains("Wiki") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert!(bob_page.contains(">Prometheus</a>"), "{bob_page}");
    assert!(bob_page.contains(">Wiki</a>"), "{bob_page}");
    // Tests connect from 127.0.0.1, outside the VPN range.
    assert!(!bob_page.contains("VPN only"), "{bob_page}");
    let alice_page = page(&signed_in(&server, "alice", "Alice/1.0").await).await;
    assert!(alice_page.contains(">Wiki</a>"), "{alice_page}");
    assert!(!alice_page.contains("Prometheus"), "{alice_page}");
}
