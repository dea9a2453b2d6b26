use serde_json::json;

use super::*;

fn alice() -> UserInput {
    UserInput {
        uid: "0b0b".into(),
        username: "alice".into(),
        email: "alice@example.org".into(),
        name: "Alice".into(),
        groups: vec!["admins".into(), "Users".into()],
        attributes: json!({"team": "ops", "level": 3}),
        is_active: true,
        is_superuser: false,
        path: "users".into(),
    }
}

fn request(path: &str, ip: &str) -> RequestInput {
    RequestInput {
        ip: ip.into(),
        host: "prometheus.example.org".into(),
        path: path.into(),
        method: "GET".into(),
        user_agent: "curl/8".into(),
        headers: BTreeMap::from([("x-team".to_owned(), "ops".to_owned())]),
        time: Timestamp::from_datetime(time::macros::datetime!(2026-11-29 07:45:10 UTC)),
    }
}

fn input(path: &str, ip: &str) -> Input {
    Input::default()
        .with_user(&alice())
        .with_request(&request(path, ip))
        .with_application(&ApplicationInput {
            slug: "prometheus".into(),
            name: "Prometheus".into(),
            group: "Monitoring".into(),
        })
}

fn check(source: &str, input: &Input) -> bool {
    Expression::compile(source)
        .unwrap()
        .eval_bool(input)
        .unwrap()
}

#[test]
fn the_typical_access_rule_reads_user_and_request() {
    let rule = r#""admins" in user.groups && request.path.startsWith("/api")"#;
    assert!(check(rule, &input("/api/v1/query", "10.1.2.3")));
    assert!(!check(rule, &input("/graph", "10.1.2.3")));
    let bob = Input::default()
        .with_user(&UserInput {
            groups: vec!["Users".into()],
            ..alice()
        })
        .with_request(&request("/api/v1/query", "10.1.2.3"));
    assert!(!check(rule, &bob));
}

#[test]
fn every_documented_variable_and_helper_works() {
    let i = input("/api", "10.1.2.3");
    for source in [
        r#"user.username == "alice" && user.email.endsWith("@example.org")"#,
        r#"user.name == "Alice" && user.is_active && !user.is_superuser && user.path == "users""#,
        r#"user.attributes.team == "ops" && user.attributes.level >= 3"#,
        r#"has(user.attributes.team) && !has(user.attributes.missing)"#,
        r#"request.host == "prometheus.example.org" && request.method == "GET""#,
        r#"request.user_agent.startsWith("curl/") && request.headers["x-team"] == "ops""#,
        r#"request.ip.in_cidr("10.0.0.0/8") && in_cidr(request.ip, "10.1.0.0/16")"#,
        r#"!request.ip.in_cidr("192.168.0.0/16") && !request.ip.in_cidr("fd00::/8")"#,
        r#"request.path.matches("^/api(/|$)")"#,
        r#"time_of_day(request.time) == "07:45" && request.time.getHours() == 7"#,
        r#"time_of_day(request.time) >= "07:00" && time_of_day(request.time) < "18:00""#,
        r#"application.slug == "prometheus" && application.group == "Monitoring""#,
        r#"user.groups.exists(g, g.startsWith("adm")) && size(user.groups) == 2"#,
    ] {
        assert!(check(source, &i), "{source}");
    }
    // A v4-mapped v6 client address counts as v4; nonsense is in no network.
    assert!(check(
        r#"request.ip.in_cidr("10.0.0.0/8")"#,
        &input("/", "::ffff:10.9.8.7")
    ));
    assert!(!check(
        r#"request.ip.in_cidr("10.0.0.0/8")"#,
        &input("/", "not-an-ip")
    ));
}

#[test]
fn the_flow_variable_carries_prompt_data_and_the_pending_user() {
    let i = Input::default().with_flow(&FlowInput {
        slug: "enroll".into(),
        designation: "enrollment".into(),
        prompt_data: json!({"email": "new@example.org"})
            .as_object()
            .unwrap()
            .clone(),
        pending_user: Some(alice()),
    });
    assert!(check(
        r#"flow.designation == "enrollment" && flow.prompt_data.email.endsWith(".org") && flow.pending_user.username == "alice""#,
        &i
    ));
    // Unset variables are null, not errors.
    assert!(check("user == null && request == null", &i));
}

#[test]
fn compile_errors_have_a_position_and_bad_sources_are_refused() {
    let err = Expression::compile("user.groups.exists(g, g ==)").unwrap_err();
    assert_eq!(err.line, 1, "{err}");
    assert!(err.column > 1, "{err}");
    let err = Expression::compile("true &&\n  (").unwrap_err();
    assert_eq!(err.line, 2, "{err}");
    assert!(Expression::compile("").is_err());
    assert!(Expression::compile("   ").is_err());
    let long = format!("\"{}\" == \"\"", "a".repeat(MAX_SOURCE_LEN));
    assert!(
        Expression::compile(&long)
            .unwrap_err()
            .message
            .contains("longer")
    );
}

#[test]
fn evaluation_errors_are_errors_not_panics() {
    let i = input("/", "10.0.0.1");
    let cases = [
        ("user.no_such_field == 1", "no such key"),
        (r#"request.ip.in_cidr("not a network")"#, "not a network"),
        ("1 / 0 == 1", ""),
        (r#""text""#, "not a boolean"),
        ("[1, 2][5] == 1", ""),
        ("9223372036854775807 + 1 > 0", ""),
    ];
    for (source, hint) in cases {
        let err = Expression::compile(source)
            .unwrap()
            .eval_bool(&i)
            .unwrap_err();
        assert!(
            err.to_string().to_lowercase().contains(hint),
            "{source}: {err}"
        );
    }
}

#[test]
fn a_mapping_returns_claims_and_the_gitea_role_follows_groups() {
    let gitea = Expression::compile(
        r#"{"gitea": "Admins" in user.groups ? "admin" : ("Users" in user.groups ? "user" : null)}"#,
    )
    .unwrap();
    let member = |groups: &[&str]| {
        Input::default().with_user(&UserInput {
            groups: groups.iter().map(|g| (*g).to_owned()).collect(),
            ..alice()
        })
    };
    assert_eq!(
        gitea.eval_map(&member(&["Admins", "Users"])).unwrap(),
        *json!({"gitea": "admin"}).as_object().unwrap()
    );
    assert_eq!(
        gitea.eval_map(&member(&["Users"])).unwrap(),
        *json!({"gitea": "user"}).as_object().unwrap()
    );
    assert_eq!(
        gitea.eval_map(&member(&[])).unwrap(),
        *json!({"gitea": null}).as_object().unwrap()
    );
    let not_a_map = Expression::compile(r#""admin""#).unwrap();
    assert!(matches!(
        not_a_map.eval_map(&member(&[])),
        Err(EvalError::WrongType { .. })
    ));
}

#[test]
fn reads_only_tells_which_inputs_an_expression_uses() {
    let by_user = Expression::compile(r#""admins" in user.groups"#).unwrap();
    assert!(by_user.reads_only(&["user"]));
    let by_time =
        Expression::compile(r#""admins" in user.groups && request.time.getHours() > 8"#).unwrap();
    assert!(!by_time.reads_only(&["user"]));
    assert!(by_time.reads_only(&["user", "request"]));
}

/// The expressions the README's Policies section shows, in order.
fn readme_expressions() -> Vec<String> {
    let readme = include_str!("../../../README.md");
    let start = readme.find("## Policies").unwrap();
    let end = start + readme[start..].find("## HTTP endpoints").unwrap();
    let mut found = Vec::new();
    let mut lines = readme[start..end].lines().peekable();
    while let Some(line) = lines.next() {
        let Some(indent) = line.find("expression: |") else {
            continue;
        };
        let mut source = String::new();
        while let Some(next) = lines.peek() {
            if next.len() - next.trim_start().len() <= indent || next.trim() == "```" {
                break;
            }
            source.push_str(next.trim());
            source.push('\n');
            lines.next();
        }
        found.push(source);
    }
    found
}

#[test]
fn the_readme_examples_compile_and_mean_what_they_say() {
    let examples = readme_expressions();
    assert_eq!(examples.len(), 2, "{examples:?}");
    let rule = Expression::compile(&examples[0]).unwrap();
    let at = |hour: u8, ip: &str| {
        let mut request = request("/api/v1/query", ip);
        request.time = Timestamp::from_datetime(
            time::macros::datetime!(2026-11-30 00:00 UTC) + time::Duration::hours(i64::from(hour)),
        );
        Input::default().with_user(&alice()).with_request(&request)
    };
    assert!(rule.eval_bool(&at(9, "10.1.2.3")).unwrap());
    assert!(!rule.eval_bool(&at(20, "10.1.2.3")).unwrap());
    assert!(!rule.eval_bool(&at(9, "192.0.2.1")).unwrap());
    let mapping = Expression::compile(&examples[1]).unwrap();
    let admin = Input::default().with_user(&UserInput {
        groups: vec!["Admins".into()],
        ..alice()
    });
    assert_eq!(
        mapping.eval_map(&admin).unwrap(),
        *json!({"gitea": "admin"}).as_object().unwrap()
    );
}
