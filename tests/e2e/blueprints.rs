//! Blueprints as a user meets them: a running server watching its folder, and the
//! `gatehouse blueprint` commands.

use std::path::Path;
use std::time::{Duration, Instant};

use gatehouse_config::settings::DatabaseUrl;
use gatehouse_core::storage::blueprint_instances::{self, InstanceStatus};
use gatehouse_core::storage::{Store, brands, groups, users};

use crate::harness::{self, Server};

/// Generous: the watcher reacts in about a second; a loaded CI machine may be slower.
const PICKUP_TIMEOUT: Duration = Duration::from_secs(30);

fn group_blueprint(version: i64) -> String {
    format!(
        "version: 1\nmetadata:\n  name: Watched\nentries:\n  - model: gatehouse_core.group\n    identifiers:\n      name: Watchers\n    attrs:\n      attributes:\n        version: {version}\n"
    )
}

async fn open(data: &Path) -> Store {
    Store::connect(&DatabaseUrl::sqlite_file(&data.join("gatehouse.db")), 1)
        .await
        .unwrap()
}

/// Polls `check` until it returns `Some`, failing with `what` and the server log.
async fn eventually<T, F, Fut>(server: &Server, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + PICKUP_TIMEOUT;
    loop {
        if let Some(found) = check().await {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not happen within {PICKUP_TIMEOUT:?}:\n{}",
            server.log_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

async fn watchers_version(store: &Store) -> Option<i64> {
    let mut db = store.acquire().await.ok()?;
    let group = groups::find_by_name(&mut db, "Watchers").await.ok()??;
    group.attributes["version"].as_i64()
}

async fn instance_status(store: &Store, path: &str) -> Option<(InstanceStatus, String)> {
    let mut db = store.acquire().await.ok()?;
    let found = blueprint_instances::get(&mut db, path).await.ok()??;
    Some((found.status, found.error))
}

#[tokio::test]
async fn a_running_server_applies_its_folder_and_follows_edits_errors_and_removals() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(folder.join("default")).unwrap();
    std::fs::write(folder.join("groups.yaml"), group_blueprint(1)).unwrap();
    // Sorted first, but needs the group groups.yaml makes: applied on a second pass.
    std::fs::write(
        folder.join("000-member.yaml"),
        "version: 1\nentries:\n  - model: gatehouse_core.user\n    identifiers: {username: watcher}\n    attrs:\n      groups: [!Find [gatehouse_core.group, [name, Watchers]]]\n",
    )
    .unwrap();
    // A file that cannot be read is skipped; the others still apply.
    std::fs::write(folder.join("latin1.yaml"), b"name: caf\xe9\n").unwrap();
    // An empty file over a shipped default disables it.
    std::fs::write(folder.join("default/20-default-brand.yaml"), "").unwrap();

    let server = Server::start(data.path(), &[("GATEHOUSE_LOG_LEVEL", "debug")]);
    let store = open(data.path()).await;
    let version = eventually(&server, "the first apply", || watchers_version(&store)).await;
    assert_eq!(version, 1);
    let member = eventually(&server, "the second pass", || async {
        let mut db = store.acquire().await.ok()?;
        let user = users::find_by_username(&mut db, "watcher").await.ok()??;
        let groups = groups::groups_of_user(&mut db, user.id).await.ok()?;
        groups.into_iter().next()
    })
    .await;
    assert_eq!(member.name, "Watchers");
    assert!(
        server.log_text().contains("latin1.yaml"),
        "the unreadable file is named"
    );
    let mut db = store.acquire().await.unwrap();
    assert!(
        brands::list(&mut db).await.unwrap().is_empty(),
        "the disabled default brand was created"
    );
    drop(db);

    // An edit is picked up without a restart.
    std::fs::write(folder.join("groups.yaml"), group_blueprint(2)).unwrap();
    eventually(&server, "applying the edit", || async {
        (watchers_version(&store).await == Some(2)).then_some(())
    })
    .await;

    // A broken file is refused with its line, recorded, and the server keeps serving.
    std::fs::write(
        folder.join("broken.yaml"),
        "version: 1\nentries:\n  - model: gatehouse_core.group\n    identifiers: {name: Broken}\n    attrs: {superuser: true}\n",
    )
    .unwrap();
    let (status, error) = eventually(&server, "recording the broken file", || {
        instance_status(&store, "broken.yaml")
    })
    .await;
    assert_eq!(status, InstanceStatus::Error);
    assert!(
        error.contains("broken.yaml:5:24: entry 0: unknown field `superuser`"),
        "{error}"
    );
    let mut db = store.acquire().await.unwrap();
    assert!(
        groups::find_by_name(&mut db, "Broken")
            .await
            .unwrap()
            .is_none()
    );
    drop(db);
    let live = reqwest::get(server.http_url("/-/health/live/"))
        .await
        .unwrap();
    assert_eq!(live.status(), 204);

    // A removed file stops being applied; what it made stays.
    std::fs::remove_file(folder.join("groups.yaml")).unwrap();
    eventually(&server, "noticing the removal", || async {
        let (status, _) = instance_status(&store, "groups.yaml").await?;
        (status == InstanceStatus::Orphaned).then_some(())
    })
    .await;
    assert_eq!(watchers_version(&store).await, Some(2));

    // Removing the empty override brings the shipped default back.
    std::fs::remove_file(folder.join("default/20-default-brand.yaml")).unwrap();
    let brand = eventually(&server, "applying the shipped default", || async {
        let mut db = store.acquire().await.ok()?;
        brands::find_default(&mut db).await.ok()?
    })
    .await;
    assert_eq!(brand.domain, "gatehouse-default");

    // Scans read the files; reading must not look like a change (no endless rescans).
    let rescans = || server.log_text().matches("rescanning blueprints").count();
    let before = rescans();
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rescans(),
        before,
        "the folder was rescanned with nothing changed"
    );
    store.close().await;
    assert!(server.stop().success());
}

/// Runs `gatehouse blueprint ARGS` with the data dir; returns (success, stdout, stderr).
fn blueprint_command(data: &Path, args: &[&str]) -> (bool, String, String) {
    let output = harness::command()
        .arg("blueprint")
        .args(args)
        .env("GATEHOUSE_DATA_DIR", data)
        .output()
        .unwrap();
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

const EXAMPLE: &str = "version: 1
entries:
  - model: gatehouse_core.group
    id: ops
    identifiers: {name: Ops}
  - model: gatehouse_flows.flow
    id: login
    identifiers: {slug: login}
    attrs: {name: Login, designation: authentication}
  - model: gatehouse_stages_deny.denystage
    id: deny
    identifiers: {name: deny-strangers}
  - model: gatehouse_flows.flowstagebinding
    id: binding
    identifiers: {target: !KeyOf login, stage: !KeyOf deny, order: 10}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf binding, group: !KeyOf ops, order: 0}
    attrs: {negate: true}
";

#[tokio::test]
async fn validate_apply_and_export_commands_round_trip() {
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("setup.yaml");
    std::fs::write(&file, EXAMPLE).unwrap();
    let broken = work.path().join("broken.yaml");
    std::fs::write(
        &broken,
        EXAMPLE.replace("designation: authentication", "designation: login"),
    )
    .unwrap();
    let file = file.to_str().unwrap();
    let broken = broken.to_str().unwrap();

    let data = work.path().join("data");
    let (ok, out, err) = blueprint_command(&data, &["validate", file]);
    assert!(ok, "{out}{err}");
    assert!(out.contains("setup.yaml: valid (5 entries)"), "{out}");
    let (ok, _, err) = blueprint_command(&data, &["validate", broken]);
    assert!(!ok);
    assert!(
        err.contains("broken.yaml:9:39: entry 1: designation: unknown variant `login`"),
        "{err}"
    );
    assert!(!data.exists(), "validate wrote to the data dir");

    let (ok, out, err) = blueprint_command(&data, &["apply", "--dry-run", file]);
    assert!(ok, "{err}");
    assert!(
        out.contains("(dry run, nothing written): 5 created"),
        "{out}"
    );
    assert!(
        out.contains("create gatehouse_flows.flow slug=\"login\""),
        "{out}"
    );
    let (ok, out, _) = blueprint_command(&data, &["export"]);
    assert!(ok);
    assert!(out.contains("entries: []"), "the dry run wrote:\n{out}");

    let (ok, out, err) = blueprint_command(&data, &["apply", file]);
    assert!(ok, "{err}");
    assert!(
        out.contains("5 created, 0 updated, 0 deleted, 0 unchanged"),
        "{out}"
    );
    let (ok, out, _) = blueprint_command(&data, &["apply", file]);
    assert!(ok);
    assert!(
        out.contains("0 created, 0 updated, 0 deleted, 5 unchanged"),
        "{out}"
    );
    let (ok, out, _) = blueprint_command(&data, &["apply", broken]);
    assert!(!ok, "{out}");

    let (ok, exported, err) = blueprint_command(&data, &["export"]);
    assert!(ok, "{err}");
    let (ok, flow_only, _) = blueprint_command(&data, &["export", "--flow", "login"]);
    assert!(ok);
    assert!(
        flow_only.contains("gatehouse_policies.policybinding"),
        "{flow_only}"
    );
    assert!(
        !flow_only.contains("model: gatehouse_core.group"),
        "{flow_only}"
    );
    let (ok, _, err) = blueprint_command(&data, &["export", "--flow", "nope"]);
    assert!(!ok);
    assert!(err.contains("no flow has the slug \"nope\""), "{err}");

    // The export applies on a fresh instance, which exports the same text.
    let exported_file = work.path().join("exported.yaml");
    std::fs::write(&exported_file, &exported).unwrap();
    let fresh = work.path().join("fresh");
    let (ok, out, err) = blueprint_command(&fresh, &["apply", exported_file.to_str().unwrap()]);
    assert!(ok, "{out}{err}");
    let (ok, again, _) = blueprint_command(&fresh, &["export"]);
    assert!(ok);
    assert_eq!(again, exported);
}

#[tokio::test]
async fn an_oauth2_application_publishes_the_default_signing_key() {
    let data = tempfile::tempdir().unwrap();
    let folder = data.path().join("blueprints");
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::write(
        folder.join("app.yaml"),
        "version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    id: provider
    identifiers: {name: Grafana}
    attrs:
      client_id: grafana
      client_secret: a-long-random-client-secret-for-tests
      redirect_uris: [{url: 'https://grafana.example.org/login/generic_oauth'}]
      signing_key: !Find [gatehouse_crypto.certificatekeypair, [name, gatehouse Self-signed Certificate]]
  - model: gatehouse_core.application
    identifiers: {slug: grafana}
    attrs: {name: Grafana, provider: !KeyOf provider}
",
    )
    .unwrap();
    let server = Server::start(data.path(), &[]);
    let url = server.http_url("/application/o/grafana/jwks/");
    let mut body = serde_json::Value::Null;
    for _ in 0..150 {
        let response = reqwest::get(&url).await.unwrap();
        let status = response.status();
        body = response.json().await.unwrap_or_default();
        if status == 200 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let key = &body["keys"][0];
    assert_eq!(key["kty"], "RSA", "{body}\n{}", server.log_text());
    assert_eq!(key["use"], "sig");
    assert_eq!(key["kid"].as_str().unwrap().len(), 32);
    assert!(key.get("d").is_none(), "{key}");
    let missing = reqwest::get(server.http_url("/application/o/no-such-app/jwks/"))
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    assert!(
        server
            .log_text()
            .contains("generated the token signing key pair")
    );
}
