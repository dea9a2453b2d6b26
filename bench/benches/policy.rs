//! Policy evaluation, the work the outpost does on every proxied request once a
//! session is known: a typical access rule over a prepared input, and the cost of
//! preparing that input. Run: `cargo bench -p gatehouse-bench --bench policy`.

// A benchmark that cannot set up has nothing to measure: failing loudly is right.
#![allow(clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use gatehouse_core::Timestamp;
use gatehouse_core::evaluator::{CompiledPolicy, Facts, evaluate};
use gatehouse_core::expr::{Expression, Input, RequestInput, UserInput};

const RULE: &str = r#""admins" in user.groups && request.path.startsWith("/api")"#;

fn user() -> UserInput {
    UserInput {
        uid: "3f0c2a7e-0000-4000-8000-000000000001".into(),
        username: "alice".into(),
        email: "alice@example.org".into(),
        name: "Alice".into(),
        groups: vec!["staff".into(), "admins".into(), "grafana-editors".into()],
        attributes: serde_json::json!({"team": "ops"}),
        is_active: true,
        is_superuser: false,
        path: "users".into(),
    }
}

fn request() -> RequestInput {
    RequestInput {
        ip: "10.1.2.3".into(),
        host: "prometheus.example.org".into(),
        path: "/api/v1/query".into(),
        method: "GET".into(),
        user_agent: "Mozilla/5.0".into(),
        headers: BTreeMap::from([("accept".to_owned(), "application/json".to_owned())]),
        time: Timestamp::from(time::OffsetDateTime::UNIX_EPOCH + time::Duration::days(20_000)),
    }
}

fn policy(c: &mut Criterion) {
    let expression = Expression::compile(RULE).expect("compile");
    let input = Input::default().with_user(&user()).with_request(&request());
    assert!(expression.eval_bool(&input).expect("evaluate"));
    let mut group = c.benchmark_group("policy");
    group.bench_function("typical access rule (prepared input)", |b| {
        b.iter(|| expression.eval_bool(black_box(&input)).expect("evaluate"));
    });
    for (label, source) in [
        ("part: constant", "true"),
        ("part: group membership", r#""admins" in user.groups"#),
        ("part: path prefix", r#"request.path.startsWith("/api")"#),
        ("part: field equality", r#"request.method == "GET""#),
    ] {
        let part = Expression::compile(source).expect("compile");
        group.bench_function(label, |b| {
            b.iter(|| part.eval_bool(black_box(&input)).expect("evaluate"));
        });
    }
    let compiled = CompiledPolicy::compile("expression", &serde_json::json!({"expression": RULE}))
        .expect("compile");
    let facts = Facts::default();
    group.bench_function("typical access rule as a policy (verdict, timing)", |b| {
        b.iter(|| evaluate(&compiled, black_box(&input), &facts));
    });
    let (u, r) = (user(), request());
    group.bench_function("prepare the request input", |b| {
        b.iter(|| Input::default().with_request(black_box(&r)));
    });
    group.bench_function("prepare the user input (once per session)", |b| {
        b.iter(|| Input::default().with_user(black_box(&u)));
    });
    group.bench_function("compile the rule (once per config)", |b| {
        b.iter(|| Expression::compile(black_box(RULE)).expect("compile"));
    });
    group.finish();
}

criterion_group!(benches, policy);
criterion_main!(benches);
