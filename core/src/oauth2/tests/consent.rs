//! Consent stages: asked once, asked again when expired or forced.

use super::*;

storage_test!(a_permanent_consent_is_asked_once, |store| {
    let (ada, session) = setup(&store).await;
    let mut ask = params("asking", "https://asking.test/cb", "openid email");
    ask.code_challenge = None;
    ask.code_challenge_method = None;
    let validated = {
        let mut db = store.acquire().await.unwrap();
        validate(&mut db, &ask, BASE).await.unwrap()
    };
    let req = request(ada, &session, t0());
    let outcome = executor::authorize(&store, "ask-once", validated.pending.clone(), &req)
        .await
        .unwrap();
    let Challenge::Consent {
        header_text,
        permissions,
        ..
    } = &outcome.challenge
    else {
        panic!("{:?}", outcome.challenge);
    };
    assert!(header_text.contains("Asking App"), "{header_text}");
    assert_eq!(permissions.len(), 1);
    assert_eq!(permissions[0].name, "Your email address");
    // Agreeing (on the flow's page) ends the flow with the code.
    let key = outcome.effects.set_flow_key.clone().unwrap();
    let yes = serde_json::Map::from_iter([("consent".to_owned(), json!("yes"))]);
    let agreed = executor::run(&store, "ask-once", Some(&key), Some(&yes), &req)
        .await
        .unwrap();
    let Challenge::Redirect { to } = agreed.challenge else {
        panic!("{:?}", agreed.challenge);
    };
    assert!(query_of(&to).contains_key("code"), "{to}");
    // The next time, nothing is asked; prompt=consent asks again.
    let again = executor::authorize(&store, "ask-once", validated.pending.clone(), &req)
        .await
        .unwrap();
    assert!(matches!(again.challenge, Challenge::Redirect { .. }));
    let mut forced = validated.pending.clone();
    forced.force_consent = true;
    let asked = executor::authorize(&store, "ask-once", forced, &req)
        .await
        .unwrap();
    assert!(matches!(asked.challenge, Challenge::Consent { .. }));
});

storage_test!(an_expiring_consent_is_asked_again_once_it_lapses, |store| {
    let (ada, session) = setup(&store).await;
    apply_text(
        &store,
        "expiring.yaml",
        "version: 1
entries:
  - model: gatehouse_stages_consent.consentstage
    identifiers: {name: consent-once}
    attrs: {mode: expiring, consent_expire_in: days=1}
",
    )
    .await;
    let mut ask = params("asking", "https://asking.test/cb", "openid email");
    ask.code_challenge = None;
    ask.code_challenge_method = None;
    let pending = {
        let mut db = store.acquire().await.unwrap();
        validate(&mut db, &ask, BASE).await.unwrap().pending
    };
    let at = |hours: i64| request(ada, &session, t0() + time::Duration::hours(hours));
    let first = executor::authorize(&store, "ask-once", pending.clone(), &at(0))
        .await
        .unwrap();
    assert!(matches!(first.challenge, Challenge::Consent { .. }));
    let key = first.effects.set_flow_key.clone().unwrap();
    let yes = serde_json::Map::from_iter([("consent".to_owned(), json!("yes"))]);
    executor::run(&store, "ask-once", Some(&key), Some(&yes), &at(0))
        .await
        .unwrap();
    let within = executor::authorize(&store, "ask-once", pending.clone(), &at(2))
        .await
        .unwrap();
    assert!(matches!(within.challenge, Challenge::Redirect { .. }));
    let lapsed = executor::authorize(&store, "ask-once", pending, &at(25))
        .await
        .unwrap();
    assert!(matches!(lapsed.challenge, Challenge::Consent { .. }));
});
