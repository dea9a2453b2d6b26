//! The shipped initial-setup flow, and the README's way around it.

use super::*;

storage_test!(initial_setup_sets_akadmin_once_and_then_closes, |store| {
    for (file, text) in gatehouse_config::blueprint::shipped::SHIPPED {
        apply_text(&store, file, text).await;
    }
    assert!(crate::flows::initial_setup_open(&store).await.unwrap());
    let slug = crate::flows::INITIAL_SETUP_SLUG;
    let start = || async {
        let first = run(&store, slug, None, None, &request()).await.unwrap();
        assert!(
            matches!(first.challenge, Challenge::Prompt { .. }),
            "{:?}",
            first.challenge
        );
        first.effects.set_flow_key.unwrap()
    };
    // Two people open the page before either answers.
    let (mine, late) = (start().await, start().await);
    let form = |password: &str| {
        answer(&[
            ("email", "admin@example.org"),
            ("password", password),
            ("password_repeat", password),
        ])
    };
    // The administrator's password must not be a weak one.
    let weak = run(
        &store,
        slug,
        Some(&mine),
        Some(&form("password1")),
        &request(),
    )
    .await
    .unwrap();
    assert_eq!(
        weak.challenge.first_error(),
        Some("Use at least 10 characters.")
    );
    let done = run(
        &store,
        slug,
        Some(&mine),
        Some(&form("first-password")),
        &request(),
    )
    .await
    .unwrap();
    assert_eq!(
        done.challenge,
        Challenge::Redirect {
            to: "/after".into()
        }
    );
    let (key, _) = done.effects.login.clone().unwrap();
    let mut db = store.acquire().await.unwrap();
    let session = sessions::find_active_by_key_hash(&mut db, &hash_key(&key), t0())
        .await
        .unwrap()
        .unwrap();
    let akadmin = crate::storage::users::find_by_username(&mut db, "akadmin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(session.user_id, akadmin.id);
    assert_eq!(akadmin.email, "admin@example.org");
    let hash = akadmin.password_hash.clone().unwrap();
    assert!(crate::secrets::verify_password("first-password", &hash));
    drop(db);
    assert!(!crate::flows::initial_setup_open(&store).await.unwrap());

    // The page opened earlier writes nothing and signs nobody in.
    let late = run(
        &store,
        slug,
        Some(&late),
        Some(&form("second-password")),
        &request(),
    )
    .await
    .unwrap();
    assert!(late.effects.login.is_none(), "{late:?}");
    let mut db = store.acquire().await.unwrap();
    let after = crate::storage::users::find_by_username(&mut db, "akadmin")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(after.password_hash.as_deref(), Some(hash.as_str()));
    drop(db);
    // A fresh visit is refused with the policy's message.
    let again = run(&store, slug, None, None, &request()).await.unwrap();
    let Challenge::AccessDenied { error_message, .. } = &again.challenge else {
        panic!("{:?}", again.challenge)
    };
    assert!(
        error_message.contains("Initial setup is done"),
        "{error_message}"
    );
    // akadmin signs in through the shipped sign-in flow with the new password.
    let first = run(
        &store,
        "default-authentication-flow",
        None,
        None,
        &request(),
    )
    .await
    .unwrap();
    let key = first.effects.set_flow_key.unwrap();
    let creds = answer(&[("uid_field", "akadmin"), ("password", "first-password")]);
    let signed_in = run(
        &store,
        "default-authentication-flow",
        Some(&key),
        Some(&creds),
        &request(),
    )
    .await
    .unwrap();
    // The shipped flow offers "stay signed in"; answer without ticking it.
    assert!(
        matches!(signed_in.challenge, Challenge::UserLogin { .. }),
        "{signed_in:?}"
    );
    let signed_in = run(
        &store,
        "default-authentication-flow",
        Some(&key),
        Some(&Map::new()),
        &request(),
    )
    .await
    .unwrap();
    assert!(signed_in.effects.login.is_some(), "{signed_in:?}");
});

storage_test!(the_readme_admin_blueprint_closes_initial_setup, |store| {
    for (file, text) in gatehouse_config::blueprint::shipped::SHIPPED {
        apply_text(&store, file, text).await;
    }
    let readme = include_str!("../../../../../README.md");
    let start = readme
        .find("cat > blueprints/admin.yaml <<'EOF'\n")
        .unwrap();
    let text = readme[start..].split_once('\n').unwrap().1;
    let text = text.split_once("\nEOF").unwrap().0;
    let blueprint = parse("admin.yaml", text).unwrap().unwrap();
    let env = BTreeMap::from([("ADMIN_PASSWORD".to_owned(), "from-the-env".to_owned())]);
    let options = ApplyOptions {
        dry_run: false,
        write: WriteOptions {
            password_cost: CHEAP,
        },
    };
    assert!(crate::flows::initial_setup_open(&store).await.unwrap());
    apply(&store, "admin.yaml", &blueprint, &env, options, t0())
        .await
        .unwrap();
    assert!(!crate::flows::initial_setup_open(&store).await.unwrap());
});
