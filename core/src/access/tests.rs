use std::collections::BTreeMap;

use super::*;
use crate::blueprints::apply::apply_text_cheaply as apply_text;
use crate::storage::Store;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users;

fn request(path: &str) -> RequestInput {
    RequestInput {
        ip: "10.1.2.3".into(),
        host: "apps.example.org".into(),
        path: path.into(),
        method: "GET".into(),
        user_agent: "test".into(),
        headers: BTreeMap::new(),
        time: t0(),
    }
}

const WINDOW: time::Duration = time::Duration::minutes(5);

const APPS: &str = "version: 1
entries:
  - model: gatehouse_core.group
    id: admins
    identifiers: {name: Admins}
  - model: gatehouse_core.group
    id: users
    identifiers: {name: Users}
  - model: gatehouse_core.user
    identifiers: {username: ada}
    attrs: {groups: [!KeyOf admins]}
  - model: gatehouse_core.user
    identifiers: {username: uma}
    attrs: {groups: [!KeyOf users]}
  - model: gatehouse_core.user
    identifiers: {username: nell}
  - model: gatehouse_core.application
    id: prometheus
    identifiers: {slug: prometheus}
    attrs: {name: Prometheus, policy_engine_mode: any}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf prometheus, group: !KeyOf admins, order: 0}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf prometheus, group: !KeyOf users, order: 1}
  - model: gatehouse_core.application
    id: wiki
    identifiers: {slug: wiki}
    attrs: {name: Wiki}
  - model: gatehouse_core.application
    id: api
    identifiers: {slug: api}
    attrs: {name: API}
  - model: gatehouse_policies_expression.expressionpolicy
    id: admins-on-api
    identifiers: {name: admins-on-api}
    attrs:
      expression: '\"Admins\" in user.groups && request.path.startsWith(\"/api\") && application.slug == \"api\"'
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf api, policy: !KeyOf admins-on-api, order: 0}
";

async fn slugs_for(store: &Store, username: &str, path: &str) -> Vec<String> {
    let mut tx = store.begin().await.unwrap();
    let user = users::find_by_username(&mut tx, username)
        .await
        .unwrap()
        .unwrap();
    let apps = applications_for(&mut tx, user.id, &request(path), WINDOW)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let mut slugs: Vec<String> = apps.into_iter().map(|a| a.slug).collect();
    slugs.sort();
    slugs
}

storage_test!(
    an_application_is_hidden_from_a_user_in_neither_bound_group,
    |store| {
        apply_text(&store, "apps.yaml", APPS).await;
        // No binding: open to everyone; two group bindings under `any`: either group.
        assert_eq!(slugs_for(&store, "nell", "/").await, ["wiki"]);
        assert_eq!(slugs_for(&store, "uma", "/").await, ["prometheus", "wiki"]);
        // The expression reads user, request and application.
        assert_eq!(slugs_for(&store, "ada", "/").await, ["prometheus", "wiki"]);
        assert_eq!(
            slugs_for(&store, "ada", "/api/v1").await,
            ["api", "prometheus", "wiki"]
        );
        assert_eq!(
            slugs_for(&store, "uma", "/api/v1").await,
            ["prometheus", "wiki"]
        );
    }
);

storage_test!(
    a_failing_expression_yields_failure_result_and_an_event,
    |store| {
        let text = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: nell}
  - model: gatehouse_core.application
    id: app
    identifiers: {slug: app}
    attrs: {name: App}
  - model: gatehouse_policies_expression.expressionpolicy
    id: broken
    identifiers: {name: needs-team}
    attrs: {expression: 'user.attributes.team == \"ops\"'}
  - model: gatehouse_policies.policybinding
    id: binding
    identifiers: {target: !KeyOf app, policy: !KeyOf broken, order: 0}
";
        apply_text(&store, "fail.yaml", text).await;
        // nell has no `team` attribute: the evaluation errs, and the binding's
        // failure_result (false) hides the application.
        assert!(slugs_for(&store, "nell", "/").await.is_empty());
        let mut db = store.acquire().await.unwrap();
        let events = crate::storage::events::list_recent(&mut db, 10, Some("policy_exception"))
            .await
            .unwrap();
        let exception = events
            .iter()
            .find(|e| e.action == "policy_exception")
            .unwrap();
        assert_eq!(exception.context["policy"], "needs-team");
        drop(db);
        let lenient = text.replace(
            "identifiers: {target: !KeyOf app, policy: !KeyOf broken, order: 0}",
            "identifiers: {target: !KeyOf app, policy: !KeyOf broken, order: 0}\n    attrs: {failure_result: true}",
        );
        apply_text(&store, "fail.yaml", &lenient).await;
        assert_eq!(slugs_for(&store, "nell", "/").await, ["app"]);
    }
);

storage_test!(the_seed_gitea_mapping_gives_the_role_claim, |store| {
    crate::blueprints::apply::apply_shipped_cheaply(&store).await;
    apply_text(
        &store,
        "groups.yaml",
        include_str!("../../../config/blueprints/examples/groups.yaml"),
    )
    .await;
    apply_text(
        &store,
        "gitea.yaml",
        include_str!("../../../config/blueprints/examples/gitea.yaml"),
    )
    .await;
    let text = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: ada}
    attrs: {groups: [!Find [gatehouse_core.group, [name, Admins]], !Find [gatehouse_core.group, [name, Users]]]}
  - model: gatehouse_core.user
    identifiers: {username: uma}
    attrs: {groups: [!Find [gatehouse_core.group, [name, Users]]]}
  - model: gatehouse_core.user
    identifiers: {username: nell}
";
    apply_text(&store, "people.yaml", text).await;
    let mut tx = store.begin().await.unwrap();
    let mapping = crate::storage::property_mappings::find_by_name(&mut tx, "Gitea")
        .await
        .unwrap()
        .unwrap();
    let expression = crate::expr::Expression::compile(&mapping.expression).unwrap();
    let mut claims = Vec::new();
    for name in ["ada", "uma", "nell"] {
        let user = users::find_by_username(&mut tx, name)
            .await
            .unwrap()
            .unwrap();
        let who = who(&mut tx, Some(user.id)).await.unwrap();
        let input = Input::default().with_user(who.user.as_ref().unwrap());
        claims.push(serde_json::Value::Object(
            expression.eval_map(&input).unwrap(),
        ));
    }
    assert_eq!(
        claims,
        [
            serde_json::json!({"gitea": "admin"}),
            serde_json::json!({"gitea": "user"}),
            serde_json::json!({}),
        ]
    );
});
