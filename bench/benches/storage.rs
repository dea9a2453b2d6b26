//! Storage hot paths on the embedded backend: the lookups every login and session
//! check makes. Run: `cargo bench -p gatehouse-bench --bench storage`.

// A benchmark that cannot set up has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, missing_docs)]

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_config::settings::DatabaseUrl;
use gatehouse_core::Timestamp;
use gatehouse_core::storage::{Store, users};

fn now() -> Timestamp {
    Timestamp::from(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000))
}

/// A migrated SQLite store holding `n` users named `user-<i>`.
async fn seeded(dir: &std::path::Path, n: usize) -> Store {
    let url = DatabaseUrl::sqlite_file(&dir.join("bench.db"));
    let store = Store::connect(&url, 4).await.expect("open store");
    store.migrate().await.expect("migrate");
    let mut tx = store.begin().await.expect("begin");
    for i in 0..n {
        users::create(&mut tx, users::NewUser::new(format!("user-{i}")), now())
            .await
            .expect("create user");
    }
    tx.commit().await.expect("commit");
    store
}

fn storage(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime.block_on(seeded(dir.path(), 10_000));
    let mut group = c.benchmark_group("sqlite");
    group.bench_function("users::find_by_username (10k users)", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut db = store.acquire().await.expect("acquire");
            users::find_by_username(&mut db, "user-4242")
                .await
                .expect("query")
                .expect("found")
        });
    });
    // The same lookup on a connection held across iterations: the difference to the
    // one above is what a pool checkout costs.
    let held = std::sync::Arc::new(tokio::sync::Mutex::new(
        runtime.block_on(store.acquire()).expect("acquire"),
    ));
    group.bench_function("users::find_by_username, held connection", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut db = held.lock().await;
            users::find_by_username(&mut *db, "user-4242")
                .await
                .expect("query")
                .expect("found")
        });
    });
    group.bench_function("users::find_by_login_ignoring_case (10k users)", |b| {
        b.to_async(&runtime).iter(|| async {
            let mut db = store.acquire().await.expect("acquire");
            users::find_by_login_ignoring_case(&mut db, "USER-4242")
                .await
                .expect("query")
        });
    });
    group.finish();
    // A pooled connection must be returned inside the runtime.
    let _inside = runtime.enter();
    drop(held);
}

criterion_group!(benches, storage);
criterion_main!(benches);
