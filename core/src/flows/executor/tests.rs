use std::collections::BTreeMap;

use gatehouse_config::blueprint::parse;
use serde_json::{Map, Value as Json, json};

use super::*;
use crate::blueprints::apply::{ApplyOptions, apply, apply_text_cheaply as apply_text};
use crate::blueprints::models::WriteOptions;
use crate::flows::Throttle;
use crate::secrets::PasswordCost;
use crate::storage::sessions;
use crate::storage::testing::{storage_test, t0};

const CHEAP: PasswordCost = PasswordCost {
    memory_kib: 1024,
    iterations: 1,
    parallelism: 1,
};

/// A login flow (identification with inline password, then login), a two-step one
/// (identification, password, login), a logout flow, and users.
const SETUP: &str = "version: 1
entries:
  - model: gatehouse_core.group
    id: admins
    identifiers: {name: Admins}
  - model: gatehouse_core.user
    identifiers: {username: alice}
    attrs: {email: alice@example.org, password: right-password, groups: [!KeyOf admins]}
  - model: gatehouse_core.user
    identifiers: {username: mallory}
    attrs: {password: right-password, is_active: false}
  - model: gatehouse_stages_password.passwordstage
    id: password
    identifiers: {name: password}
    attrs: {failed_attempts_before_cancel: 3}
  - model: gatehouse_stages_identification.identificationstage
    id: ident-inline
    identifiers: {name: ident-inline}
    attrs: {password_stage: !KeyOf password}
  - model: gatehouse_stages_identification.identificationstage
    id: ident
    identifiers: {name: ident}
  - model: gatehouse_stages_user_login.userloginstage
    id: login
    identifiers: {name: login}
  - model: gatehouse_stages_user_logout.userlogoutstage
    id: logout
    identifiers: {name: logout}
  - model: gatehouse_stages_deny.denystage
    id: deny-admins
    identifiers: {name: deny-admins}
    attrs: {deny_message: No admins here}
  - model: gatehouse_flows.flow
    id: one-page
    identifiers: {slug: one-page}
    attrs: {name: One page, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf one-page, stage: !KeyOf ident-inline, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf one-page, stage: !KeyOf login, order: 100}
  - model: gatehouse_flows.flow
    id: two-step
    identifiers: {slug: two-step}
    attrs: {name: Two steps, title: Sign in, designation: authentication}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf two-step, stage: !KeyOf ident, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf two-step, stage: !KeyOf password, order: 20}
  - model: gatehouse_flows.flowstagebinding
    id: deny-binding
    identifiers: {target: !KeyOf two-step, stage: !KeyOf deny-admins, order: 30}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf deny-binding, group: !KeyOf admins, order: 0}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf two-step, stage: !KeyOf login, order: 100}
  - model: gatehouse_flows.flow
    id: signout
    identifiers: {slug: signout}
    attrs: {name: Sign out, designation: invalidation, authentication: require_authenticated}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf signout, stage: !KeyOf logout, order: 0}
";

async fn setup(store: &Store) {
    apply_text(store, "setup.yaml", SETUP).await;
}

fn request() -> RequestInfo {
    RequestInfo {
        session_user: None,
        session_key: None,
        client_ip: "192.0.2.1".into(),
        host: "gatehouse.test".into(),
        method: "POST".into(),
        path: "/if/flow/test/".into(),
        user_agent: "test".into(),
        headers: std::collections::BTreeMap::new(),
        next: Some("/after".into()),
        now: t0(),
        password_cost: CHEAP,
        throttle: Throttle::default(),
    }
}

fn answer(pairs: &[(&str, &str)]) -> Map<String, Json> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), Json::String((*v).to_owned())))
        .collect()
}

fn form_error(challenge: &Challenge) -> Option<&str> {
    let errors = match challenge {
        Challenge::Identification {
            response_errors, ..
        }
        | Challenge::Password {
            response_errors, ..
        } => response_errors,
        _ => return None,
    };
    errors
        .get("non_field_errors")
        .and_then(|e| e.first())
        .map(|e| e.string.as_str())
}

storage_test!(
    one_page_login_refuses_a_wrong_password_then_signs_in,
    |store| {
        setup(&store).await;
        let first = run(&store, "one-page", None, None, &request())
            .await
            .unwrap();
        let key = first.effects.set_flow_key.clone().unwrap();
        assert!(matches!(
            first.challenge,
            Challenge::Identification {
                password_fields: true,
                ..
            }
        ));
        let wrong = answer(&[("uid_field", "ALICE"), ("password", "wrong")]);
        let refused = run(&store, "one-page", Some(&key), Some(&wrong), &request())
            .await
            .unwrap();
        assert_eq!(form_error(&refused.challenge), Some(stages::FAILED));
        assert!(refused.effects.login.is_none());
        // By email, any case: the same user.
        let right = answer(&[
            ("uid_field", "Alice@Example.org"),
            ("password", "right-password"),
        ]);
        let done = run(&store, "one-page", Some(&key), Some(&right), &request())
            .await
            .unwrap();
        assert_eq!(
            done.challenge,
            Challenge::Redirect {
                to: "/after".into()
            }
        );
        assert!(done.effects.clear_flow_key);
        let (session_key, cookie_expiry) = done.effects.login.clone().unwrap();
        assert_eq!(
            cookie_expiry, None,
            "seconds=0 means a browser-session cookie"
        );
        let mut db = store.acquire().await.unwrap();
        let session = sessions::find_active_by_key_hash(&mut db, &hash_key(&session_key), t0())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(session.auth_methods, json!(["pwd"]));
        assert_eq!(session.client_ip, "192.0.2.1");
        // The finished flow's key starts a new run.
        let again = run(&store, "one-page", Some(&key), None, &request())
            .await
            .unwrap();
        assert!(again.effects.set_flow_key.is_some());
    }
);

storage_test!(
    unknown_and_inactive_users_fail_alike_and_attempts_are_capped,
    |store| {
        setup(&store).await;
        let start = run(&store, "two-step", None, None, &request())
            .await
            .unwrap();
        let key = start.effects.set_flow_key.unwrap();
        // An unknown user still gets a password page (no enumeration)...
        let who = answer(&[("uid_field", "nobody")]);
        let step = run(&store, "two-step", Some(&key), Some(&who), &request())
            .await
            .unwrap();
        let Challenge::Password { pending_user, .. } = &step.challenge else {
            panic!("{:?}", step.challenge)
        };
        assert_eq!(pending_user, "nobody");
        // ...and the same failure as a wrong password; the third failure starts over.
        let pass = answer(&[("password", "right-password")]);
        for _ in 0..2 {
            let refused = run(&store, "two-step", Some(&key), Some(&pass), &request())
                .await
                .unwrap();
            assert_eq!(form_error(&refused.challenge), Some(stages::FAILED));
        }
        let over = run(&store, "two-step", Some(&key), Some(&pass), &request())
            .await
            .unwrap();
        assert!(matches!(over.challenge, Challenge::Identification { .. }));
        assert_eq!(
            form_error(&over.challenge),
            Some("Too many failed attempts; start again.")
        );
        // An inactive user with the right password: the same failure.
        let mallory = answer(&[("uid_field", "mallory")]);
        run(&store, "two-step", Some(&key), Some(&mallory), &request())
            .await
            .unwrap();
        let refused = run(&store, "two-step", Some(&key), Some(&pass), &request())
            .await
            .unwrap();
        assert_eq!(form_error(&refused.challenge), Some(stages::FAILED));
    }
);

storage_test!(
    stage_binding_policies_decide_per_user_when_reached,
    |store| {
        setup(&store).await;
        let start = run(&store, "two-step", None, None, &request())
            .await
            .unwrap();
        let key = start.effects.set_flow_key.unwrap();
        let alice = answer(&[("uid_field", "alice")]);
        run(&store, "two-step", Some(&key), Some(&alice), &request())
            .await
            .unwrap();
        let pass = answer(&[("password", "right-password")]);
        let out = run(&store, "two-step", Some(&key), Some(&pass), &request())
            .await
            .unwrap();
        // Alice is in Admins: the deny stage bound to Admins applies to her.
        let Challenge::AccessDenied { error_message, .. } = &out.challenge else {
            panic!("{:?}", out.challenge)
        };
        assert_eq!(error_message, "No admins here");
        assert!(out.effects.login.is_none());
    }
);

storage_test!(logout_needs_a_session_and_revokes_it, |store| {
    setup(&store).await;
    let denied = run(&store, "signout", None, None, &request())
        .await
        .unwrap();
    assert!(matches!(denied.challenge, Challenge::AccessDenied { .. }));

    let first = run(&store, "one-page", None, None, &request())
        .await
        .unwrap();
    let key = first.effects.set_flow_key.unwrap();
    let right = answer(&[("uid_field", "alice"), ("password", "right-password")]);
    let done = run(&store, "one-page", Some(&key), Some(&right), &request())
        .await
        .unwrap();
    let (session_key, _) = done.effects.login.unwrap();
    let mut db = store.acquire().await.unwrap();
    let session = sessions::find_active_by_key_hash(&mut db, &hash_key(&session_key), t0())
        .await
        .unwrap()
        .unwrap();
    drop(db);
    let signed_in = RequestInfo {
        session_user: Some(session.user_id),
        session_key: Some(session_key.clone()),
        ..request()
    };
    let out = run(&store, "signout", None, None, &signed_in)
        .await
        .unwrap();
    assert!(out.effects.logout);
    assert!(matches!(out.challenge, Challenge::Redirect { .. }));
    let mut db = store.acquire().await.unwrap();
    assert!(
        sessions::find_active_by_key_hash(&mut db, &hash_key(&session_key), t0())
            .await
            .unwrap()
            .is_none()
    );
});

storage_test!(an_unknown_flow_is_an_error, |store| {
    let err = run(&store, "nope", None, None, &request())
        .await
        .unwrap_err();
    assert!(matches!(err, FlowError::UnknownFlow(_)));
});

storage_test!(
    consecutive_failures_lock_a_name_and_an_address_for_a_while,
    |store| {
        setup(&store).await;
        let at = |minutes: i64| RequestInfo {
            now: t0() + time::Duration::minutes(minutes),
            ..request()
        };
        let try_login = |password: &'static str, who: &'static str, info: RequestInfo| {
            let store = &store;
            async move {
                let first = run(store, "one-page", None, None, &info).await.unwrap();
                let key = first.effects.set_flow_key.unwrap();
                let answer = answer(&[("uid_field", who), ("password", password)]);
                run(store, "one-page", Some(&key), Some(&answer), &info)
                    .await
                    .unwrap()
            }
        };
        for _ in 0..5 {
            let out = try_login("wrong", "Alice", at(0)).await;
            assert_eq!(form_error(&out.challenge), Some(stages::FAILED));
        }
        // Locked: even the right password is not checked.
        let out = try_login("right-password", "alice", at(1)).await;
        assert_eq!(form_error(&out.challenge), Some(stages::LOCKED));
        // The window passes; a success resets the count.
        let out = try_login("right-password", "alice", at(6)).await;
        assert!(matches!(out.challenge, Challenge::Redirect { .. }));
        let out = try_login("wrong", "alice", at(7)).await;
        assert_eq!(form_error(&out.challenge), Some(stages::FAILED));

        // Per address: many names from one client.
        let strict = |minutes| RequestInfo {
            throttle: Throttle {
                per_user: 100,
                per_ip: 3,
                window: time::Duration::minutes(5),
            },
            client_ip: "198.51.100.7".into(),
            ..at(minutes)
        };
        for name in ["a", "b", "c"] {
            try_login("wrong", name, strict(20)).await;
        }
        let out = try_login("right-password", "alice", strict(21)).await;
        assert_eq!(form_error(&out.challenge), Some(stages::LOCKED));
        // Another address is not affected.
        let out = try_login("right-password", "alice", at(21)).await;
        assert!(matches!(out.challenge, Challenge::Redirect { .. }));
    }
);

storage_test!(
    a_prompt_checks_its_fields_and_keeps_only_a_password_hash,
    |store| {
        setup(&store).await;
        let text = "version: 1
entries:
  - model: gatehouse_stages_prompt.promptstage
    id: prompt
    identifiers: {name: new-password}
    attrs:
      fields:
        - {field_key: email, label: Email, type: email}
        - {field_key: password, label: Password, type: password}
        - {field_key: password_repeat, label: Repeat, type: password}
        - {field_key: terms, label: I agree, type: checkbox, required: false}
  - model: gatehouse_flows.flow
    id: flow
    identifiers: {slug: setup}
    attrs: {name: Setup, designation: stage_configuration}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf prompt, order: 0}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !Find [gatehouse_stages_identification.identificationstage, [name, ident]], order: 10}
";
        apply_text(&store, "p.yaml", text).await;
        let first = run(&store, "setup", None, None, &request()).await.unwrap();
        assert!(matches!(first.challenge, Challenge::Prompt { .. }));
        let key = first.effects.set_flow_key.unwrap();
        let errors_of = |out: &Outcome| match &out.challenge {
            Challenge::Prompt {
                response_errors, ..
            } => response_errors.keys().cloned().collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };
        let bad = answer(&[
            ("email", "not-an-address"),
            ("password", "one"),
            ("password_repeat", "two"),
        ]);
        let out = run(&store, "setup", Some(&key), Some(&bad), &request())
            .await
            .unwrap();
        assert_eq!(errors_of(&out), ["email", "password_repeat"]);
        let missing = answer(&[("email", "root@example.org")]);
        let out = run(&store, "setup", Some(&key), Some(&missing), &request())
            .await
            .unwrap();
        assert_eq!(errors_of(&out), ["password", "password_repeat"]);

        let good = answer(&[
            ("email", "root@example.org"),
            ("password", "s3cret-enough"),
            ("password_repeat", "s3cret-enough"),
        ]);
        let next = run(&store, "setup", Some(&key), Some(&good), &request())
            .await
            .unwrap();
        assert!(matches!(next.challenge, Challenge::Identification { .. }));
        // What the prompt left in the stored flow state: the email, the tick box, and the
        // password only as a hash that verifies.
        let mut db = store.acquire().await.unwrap();
        let flow = crate::storage::flows::find_by_slug(&mut db, "setup")
            .await
            .unwrap()
            .unwrap();
        let session = flow_sessions::find_active(&mut db, &hash_key(&key), flow.id, t0())
            .await
            .unwrap()
            .unwrap();
        let state: FlowState = serde_json::from_value(session.state.clone()).unwrap();
        assert_eq!(state.prompt_data["email"], "root@example.org");
        assert_eq!(state.prompt_data["terms"], false);
        assert!(!state.prompt_data.contains_key("password_repeat"));
        let hash = state.prompt_data["password"].as_str().unwrap();
        assert!(crate::secrets::verify_password("s3cret-enough", hash));
        assert!(!session.state.to_string().contains("s3cret-enough"));
    }
);

storage_test!(
    an_enrollment_writes_the_prompt_onto_a_new_user_and_signs_them_in,
    |store| {
        setup(&store).await;
        let text = "version: 1
entries:
  - model: gatehouse_stages_prompt.promptstage
    id: prompt
    identifiers: {name: enroll-prompt}
    attrs:
      fields:
        - {field_key: username, label: Username}
        - {field_key: email, label: Email, type: email}
        - {field_key: attributes.team, label: Team, required: false}
        - {field_key: password, label: Password, type: password}
        - {field_key: password_repeat, label: Repeat, type: password}
  - model: gatehouse_stages_user_write.userwritestage
    id: write
    identifiers: {name: enroll-write}
    attrs: {create_users_group: !Find [gatehouse_core.group, [name, Admins]]}
  - model: gatehouse_flows.flow
    id: flow
    identifiers: {slug: enroll}
    attrs: {name: Enroll, designation: enrollment}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf prompt, order: 0}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !KeyOf write, order: 10}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {target: !KeyOf flow, stage: !Find [gatehouse_stages_user_login.userloginstage, [name, login]], order: 20}
";
        apply_text(&store, "e.yaml", text).await;
        let enroll = |who: &'static str| {
            let store = &store;
            async move {
                let first = run(store, "enroll", None, None, &request()).await.unwrap();
                let key = first.effects.set_flow_key.unwrap();
                let form = answer(&[
                    ("username", who),
                    ("email", "new@example.org"),
                    ("attributes.team", "ops"),
                    ("password", "fresh-password"),
                    ("password_repeat", "fresh-password"),
                ]);
                run(store, "enroll", Some(&key), Some(&form), &request())
                    .await
                    .unwrap()
            }
        };
        let done = enroll("newcomer").await;
        assert!(
            matches!(done.challenge, Challenge::Redirect { .. }),
            "{:?}",
            done.challenge
        );
        assert!(done.effects.login.is_some());
        let mut db = store.acquire().await.unwrap();
        let user = crate::storage::users::find_by_username(&mut db, "newcomer")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(user.email, "new@example.org");
        assert_eq!(user.attributes, json!({"team": "ops"}));
        assert!(crate::secrets::verify_password(
            "fresh-password",
            user.password_hash.as_deref().unwrap()
        ));
        let groups = crate::storage::groups::groups_of_user(&mut db, user.id)
            .await
            .unwrap();
        assert_eq!(groups[0].name, "Admins");
        drop(db);
        // A taken username is refused, not overwritten.
        let again = enroll("alice").await;
        let Challenge::AccessDenied { error_message, .. } = &again.challenge else {
            panic!("{:?}", again.challenge)
        };
        assert_eq!(error_message, "That username is taken.");
    }
);

storage_test!(
    denied_action_decides_between_the_reason_and_the_next_url,
    |store| {
        setup(&store).await;
        let mut text = String::from("version: 1\nentries:\n");
        for action in ["message", "message_continue", "continue"] {
            text.push_str(&format!(
                "  - model: gatehouse_flows.flow
    id: {action}
    identifiers: {{slug: {action}}}
    attrs: {{name: {action}, designation: authentication, denied_action: {action}}}
  - model: gatehouse_policies.policybinding
    identifiers: {{target: !KeyOf {action}, group: !Find [gatehouse_core.group, [name, Admins]], order: 0}}
"
            ));
        }
        apply_text(&store, "denied.yaml", &text).await;
        let outcome = |slug: &'static str, next: Option<&'static str>| {
            let store = &store;
            async move {
                let mut req = request();
                req.next = next.map(str::to_owned);
                run(store, slug, None, None, &req).await.unwrap().challenge
            }
        };
        let reason = |challenge: Challenge| match challenge {
            Challenge::AccessDenied { error_message, .. } => error_message,
            other => panic!("{other:?}"),
        };
        let to = |url: &str| Challenge::Redirect { to: url.into() };
        assert_eq!(
            reason(outcome("message", Some("/app")).await),
            "You may not use this flow."
        );
        assert_eq!(outcome("message_continue", Some("/app")).await, to("/app"));
        assert_eq!(
            reason(outcome("message_continue", None).await),
            "You may not use this flow."
        );
        assert_eq!(outcome("continue", Some("/app")).await, to("/app"));
        assert_eq!(outcome("continue", None).await, to("/"));
    }
);

storage_test!(
    an_invalid_answer_retries_restarts_or_restarts_with_context,
    |store| {
        let mut text = String::from(
            "version: 1
entries:
  - model: gatehouse_stages_prompt.promptstage
    id: first
    identifiers: {name: first}
    attrs: {fields: [{field_key: team, label: Team}]}
  - model: gatehouse_stages_prompt.promptstage
    id: second
    identifiers: {name: second}
    attrs: {fields: [{field_key: email, label: Email, type: email}]}
",
        );
        for action in ["retry", "restart", "restart_with_context"] {
            text.push_str(&format!(
                "  - model: gatehouse_flows.flow
    id: {action}
    identifiers: {{slug: {action}}}
    attrs: {{name: {action}, designation: enrollment}}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {{target: !KeyOf {action}, stage: !KeyOf first, order: 10}}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {{target: !KeyOf {action}, stage: !KeyOf second, order: 20}}
    attrs: {{invalid_response_action: {action}}}
"
            ));
        }
        apply_text(&store, "invalid.yaml", &text).await;
        // Answers the first prompt, then gives the second a bad address; returns what is
        // shown next and the prompt data the run then holds.
        let after_bad_answer = |slug: &'static str| {
            let store = &store;
            async move {
                let first = run(store, slug, None, None, &request()).await.unwrap();
                let key = first.effects.set_flow_key.unwrap();
                let team = answer(&[("team", "ops")]);
                run(store, slug, Some(&key), Some(&team), &request())
                    .await
                    .unwrap();
                let bad = answer(&[("email", "not-an-address")]);
                let shown = run(store, slug, Some(&key), Some(&bad), &request())
                    .await
                    .unwrap()
                    .challenge;
                let mut db = store.acquire().await.unwrap();
                let flow = crate::storage::flows::find_by_slug(&mut db, slug)
                    .await
                    .unwrap()
                    .unwrap();
                let session = flow_sessions::find_active(&mut db, &hash_key(&key), flow.id, t0())
                    .await
                    .unwrap()
                    .unwrap();
                let state: FlowState = serde_json::from_value(session.state).unwrap();
                (shown, state)
            }
        };
        let field_keys = |challenge: &Challenge| match challenge {
            Challenge::Prompt { fields, .. } => fields
                .iter()
                .map(|f| f.field_key.clone())
                .collect::<Vec<_>>(),
            other => panic!("{other:?}"),
        };

        let (shown, state) = after_bad_answer("retry").await;
        assert_eq!(field_keys(&shown), ["email"]);
        assert_eq!(state.position, 1);

        let (shown, state) = after_bad_answer("restart").await;
        assert_eq!(field_keys(&shown), ["team"]);
        assert_eq!(shown.first_error(), Some("Enter a valid email address."));
        assert_eq!((state.position, state.prompt_data.len()), (0, 0));
        assert_eq!(state.next.as_deref(), Some("/after"));

        let (shown, state) = after_bad_answer("restart_with_context").await;
        assert_eq!(field_keys(&shown), ["team"]);
        assert_eq!(state.position, 0);
        assert_eq!(state.prompt_data["team"], "ops");
    }
);

mod initial_setup;
mod policies;
