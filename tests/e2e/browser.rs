//! A real browser: headless Chromium (Debian's) driven by puppeteer-core through the
//! sign-in pages. `tests/run` installs both and says where they are.

use std::process::Command;

use crate::harness::Server;

const USER: &str = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: alice}
    attrs: {name: Alice, password: correct-horse-battery}
";

#[tokio::test]
async fn chromium_fills_the_login_form_and_lands_on_the_home_page() {
    let (Some(chromium), Some(scripts)) = (
        std::env::var_os("GH_TEST_CHROMIUM"),
        std::env::var_os("GH_TEST_BROWSER_DIR"),
    ) else {
        panic!(
            "GH_TEST_CHROMIUM and GH_TEST_BROWSER_DIR are not set: run the tests with \
             tests/run, which installs Chromium and puppeteer-core"
        );
    };
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
    let base = format!("http://{}", server.http);
    // A blocking child: run it off the async runtime's threads.
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("login.mjs")
            .args([base.as_str(), "alice", "correct-horse-battery"])
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
        "the browser run failed:\n{stdout}\n{stderr}\n--- server log ---\n{}",
        server.log_text()
    );
    assert!(stdout.starts_with("OK "), "{stdout}");
}

#[tokio::test]
async fn chromium_walks_from_prometheus_behind_nginx_through_the_login_page_to_its_ui() {
    use crate::fronts::{Front, free_port, prometheus, start};
    use crate::outposts::{EDGE, TOKEN, enforced};

    let (Some(chromium), Some(scripts)) = (
        std::env::var_os("GH_TEST_CHROMIUM"),
        std::env::var_os("GH_TEST_BROWSER_DIR"),
    ) else {
        panic!(
            "GH_TEST_CHROMIUM and GH_TEST_BROWSER_DIR are not set: run the tests with tests/run"
        );
    };
    // The browser reaches prom.test on nginx's port, so the provider's external
    // host names that port.
    let port = free_port();
    let edge = EDGE.replace(
        "external_host: http://prom.test",
        &format!("external_host: http://prom.test:{port}"),
    );
    let (_data, server) = crate::flows::server_with_blueprints(&[], &[("edge.yaml", &edge)]).await;
    let outpost_dir = tempfile::tempdir().unwrap();
    let outpost = crate::harness::Outpost::start(outpost_dir.path(), &server.http_url(""), TOKEN);
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

    let app = format!("http://prom.test:{port}/classic/graph?g0.expr=up");
    let output = tokio::task::spawn_blocking(move || {
        Command::new("node")
            .arg("prometheus.mjs")
            .args([
                app.as_str(),
                "alice",
                "correct-horse",
                "MAP prom.test 127.0.0.1",
            ])
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
        "the browser run failed:\n{stdout}\n{stderr}\n--- outpost log ---\n{}",
        outpost.log_text()
    );
    assert!(stdout.starts_with("OK "), "{stdout}");
}
