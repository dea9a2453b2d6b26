//! The control channel with real processes: `gatehouse outpost` connects to
//! `gatehouse server`, enforces the config it gets and every revocation, keeps
//! enforcing both when the core is gone, and hears a logout done on another replica.
//!
//! A "known session" is a real core session (signed in over HTTP) in an outpost
//! cookie sealed with the provider's cookie key, as the outpost's own sign-in will
//! make it.

use std::path::Path;
use std::time::Duration;

use gatehouse_outpost::session::{OutpostSession, cookie_name, key_of, seal};
use reqwest::StatusCode;
use reqwest::header::COOKIE;
use serde_json::Value;

use crate::flows::{Jar, client, server_with_blueprints};
use crate::harness::{Outpost, Server};
use crate::sessions::signed_in;

pub(crate) const TOKEN: &str = "edge-token-0123456789";
const COOKIE_SECRET: &str = "prometheus-cookie-secret-for-tests-only-0123456789";

/// Alice in `ops`; Prometheus behind a proxy provider bound to `ops`; the outpost
/// `edge` serving it.
pub(crate) const EDGE: &str = r#"version: 1
entries:
  - model: gatehouse_core.group
    id: ops
    identifiers: {name: ops}
    attrs: {users: [!Find [gatehouse_core.user, [username, alice]]]}
  - model: gatehouse_providers_proxy.proxyprovider
    id: prom
    identifiers: {name: prometheus}
    attrs:
      mode: forward_single
      external_host: http://prom.test
      cookie_secret: prometheus-cookie-secret-for-tests-only-0123456789
      skip_path_regex: ^/gatehouse-echo/public/
      authorization_flow: !Find [gatehouse_flows.flow, [slug, default-provider-authorization-implicit-consent]]
  - model: gatehouse_core.application
    id: app
    identifiers: {slug: prometheus}
    attrs: {name: Prometheus, provider: !KeyOf prom}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf app, group: !KeyOf ops, order: 0}
  - model: gatehouse_outposts.outpost
    identifiers: {name: edge}
    attrs: {providers: [!KeyOf prom], token: edge-token-0123456789}
"#;

/// Waits until `probe` gives `want`, for at most 30 s: a bound for a loaded
/// machine, not a timing assertion.
async fn eventually<F, Fut, T>(what: &str, want: T, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = T>,
    T: PartialEq + std::fmt::Debug,
{
    let mut last = None;
    for _ in 0..300 {
        let got = probe().await;
        if got == want {
            return got;
        }
        last = Some(got);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what}: wanted {want:?}, still {last:?} after 30 s");
}

/// The outpost's state file once it holds a config: what it enforces.
pub(crate) async fn enforced(dir: &Path) -> Value {
    let file = dir.join(gatehouse_outpost::STATE_FILE);
    for _ in 0..300 {
        if let Ok(text) = std::fs::read_to_string(&file)
            && let Ok(json) = serde_json::from_str::<Value>(&text)
            && json["snapshot"]["providers"].is_array()
        {
            return json;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{} never held a config", file.display());
}

/// A signed-in browser of `who` and the outpost cookie for its core session.
pub(crate) async fn session_of(server: &Server, who: &str, provider: &str) -> (Jar, String) {
    session_with_uid(server, who, provider, uuid::Uuid::new_v4()).await
}

/// [`session_of`] with the user's real id in the cookie.
async fn session_with_uid(
    server: &Server,
    who: &str,
    provider: &str,
    uid: uuid::Uuid,
) -> (Jar, String) {
    let jar = signed_in(server, who, "Browser/1.0").await;
    let listed: Value = client()
        .get(server.http_url("/api/v1/core/authenticated_sessions/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sid = listed["results"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["current"] == true)
        .unwrap()["uuid"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let session = OutpostSession {
        sid,
        uid,
        username: who.into(),
        email: format!("{who}@example.org"),
        name: who.into(),
        groups: if who == "alice" {
            vec!["ops".into()]
        } else {
            Vec::new()
        },
        attributes: serde_json::json!({}),
        issued_at: now,
        expires_at: now + 3600,
    };
    let provider: uuid::Uuid = provider.parse().unwrap();
    let name = cookie_name(provider);
    let cookie = format!("{name}={}", seal(&key_of(COOKIE_SECRET), &name, &session));
    (jar, cookie)
}

/// The outpost's nginx answer for `path` on Prometheus with `cookie`.
async fn auth(outpost: &Outpost, path: &str, cookie: &str) -> StatusCode {
    client()
        .get(outpost.http_url("/outpost.gatehouse/auth/nginx"))
        .header("x-original-url", format!("http://prom.test{path}"))
        .header(COOKIE, cookie)
        .send()
        .await
        .map(|r| r.status())
        .unwrap_or(StatusCode::BAD_GATEWAY)
}

async fn sign_out(server: &Server, jar: &Jar) {
    let out = client()
        .get(server.http_url("/if/flow/default-invalidation-flow/"))
        .header(COOKIE, jar.header())
        .send()
        .await
        .unwrap();
    assert_eq!(out.status(), 303);
}

async fn metrics(server: &Server) -> String {
    reqwest::get(format!("http://{}/metrics", server.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

/// A user's id, read from the core's SQLite database.
async fn user_id(data: &Path, username: &str) -> uuid::Uuid {
    use sqlx::ConnectOptions;
    let mut conn = sqlx::sqlite::SqliteConnectOptions::new()
        .filename(data.join("gatehouse.db"))
        .connect()
        .await
        .unwrap();
    let id: String = sqlx::query_scalar("SELECT id FROM users WHERE username = $1")
        .bind(username)
        .fetch_one(&mut conn)
        .await
        .unwrap();
    id.parse().unwrap()
}

pub(crate) fn provider_id(state: &Value) -> String {
    state["snapshot"]["providers"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test]
async fn an_outpost_gets_its_config_sees_a_change_and_refuses_a_session_after_logout() {
    let (data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    let dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(dir.path(), &server.http_url(""), TOKEN);
    let state = enforced(dir.path()).await;
    assert_eq!(state["snapshot"]["outpost"]["name"], "edge");
    assert_eq!(
        state["snapshot"]["providers"][0]["application"]["slug"],
        "prometheus"
    );
    let provider = provider_id(&state);

    let (alice, cookie) = session_of(&server, "alice", &provider).await;
    assert_eq!(auth(&outpost, "/graph", &cookie).await, StatusCode::OK);
    let answer = client()
        .get(outpost.http_url("/outpost.gatehouse/auth/nginx"))
        .header("x-original-url", "http://prom.test/graph")
        .header(COOKIE, &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(answer.headers()["x-gatehouse-username"], "alice");
    assert_eq!(auth(&outpost, "/graph", "").await, StatusCode::UNAUTHORIZED);
    let (_bob, bob_cookie) = session_of(&server, "bob", &provider).await;
    assert_eq!(
        auth(&outpost, "/graph", &bob_cookie).await,
        StatusCode::FORBIDDEN
    );

    // A config change (a blueprint edited on the core) reaches the outpost.
    assert_eq!(
        auth(&outpost, "/public/logo.svg", "").await,
        StatusCode::UNAUTHORIZED
    );
    std::fs::write(
        data.path().join("blueprints/skip.yaml"),
        "version: 1\nentries:\n  - model: gatehouse_providers_proxy.proxyprovider\n    \
         identifiers: {name: prometheus}\n    attrs: {skip_path_regex: \"^/public/\"}\n",
    )
    .unwrap();
    eventually("the new skip_path_regex", StatusCode::OK, || {
        auth(&outpost, "/public/logo.svg", "")
    })
    .await;

    // A logout on the core: the outpost refuses that session from then on.
    sign_out(&server, &alice).await;
    eventually(
        "alice's session after logout",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/graph", &cookie),
    )
    .await;

    // Alice leaves ops: her other session's cookie names ops, so it no longer counts
    // (she would sign in again and get a cookie without it).
    let uid = user_id(data.path(), "alice").await;
    let (_again, again) = session_with_uid(&server, "alice", &provider, uid).await;
    assert_eq!(auth(&outpost, "/graph", &again).await, StatusCode::OK);
    std::fs::write(
        data.path().join("blueprints/leave.yaml"),
        "version: 1\nentries:\n  - model: gatehouse_core.group\n    \
         identifiers: {name: ops}\n    attrs: {users: []}\n",
    )
    .unwrap();
    eventually(
        "alice's session after leaving ops",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/graph", &again),
    )
    .await;

    // The core's metrics name the outpost and the config it acknowledged.
    let text = metrics(&server).await;
    let version = enforced(dir.path()).await["version"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        text.contains(&format!(
            "gatehouse_outpost_config_version{{outpost=\"edge\",version=\"{version}\"}} 1"
        )),
        "{text}"
    );
    assert!(
        text.contains("gatehouse_outpost_last_message_age_seconds{outpost=\"edge\"}"),
        "{text}"
    );
    let connected = text
        .lines()
        .find_map(|l| l.strip_prefix("gatehouse_outposts_connected "))
        .and_then(|v| v.parse::<f64>().ok());
    // edge and the embedded outpost.
    assert_eq!(connected, Some(2.0), "{text}");
    drop(outpost);
}

/// A free loopback port, to restart a core on the address its outpost knows.
fn free_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().to_string()
}

#[tokio::test]
async fn without_its_core_the_outpost_keeps_known_sessions_and_learns_missed_revocations_on_reconnect()
 {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("login.yaml"), crate::flows::LOGIN_FLOW).unwrap();
    std::fs::write(folder.join("edge.yaml"), EDGE).unwrap();
    let address = free_port();
    let server = Server::start_on(data.path(), &address, &[]);
    let dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(dir.path(), &server.http_url(""), TOKEN);
    let provider = provider_id(&enforced(dir.path()).await);
    crate::flows::wait_for_sign_in(&server).await;
    let (first, first_cookie) = session_of(&server, "alice", &provider).await;
    let (second, second_cookie) = session_of(&server, "alice", &provider).await;
    assert_eq!(auth(&outpost, "/", &first_cookie).await, StatusCode::OK);
    assert_eq!(auth(&outpost, "/", &second_cookie).await, StatusCode::OK);

    // The core goes away: known sessions go on working, unknown ones do not.
    assert!(server.stop().success());
    let forged = format!("{}=forged", cookie_name(provider.parse().unwrap()));
    assert_eq!(auth(&outpost, "/", &first_cookie).await, StatusCode::OK);
    assert_eq!(auth(&outpost, "/", &forged).await, StatusCode::UNAUTHORIZED);
    assert_eq!(auth(&outpost, "/", "").await, StatusCode::UNAUTHORIZED);
    // Even an outpost that starts while the core is away enforces what it kept.
    outpost.stop();
    let outpost = Outpost::start(dir.path(), &format!("http://{address}"), TOKEN);
    assert_eq!(auth(&outpost, "/", &first_cookie).await, StatusCode::OK);
    assert_eq!(auth(&outpost, "/", &forged).await, StatusCode::UNAUTHORIZED);

    // The core comes back; the outpost reconnects by itself (backoff) and hears a
    // live logout.
    let server = Server::start_on(data.path(), &address, &[]);
    crate::flows::wait_for_sign_in(&server).await;
    eventually("the outpost reconnected", true, || async {
        metrics(&server)
            .await
            .contains("gatehouse_outpost_last_message_age_seconds{outpost=\"edge\"}")
    })
    .await;
    sign_out(&server, &first).await;
    eventually(
        "the first session after logout",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/", &first_cookie),
    )
    .await;

    // Cut off again (stopped), the outpost misses a logout; once back it hears it.
    outpost.stop();
    sign_out(&server, &second).await;
    let outpost = Outpost::start(dir.path(), &server.http_url(""), TOKEN);
    eventually(
        "the session revoked while cut off",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/", &second_cookie),
    )
    .await;
    assert!(
        outpost.log_text().contains("revocations received"),
        "{}",
        outpost.log_text()
    );
}

#[tokio::test]
async fn a_logout_on_one_postgres_replica_reaches_an_outpost_connected_to_another() {
    let url = crate::harness::fresh_postgres_database().await;
    let env = [
        ("GATEHOUSE_DATABASE__URL", url.as_str()),
        (
            "GATEHOUSE_SECRET_KEY",
            "a-shared-secret-key-of-both-replicas-0123456789",
        ),
    ];
    let (_a_data, a) = server_with_blueprints(&env, &[("edge.yaml", EDGE)]).await;
    let (_b_data, b) = server_with_blueprints(&env, &[("edge.yaml", EDGE)]).await;
    let dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(dir.path(), &a.http_url(""), TOKEN);
    let provider = provider_id(&enforced(dir.path()).await);
    // Signed in and out on replica B.
    let (alice, cookie) = session_of(&b, "alice", &provider).await;
    assert_eq!(auth(&outpost, "/", &cookie).await, StatusCode::OK);
    sign_out(&b, &alice).await;
    eventually(
        "a logout on the other replica",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/", &cookie),
    )
    .await;
}

#[tokio::test]
async fn a_bad_outpost_token_is_refused_with_401_and_never_logged() {
    let (_data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    let wrong = "wrong-token-that-must-not-appear-in-logs";
    let refused = client()
        .get(server.http_url(gatehouse_config::control::PATH))
        .header("authorization", format!("Bearer {wrong}"))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(refused.headers()["www-authenticate"], "Bearer");
    let anonymous = client()
        .get(server.http_url(gatehouse_config::control::PATH))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);

    // An outpost with that token keeps being refused, and says why.
    let dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(dir.path(), &server.http_url(""), wrong);
    eventually("the outpost saying its token was refused", true, || async {
        outpost.log_text().contains("refused the outpost token")
    })
    .await;
    let log = server.log_text();
    assert!(log.contains("outpost refused: unknown token"), "{log}");
    assert!(!log.contains(wrong), "the token leaked into the core's log");
    assert!(!log.contains(TOKEN));
}

#[tokio::test]
async fn the_embedded_outpost_connects_to_its_own_server_and_answers_on_its_listener() {
    let (_data, server) = server_with_blueprints(&[], &[]).await;
    let ping = client()
        .get(server.http_url("/outpost.gatehouse/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::NO_CONTENT);
    eventually("the embedded outpost connected", true, || async {
        metrics(&server).await.contains(
            "gatehouse_outpost_last_message_age_seconds{outpost=\"gatehouse Embedded Outpost\"}",
        )
    })
    .await;
    // Switched off, it is neither connected nor answering.
    let (_off_data, off) =
        server_with_blueprints(&[("GATEHOUSE_EMBEDDED_OUTPOST", "false")], &[]).await;
    let ping = client()
        .get(off.http_url("/outpost.gatehouse/ping"))
        .send()
        .await
        .unwrap();
    assert_eq!(ping.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_core_refuses_another_protocol_version_and_answers_a_known_one_with_config() {
    use futures_util::{SinkExt, StreamExt};
    use tokio_tungstenite::tungstenite::Message;
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;

    let (_data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    // The blueprint that makes the outpost may apply a moment after the sign-in
    // flow exists (it finds alice, whom the flow's blueprint makes): until then the
    // token is refused.
    let connect = || async {
        let url = format!("ws://{}{}", server.http, gatehouse_config::control::PATH);
        for _ in 0..300 {
            let mut request = url.as_str().into_client_request().unwrap();
            request
                .headers_mut()
                .insert("authorization", format!("Bearer {TOKEN}").parse().unwrap());
            match tokio_tungstenite::connect_async(request).await {
                Ok((socket, _)) => return socket,
                Err(tokio_tungstenite::tungstenite::Error::Http(r)) if r.status() == 401 => {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(err) => panic!("cannot connect: {err}"),
            }
        }
        panic!("the outpost's token was never accepted");
    };
    let next_json = |frame: Option<Result<Message, _>>| -> Value {
        match frame {
            Some(Ok(Message::Text(text))) => serde_json::from_str(text.as_str()).unwrap(),
            other => panic!("expected a text frame, got {other:?}"),
        }
    };

    let mut future = connect().await;
    future
        .send(Message::text(
            r#"{"type":"hello","protocol":99,"outpost_version":"9.9"}"#,
        ))
        .await
        .unwrap();
    let refused = next_json(future.next().await);
    assert_eq!(refused["type"], "refused");
    assert!(
        refused["reason"].as_str().unwrap().contains("99"),
        "{refused}"
    );
    assert!(
        matches!(future.next().await, Some(Ok(Message::Close(_))) | None),
        "the core closes after refusing"
    );

    let mut current = connect().await;
    current
        .send(Message::text(
            r#"{"type":"hello","protocol":1,"outpost_version":"test"}"#,
        ))
        .await
        .unwrap();
    let config = next_json(current.next().await);
    assert_eq!(config["type"], "config");
    assert_eq!(config["snapshot"]["outpost"]["name"], "edge");
    let version = config["version"].as_str().unwrap().to_owned();
    let revocations = next_json(current.next().await);
    assert_eq!(revocations["type"], "revocations");

    // Saying hello with the version it has: no config, only the revocations.
    let mut again = connect().await;
    again
        .send(Message::text(format!(
            r#"{{"type":"hello","protocol":1,"outpost_version":"test","config_version":"{version}"}}"#
        )))
        .await
        .unwrap();
    assert_eq!(next_json(again.next().await)["type"], "revocations");

    // Something that is not the protocol ends the connection.
    current
        .send(Message::text("{\"type\":\"launch\"}"))
        .await
        .unwrap();
    let closed = tokio::time::timeout(Duration::from_secs(30), async {
        loop {
            match current.next().await {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return,
                // Pings may come first.
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "the core kept a connection that broke the protocol"
    );
}

/// One browser step: GET `url` with `host` and `cookies`; the status, `Location`,
/// and the cookies it sets taken into `jar`.
pub(crate) async fn step(url: &str, host: Option<&str>, jar: &mut Jar) -> (StatusCode, String) {
    let mut request = client().get(url).header(COOKIE, jar.header());
    if let Some(host) = host {
        request = request.header("host", host);
    }
    let response = request.send().await.unwrap();
    jar.take(&response);
    let location = response
        .headers()
        .get("location")
        .map(|l| l.to_str().unwrap().to_owned())
        .unwrap_or_default();
    (response.status(), location)
}

/// Signs `who` in at Prometheus through the outpost: start, the core's authorization
/// endpoint (with the core session), the callback. Returns the outpost's cookies.
async fn outpost_sign_in(server: &Server, outpost: &Outpost, core: &Jar) -> Jar {
    let mut jar = Jar::default();
    let (status, to_core) = step(
        &outpost.http_url("/outpost.gatehouse/start?rd=http%3A%2F%2Fprom.test%2Fgraph%3Fg0%3D1"),
        Some("prom.test"),
        &mut jar,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        to_core.starts_with(&server.http_url("/application/o/authorize/?")),
        "{to_core}"
    );
    let mut core = Jar(core.0.clone());
    let (status, back) = step(&to_core, None, &mut core).await;
    assert!(status.is_redirection(), "{status}");
    let query = back
        .strip_prefix("http://prom.test/outpost.gatehouse/callback?")
        .unwrap_or_else(|| panic!("not the callback: {back}"));
    let (status, rd) = step(
        &outpost.http_url(&format!("/outpost.gatehouse/callback?{query}")),
        Some("prom.test"),
        &mut jar,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(rd, "http://prom.test/graph?g0=1");
    jar
}

#[tokio::test]
async fn signing_in_through_the_outpost_lets_the_user_in_and_signing_out_ends_it() {
    let (_data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    let dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(dir.path(), &server.http_url(""), TOKEN);
    enforced(dir.path()).await;

    let alice_core = signed_in(&server, "alice", "Browser/1.0").await;
    let alice = outpost_sign_in(&server, &outpost, &alice_core).await;
    let answer = client()
        .get(outpost.http_url("/outpost.gatehouse/auth/nginx"))
        .header("x-original-url", "http://prom.test/graph")
        .header(COOKIE, alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    assert_eq!(answer.headers()["x-gatehouse-username"], "alice");
    assert_eq!(answer.headers()["x-gatehouse-email"], "alice@example.org");
    assert_eq!(answer.headers()["x-gatehouse-groups"], "ops");

    // Bob is not in ops: the core's authorization endpoint already refuses him (as
    // authentik's does), so he never gets an outpost cookie.
    let bob_core = Jar(signed_in(&server, "bob", "Browser/1.0").await.0);
    let mut bob = Jar::default();
    let (_, to_core) = step(
        &outpost.http_url("/outpost.gatehouse/start?rd=http%3A%2F%2Fprom.test%2F"),
        Some("prom.test"),
        &mut bob,
    )
    .await;
    let (status, _) = step(&to_core, None, &mut Jar(bob_core.0.clone())).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A callback replayed, or with a state of another login, signs nobody in.
    let mut stranger = Jar::default();
    let (status, _) = step(
        &outpost.http_url("/outpost.gatehouse/callback?code=x&state=forged"),
        Some("prom.test"),
        &mut stranger,
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Sign-out: the outpost forgets its cookie and sends the browser to end the core
    // session, which every outpost then refuses.
    let cookie = alice.header();
    let mut out = Jar(alice.0.clone());
    let (status, end) = step(
        &outpost.http_url("/outpost.gatehouse/sign_out"),
        Some("prom.test"),
        &mut out,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        out.0.is_empty(),
        "the session cookie is removed: {:?}",
        out.0
    );
    assert_eq!(
        end,
        server.http_url("/application/o/prometheus/end-session/")
    );
    let mut core = Jar(alice_core.0.clone());
    let (status, _) = step(&end, None, &mut core).await;
    assert!(status.is_redirection(), "{status}");
    eventually(
        "the old cookie after sign-out",
        StatusCode::UNAUTHORIZED,
        || auth(&outpost, "/graph", &cookie),
    )
    .await;
}
