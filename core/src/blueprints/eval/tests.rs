use std::collections::BTreeMap;

use gatehouse_config::blueprint::parse;
use serde_json::json;

use super::*;

/// A `!Find` the fake answers: model, query, key.
type Known = (String, Vec<(String, Json)>, String);

/// Resolves `!KeyOf` from a map and `!Find` from a list of (model, query, key).
#[derive(Default)]
struct Fake {
    keys: BTreeMap<String, String>,
    found: Vec<Known>,
}

impl Resolver for Fake {
    fn key_of(&self, id: &str) -> Option<String> {
        self.keys.get(id).cloned()
    }

    async fn find(
        &mut self,
        model: &str,
        query: &[(String, Json)],
    ) -> Result<Option<String>, String> {
        Ok(self
            .found
            .iter()
            .find(|(m, q, _)| m == model && q.as_slice() == query)
            .map(|(_, _, key)| key.clone()))
    }
}

/// Evaluates the `attrs.v` of a one-entry blueprint.
async fn eval_attr(
    yaml: &str,
    context: &[(&str, Json)],
    env: &[(&str, &str)],
    fake: &mut Fake,
) -> Result<Json, EvalError> {
    let text = format!("version: 1\nentries:\n  - model: m\n    attrs:\n      v: {yaml}\n");
    let bp = parse("t.yaml", &text).unwrap().unwrap();
    let value = &bp.entries[0].attrs[0].1;
    let context: BTreeMap<String, Json> = context
        .iter()
        .map(|(k, v)| ((*k).to_owned(), v.clone()))
        .collect();
    let env: BTreeMap<String, String> = env
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    evaluate(
        value,
        &Scope {
            context: &context,
            env: &env,
        },
        fake,
    )
    .await
}

async fn ok(yaml: &str) -> Json {
    eval_attr(
        yaml,
        &[("domain", json!("example.org")), ("on", json!(true))],
        &[("HOME_DIR", "/root")],
        &mut Fake::default(),
    )
    .await
    .unwrap()
}

#[tokio::test]
async fn plain_values_become_json() {
    assert_eq!(
        ok("{a: [1, 2.5, x, null, true]}").await,
        json!({"a": [1, 2.5, "x", null, true]})
    );
}

#[tokio::test]
async fn context_env_and_format() {
    assert_eq!(ok("!Context domain").await, json!("example.org"));
    assert_eq!(ok("!Context [missing, fallback]").await, json!("fallback"));
    assert_eq!(ok("!Env HOME_DIR").await, json!("/root"));
    assert_eq!(ok("!Env [UNSET_VAR, 7]").await, json!(7));
    assert_eq!(
        ok("!Format ['https://git.%s/%s%%', !Context domain, 3]").await,
        json!("https://git.example.org/3%")
    );
}

#[tokio::test]
async fn if_and_condition_follow_truthiness() {
    assert_eq!(
        ok("!If [!Context on, yes-branch, no-branch]").await,
        json!("yes-branch")
    );
    assert_eq!(
        ok("!If ['', yes-branch, no-branch]").await,
        json!("no-branch")
    );
    assert_eq!(ok("!Condition [AND, true, 1, x]").await, json!(true));
    assert_eq!(ok("!Condition [AND, true, 0]").await, json!(false));
    assert_eq!(ok("!Condition [OR, false, []]").await, json!(false));
    assert_eq!(ok("!Condition [NAND, true, true]").await, json!(false));
    assert_eq!(ok("!Condition [NOR, false, null]").await, json!(true));
    assert_eq!(ok("!Condition [XOR, true, true, true]").await, json!(true));
}

#[tokio::test]
async fn key_of_and_find_ask_the_resolver() {
    let mut fake = Fake::default();
    fake.keys.insert("admins".into(), "uuid-1".into());
    fake.found.push((
        "flow".into(),
        vec![("slug".into(), json!("login"))],
        "uuid-2".into(),
    ));
    assert_eq!(
        eval_attr("!KeyOf admins", &[], &[], &mut fake)
            .await
            .unwrap(),
        json!("uuid-1")
    );
    assert_eq!(
        eval_attr("!Find [flow, [slug, login]]", &[], &[], &mut fake)
            .await
            .unwrap(),
        json!("uuid-2")
    );
}

#[tokio::test]
async fn failures_name_the_position() {
    let mut fake = Fake::default();
    for (yaml, needle) in [
        ("!KeyOf nobody", "no entry with that id"),
        ("!Find [flow, [slug, nope]]", "nothing matches"),
        ("!Context missing", "not in the context"),
        ("!Env GATEHOUSE_SURELY_UNSET", "not set"),
        ("!Format ['%s %s', a]", "more %s"),
        ("!Format ['%s', a, b]", "fewer %s"),
        ("!Format ['%d', 1]", "only %s and %%"),
        (".nan", "NaN"),
    ] {
        let err = eval_attr(yaml, &[], &[], &mut fake).await.unwrap_err();
        assert!(err.message.contains(needle), "{yaml}: {err}");
        assert_eq!(err.pos.line, 5, "{yaml}");
    }
}
