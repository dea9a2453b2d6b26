//! The cost of a sign-in that is not password hashing: starting the flow, matching
//! the user, the throttle check, the events, the flow session and the core session,
//! all through the flow engine on SQLite, with argon2 at its minimum so that it
//! barely counts. Run: `cargo bench -p gatehouse-bench --bench login`.

// A benchmark that cannot set up has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_config::blueprint::parse;
use gatehouse_config::settings::DatabaseUrl;
use gatehouse_core::Timestamp;
use gatehouse_core::blueprints::apply::{ApplyOptions, apply};
use gatehouse_core::blueprints::models::WriteOptions;
use gatehouse_core::flows::executor::run;
use gatehouse_core::flows::{Challenge, RequestInfo, Throttle};
use gatehouse_core::secrets::PasswordCost;
use gatehouse_core::storage::Store;
use serde_json::{Map, Value};

/// argon2's smallest parameters: the hash costs microseconds, not the login.
const MINIMAL: PasswordCost = PasswordCost {
    memory_kib: 8,
    iterations: 1,
    parallelism: 1,
};

const SETUP: &str = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: alice}
    attrs: {password: correct-horse}
  - model: gatehouse_stages_password.passwordstage
    id: password
    identifiers: {name: password}
  - model: gatehouse_stages_identification.identificationstage
    id: ident
    identifiers: {name: ident}
    attrs: {password_stage: !KeyOf password}
  - model: gatehouse_stages_user_login.userloginstage
    id: login
    identifiers: {name: login}
  - model: gatehouse_flows.flow
    id: flow
    identifiers: {slug: sign-in}
    attrs: {name: Sign in, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf ident, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf login, order: 20}
";

fn now() -> Timestamp {
    Timestamp::from(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000))
}

fn login(c: &mut Criterion) {
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let dir = tempfile::tempdir().expect("tempdir");
    let store = runtime.block_on(async {
        let url = DatabaseUrl::sqlite_file(&dir.path().join("bench.db"));
        let store = Store::connect(&url, 4).await.expect("open");
        store.migrate().await.expect("migrate");
        let blueprint = parse("setup.yaml", SETUP)
            .expect("valid")
            .expect("not empty");
        let env: BTreeMap<String, String> = BTreeMap::new();
        let options = ApplyOptions {
            dry_run: false,
            write: WriteOptions {
                password_cost: MINIMAL,
            },
        };
        apply(&store, "setup.yaml", &blueprint, &env, options, now())
            .await
            .expect("apply");
        store
    });
    let request = RequestInfo {
        session_user: None,
        session_key: None,
        client_ip: "192.0.2.1".into(),
        host: "gatehouse.test".into(),
        method: "POST".into(),
        path: "/if/flow/test/".into(),
        user_agent: "bench".into(),
        headers: Default::default(),
        next: None,
        now: now(),
        password_cost: MINIMAL,
        // Every iteration succeeds, which resets the counts; no lock is reached.
        throttle: Throttle::default(),
    };
    let answer: Map<String, Value> = [
        ("uid_field".to_owned(), Value::from("alice")),
        ("password".to_owned(), Value::from("correct-horse")),
    ]
    .into_iter()
    .collect();
    c.bench_function(
        "sign-in: show the form, then answer it (SQLite, minimal argon2)",
        |b| {
            b.to_async(&runtime).iter(|| async {
                let first = run(&store, "sign-in", None, None, &request)
                    .await
                    .expect("start");
                let key = first.effects.set_flow_key.expect("flow key");
                let done = run(&store, "sign-in", Some(&key), Some(&answer), &request)
                    .await
                    .expect("answer");
                assert!(matches!(done.challenge, Challenge::Redirect { .. }));
            });
        },
    );
}

criterion_group!(benches, login);
criterion_main!(benches);
