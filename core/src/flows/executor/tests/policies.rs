//! Policies in flows: expressions guarding a flow, password rules on a prompt,
//! reputation read from the store, and a broken expression refused at apply.

use super::*;

storage_test!(
    expression_policies_guard_flows_and_password_rules_guard_prompts,
    |store| {
        setup(&store).await;
        let text = "version: 1
entries:
  - model: gatehouse_policies_expression.expressionpolicy
    id: office-only
    identifiers: {name: office-only}
    attrs: {expression: 'request.ip.in_cidr(\"10.0.0.0/8\") && flow.slug == \"office\"'}
  - model: gatehouse_flows.flow
    id: office
    identifiers: {slug: office}
    attrs: {name: Office, designation: authentication, denied_action: message}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf office, policy: !KeyOf office-only, order: 0}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf office, stage: !Find [gatehouse_stages_identification.identificationstage, [name, ident]], order: 0}
  - model: gatehouse_policies_password.passwordpolicy
    id: strong
    identifiers: {name: strong}
    attrs: {length_min: 12, forbidden_passwords: [correct-horse-battery]}
  - model: gatehouse_policies_expression.expressionpolicy
    id: company-mail
    identifiers: {name: company-mail}
    attrs: {expression: 'flow.prompt_data.email.endsWith(\"@example.org\") && !has(flow.prompt_data.password)'}
  - model: gatehouse_stages_prompt.promptstage
    id: prompt
    identifiers: {name: choose}
    attrs:
      fields:
        - {field_key: email, label: Email, type: email}
        - {field_key: password, label: Password, type: password}
      validation_policies: [!KeyOf strong, !KeyOf company-mail]
  - model: gatehouse_flows.flow
    id: choose
    identifiers: {slug: choose}
    attrs: {name: Choose, designation: enrollment}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf choose, stage: !KeyOf prompt, order: 0}
";
        apply_text(&store, "expr.yaml", text).await;
        // From outside the office network the flow refuses to start.
        let outside = run(&store, "office", None, None, &request()).await.unwrap();
        assert!(
            matches!(outside.challenge, Challenge::AccessDenied { .. }),
            "{outside:?}"
        );
        let inside = RequestInfo {
            client_ip: "10.4.5.6".into(),
            ..request()
        };
        let first = run(&store, "office", None, None, &inside).await.unwrap();
        assert!(
            matches!(first.challenge, Challenge::Identification { .. }),
            "{first:?}"
        );

        let first = run(&store, "choose", None, None, &request()).await.unwrap();
        let key = first.effects.set_flow_key.unwrap();
        let try_answer = |email: &'static str, password: &'static str| {
            let (store, key) = (&store, key.clone());
            async move {
                let form = answer(&[("email", email), ("password", password)]);
                run(store, "choose", Some(&key), Some(&form), &request())
                    .await
                    .unwrap()
                    .challenge
            }
        };
        let short = try_answer("new@example.org", "short").await;
        assert_eq!(short.first_error(), Some("Use at least 12 characters."));
        let forbidden = try_answer("new@example.org", "correct-horse-battery").await;
        assert_eq!(
            forbidden.first_error(),
            Some("This password is not allowed.")
        );
        let elsewhere = try_answer("new@elsewhere.test", "a-long-enough-password").await;
        assert_eq!(
            elsewhere.first_error(),
            Some("The answer was not accepted.")
        );
        let fine = try_answer("new@example.org", "a-long-enough-password").await;
        assert_eq!(
            fine,
            Challenge::Redirect {
                to: "/after".into()
            }
        );
    }
);

storage_test!(a_broken_expression_is_refused_with_file_and_line, |store| {
    let text = "version: 1
entries:
  - model: gatehouse_policies_expression.expressionpolicy
    identifiers: {name: broken}
    attrs:
      expression: '\"admins\" in user.groups &&'
";
    let blueprint = parse("policies/broken.yaml", text).unwrap().unwrap();
    let env: BTreeMap<String, String> = BTreeMap::new();
    let err = apply(
        &store,
        "policies/broken.yaml",
        &blueprint,
        &env,
        ApplyOptions::default(),
        t0(),
    )
    .await
    .unwrap_err()
    .to_string();
    assert!(err.starts_with("policies/broken.yaml:6:"), "{err}");
    assert!(err.contains("expression: line 1, column"), "{err}");
    let mut db = store.acquire().await.unwrap();
    assert!(
        crate::storage::policies::find_by_name(&mut db, "broken")
            .await
            .unwrap()
            .is_none()
    );
});

storage_test!(
    a_reputation_policy_reads_recent_failures_from_the_store,
    |store| {
        setup(&store).await;
        let text = "version: 1
entries:
  - model: gatehouse_policies_reputation.reputationpolicy
    id: reputation
    identifiers: {name: bad-reputation}
    attrs: {threshold: -2, check_ip: false}
  - model: gatehouse_stages_deny.denystage
    id: stop
    identifiers: {name: stop}
    attrs: {deny_message: Too many failures}
  - model: gatehouse_flows.flow
    id: guarded
    identifiers: {slug: guarded}
    attrs: {name: Guarded, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf guarded, stage: !Find [gatehouse_stages_identification.identificationstage, [name, ident]], order: 10}
  - model: gatehouse_flows.flowstagebinding
    id: stop-binding
    identifiers: {target: !KeyOf guarded, stage: !KeyOf stop, order: 20}
    attrs: {evaluate_on_plan: false, re_evaluate_policies: true}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf stop-binding, policy: !KeyOf reputation, order: 0}
    attrs: {negate: true}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf guarded, stage: !Find [gatehouse_stages_user_login.userloginstage, [name, login]], order: 30}
";
        apply_text(&store, "reputation.yaml", text).await;
        let guarded = || async {
            let first = run(&store, "guarded", None, None, &request())
                .await
                .unwrap();
            let key = first.effects.set_flow_key.unwrap();
            let who = answer(&[("uid_field", "alice")]);
            run(&store, "guarded", Some(&key), Some(&who), &request())
                .await
                .unwrap()
                .challenge
        };
        // A clean record: the deny stage is skipped and alice reaches the login stage.
        let clean = guarded().await;
        assert!(matches!(clean, Challenge::Redirect { .. }), "{clean:?}");
        for _ in 0..2 {
            let first = run(&store, "one-page", None, None, &request())
                .await
                .unwrap();
            let key = first.effects.set_flow_key.unwrap();
            let wrong = answer(&[("uid_field", "alice"), ("password", "wrong")]);
            run(&store, "one-page", Some(&key), Some(&wrong), &request())
                .await
                .unwrap();
        }
        let Challenge::AccessDenied { error_message, .. } = guarded().await else {
            panic!("two failures should trip the reputation policy")
        };
        assert_eq!(error_message, "Too many failures");
    }
);
