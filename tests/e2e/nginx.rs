//! nginx (Debian's) in front of Prometheus (Debian's), configured as
//! `config/examples/nginx.conf` says, with a `gatehouse outpost` deciding: an
//! anonymous visitor is sent to sign in, comes back to the URL they asked for with
//! Prometheus's page, a user outside the bound group is refused, and signing out
//! ends access.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;

use crate::flows::{Jar, client, server_with_blueprints};
use crate::harness::{Outpost, Server};
use crate::outposts::{EDGE, TOKEN, enforced, step};
use crate::sessions::signed_in;

/// A process killed when the test ends.
struct Guard(Child);

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

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn program(var: &str, default: &str) -> String {
    std::env::var(var).unwrap_or_else(|_| default.to_owned())
}

async fn wait_for(url: &str, what: &str, guard: &mut Guard) {
    for _ in 0..300 {
        if let Ok(r) = reqwest::get(url).await
            && r.status().as_u16() < 500
        {
            return;
        }
        if let Some(status) = guard.0.try_wait().unwrap() {
            panic!("{what} exited with {status}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{what} did not answer at {url}");
}

/// Prometheus on a free port, with no scrape targets.
async fn prometheus(dir: &Path) -> (Guard, u16) {
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
    wait_for(
        &format!("http://127.0.0.1:{port}/-/ready"),
        "prometheus",
        &mut guard,
    )
    .await;
    (guard, port)
}

/// nginx with the example's server block, its addresses pointed at this test's.
async fn nginx(dir: &Path, outpost: u16, upstream: u16) -> (Guard, u16) {
    let port = free_port();
    let example = include_str!("../../config/examples/nginx.conf")
        .replace("listen 80;", &format!("listen 127.0.0.1:{port};"))
        .replace(
            "server_name prometheus.example.org;",
            "server_name prom.test;",
        )
        .replace("127.0.0.1:9000", &format!("127.0.0.1:{outpost}"))
        .replace("127.0.0.1:9090", &format!("127.0.0.1:{upstream}"));
    let temp = dir.join("temp");
    std::fs::create_dir_all(&temp).unwrap();
    // Workers may run as another user: they write proxy buffers here.
    std::fs::set_permissions(&temp, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let conf = format!(
        "pid {dir}/nginx.pid;\nerror_log stderr warn;\nevents {{}}\nhttp {{\n\
         access_log off;\nclient_body_temp_path {temp}/body;\nproxy_temp_path {temp}/proxy;\n\
         fastcgi_temp_path {temp}/fastcgi;\nuwsgi_temp_path {temp}/uwsgi;\nscgi_temp_path {temp}/scgi;\n\
         {example}\n}}\n",
        dir = dir.display(),
        temp = temp.display(),
    );
    std::fs::write(dir.join("nginx.conf"), conf).unwrap();
    let child = Command::new(program("GH_TEST_NGINX", "nginx"))
        .arg("-p")
        .arg(dir)
        .arg("-c")
        .arg(dir.join("nginx.conf"))
        .arg("-e")
        .arg("stderr")
        .args(["-g", "daemon off;"])
        .stdout(Stdio::null())
        .spawn()
        .expect("nginx (Debian's package; tests/run installs it)");
    let mut guard = Guard(child);
    wait_for(
        &format!("http://127.0.0.1:{port}/outpost.gatehouse/ping"),
        "nginx",
        &mut guard,
    )
    .await;
    (guard, port)
}

/// The browser's URL for `path` on prom.test, reached through nginx.
fn on_prom(nginx: u16, path: &str) -> String {
    format!("http://127.0.0.1:{nginx}{path}")
}

/// A browser at prom.test, signed in at the core with `core`: asks for `path`, is
/// sent through the sign-in, and ends where nginx sends it back. Returns its
/// prom.test cookies and where it ended.
async fn visit_and_sign_in(
    server: &Server,
    nginx: u16,
    core: &Jar,
    path: &str,
) -> (Jar, StatusCode, String) {
    let mut jar = Jar::default();
    let (status, start) = step(&on_prom(nginx, path), Some("prom.test"), &mut jar).await;
    assert_eq!(status, StatusCode::FOUND, "anonymous: sent to sign in");
    // nginx makes the redirect absolute, with the port it listens on.
    let prefix = format!("http://prom.test:{nginx}");
    let start = start.strip_prefix(&prefix).unwrap_or(&start).to_owned();
    assert_eq!(
        start,
        format!("/outpost.gatehouse/start?rd=http://prom.test{path}")
    );
    let (status, to_core) = step(&on_prom(nginx, &start), Some("prom.test"), &mut jar).await;
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
        .strip_prefix("http://prom.test")
        .unwrap_or_else(|| panic!("{back}"));
    let (status, rd) = step(&on_prom(nginx, callback), Some("prom.test"), &mut jar).await;
    (jar, status, rd)
}

#[tokio::test]
async fn nginx_sends_anonymous_visitors_to_sign_in_and_serves_prometheus_to_members_only() {
    let dir = tempfile::tempdir().unwrap();
    let (_data, server) = server_with_blueprints(&[], &[("edge.yaml", EDGE)]).await;
    let outpost_dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(outpost_dir.path(), &server.http_url(""), TOKEN);
    enforced(outpost_dir.path()).await;
    let (_prometheus, upstream) = prometheus(dir.path()).await;
    let (_nginx, nginx) = nginx(dir.path(), outpost.http.port(), upstream).await;

    // Alice (in ops): sent to sign in, back at the URL she asked for, with the page.
    let alice_core = signed_in(&server, "alice", "Browser/1.0").await;
    let (alice, status, rd) =
        visit_and_sign_in(&server, nginx, &alice_core, "/classic/graph?g0.expr=up").await;
    assert_eq!(status, StatusCode::FOUND);
    assert_eq!(rd, "http://prom.test/classic/graph?g0.expr=up");
    let page = client()
        .get(on_prom(nginx, "/classic/graph?g0.expr=up"))
        .header("host", "prom.test")
        .header("cookie", alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    assert!(
        page.text().await.unwrap().contains("<title>Prometheus"),
        "Prometheus's page"
    );
    let api = client()
        .get(on_prom(nginx, "/api/v1/status/buildinfo"))
        .header("host", "prom.test")
        .header("cookie", alice.header())
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);

    // Bob (not in ops) is refused at the core's authorization endpoint.
    let bob_core = signed_in(&server, "bob", "Browser/1.0").await;
    let (_, status, _) = visit_and_sign_in(&server, nginx, &bob_core, "/graph").await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Signing out ends access: nginx sends the old cookie to sign in again.
    let cookies = alice.header();
    let mut out = Jar(alice.0.clone());
    let (status, end) = step(
        &on_prom(nginx, "/outpost.gatehouse/sign_out"),
        Some("prom.test"),
        &mut out,
    )
    .await;
    assert_eq!(status, StatusCode::FOUND);
    let (status, _) = step(&end, None, &mut Jar(alice_core.0.clone())).await;
    assert!(status.is_redirection(), "{status}");
    let mut refused = false;
    for _ in 0..300 {
        let again = client()
            .get(on_prom(nginx, "/graph"))
            .header("host", "prom.test")
            .header("cookie", &cookies)
            .send()
            .await
            .unwrap();
        if again.status() == StatusCode::FOUND {
            refused = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(refused, "the signed-out session still reached Prometheus");
    drop(outpost);
}
