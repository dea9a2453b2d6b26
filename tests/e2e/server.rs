//! `gatehouse server`, `migrate` and `version` as a user runs them.

use gatehouse_core::storage::{Store, users};

use crate::harness::{self, Server};

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap()
}

#[tokio::test]
async fn first_start_serves_http_and_https_and_a_restart_reuses_key_cert_and_database() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let startup_ms = server.listening["startup_ms"].as_u64().unwrap();
    eprintln!("first start: listening after {startup_ms} ms");

    let plain = reqwest::get(server.http_url("/-/health/ready/"))
        .await
        .unwrap();
    assert_eq!(plain.status(), 204);
    let live = reqwest::get(server.http_url("/-/health/live/"))
        .await
        .unwrap();
    assert_eq!(live.status(), 204);

    // The generated certificate is valid for localhost: trust it alone and verify.
    let cert = read(&data.path().join("tls/certificate.pem"));
    let tls = harness::client_trusting(&cert);
    let https_url = format!("https://localhost:{}/-/health/ready/", server.https.port());
    assert_eq!(tls.get(&https_url).send().await.unwrap().status(), 204);

    let key = read(&data.path().join("secret_key"));
    assert!(key.len() >= 32);
    assert!(server.log_text().contains("generated a new secret key"));
    assert!(
        !server.log_text().contains(key.trim()),
        "the key never reaches the log"
    );
    assert!(server.stop().success());

    // Write a row while the server is down: the second start must find it.
    let url =
        gatehouse_config::settings::DatabaseUrl::sqlite_file(&data.path().join("gatehouse.db"));
    let store = Store::connect(&url, 1).await.unwrap();
    let mut db = store.acquire().await.unwrap();
    let now = gatehouse_core::Timestamp::from(time::OffsetDateTime::now_utc());
    users::create(&mut db, users::NewUser::new("survivor"), now)
        .await
        .unwrap();
    drop(db);
    store.close().await;

    let again = Server::start(data.path(), &[]);
    assert!(!again.log_text().contains("generated a new secret key"));
    assert_eq!(read(&data.path().join("secret_key")), key);
    assert_eq!(read(&data.path().join("tls/certificate.pem")), cert);
    // Still verifies against the first certificate: the same pair is served.
    let https_url = format!("https://localhost:{}/-/health/ready/", again.https.port());
    assert_eq!(tls.get(&https_url).send().await.unwrap().status(), 204);
    assert!(again.stop().success());

    let store = Store::connect(&url, 1).await.unwrap();
    let mut db = store.acquire().await.unwrap();
    assert!(
        users::find_by_username(&mut db, "survivor")
            .await
            .unwrap()
            .is_some()
    );
}

#[tokio::test]
async fn runs_on_postgresql_when_the_database_url_says_so() {
    let url = harness::fresh_postgres_database().await;
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[("GATEHOUSE_DATABASE__URL", &url)]);
    assert_eq!(server.listening["backend"], "Postgres");
    let ready = reqwest::get(server.http_url("/-/health/ready/"))
        .await
        .unwrap();
    assert_eq!(ready.status(), 204);
    assert!(server.stop().success());
    assert!(
        !data.path().join("gatehouse.db").exists(),
        "no SQLite file on PostgreSQL"
    );

    // The schema is there: the engine's repositories work against it.
    let store = Store::connect(
        &gatehouse_config::settings::DatabaseUrl::parse(&url).unwrap(),
        1,
    )
    .await
    .unwrap();
    let mut db = store.acquire().await.unwrap();
    // Nobody but `akadmin`, which the shipped bootstrap blueprint makes unless the stop
    // came first.
    let count = users::count(&mut db).await.unwrap();
    assert!(count <= 1, "{count} users");
}

#[test]
fn migrate_brings_a_postgresql_schema_up_to_date_and_exits() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let url = runtime.block_on(harness::fresh_postgres_database());
    // The newest migration's number: every file in the folder is one version.
    let newest = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../core/migrations/postgres"
    ))
    .unwrap()
    .count();
    for _ in 0..2 {
        let out = harness::command()
            .arg("migrate")
            .env("GATEHOUSE_DATABASE__URL", &url)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            stdout.contains(&format!("schema version {newest}")),
            "{stdout}"
        );
    }
    // The tables are really there, not just the version printed.
    runtime.block_on(async {
        let url = gatehouse_config::settings::DatabaseUrl::parse(&url).unwrap();
        let store = Store::connect(&url, 1).await.unwrap();
        let mut db = store.acquire().await.unwrap();
        assert_eq!(users::count(&mut db).await.unwrap(), 0);
        let instances = gatehouse_core::storage::blueprint_instances::list(&mut db)
            .await
            .unwrap();
        assert!(instances.is_empty());
        let found = gatehouse_core::storage::oauth2::find_token(&mut db, "no such hash")
            .await
            .unwrap();
        assert!(found.is_none());
    });
}

#[test]
fn bad_setting_exits_nonzero_with_one_line_naming_it() {
    let out = harness::command()
        .arg("server")
        .env("GATEHOUSE_LISTEN__HTTP", "nonsense")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(stderr.trim_end().lines().count(), 1, "{stderr}");
    assert!(stderr.contains("GATEHOUSE_LISTEN__HTTP"), "{stderr}");
    assert!(
        stderr.contains("0.0.0.0:9000"),
        "names the expected form: {stderr}"
    );
}

#[test]
fn a_taken_port_fails_the_start_naming_its_setting() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let out = harness::command()
        .arg("server")
        .env("GATEHOUSE_DATA_DIR", data.path())
        .env("GATEHOUSE_LISTEN__HTTP", "127.0.0.1:0")
        .env("GATEHOUSE_LISTEN__HTTPS", &addr)
        .env("GATEHOUSE_LISTEN__METRICS", "127.0.0.1:0")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("GATEHOUSE_LISTEN__HTTPS"), "{stderr}");
    assert!(stderr.contains(&addr), "{stderr}");
}

#[test]
fn an_unreachable_database_fails_the_start_naming_its_setting() {
    let data = tempfile::tempdir().unwrap();
    // Port 1 on loopback: nothing listens there, the connection is refused.
    let out = harness::command()
        .arg("server")
        .env("GATEHOUSE_DATA_DIR", data.path())
        .env(
            "GATEHOUSE_DATABASE__URL",
            "postgres://gh:hunter2@127.0.0.1:1/gh",
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert!(stderr.contains("GATEHOUSE_DATABASE__URL"), "{stderr}");
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
    assert!(
        !stderr.contains("hunter2"),
        "the password stays secret: {stderr}"
    );
}

#[tokio::test]
async fn metrics_listener_serves_prometheus_text_with_request_counts() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    for _ in 0..3 {
        reqwest::get(server.http_url("/-/health/live/"))
            .await
            .unwrap();
    }
    let text = reqwest::get(format!("http://{}/metrics", server.metrics))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(text.contains("gatehouse_build_info{version=\""), "{text}");
    let line = text
        .lines()
        .find(|l| {
            l.starts_with("gatehouse_http_requests_total")
                && l.contains("route=\"/-/health/live/\"")
                && l.contains("status=\"204\"")
        })
        .unwrap_or_else(|| panic!("no request counter for live: {text}"));
    assert!(line.ends_with(" 3"), "{line}");
    // Metrics are not on the public port.
    let public = reqwest::get(server.http_url("/metrics")).await.unwrap();
    assert_eq!(public.status(), 404);
}

#[test]
fn version_prints_the_crate_version() {
    let out = harness::command().arg("version").output().unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        stdout.trim(),
        format!("gatehouse {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn json_log_lines_are_objects_and_text_is_the_default() {
    let data = tempfile::tempdir().unwrap();
    let server = Server::start(data.path(), &[]);
    let log = server.log_text();
    assert!(server.stop().success());
    let lines: Vec<&str> = log.lines().collect();
    assert!(lines.len() >= 3, "{log}");
    for line in lines {
        let json: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(
            json["level"].is_string() && json["message"].is_string(),
            "{line}"
        );
    }
    // Without GATEHOUSE_LOG_FORMAT the default is text: a bad-setting run still
    // reaches the log set-up only after settings load, so check via `migrate`.
    let out = harness::command()
        .arg("migrate")
        .env("GATEHOUSE_DATA_DIR", data.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    let stdout = String::from_utf8(out.stdout).unwrap();
    let log_line = stdout
        .lines()
        .find(|l| l.contains("database ready"))
        .unwrap();
    assert!(
        serde_json::from_str::<serde_json::Value>(log_line).is_err(),
        "{log_line}"
    );
    assert!(log_line.contains("INFO"), "{log_line}");
}
