//! The front proxies people run — nginx and caddy (Debian's), traefik and envoy
//! (PyPI's) — each configured as its example in `config/examples/` says, in front of
//! Prometheus (Debian's) reached through the tests' echo app (`tests/apps/echo.py`,
//! which also shows what headers reached the app), with a `gatehouse outpost`
//! deciding. For each: an anonymous visitor is sent to sign in and comes back to the
//! URL they asked for with Prometheus's page; the identity headers reach the app and
//! a client's own do not; a user outside the bound group is refused with a page
//! naming the application; signing out ends access.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::flows::{Jar, client, server_with_blueprints};
use crate::harness::{Outpost, Server};
use crate::outposts::{EDGE, TOKEN, enforced, provider_id, session_of, step};
use crate::sessions::signed_in;

/// A process stopped when the test ends.
pub(crate) struct Guard(pub(crate) Child);

impl Drop for Guard {
    fn drop(&mut self) {
        // SIGTERM first: nginx's master then stops its workers, which a SIGKILL
        // would leave behind.
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

/// Waits until `url` (with `Host: host` when given) answers `want`.
pub(crate) async fn wait_for(
    url: &str,
    host: Option<&str>,
    want: StatusCode,
    what: &str,
    guard: &mut Guard,
) {
    let mut last = None;
    for _ in 0..300 {
        let mut request = client().get(url);
        if let Some(host) = host {
            request = request.header("host", host);
        }
        match request.send().await {
            Ok(r) if r.status() == want => return,
            Ok(r) => last = Some(r.status()),
            Err(_) => {}
        }
        if let Some(status) = guard.0.try_wait().unwrap() {
            panic!("{what} exited with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not answer {want} at {url} (last: {last:?})");
}

/// Prometheus on a free port, with no scrape targets.
pub(crate) async fn prometheus(dir: &Path) -> (Guard, u16) {
    let port = free_port();
    std::fs::write(
        dir.join("prometheus.yml"),
        "global:\n  scrape_interval: 1m\n",
    )
    .unwrap();
    let child = Command::new(program("GH_TEST_PROMETHEUS", "prometheus"))
        .arg(format!(
            "--config.file={}",
            dir.join("prometheus.yml").display()
        ))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("tsdb").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("prometheus (Debian's package; tests/run installs it)");
    let mut guard = Guard(child);
    let ready = format!("http://127.0.0.1:{port}/-/ready");
    wait_for(&ready, None, StatusCode::OK, "prometheus", &mut guard).await;
    (guard, port)
}

/// The echo app on a free port, passing other paths to Prometheus at `prometheus`.
pub(crate) async fn echo(prometheus: u16) -> (Guard, u16) {
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/apps/echo.py");
    let child = Command::new("python3")
        .args([
            script,
            &format!("http://127.0.0.1:{prometheus}"),
            &port.to_string(),
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("python3");
    let mut guard = Guard(child);
    let url = format!("http://127.0.0.1:{port}/gatehouse-echo/headers");
    wait_for(&url, None, StatusCode::OK, "the echo app", &mut guard).await;
    (guard, port)
}

/// The front proxies under test.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Front {
    Nginx,
    Caddy,
    Traefik,
    Envoy,
}

/// `front` on a free port, configured from its example with the example's host,
/// outpost and upstream replaced by this test's.
pub(crate) async fn start(
    front: Front,
    dir: &Path,
    port: u16,
    outpost: u16,
    upstream: u16,
) -> Guard {
    let swap = |example: &str| {
        example
            .replace("prometheus.example.org", "prom.test")
            .replace("127.0.0.1:9000", &format!("127.0.0.1:{outpost}"))
            .replace("127.0.0.1:9090", &format!("127.0.0.1:{upstream}"))
    };
    let mut command = match front {
        Front::Nginx => {
            let example = swap(include_str!("../../config/examples/nginx.conf"))
                .replace("listen 80;", &format!("listen 127.0.0.1:{port};"));
            let temp = dir.join("temp");
            std::fs::create_dir_all(&temp).unwrap();
            // Workers may run as another user: they write proxy buffers here.
            std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .unwrap();
            let conf = format!(
                "pid {dir}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\nhttp {{\n\
                 access_log off;\nclient_body_temp_path {temp}/body;\nproxy_temp_path {temp}/proxy;\n\
                 fastcgi_temp_path {temp}/fastcgi;\nuwsgi_temp_path {temp}/uwsgi;\nscgi_temp_path {temp}/scgi;\n\
                 {example}\n}}\n",
                dir = dir.display(),
                temp = temp.display(),
            );
            std::fs::write(dir.join("nginx.conf"), conf).unwrap();
            let mut command = Command::new(program("GH_TEST_NGINX", "nginx"));
            command
                .arg("-p")
                .arg(dir)
                .arg("-c")
                .arg(dir.join("nginx.conf"))
                .args(["-e", "stderr", "-g", "daemon off;"]);
            command
        }
        Front::Caddy => {
            let site = swap(include_str!("../../config/examples/Caddyfile"))
                .replace("\nprom.test {", &format!("\nhttp://prom.test:{port} {{"));
            let conf = format!(
                "{{\n\tadmin off\n\tauto_https off\n\tlog {{\n\t\tlevel ERROR\n\t}}\n}}\n{site}"
            );
            std::fs::write(dir.join("Caddyfile"), conf).unwrap();
            let mut command = Command::new(program("GH_TEST_CADDY", "caddy"));
            command
                .args(["run", "--adapter", "caddyfile", "--config"])
                .arg(dir.join("Caddyfile"))
                .env("HOME", dir)
                .env("XDG_DATA_HOME", dir)
                .env("XDG_CONFIG_HOME", dir);
            command
        }
        Front::Traefik => {
            std::fs::write(
                dir.join("traefik.yml"),
                swap(include_str!("../../config/examples/traefik.yml")),
            )
            .unwrap();
            let mut command = Command::new(program("GH_TEST_TRAEFIK", "traefik"));
            command
                .arg(format!("--entryPoints.web.address=127.0.0.1:{port}"))
                .arg(format!(
                    "--providers.file.filename={}",
                    dir.join("traefik.yml").display()
                ))
                .args([
                    "--log.level=ERROR",
                    "--global.checkNewVersion=false",
                    "--global.sendAnonymousUsage=false",
                ]);
            command
        }
        Front::Envoy => {
            let conf = swap(include_str!("../../config/examples/envoy.yaml"))
                .replace(
                    "address: 0.0.0.0, port_value: 80}",
                    &format!("address: 127.0.0.1, port_value: {port}}}"),
                )
                .replace("port_value: 9000}", &format!("port_value: {outpost}}}"))
                .replace("port_value: 9090}", &format!("port_value: {upstream}}}"));
            std::fs::write(dir.join("envoy.yaml"), conf).unwrap();
            let mut command = Command::new(program("GH_TEST_ENVOY", "envoy"));
            command.arg("-c").arg(dir.join("envoy.yaml")).args([
                "--disable-hot-restart",
                "--log-level",
                "error",
            ]);
            command
        }
    };
    let child = command
        .stdout(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("{front:?} (tests/run installs it): {e}"));
    let mut guard = Guard(child);
    let ping = format!("http://127.0.0.1:{port}/outpost.gatehouse/ping");
    wait_for(
        &ping,
        Some("prom.test"),
        StatusCode::NO_CONTENT,
        &format!("{front:?}"),
        &mut guard,
    )
    .await;
    guard
}

/// A GET of `path` on `host` through the front proxy at `port`.
pub(crate) fn get(port: u16, host: &str, path: &str, cookies: &str) -> reqwest::RequestBuilder {
    client()
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("host", host)
        .header("cookie", cookies)
}

/// The `rd` a sign-in URL carries, decoded (nginx appends it unencoded).
fn rd_of(start: &str) -> String {
    let query = start.split_once("?rd=").map(|(_, q)| q).unwrap_or_default();
    if query.starts_with("http://") || query.starts_with("https://") {
        return query.to_owned();
    }
    reqwest::Url::parse(&format!("http://x/?rd={query}"))
        .ok()
        .and_then(|u| {
            u.query_pairs()
                .find(|(k, _)| k == "rd")
                .map(|(_, v)| v.into_owned())
        })
        .unwrap_or_default()
}

/// A browser at `host`, signed in at the core with `core`: asks for `path` at the
/// proxy listening on `port`, is sent through the sign-in, and ends where the proxy
/// sends it back. Returns its cookies for `host`, the last answer's status and
/// where it points.
pub(crate) async fn visit_and_sign_in(
    server: &Server,
    port: u16,
    host: &str,
    core: &Jar,
    path: &str,
) -> (Jar, StatusCode, String) {
    let on_host = |path: &str| format!("http://127.0.0.1:{port}{path}");
    let mut jar = Jar::default();
    let (status, start) = step(&on_host(path), Some(host), &mut jar).await;
    assert_eq!(status, StatusCode::FOUND, "anonymous: sent to sign in");
    let at = start
        .find("/outpost.gatehouse/start?")
        .unwrap_or_else(|| panic!("not the sign-in: {start}"));
    assert_eq!(rd_of(&start), format!("http://{host}{path}"), "{start}");
    let (status, to_core) = step(&on_host(&start[at..]), Some(host), &mut jar).await;
    assert_eq!(status, StatusCode::FOUND);
    assert!(
        to_core.starts_with(&server.http_url("/application/o/authorize/")),
        "{to_core}"
    );
    let (status, back) = step(&to_core, None, &mut Jar(core.0.clone())).await;
    if !status.is_redirection() {
        return (jar, status, String::new());
    }
    let callback = back
        .strip_prefix(&format!("http://{host}"))
        .unwrap_or_else(|| panic!("{back}"));
    let (status, rd) = step(&on_host(callback), Some(host), &mut jar).await;
    (jar, status, rd)
}

/// Signs out through the proxy at `port` for `host` with the cookies of `jar` (the
/// outpost's `sign_out`, then the core's end-session with `core`), then waits until
/// those cookies asking for `probe` are sent to sign in again.
pub(crate) async fn sign_out_ends_access(
    port: u16,
    host: &str,
    jar: &Jar,
    core: &Jar,
    probe: &str,
) {
    let cookies = jar.header();
    let (status, end) = step(
        &format!("http://127.0.0.1:{port}/outpost.gatehouse/sign_out"),
        Some(host),
        &mut Jar(jar.0.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, _) = step(&end, None, &mut Jar(core.0.clone())).await;
    assert!(status.is_redirection(), "{status}");
    for _ in 0..300 {
        let again = get(port, host, probe, &cookies).send().await.unwrap();
        let to = again
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap_or_default().to_owned())
            .unwrap_or_default();
        if again.status() == StatusCode::FOUND && to.contains("/outpost.gatehouse/start?") {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the signed-out session still reached the app");
}

/// What reached the app, asked through the front proxy with `cookies` and the
/// client's own (spoofed) identity headers.
pub(crate) async fn echoed(
    port: u16,
    host: &str,
    path: &str,
    cookies: &str,
) -> (StatusCode, Value) {
    let answer = get(port, host, path, cookies)
        .header("x-gatehouse-username", "mallory")
        .header("X-Gatehouse-Groups", "admins")
        .header("x-gatehouse-email", "mallory@example.org")
        .header("x-authentik-username", "mallory")
        .send()
        .await
        .unwrap();
    let status = answer.status();
    let echo: Value = answer.json().await.unwrap_or(Value::Null);
    assert!(echo.is_object(), "not the echo app's answer: {echo}");
    (status, echo)
}

/// Every value the app got for `name` (none: an empty list).
pub(crate) fn values(echo: &Value, name: &str) -> Vec<String> {
    echo[name]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|s| s.as_str().unwrap_or_default().to_owned())
                .collect()
        })
        .unwrap_or_default()
}

async fn scenario(front: Front) {
    let dir = tempfile::tempdir().unwrap();
    let (_data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    let outpost_dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(outpost_dir.path(), &server.http_url(""), TOKEN);
    let provider = provider_id(&enforced(outpost_dir.path()).await);
    let (_prometheus, prometheus) = prometheus(dir.path()).await;
    let (_echo, upstream) = echo(prometheus).await;
    let port = free_port();
    let _front = start(front, dir.path(), port, outpost.http.port(), upstream).await;

    // Alice (in ops): sent to sign in, back at the URL she asked for, with the page.
    let alice_core = signed_in(&server, "alice", "Browser/1.0").await;
    let (alice, status, rd) = visit_and_sign_in(
        &server,
        port,
        "prom.test",
        &alice_core,
        "/classic/graph?g0.expr=up",
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(rd, "http://prom.test/classic/graph?g0.expr=up");
    let page = get(
        port,
        "prom.test",
        "/classic/graph?g0.expr=up",
        &alice.header(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<title>Prometheus"),
        "Prometheus's page"
    );
    let api = get(
        port,
        "prom.test",
        "/api/v1/status/buildinfo",
        &alice.header(),
    )
    .send()
    .await
    .unwrap();
    assert_eq!(api.status(), StatusCode::OK);

    // The app hears who she is, and never what the client claimed.
    let (status, echo) = echoed(
        port,
        "prom.test",
        "/gatehouse-echo/headers",
        &alice.header(),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(values(&echo, "x-gatehouse-username"), ["alice"], "{echo}");
    assert_eq!(values(&echo, "x-gatehouse-groups"), ["ops"], "{echo}");
    assert_eq!(
        values(&echo, "x-gatehouse-email"),
        ["alice@example.org"],
        "{echo}"
    );
    assert_eq!(values(&echo, "x-gatehouse-uid").len(), 1, "{echo}");
    // authentik's names are the outpost's too: emptied (the provider does not ask
    // for them), never the client's.
    assert!(
        values(&echo, "x-authentik-username")
            .iter()
            .all(String::is_empty),
        "{echo}"
    );
    // On a path that needs no login, nobody is named: the client's claims are
    // dropped or emptied, never passed.
    let (status, echo) = echoed(port, "prom.test", "/gatehouse-echo/public/headers", "").await;
    assert_eq!(
        status,
        StatusCode::OK,
        "a skipped path passes without a login"
    );
    for name in [
        "x-gatehouse-username",
        "x-gatehouse-groups",
        "x-gatehouse-email",
        "x-authentik-username",
    ] {
        assert!(
            values(&echo, name).iter().all(String::is_empty),
            "{name}: {echo}"
        );
    }

    // Bob (not in ops) is refused at the core's authorization endpoint; with an
    // outpost cookie of his own, the front proxy shows the page naming the app.
    let bob_core = signed_in(&server, "bob", "Browser/1.0").await;
    let (_, status, _) = visit_and_sign_in(&server, port, "prom.test", &bob_core, "/graph").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, bob) = session_of(&server, "bob", &provider).await;
    let refused = get(port, "prom.test", "/graph", &bob).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    assert!(
        refused
            .text()
            .await
            .unwrap()
            .contains("may not open Prometheus")
    );

    // Signing out ends access: the old cookie, let in just before, is sent to
    // sign in again.
    let probe = "/api/v1/status/buildinfo";
    let before = get(port, "prom.test", probe, &alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(before.status(), StatusCode::OK);
    sign_out_ends_access(port, "prom.test", &alice, &alice_core, probe).await;
    drop(outpost);
}

#[tokio::test]
async fn nginx_auth_request_in_front_of_prometheus() {
    scenario(Front::Nginx).await;
}

#[tokio::test]
async fn caddy_forward_auth_in_front_of_prometheus() {
    scenario(Front::Caddy).await;
}

#[tokio::test]
async fn traefik_forward_auth_in_front_of_prometheus() {
    scenario(Front::Traefik).await;
}

#[tokio::test]
async fn envoy_ext_authz_in_front_of_prometheus() {
    scenario(Front::Envoy).await;
}
