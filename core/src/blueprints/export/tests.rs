use std::collections::BTreeMap;

use gatehouse_config::blueprint::{parse, to_yaml};

use super::*;
use crate::blueprints::apply::tests::kitchen_sink;
use crate::blueprints::apply::{ApplyOptions, apply};
use crate::storage::testing::{TestStore, storage_test, t0};

async fn apply_text(store: &Store, file: &str, text: &str) {
    let env: BTreeMap<String, String> =
        [("ADMIN_EMAIL".to_owned(), "root@example.org".to_owned())].into();
    let blueprint = parse(file, text).unwrap().unwrap();
    let report = apply(store, file, &blueprint, &env, ApplyOptions::default(), t0())
        .await
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    assert!(report.wrote_anything());
}

async fn export_text(store: &Store, scope: &ExportScope) -> String {
    to_yaml(&export(store, scope).await.unwrap())
}

storage_test!(
    an_export_applies_on_a_fresh_instance_and_exports_identically,
    |store| {
        apply_text(&store, "sink.yaml", &kitchen_sink()).await;
        let first = export_text(&store, &ExportScope::All).await;
        let fresh: TestStore = crate::storage::testing::sqlite().await;
        apply_text(&fresh, "export.yaml", &first).await;
        let second = export_text(&fresh, &ExportScope::All).await;
        assert_eq!(first, second);
        // And applying the export where it came from changes nothing.
        let env: BTreeMap<String, String> = BTreeMap::new();
        let blueprint = parse("export.yaml", &first).unwrap().unwrap();
        let report = apply(
            &store,
            "export.yaml",
            &blueprint,
            &env,
            ApplyOptions::default(),
            t0(),
        )
        .await
        .unwrap();
        assert!(!report.wrote_anything(), "{:#?}", report.changes);
    }
);

storage_test!(
    a_flow_export_holds_the_flow_its_stages_and_bindings,
    |store| {
        apply_text(&store, "sink.yaml", &kitchen_sink()).await;
        let text = export_text(&store, &ExportScope::Flow("login".into())).await;
        let blueprint = parse("flow.yaml", &text).unwrap().unwrap();
        let mut models: Vec<&str> = blueprint.entries.iter().map(|e| e.model.as_str()).collect();
        models.sort();
        assert_eq!(
            models,
            [
                "gatehouse_flows.flow",
                "gatehouse_flows.flowstagebinding",
                "gatehouse_flows.flowstagebinding",
                "gatehouse_policies.policybinding",
                "gatehouse_policies.policybinding",
                "gatehouse_policies_expression.expressionpolicy",
                "gatehouse_stages_identification.identificationstage",
                "gatehouse_stages_password.passwordstage",
                "gatehouse_stages_user_login.userloginstage",
            ],
            "{text}"
        );
        // Objects outside the flow are found by name, not copied.
        assert!(
            text.contains(
                "enrollment_flow: !Find [\"gatehouse_flows.flow\", [\"slug\", \"enroll\"]]"
            ),
            "{text}"
        );
        assert!(
            text.contains("user: !Find [\"gatehouse_core.user\", [\"username\", \"alice\"]]"),
            "{text}"
        );
        // It applies to an instance that has the objects it finds.
        apply_text(
            &store,
            "flow.yaml",
            &text.replace("slug: \"login\"", "slug: \"login-copy\""),
        )
        .await;
        assert!(matches!(
            export(&store, &ExportScope::Flow("nope".into())).await,
            Err(ExportError::UnknownFlow(_))
        ));
    }
);

storage_test!(identical_bindings_export_under_distinct_ids, |store| {
    apply_text(&store, "sink.yaml", &kitchen_sink()).await;
    // The same binding twice (the API can make that; bindings have no unique key).
    let mut db = store.acquire().await.unwrap();
    let app = crate::storage::applications::find_by_slug(&mut db, "prometheus")
        .await
        .unwrap()
        .unwrap();
    let group = crate::storage::groups::find_by_name(&mut db, "Admins")
        .await
        .unwrap()
        .unwrap();
    crate::storage::policies::create_binding(
        &mut db,
        crate::storage::policies::NewPolicyBinding::new(
            crate::storage::policies::BindingTarget::Application(app.id),
            crate::storage::policies::PolicyBindingSubject::Group(group.id),
            0,
        ),
    )
    .await
    .unwrap();
    drop(db);
    let first = export_text(&store, &ExportScope::All).await;
    let parsed = parse("export.yaml", &first).unwrap_or_else(|e| panic!("{e}"));
    assert!(parsed.is_some());
    assert!(first.contains("#2\""), "{first}");
    // Alike in every identifier, the two are one object to a blueprint: a fresh
    // instance gets the binding once, and exports stay stable from there.
    let fresh: TestStore = crate::storage::testing::sqlite().await;
    apply_text(&fresh, "export.yaml", &first).await;
    let second = export_text(&fresh, &ExportScope::All).await;
    assert!(!second.contains("#2\""), "{second}");
    assert_eq!(
        second
            .matches("policybinding:application:prometheus")
            .count(),
        1
    );
    let again: TestStore = crate::storage::testing::sqlite().await;
    apply_text(&again, "export.yaml", &second).await;
    assert_eq!(export_text(&again, &ExportScope::All).await, second);
});
