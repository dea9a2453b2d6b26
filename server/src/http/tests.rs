use std::str::FromStr;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use gatehouse_config::Settings;
use gatehouse_core::storage::Store;
use tower::ServiceExt;

use super::*;

/// A migrated store on a fresh SQLite file in `dir`.
async fn sqlite_store(dir: &std::path::Path) -> Store {
    let url = gatehouse_config::settings::DatabaseUrl::sqlite_file(&dir.join("t.db"));
    let store = Store::connect(&url, 2).await.unwrap();
    store.migrate().await.unwrap();
    store
}

async fn state(dir: &std::path::Path) -> AppState {
    let store = sqlite_store(dir).await;
    AppState {
        hub: crate::outposts::Hub::new(store.clone(), time::OffsetDateTime::UNIX_EPOCH),
        store,
        settings: Arc::new(Settings::default()),
        secret_key: gatehouse_config::Secret::new("k".repeat(64)),
        oauth2: gatehouse_core::oauth2::Caches::default(),
        embedded_outpost: None,
    }
}

async fn status_of(app: Router, path: &str) -> StatusCode {
    let req = Request::get(path).body(Body::empty()).unwrap();
    app.oneshot(req).await.unwrap().status()
}

#[tokio::test]
async fn live_and_ready_answer_204_while_the_database_answers() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()).await);
    assert_eq!(
        status_of(app.clone(), "/-/health/live/").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_of(app, "/-/health/ready/").await,
        StatusCode::NO_CONTENT
    );
}

#[tokio::test]
async fn ready_answers_503_once_the_database_is_gone() {
    let dir = tempfile::tempdir().unwrap();
    let state = state(dir.path()).await;
    state.store.close().await;
    let app = app(state);
    assert_eq!(
        status_of(app.clone(), "/-/health/live/").await,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        status_of(app, "/-/health/ready/").await,
        StatusCode::SERVICE_UNAVAILABLE
    );
}

#[tokio::test]
async fn unknown_path_is_a_json_404() {
    let dir = tempfile::tempdir().unwrap();
    let app = app(state(dir.path()).await);
    let res = app
        .oneshot(Request::get("/nope").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let body = axum::body::to_bytes(res.into_body(), 1024).await.unwrap();
    let json = serde_json::Value::from_str(std::str::from_utf8(&body).unwrap()).unwrap();
    assert_eq!(json["detail"], "Not found.");
}
