use serde_json::json;

use super::*;

fn compile(kind: &str, settings: Json) -> CompiledPolicy {
    CompiledPolicy::compile(kind, &settings).unwrap()
}

fn run(policy: &CompiledPolicy, facts: &Facts) -> Result<Verdict, EvalError> {
    evaluate(policy, &Input::default(), facts).result
}

fn t(days: i64) -> Timestamp {
    Timestamp::from_datetime(time::macros::datetime!(2026-01-01 00:00 UTC))
        + time::Duration::days(days)
}

#[test]
fn each_kind_compiles_from_its_settings_and_bad_ones_are_refused() {
    assert!(matches!(
        compile("expression", json!({"expression": "true"})),
        CompiledPolicy::Expression(_)
    ));
    assert!(matches!(compile("setup", json!({})), CompiledPolicy::Setup));
    let err = CompiledPolicy::compile("expression", &json!({"expression": "user.("})).unwrap_err();
    assert!(matches!(err, PolicyCompileError::Expression(_)), "{err}");
    assert!(err.to_string().starts_with("expression: line 1"), "{err}");
    assert!(CompiledPolicy::compile("password", &json!({"length_min": "x"})).is_err());
    assert!(CompiledPolicy::compile("dice", &json!({})).is_err());
}

#[test]
fn expressions_pass_fail_or_error() {
    let yes = compile("expression", json!({"expression": "1 < 2"}));
    assert!(run(&yes, &Facts::default()).unwrap().passing);
    let no = compile("expression", json!({"expression": "user != null"}));
    assert!(!run(&no, &Facts::default()).unwrap().passing);
    let broken = compile("expression", json!({"expression": "user.username == 1"}));
    assert!(run(&broken, &Facts::default()).is_err());
}

#[test]
fn the_password_kind_checks_length_classes_forbidden_and_strength() {
    let rules = compile(
        "password",
        json!({"length_min": 10, "amount_uppercase": 1, "amount_digits": 2, "amount_symbols": 1,
               "forbidden_passwords": ["Correct-Horse-42"], "zxcvbn_score_threshold": 3}),
    );
    let with = |password: &str| Facts {
        new_password: Some(password.to_owned()),
        user_inputs: vec!["alice".into()],
        ..Facts::default()
    };
    let verdict = run(&rules, &with("short")).unwrap();
    assert!(!verdict.passing);
    assert!(
        verdict.messages.iter().any(|m| m.contains("10 characters")),
        "{verdict:?}"
    );
    assert!(
        verdict.messages.iter().any(|m| m.contains("2 digits")),
        "{verdict:?}"
    );
    let forbidden = run(&rules, &with("correct-horse-42")).unwrap();
    assert!(
        forbidden.messages.iter().any(|m| m.contains("not allowed")),
        "{forbidden:?}"
    );
    let weak = run(&rules, &with("Password!12")).unwrap();
    assert!(
        weak.messages.iter().any(|m| m.contains("too easy")),
        "{weak:?}"
    );
    assert!(
        run(&rules, &with("Tr0ub4dor&3-Staple-Horse-99"))
            .unwrap()
            .passing
    );
    // Without the password being chosen there is nothing to check: an error.
    assert!(run(&rules, &Facts::default()).is_err());
    let custom = compile(
        "password",
        json!({"length_min": 12, "error_message": "Longer, please."}),
    );
    assert_eq!(
        run(&custom, &with("abc")).unwrap().messages,
        ["Longer, please."]
    );
}

#[test]
fn the_reputation_kind_fails_at_the_threshold_per_checked_dimension() {
    let rules = compile("reputation", json!({"threshold": -3}));
    let facts = |user, ip| Facts {
        failures_of_user: Some(user),
        failures_of_ip: Some(ip),
        ..Facts::default()
    };
    assert!(run(&rules, &facts(2, 2)).unwrap().passing);
    assert!(!run(&rules, &facts(3, 0)).unwrap().passing);
    assert!(!run(&rules, &facts(0, 4)).unwrap().passing);
    let user_only = compile("reputation", json!({"threshold": -3, "check_ip": false}));
    assert!(run(&user_only, &facts(0, 9)).unwrap().passing);
    assert!(run(&rules, &Facts::default()).is_err());
}

#[test]
fn the_expiry_kind_fails_once_the_password_is_older_than_its_days() {
    let rules = compile("expiry", json!({"days": 30}));
    let facts = |changed, now| Facts {
        password_changed_at: Some(changed),
        now: Some(now),
        ..Facts::default()
    };
    assert!(run(&rules, &facts(Some(t(0)), t(30))).unwrap().passing);
    let old = run(&rules, &facts(Some(t(0)), t(31))).unwrap();
    assert_eq!(old.messages, ["Your password has expired."]);
    assert!(run(&rules, &facts(None, t(400))).unwrap().passing);
    assert!(run(&rules, &Facts::default()).is_err());
}

#[test]
fn the_setup_kind_follows_the_fact() {
    let setup = compile("setup", json!({}));
    let open = |v| Facts {
        setup_open: Some(v),
        ..Facts::default()
    };
    assert!(run(&setup, &open(true)).unwrap().passing);
    assert!(!run(&setup, &open(false)).unwrap().passing);
    assert!(run(&setup, &Facts::default()).is_err());
}

#[test]
fn a_policy_travels_as_kind_and_settings() {
    let source = PolicySource {
        kind: "expression".into(),
        settings: json!({"expression": "\"admins\" in user.groups"}),
    };
    let wire = serde_json::to_string(&source).unwrap();
    let back: PolicySource = serde_json::from_str(&wire).unwrap();
    assert_eq!(back, source);
    let compiled = back.compile().unwrap();
    let admin = Input::default().with_user(&crate::expr::UserInput {
        groups: vec!["admins".into()],
        ..Default::default()
    });
    assert!(
        evaluate(&compiled, &admin, &Facts::default())
            .result
            .unwrap()
            .passing
    );
}

#[test]
fn only_verdicts_that_depend_on_the_user_alone_are_reused() {
    use crate::expr::{RequestInput, UserInput};
    let cache = VerdictCache::new(100, Duration::from_secs(60));
    let member = |groups: &[&str], path: &str| {
        Input::default()
            .with_user(&UserInput {
                groups: groups.iter().map(|g| (*g).to_owned()).collect(),
                ..Default::default()
            })
            .with_request(&RequestInput {
                ip: "10.0.0.1".into(),
                host: "h".into(),
                path: path.into(),
                method: "GET".into(),
                user_agent: String::new(),
                headers: Default::default(),
                time: t(0),
            })
    };
    let by_user = compile(
        "expression",
        json!({"expression": "\"admins\" in user.groups"}),
    );
    assert!(by_user.depends_only_on_user());
    let facts = Facts::default();
    let first = cache.evaluate(
        "p1@v1",
        &by_user,
        "session-a",
        &member(&["admins"], "/"),
        &facts,
    );
    assert!(first.result.unwrap().passing);
    // Same policy version and subject: the kept verdict answers, whatever the input.
    let reused = cache.evaluate("p1@v1", &by_user, "session-a", &member(&[], "/"), &facts);
    assert!(reused.result.unwrap().passing);
    // Another subject, or a new policy version, is evaluated afresh.
    let other = cache.evaluate("p1@v1", &by_user, "session-b", &member(&[], "/"), &facts);
    assert!(!other.result.unwrap().passing);
    let edited = cache.evaluate("p1@v2", &by_user, "session-a", &member(&[], "/"), &facts);
    assert!(!edited.result.unwrap().passing);

    // A policy reading the request is never reused.
    let by_path = compile(
        "expression",
        json!({"expression": "request.path.startsWith(\"/api\")"}),
    );
    assert!(!by_path.depends_only_on_user());
    assert!(
        cache
            .evaluate("p2@v1", &by_path, "session-a", &member(&[], "/api"), &facts)
            .result
            .unwrap()
            .passing
    );
    assert!(
        !cache
            .evaluate("p2@v1", &by_path, "session-a", &member(&[], "/"), &facts)
            .result
            .unwrap()
            .passing
    );
    // Nor is any other kind, nor an error.
    assert!(!compile("setup", json!({})).depends_only_on_user());
    let broken = compile("expression", json!({"expression": "user.missing == 1"}));
    assert!(
        cache
            .evaluate("p3@v1", &broken, "session-a", &member(&[], "/"), &facts)
            .result
            .is_err()
    );
    assert!(
        cache
            .evaluate("p3@v1", &broken, "session-a", &member(&[], "/"), &facts)
            .result
            .is_err()
    );
}
