//! The outpost as the reverse proxy itself (a `proxy` mode provider), with no front
//! proxy: Prometheus (through the tests' echo app) at `direct.test`. An anonymous
//! visitor is sent to sign in and comes back to the URL they asked for; the app
//! hears who they are and not what the client claimed, with `X-Forwarded-*` set by
//! the outpost; a websocket and a large streamed response pass; HTTP/2 (h2c) works;
//! a user outside the group gets the page naming the application; signing out ends
//! access.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use crate::flows::{Jar, client, server_with_blueprints};
use crate::fronts::{
    echo, echoed, get, prometheus, sign_out_ends_access, values, visit_and_sign_in,
};
use crate::harness::Outpost;
use crate::outposts::{EDGE, enforced, provider_id, session_of, step};
use crate::sessions::signed_in;

const DIRECT_TOKEN: &str = "direct-token-0123456789";
const HOST: &str = "direct.test";

/// A proxy-mode provider for `direct.test` in front of `upstream`, bound to `ops`,
/// served by the outpost `direct`.
fn direct(upstream: u16) -> String {
    format!(
        r#"version: 1
entries:
  - model: gatehouse_providers_proxy.proxyprovider
    id: direct
    identifiers: {{name: prometheus-direct}}
    attrs:
      mode: proxy
      external_host: http://{HOST}
      internal_host: http://127.0.0.1:{upstream}
      cookie_secret: prometheus-cookie-secret-for-tests-only-0123456789
      skip_path_regex: ^/gatehouse-echo/public/
      intercept_header_auth: true
      authorization_flow: !Find [gatehouse_flows.flow, [slug, default-provider-authorization-implicit-consent]]
  - model: gatehouse_core.application
    id: app
    identifiers: {{slug: prometheus-direct}}
    attrs: {{name: Prometheus Direct, provider: !KeyOf direct}}
  - model: gatehouse_policies.policybinding
    identifiers: {{target: !KeyOf app, group: !Find [gatehouse_core.group, [name, ops]], order: 0}}
  - model: gatehouse_outposts.outpost
    identifiers: {{name: direct}}
    attrs: {{providers: [!KeyOf direct], token: {DIRECT_TOKEN}}}
"#
    )
}

#[tokio::test]
async fn the_outpost_proxies_to_prometheus_for_signed_in_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_prometheus, prometheus) = prometheus(dir.path()).await;
    let (_echo, upstream) = echo(prometheus).await;
    let (_data, server) = server_with_blueprints(
        &[],
        &[("edge.yaml", EDGE), ("zz-direct.yaml", &direct(upstream))],
    )
    .await;
    let outpost_dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(outpost_dir.path(), &server.http_url(""), DIRECT_TOKEN);
    let state = enforced(outpost_dir.path()).await;
    let provider = provider_id(&state);
    let port = outpost.http.port();

    // Alice: sent to sign in, back at the URL she asked for, with Prometheus's page.
    let alice_core = signed_in(&server, "alice", "Browser/1.0").await;
    let (alice, status, rd) = visit_and_sign_in(
        &server,
        port,
        HOST,
        &alice_core,
        "/classic/graph?g0.expr=up",
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(rd, format!("http://{HOST}/classic/graph?g0.expr=up"));
    let cookies = alice.header();
    let page = get(port, HOST, "/classic/graph?g0.expr=up", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(page.text().await.unwrap().contains("<title>Prometheus"));

    // The app hears who she is and where the request came from, from the outpost.
    let (status, echo) = echoed(port, HOST, "/gatehouse-echo/headers", &cookies).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(values(&echo, "x-gatehouse-username"), ["alice"], "{echo}");
    assert_eq!(values(&echo, "x-gatehouse-groups"), ["ops"], "{echo}");
    assert_eq!(values(&echo, "x-forwarded-host"), [HOST], "{echo}");
    assert_eq!(values(&echo, "x-forwarded-proto"), ["http"], "{echo}");
    assert_eq!(values(&echo, "x-forwarded-for"), ["127.0.0.1"], "{echo}");
    assert_eq!(
        values(&echo, "host"),
        [format!("127.0.0.1:{upstream}")],
        "{echo}"
    );
    // The outpost's session cookie stays between the browser and the outpost; the
    // browser's other cookies reach the app.
    assert!(values(&echo, "cookie").is_empty(), "{echo}");
    let (status, echo) = echoed(
        port,
        HOST,
        "/gatehouse-echo/headers",
        &format!("theme=dark; {cookies}; lang=en"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(values(&echo, "cookie"), ["theme=dark; lang=en"], "{echo}");
    let (status, echo) = echoed(port, HOST, "/gatehouse-echo/public/headers", "").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a skipped path passes without a login"
    );
    assert!(
        values(&echo, "x-gatehouse-username")
            .iter()
            .all(String::is_empty),
        "{echo}"
    );
    assert!(
        values(&echo, "x-gatehouse-groups")
            .iter()
            .all(String::is_empty),
        "{echo}"
    );

    // A large response streams through whole.
    let big = get(port, HOST, "/gatehouse-echo/big?mb=64", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), StatusCode::OK);
    let mut body = big.bytes_stream();
    let mut seen: usize = 0;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.unwrap();
        for (i, byte) in chunk.iter().enumerate() {
            assert_eq!(usize::from(*byte), (seen + i) % 256, "byte {}", seen + i);
        }
        seen += chunk.len();
    }
    assert_eq!(seen, 64 << 20);

    // A websocket is upgraded and echoes; without a session it is not.
    let mut request = format!("ws://127.0.0.1:{port}/gatehouse-echo/ws")
        .into_client_request()
        .unwrap();
    request.headers_mut().insert("host", HOST.parse().unwrap());
    let mut anonymous = request.clone();
    request
        .headers_mut()
        .insert("cookie", cookies.parse().unwrap());
    let (mut socket, _) = tokio_tungstenite::connect_async(request).await.unwrap();
    socket.send(Message::text("hello")).await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(10), socket.next())
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(reply.into_text().unwrap().as_str(), "echo:hello");
    anonymous.headers_mut().remove("cookie");
    match tokio_tungstenite::connect_async(anonymous).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(refused)) => {
            assert_eq!(refused.status(), StatusCode::FOUND, "sent to sign in");
        }
        other => panic!("an anonymous websocket was not refused: {other:?}"),
    }

    // HTTP/2 without TLS (prior knowledge) to the outpost, direct.test resolved to
    // it (HTTP/2 names the host in :authority, which must agree with any Host).
    let h2 = reqwest::Client::builder()
        .http2_prior_knowledge()
        .resolve(HOST, std::net::SocketAddr::from(([127, 0, 0, 1], port)))
        .build()
        .unwrap()
        .get(format!("http://{HOST}/api/v1/status/buildinfo"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(h2.version(), reqwest::Version::HTTP_2);
    assert_eq!(h2.status(), StatusCode::OK);

    // And over HTTPS (the self-signed pair made at start), HTTP/2 by ALPN.
    let tls = reqwest::Client::builder()
        .danger_accept_invalid_certs(true)
        .resolve(HOST, outpost.https)
        .build()
        .unwrap()
        .get(format!("https://{HOST}/api/v1/status/buildinfo"))
        .header("cookie", &cookies)
        .send()
        .await
        .unwrap();
    assert_eq!(tls.version(), reqwest::Version::HTTP_2);
    assert_eq!(tls.status(), StatusCode::OK);

    // Bob, outside ops, gets the page naming the application.
    let (_, bob) = session_of(&server, "bob", &provider).await;
    let refused = get(port, HOST, "/graph", &bob).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("may not open Prometheus Direct")
    );

    // The outpost counts what it decided and what the upstream answered.
    let metrics = reqwest::get(format!("http://{}/metrics", outpost.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    for line in [
        r#"gatehouse_outpost_decisions_total{application="Prometheus Direct",result="allowed"}"#,
        r#"gatehouse_outpost_decisions_total{application="Prometheus Direct",result="forbidden"}"#,
        r#"gatehouse_outpost_decisions_total{application="Prometheus Direct",result="skipped"}"#,
        r#"gatehouse_outpost_upstream_responses_total{application="Prometheus Direct",status="200"}"#,
        r#"gatehouse_outpost_decision_seconds_bucket{application="Prometheus Direct""#,
        "gatehouse_outpost_sessions_cached ",
    ] {
        assert!(metrics.contains(line), "{line} not in:\n{metrics}");
    }

    // A host no provider serves is not proxied anywhere.
    let nowhere = get(port, "nowhere.test", "/", "").send().await.unwrap();
    assert_eq!(nowhere.status(), StatusCode::NOT_FOUND);

    // An access token of the provider's client, from the core, lets a script in
    // without a cookie; a forged one does not.
    let token = access_token(&server, &state, &alice_core).await;
    let bearer = |token: String| {
        get(port, HOST, "/gatehouse-echo/headers", "")
            .header("authorization", format!("Bearer {token}"))
            .send()
    };
    let answer = bearer(token.clone()).await.unwrap();
    assert_eq!(answer.status(), StatusCode::OK);
    let echo: serde_json::Value = answer.json().await.unwrap();
    assert_eq!(values(&echo, "x-gatehouse-username"), ["alice"], "{echo}");
    // Another user's id in the payload, the signature kept.
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let payload = String::from_utf8(
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, &parts[1])
            .unwrap(),
    )
    .unwrap()
    .replace("alice", "admin");
    parts[1] = base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload);
    let forged = parts.join(".");
    assert_eq!(bearer(forged).await.unwrap().status(), StatusCode::FOUND);

    // Signing out ends access, by cookie and by that session's token.
    sign_out_ends_access(port, HOST, &alice, &alice_core, "/graph").await;
    assert_eq!(bearer(token).await.unwrap().status(), StatusCode::FOUND);
}

/// An access token for alice (signed in at the core with `core`) issued to the
/// proxy provider's client: the code flow done by hand, with the client's
/// credentials from the outpost's state.
async fn access_token(
    server: &crate::harness::Server,
    state: &serde_json::Value,
    core: &Jar,
) -> String {
    let settings = &state["snapshot"]["providers"][0]["settings"];
    let (client_id, secret) = (
        settings["client_id"].as_str().unwrap(),
        settings["client_secret"].as_str().unwrap(),
    );
    let callback = format!("http://{HOST}/outpost.gatehouse/callback");
    let mut authorize = reqwest::Url::parse(&server.http_url("/application/o/authorize/")).unwrap();
    authorize
        .query_pairs_mut()
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", &callback)
        .append_pair("response_type", "code")
        .append_pair("scope", "openid")
        .append_pair("state", "by-hand");
    let (status, back) = step(authorize.as_str(), None, &mut Jar(core.0.clone())).await;
    assert!(status.is_redirection(), "{status}");
    let code = reqwest::Url::parse(&back)
        .unwrap()
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .unwrap_or_else(|| panic!("no code: {back}"));
    let tokens: serde_json::Value = client()
        .post(server.http_url("/application/o/token/"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &callback),
            ("client_id", client_id),
            ("client_secret", secret),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    tokens["access_token"]
        .as_str()
        .unwrap_or_else(|| panic!("{tokens}"))
        .to_owned()
}
