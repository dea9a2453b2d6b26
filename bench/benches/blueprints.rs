//! Applying blueprints: a first apply into an empty database, and the re-apply of an
//! unchanged blueprint that every start and every file change makes.
//! Run: `cargo bench -p gatehouse-bench --bench blueprints`.

// A benchmark that cannot set up has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::fmt::Write as _;

use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_config::blueprint::{Blueprint, parse};
use gatehouse_core::Timestamp;
use gatehouse_core::blueprints::apply::{ApplyOptions, apply};
use gatehouse_core::storage::Store;

fn now() -> Timestamp {
    Timestamp::from(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000))
}

/// `groups` groups and `users` users, each user in one group, plus a small login flow.
fn blueprint(users: usize, groups: usize) -> Blueprint {
    let mut text = String::from(
        "version: 1\nentries:\n  - model: gatehouse_flows.flow\n    id: login\n    identifiers: {slug: login}\n    attrs: {name: Login, designation: authentication}\n  - model: gatehouse_stages_password.passwordstage\n    id: password\n    identifiers: {name: password}\n  - model: gatehouse_stages_identification.identificationstage\n    id: ident\n    identifiers: {name: ident}\n    attrs: {password_stage: !KeyOf password}\n  - model: gatehouse_flows.flowstagebinding\n    identifiers: {target: !KeyOf login, stage: !KeyOf ident, order: 10}\n",
    );
    for g in 0..groups {
        let _ = write!(
            text,
            "  - model: gatehouse_core.group\n    id: g{g}\n    identifiers: {{name: group-{g}}}\n"
        );
    }
    for u in 0..users {
        let _ = write!(
            text,
            "  - model: gatehouse_core.user\n    identifiers: {{username: user-{u}}}\n    attrs: {{name: User {u}, email: user-{u}@example.org, groups: [!KeyOf g{}]}}\n",
            u % groups.max(1)
        );
    }
    parse("bench.yaml", &text)
        .expect("valid blueprint")
        .expect("not empty")
}

async fn fresh() -> Store {
    let store = Store::in_memory().await.expect("open");
    store.migrate().await.expect("migrate");
    store
}

fn blueprints(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let env: BTreeMap<String, String> = BTreeMap::new();
    let options = ApplyOptions::default();
    let mut group = c.benchmark_group("blueprint apply (SQLite in memory)");
    group.sample_size(10);
    for users in [100, 1000] {
        let bp = blueprint(users, 20);
        group.bench_function(format!("first apply, {users} users in 20 groups"), |b| {
            // A fresh database per iteration, outside the timed part.
            b.iter_custom(|iters| {
                runtime.block_on(async {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let store = fresh().await;
                        let started = Instant::now();
                        apply(&store, "bench.yaml", &bp, &env, options, now())
                            .await
                            .expect("apply");
                        total += started.elapsed();
                        store.close().await;
                    }
                    total
                })
            });
        });
        let store = runtime.block_on(async {
            let store = fresh().await;
            apply(&store, "bench.yaml", &bp, &env, options, now())
                .await
                .expect("apply");
            store
        });
        group.bench_function(
            format!("re-apply unchanged, {users} users in 20 groups"),
            |b| {
                b.to_async(&runtime).iter(|| async {
                    let report = apply(&store, "bench.yaml", &bp, &env, options, now())
                        .await
                        .expect("apply");
                    assert!(!report.wrote_anything());
                });
            },
        );
    }
    group.finish();
}

criterion_group!(benches, blueprints);
criterion_main!(benches);
