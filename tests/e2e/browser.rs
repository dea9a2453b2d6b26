//! A real browser: headless Chromium (Debian's) driven by puppeteer-core through the
//! sign-in pages, and through the whole path to an app behind nginx and the
//! outpost. `tests/run` installs both and says where they are.

use std::process::Command;

use crate::fronts::{Front, free_port, prometheus, start};
use crate::harness::{Outpost, Server};
use crate::outposts::{EDGE, TOKEN, enforced};

const USER: &str = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: alice}
    attrs: {name: Alice, password: correct-horse-battery}
";

/// Runs the puppeteer script `script` of `tests/browser` with `args`, and checks
/// that it said `OK`; `log` is the log of the process to show when it did not.
async fn browser(script: &'static str, args: Vec<String>, log: impl FnOnce() -> String) {
    let (Some(chromium), Some(scripts)) = (
        std::env::var_os("GH_TEST_CHROMIUM"),
        std::env::var_os("GH_TEST_BROWSER_DIR"),
    ) else {
        panic!(
            "GH_TEST_CHROMIUM and GH_TEST_BROWSER_DIR are not set: run the tests with \
             tests/run, which installs Chromium and puppeteer-core"
        );
    };
    // A blocking child: run it off the async runtime's threads.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg(script)
            .args(args)
            .current_dir(scripts)
            .env("CHROMIUM", chromium)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}\n--- log ---\n{}",
        log()
    );
    assert!(stdout.starts_with("OK "), "{stdout}");
}

#[tokio::test]
async fn chromium_fills_the_login_form_and_lands_on_the_home_page() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(folder.join("user.yaml"), USER).unwrap();
    let server = Server::start(data.path(), &[]);
    // Wait for the blueprints (the user and the shipped flows) to be applied.
    let flow = server.http_url("/api/v1/flows/executor/default-authentication-flow/");
    for _ in 0..150 {
        if reqwest::get(&flow).await.unwrap().status() == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let args = vec![
        format!("http://{}", server.http),
        "alice".into(),
        "correct-horse-battery".into(),
    ];
    browser("login.mjs", args, || server.log_text()).await;
}

#[tokio::test]
async fn chromium_walks_from_prometheus_behind_nginx_through_the_login_page_to_its_ui() {
    // The browser reaches prom.test on nginx's port, so the provider's external
    // host names that port.
    let port = free_port();
    let edge = EDGE.replace(
        "external_host: http://prom.test",
        &format!("external_host: http://prom.test:{port}"),
    );
    let (_data, server) = crate::flows::server_with_blueprints(&[], &[("edge.yaml", &edge)]).await;
    let outpost_dir = tempfile::tempdir().unwrap();
    let outpost = Outpost::start(outpost_dir.path(), &server.http_url(""), TOKEN);
    enforced(outpost_dir.path()).await;
    let dir = tempfile::tempdir().unwrap();
    let (_prometheus, upstream) = prometheus(dir.path()).await;
    let _nginx = start(
        Front::Nginx,
        dir.path(),
        port,
        outpost.http.port(),
        upstream,
    )
    .await;
    let args = vec![
        format!("http://prom.test:{port}/classic/graph?g0.expr=up"),
        "alice".into(),
        "correct-horse".into(),
        "MAP prom.test 127.0.0.1".into(),
    ];
    browser("prometheus.mjs", args, || outpost.log_text()).await;
}
