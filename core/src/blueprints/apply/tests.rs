use std::collections::BTreeMap;

use gatehouse_config::blueprint::parse;

use super::*;
use crate::secrets::{PasswordCost, verify_password};
use crate::storage::testing::{storage_test, t0};

/// Cheap argon2 so tests stay fast; the cost is a parameter like in production.
fn options() -> ApplyOptions {
    ApplyOptions {
        dry_run: false,
        write: WriteOptions {
            password_cost: PasswordCost {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
        },
    }
}

async fn run(store: &Store, file: &str, text: &str) -> Result<Report, ApplyError> {
    let env: BTreeMap<String, String> =
        [("ADMIN_EMAIL".to_owned(), "root@example.org".to_owned())].into();
    let blueprint = parse(file, text).unwrap().unwrap();
    apply(store, file, &blueprint, &env, options(), t0()).await
}

/// Everything stored, model by model, as blueprints see it.
async fn dump(store: &Store) -> BTreeMap<&'static str, Vec<Object>> {
    let mut tx = store.begin().await.unwrap();
    let mut out = BTreeMap::new();
    for model in Model::all() {
        let mut objects = model.list(&mut tx).await.unwrap();
        objects.sort_by(|a, b| a.id.cmp(&b.id));
        out.insert(model.name(), objects);
    }
    tx.rollback().await.unwrap();
    out
}

fn certificate() -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let cert = rcgen::CertificateParams::new(vec!["test.invalid".into()])
        .unwrap()
        .self_signed(&key)
        .unwrap();
    (cert.pem(), key.serialize_pem())
}

/// One object of every model, referring to each other the way a real setup does.
pub(crate) fn kitchen_sink() -> String {
    let (cert, key) = certificate();
    let indent = |pem: &str| pem.trim_end().replace('\n', "\n        ");
    format!(
        r#"version: 1
metadata:
  name: Kitchen sink
context:
  domain: example.org
entries:
  - model: gatehouse_crypto.certificatekeypair
    id: cert
    identifiers: {{name: signing}}
    attrs:
      certificate_data: |
        {cert}
      key_data: |
        {key}
  - model: gatehouse_flows.flow
    id: login
    identifiers: {{slug: login}}
    attrs: {{name: Login, title: Welcome, designation: authentication}}
  - model: gatehouse_flows.flow
    id: enroll
    identifiers: {{slug: enroll}}
    attrs: {{name: Enroll, designation: enrollment}}
  - model: gatehouse_stages_password.passwordstage
    id: password
    identifiers: {{name: login-password}}
    attrs: {{failed_attempts_before_cancel: 3}}
  - model: gatehouse_stages_identification.identificationstage
    id: ident
    identifiers: {{name: login-identification}}
    attrs:
      user_fields: [username, email]
      password_stage: !KeyOf password
      enrollment_flow: !KeyOf enroll
  - model: gatehouse_stages_user_login.userloginstage
    id: userlogin
    identifiers: {{name: login-session}}
    attrs: {{session_duration: "hours=12"}}
  - model: gatehouse_stages_user_logout.userlogoutstage
    identifiers: {{name: logout}}
  - model: gatehouse_stages_deny.denystage
    identifiers: {{name: deny}}
    attrs: {{deny_message: Not you}}
  - model: gatehouse_stages_consent.consentstage
    identifiers: {{name: consent}}
    attrs: {{mode: expiring, consent_expire_in: "days=7"}}
  - model: gatehouse_stages_redirect.redirectstage
    identifiers: {{name: to-enroll}}
    attrs: {{mode: flow, target_flow: !KeyOf enroll}}
  - model: gatehouse_stages_prompt.promptstage
    identifiers: {{name: profile}}
    attrs:
      fields:
        - {{field_key: email, label: Email, type: email}}
        - {{field_key: newsletter, label: Newsletter, type: checkbox, required: false}}
  - model: gatehouse_stages_user_write.userwritestage
    identifiers: {{name: write}}
    attrs: {{user_creation_mode: never_create}}
  - model: gatehouse_flows.flowstagebinding
    id: bind-ident
    identifiers: {{target: !KeyOf login, stage: !KeyOf ident, order: 10}}
  - model: gatehouse_flows.flowstagebinding
    identifiers: {{target: !KeyOf login, stage: !KeyOf userlogin, order: 20}}
    attrs: {{re_evaluate_policies: false}}
  - model: gatehouse_policies_expression.expressionpolicy
    id: internal-only
    identifiers: {{name: internal-only}}
    attrs: {{expression: 'request.ip.startsWith("10.")'}}
  - model: gatehouse_policies_password.passwordpolicy
    identifiers: {{name: strong}}
    attrs: {{length_min: 12, forbidden_passwords: [password1]}}
  - model: gatehouse_policies_reputation.reputationpolicy
    identifiers: {{name: reputation}}
  - model: gatehouse_policies_expiry.passwordexpirypolicy
    identifiers: {{name: expiry}}
    attrs: {{days: 180}}
  - model: gatehouse_policies_setup.setuppolicy
    identifiers: {{name: setup-open}}
  - model: gatehouse_providers_oauth2.scopemapping
    id: gitea-scope
    identifiers: {{name: gitea}}
    attrs:
      scope_name: gitea
      expression: '{{"gitea": "admin" in user.groups ? "admin" : "user"}}'
  - model: gatehouse_providers_oauth2.oauth2provider
    id: gitea-provider
    identifiers: {{name: gitea}}
    attrs:
      client_id: gitea
      client_secret: s3cret
      redirect_uris:
        - url: !Format ["https://git.%s/user/oauth2/gatehouse/callback", !Context domain]
      signing_key: !KeyOf cert
      property_mappings: [!KeyOf gitea-scope]
      authorization_flow: !KeyOf login
      access_token_validity: "hours=1;minutes=30"
  - model: gatehouse_providers_proxy.proxyprovider
    id: prometheus-provider
    identifiers: {{name: prometheus}}
    attrs:
      mode: forward_single
      external_host: https://prometheus.example.org
  - model: gatehouse_core.application
    id: gitea
    identifiers: {{slug: gitea}}
    attrs: {{name: Gitea, provider: !KeyOf gitea-provider, meta_launch_url: "https://git.example.org"}}
  - model: gatehouse_core.application
    id: prometheus
    identifiers: {{slug: prometheus}}
    attrs: {{name: Prometheus, provider: !KeyOf prometheus-provider, policy_engine_mode: all}}
  - model: gatehouse_core.group
    id: admins
    identifiers: {{name: Admins}}
    attrs: {{is_superuser: true, attributes: {{team: ops}}}}
  - model: gatehouse_core.group
    id: users
    identifiers: {{name: Users}}
    attrs: {{parent: !KeyOf admins}}
  - model: gatehouse_core.user
    id: alice
    identifiers: {{username: alice}}
    attrs:
      name: Alice
      email: !Env ADMIN_EMAIL
      password: correct horse battery staple
      groups: [!KeyOf admins]
  - model: gatehouse_core.user
    id: bot
    identifiers: {{username: bot}}
    attrs: {{type: service_account, groups: [!KeyOf users]}}
  - model: gatehouse_policies.policybinding
    identifiers: {{target: !KeyOf prometheus, group: !KeyOf admins, order: 0}}
  - model: gatehouse_policies.policybinding
    identifiers: {{target: !KeyOf bind-ident, policy: !KeyOf internal-only, order: 0}}
    attrs: {{negate: true, timeout: 5}}
  - model: gatehouse_policies.policybinding
    identifiers: {{target: !KeyOf login, user: !KeyOf alice, order: 5}}
  - model: gatehouse_core.token
    identifiers: {{identifier: bot-api}}
    attrs: {{user: !KeyOf bot, key: !Env [BOT_TOKEN, not-a-real-token], expires: "2027-01-01T00:00:00Z"}}
  - model: gatehouse_brands.brand
    identifiers: {{domain: example.org}}
    attrs: {{default: true, branding_title: Example, flow_authentication: !KeyOf login}}
  - model: gatehouse_outposts.outpost
    identifiers: {{name: edge}}
    attrs: {{providers: [!KeyOf prometheus-provider], token: outpost-token, config: {{log_level: debug}}}}
"#,
        cert = indent(&cert),
        key = indent(&key),
    )
}

storage_test!(
    every_model_applies_and_a_second_apply_changes_nothing,
    |store| {
        let text = kitchen_sink();
        let first = run(&store, "sink.yaml", &text).await.unwrap();
        assert!(
            first.changes.iter().all(|c| c.action == Action::Created),
            "{:#?}",
            first.changes
        );
        assert_eq!(first.changes.len(), 34);
        let before = dump(&store).await;
        assert!(
            before.values().all(|objects| !objects.is_empty()),
            "a model got nothing: {before:#?}"
        );
        let second = run(&store, "sink.yaml", &text).await.unwrap();
        assert!(!second.wrote_anything(), "{:#?}", second.changes);
        assert_eq!(dump(&store).await, before);
    }
);

storage_test!(secrets_are_hashed_and_references_resolved, |store| {
    run(&store, "sink.yaml", &kitchen_sink()).await.unwrap();
    let mut db = store.acquire().await.unwrap();
    let alice = crate::storage::users::find_by_username(&mut db, "alice")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(alice.email, "root@example.org");
    let hash = alice.password_hash.unwrap();
    assert!(verify_password("correct horse battery staple", &hash));
    let groups = crate::storage::groups::groups_of_user_with_ancestors(&mut db, alice.id)
        .await
        .unwrap();
    assert_eq!(groups.len(), 1);
    assert!(groups[0].is_superuser);
    let token = crate::storage::tokens::find_by_identifier(&mut db, "bot-api")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(token.key_hash, crate::secrets::hash_key("not-a-real-token"));
    let outpost = crate::storage::outposts::find_by_name(&mut db, "edge")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        outpost.token_hash,
        crate::secrets::hash_key("outpost-token")
    );
    let provider = crate::storage::providers::find_by_name(&mut db, "gitea")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        provider.settings["redirect_uris"][0]["url"],
        "https://git.example.org/user/oauth2/gatehouse/callback"
    );
    let cert = crate::storage::certificates::find_by_name(&mut db, "signing")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(provider.settings["signing_key"], cert.id.to_string());
});

storage_test!(changing_one_attr_changes_only_that_object, |store| {
    let text = kitchen_sink();
    run(&store, "sink.yaml", &text).await.unwrap();
    let before = dump(&store).await;
    let edited = text.replace("deny_message: Not you", "deny_message: Go away");
    let report = run(&store, "sink.yaml", &edited).await.unwrap();
    let written: Vec<_> = report
        .changes
        .iter()
        .filter(|c| c.action != Action::Unchanged)
        .collect();
    assert_eq!(written.len(), 1, "{written:#?}");
    assert_eq!(written[0].model, "gatehouse_stages_deny.denystage");
    assert_eq!(
        written[0].action,
        Action::Updated(vec!["deny_message".into()])
    );
    let after = dump(&store).await;
    for (model, objects) in &after {
        if *model != "gatehouse_stages_deny.denystage" {
            assert_eq!(Some(objects), before.get(model), "{model} changed");
        }
    }
    assert_eq!(
        after["gatehouse_stages_deny.denystage"][0].fields["deny_message"],
        "Go away"
    );
});

storage_test!(a_new_password_is_rehashed_the_same_one_is_not, |store| {
    let user = |password: &str| {
        format!(
            "version: 1\nentries:\n  - model: gatehouse_core.user\n    identifiers: {{username: bob}}\n    attrs: {{password: {password}}}\n"
        )
    };
    run(&store, "u.yaml", &user("first-pass")).await.unwrap();
    let again = run(&store, "u.yaml", &user("first-pass")).await.unwrap();
    assert_eq!(again.changes[0].action, Action::Unchanged);
    let changed = run(&store, "u.yaml", &user("second-pass")).await.unwrap();
    assert_eq!(
        changed.changes[0].action,
        Action::Updated(vec!["password_hash".into()])
    );
    let mut db = store.acquire().await.unwrap();
    let bob = crate::storage::users::find_by_username(&mut db, "bob")
        .await
        .unwrap()
        .unwrap();
    assert!(verify_password(
        "second-pass",
        bob.password_hash.as_deref().unwrap()
    ));
});

storage_test!(state_absent_deletes_and_created_never_updates, |store| {
    run(&store, "sink.yaml", &kitchen_sink()).await.unwrap();
    let text = "version: 1
entries:
  - model: gatehouse_core.group
    identifiers: {name: Users}
    state: absent
  - model: gatehouse_flows.flow
    identifiers: {slug: login}
    state: created
    attrs: {name: Renamed, designation: authentication}
  - model: gatehouse_core.group
    identifiers: {name: Nobody}
    state: absent
";
    let report = run(&store, "b.yaml", text).await.unwrap();
    let actions: Vec<_> = report.changes.iter().map(|c| c.action.clone()).collect();
    assert_eq!(
        actions,
        [Action::Deleted, Action::Unchanged, Action::AlreadyAbsent]
    );
    let mut db = store.acquire().await.unwrap();
    assert!(
        crate::storage::groups::find_by_name(&mut db, "Users")
            .await
            .unwrap()
            .is_none()
    );
    let flow = crate::storage::flows::find_by_slug(&mut db, "login")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(flow.name, "Login");
});

storage_test!(find_and_conditions, |store| {
    run(&store, "sink.yaml", &kitchen_sink()).await.unwrap();
    let text = "version: 1
context:
  enabled: false
entries:
  - model: gatehouse_core.user
    identifiers: {username: carol}
    attrs:
      groups: [!Find [gatehouse_core.group, [name, Admins]]]
  - model: gatehouse_core.user
    identifiers: {username: dave}
    conditions: [!Context enabled]
  - model: gatehouse_core.user
    identifiers: {username: erin}
    conditions: [!Condition [NOR, !Context enabled, false]]
";
    let report = run(&store, "c.yaml", text).await.unwrap();
    let actions: Vec<_> = report.changes.iter().map(|c| c.action.clone()).collect();
    assert_eq!(actions, [Action::Created, Action::Skipped, Action::Created]);
    let mut db = store.acquire().await.unwrap();
    let carol = crate::storage::users::find_by_username(&mut db, "carol")
        .await
        .unwrap()
        .unwrap();
    let groups = crate::storage::groups::groups_of_user(&mut db, carol.id)
        .await
        .unwrap();
    assert_eq!(groups[0].name, "Admins");
    assert!(
        crate::storage::users::find_by_username(&mut db, "dave")
            .await
            .unwrap()
            .is_none()
    );
});

/// Each broken blueprint: the message it must give, and where.
const BROKEN: &[(&str, &str, &str)] = &[
    (
        "unknown model",
        "  - model: gatehouse_core.usr\n    identifiers: {username: x}\n",
        "bad.yaml:5:5: entry 1: unknown model \"gatehouse_core.usr\"",
    ),
    (
        "unknown field",
        "  - model: gatehouse_core.user\n    identifiers: {username: x}\n    attrs:\n      nmae: X\n",
        "bad.yaml:8:13: entry 1: unknown field `nmae`",
    ),
    (
        "wrong type",
        "  - model: gatehouse_core.user\n    identifiers: {username: x}\n    attrs:\n      is_active: maybe\n",
        "bad.yaml:8:18: entry 1: is_active: invalid type: string \"maybe\", expected a boolean",
    ),
    (
        "dangling KeyOf",
        "  - model: gatehouse_core.user\n    identifiers: {username: x}\n    attrs:\n      groups: [!KeyOf nowhere]\n",
        "bad.yaml:8:16: entry 1: !KeyOf nowhere: no entry has `id: nowhere`",
    ),
    (
        "Find without match",
        "  - model: gatehouse_core.user\n    identifiers: {username: x}\n    attrs:\n      groups: [!Find [gatehouse_core.group, [name, Nobody]]]\n",
        "bad.yaml:8:16: entry 1: !Find gatehouse_core.group: nothing matches",
    ),
    (
        "cycle",
        "  - model: gatehouse_core.group\n    id: a\n    identifiers: {name: A}\n    attrs: {parent: !KeyOf b}\n  - model: gatehouse_core.group\n    id: b\n    identifiers: {name: B}\n    attrs: {parent: !KeyOf a}\n",
        "bad.yaml:8:21: entry 1: cyclic reference: entry 1 (a) → entry 2 (b) → entry 1 (a)",
    ),
    (
        "name taken",
        "  - model: gatehouse_core.user\n    identifiers: {email: someone@example.org}\n    attrs: {username: alice}\n",
        "bad.yaml:5:5: entry 1: already exists",
    ),
    (
        "Find in identifiers",
        "  - model: gatehouse_flows.flow\n    identifiers: {slug: other}\n    attrs: {name: X, designation: authentication}\n  - model: gatehouse_flows.flowstagebinding\n    identifiers: {target: !Find [gatehouse_flows.flow, [slug, other]], stage: !Find [gatehouse_stages_deny.denystage, [name, nope]], order: 1}\n",
        "bad.yaml:9:79: entry 2: !Find gatehouse_stages_deny.denystage: nothing matches",
    ),
];

storage_test!(
    a_broken_blueprint_writes_nothing_and_names_file_and_line,
    |store| {
        run(&store, "sink.yaml", &kitchen_sink()).await.unwrap();
        let before = dump(&store).await;
        for (what, entry, expected) in BROKEN {
            // A valid entry first: it must be rolled back with the rest.
            let text = format!(
                "version: 1\nentries:\n  - model: gatehouse_core.group\n    identifiers: {{name: Fresh}}\n{entry}"
            );
            let err = run(&store, "bad.yaml", &text).await.unwrap_err();
            let message = err.to_string();
            assert!(
                message.starts_with(expected),
                "{what}: got {message:?}, expected {expected:?}"
            );
            assert!(matches!(err, ApplyError::Invalid(_)), "{what}");
            assert_eq!(dump(&store).await, before, "{what} left writes behind");
        }
    }
);

storage_test!(a_dry_run_reports_and_writes_nothing, |store| {
    let env: BTreeMap<String, String> = BTreeMap::new();
    let text = kitchen_sink().replace("!Env ADMIN_EMAIL", "alice@example.org");
    let blueprint = parse("sink.yaml", &text).unwrap().unwrap();
    let before = dump(&store).await;
    let dry = ApplyOptions {
        dry_run: true,
        ..options()
    };
    let report = apply(&store, "sink.yaml", &blueprint, &env, dry, t0())
        .await
        .unwrap();
    assert!(report.wrote_anything());
    assert_eq!(
        report.summary(),
        "34 created, 0 updated, 0 deleted, 0 unchanged"
    );
    assert_eq!(dump(&store).await, before);
});

#[test]
fn entries_run_after_the_entries_they_refer_to() {
    let text = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: u}
    attrs: {groups: [!KeyOf g]}
  - model: gatehouse_core.group
    id: g
    identifiers: {name: G}
    attrs: {parent: !KeyOf p}
  - model: gatehouse_core.group
    id: p
    identifiers: {name: P}
";
    let blueprint = parse("o.yaml", text).unwrap().unwrap();
    assert_eq!(
        dependency_order("o.yaml", &blueprint.entries).unwrap(),
        [2, 1, 0]
    );
}

/// The shipped defaults and the examples in `config/blueprints/`, in file order.
fn shipped_and_examples() -> Vec<(String, String)> {
    let mut files: Vec<(String, String)> = gatehouse_config::blueprint::shipped::SHIPPED
        .iter()
        .map(|(path, text)| ((*path).to_owned(), (*text).to_owned()))
        .collect();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../config/blueprints/examples");
    // groups.yaml first: the others find its groups.
    for name in ["groups.yaml", "gitea.yaml", "prometheus.yaml"] {
        let path = format!("{dir}/{name}");
        files.push((name.to_owned(), std::fs::read_to_string(path).unwrap()));
    }
    let listed = std::fs::read_dir(dir).unwrap().count();
    assert_eq!(listed, 3, "a new example must be added to this test");
    files
}

storage_test!(
    shipped_defaults_and_examples_apply_and_reapply_unchanged,
    |store| {
        for (file, text) in shipped_and_examples() {
            let report = run(&store, &file, &text)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
            assert!(report.wrote_anything(), "{file}");
        }
        for (file, text) in shipped_and_examples() {
            let report = run(&store, &file, &text).await.unwrap();
            assert!(!report.wrote_anything(), "{file}: {:#?}", report.changes);
        }
        let mut db = store.acquire().await.unwrap();
        let brand = crate::storage::brands::find_default(&mut db)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(brand.title, "Gatehouse");
        let app = crate::storage::applications::find_by_slug(&mut db, "prometheus")
            .await
            .unwrap()
            .unwrap();
        let bindings = crate::storage::policies::bindings_of_target(
            &mut db,
            crate::storage::policies::BindingTarget::Application(app.id),
        )
        .await
        .unwrap();
        assert_eq!(bindings.len(), 1);
    }
);

#[test]
fn the_readme_lists_every_model_and_no_other() {
    let readme = include_str!("../../../../README.md");
    let mut documented: Vec<&str> = readme
        .lines()
        .filter_map(|line| line.strip_prefix("| `gatehouse_"))
        .filter_map(|rest| rest.split('`').next())
        .collect();
    documented.sort_unstable();
    let documented: Vec<String> = documented
        .iter()
        .map(|m| format!("gatehouse_{m}"))
        .collect();
    let mut models: Vec<String> = Model::all().iter().map(|m| m.name().to_owned()).collect();
    models.sort();
    assert_eq!(documented, models);
}

storage_test!(
    entries_without_identifiers_are_found_by_natural_key,
    |store| {
        let text = "version: 1
entries:
  - model: gatehouse_core.group
    attrs: {name: Plain, is_superuser: false}
";
        let first = run(&store, "p.yaml", text).await.unwrap();
        assert_eq!(first.changes[0].action, Action::Created);
        let again = run(&store, "p.yaml", text).await.unwrap();
        assert_eq!(again.changes[0].action, Action::Unchanged);
        let changed = run(&store, "p.yaml", &text.replace("false", "true"))
            .await
            .unwrap();
        assert_eq!(
            changed.changes[0].action,
            Action::Updated(vec!["is_superuser".into()])
        );
    }
);

storage_test!(secret_values_stay_out_of_error_messages, |store| {
    let text = "version: 1
entries:
  - model: gatehouse_core.user
    identifiers: {username: leaky}
    attrs: {password: 918273645}
";
    let err = run(&store, "s.yaml", text).await.unwrap_err().to_string();
    assert!(
        err.starts_with("s.yaml:5:23: entry 0: password: invalid value"),
        "{err}"
    );
    assert!(!err.contains("918273645"), "{err}");
});

storage_test!(
    two_replicas_applying_the_same_blueprint_at_once_both_succeed,
    |store| {
        let text = kitchen_sink();
        let (a, b) = tokio::join!(
            run(&store, "sink.yaml", &text),
            run(&store, "sink.yaml", &text)
        );
        let (a, b) = (a.unwrap(), b.unwrap());
        // One made everything; the other found it made.
        assert_ne!(a.wrote_anything(), b.wrote_anything());
    }
);

storage_test!(
    ids_in_capitals_pk_nul_and_dangling_settings_references,
    |store| {
        run(&store, "sink.yaml", &kitchen_sink()).await.unwrap();
        let mut db = store.acquire().await.unwrap();
        let admins = crate::storage::groups::find_by_name(&mut db, "Admins")
            .await
            .unwrap()
            .unwrap();
        drop(db);
        let upper = admins.id.to_string().to_uppercase();
        let text = format!(
            "version: 1\nentries:\n  - model: gatehouse_core.group\n    identifiers: {{pk: \"{upper}\"}}\n    attrs: {{is_superuser: true}}\n"
        );
        let report = run(&store, "u.yaml", &text).await.unwrap();
        assert_eq!(report.changes[0].action, Action::Unchanged);

        let missing = "version: 1\nentries:\n  - model: gatehouse_core.group\n    identifiers: {pk: 3b0c1f6e-2f7e-4c3e-9a39-0d6f8a3c1e11}\n    attrs: {name: Ghost}\n";
        let err = run(&store, "pk.yaml", missing)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("pk.yaml:4:23: entry 0: pk \"3b0c1f6e"),
            "{err}"
        );

        let nul = "version: 1\nentries:\n  - model: gatehouse_core.group\n    identifiers: {name: \"a\\0b\"}\n";
        let err = run(&store, "nul.yaml", nul).await.unwrap_err().to_string();
        assert!(
            err.contains("nul.yaml:4:25: entry 0: text cannot contain the NUL character"),
            "{err}"
        );

        let dangling = "version: 1\nentries:\n  - model: gatehouse_stages_identification.identificationstage\n    identifiers: {name: lost}\n    attrs:\n      password_stage: 3b0c1f6e-2f7e-4c3e-9a39-0d6f8a3c1e11\n";
        let err = run(&store, "d.yaml", dangling)
            .await
            .unwrap_err()
            .to_string();
        assert!(
        err.starts_with("d.yaml:6:23: entry 0: password_stage: 3b0c1f6e-2f7e-4c3e-9a39-0d6f8a3c1e11 is not a stored object"),
        "{err}"
    );
        let named = dangling.replace("3b0c1f6e-2f7e-4c3e-9a39-0d6f8a3c1e11", "login-password");
        let err = run(&store, "n.yaml", &named).await.unwrap_err().to_string();
        assert!(
            err.starts_with("n.yaml:6:23: entry 0: password_stage: "),
            "{err}"
        );
    }
);
