//! Test support: a fresh, migrated store on each backend.
//!
//! PostgreSQL comes from `GH_TEST_POSTGRES_URL` (the test command `tests/run` starts a
//! private server and sets it); each test gets a database of its own, so tests run in
//! parallel without seeing each other's rows. Running storage tests without it fails
//! loudly rather than skipping: a skipped backend is an untested backend.

use std::ops::Deref;
use std::str::FromStr;

use sqlx::ConnectOptions;
use sqlx::postgres::PgConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

use super::Store;

/// Environment variable with an admin URL of the PostgreSQL used by tests.
pub const POSTGRES_URL_VAR: &str = "GH_TEST_POSTGRES_URL";

/// A migrated store that lives as long as the test holds it.
pub struct TestStore {
    store: Store,
    _dir: Option<tempfile::TempDir>,
}

impl Deref for TestStore {
    type Target = Store;
    fn deref(&self) -> &Store {
        &self.store
    }
}

/// A fresh SQLite file in a temporary folder.
pub async fn sqlite() -> TestStore {
    let dir = tempfile::tempdir().unwrap();
    let options = SqliteConnectOptions::from_str("sqlite://")
        .unwrap()
        .filename(dir.path().join("test.db"))
        .create_if_missing(true)
        .foreign_keys(true);
    let store = Store::connect_sqlite(options, 4).await.unwrap();
    store.migrate().await.unwrap();
    TestStore {
        store,
        _dir: Some(dir),
    }
}

/// A fresh database on the test PostgreSQL server.
pub async fn postgres() -> TestStore {
    let url = std::env::var(POSTGRES_URL_VAR).unwrap_or_else(|_| {
        panic!(
            "{POSTGRES_URL_VAR} is not set: storage tests run on SQLite and PostgreSQL; \
             run them with tests/run, which starts a PostgreSQL, or point it at one"
        )
    });
    let admin = PgConnectOptions::from_str(&url).unwrap();
    let name = format!("gh_test_{}", uuid::Uuid::new_v4().simple());
    let mut conn = admin.connect().await.unwrap();
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&mut conn)
        .await
        .unwrap();
    let store = Store::connect_postgres(admin.database(&name), 4)
        .await
        .unwrap();
    store.migrate().await.unwrap();
    TestStore { store, _dir: None }
}

/// Declares a test that runs the same body on SQLite and on PostgreSQL, as two tests
/// `NAME::sqlite` and `NAME::postgres`.
macro_rules! storage_test {
    ($(#[$meta:meta])* $name:ident, |$store:ident| $body:block) => {
        $(#[$meta])*
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            #[tokio::test]
            async fn sqlite() {
                let $store = $crate::storage::testing::sqlite().await;
                $body
            }

            #[tokio::test]
            async fn postgres() {
                let $store = $crate::storage::testing::postgres().await;
                $body
            }
        }
    };
}
pub(crate) use storage_test;

/// A fixed instant for tests: the engine never reads the clock itself.
pub fn t0() -> crate::Timestamp {
    crate::Timestamp::from(time::macros::datetime!(2026-11-28 12:00:00 UTC))
}
