//! Code exchange and refresh: replays, PKCE, expiry, client secrets, rotation.

use super::*;

storage_test!(a_replayed_code_is_refused_and_revokes_its_tokens, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email offline_access"),
    )
    .await;
    let exchange = code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER));
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let refresh = tokens.refresh_token.clone().unwrap();
    assert!(
        userinfo(&store, &caches, &tokens.access_token, t0())
            .await
            .is_ok()
    );
    let again = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await;
    assert!(
        matches!(again, Err(OAuthError::InvalidGrant(_))),
        "{again:?}"
    );
    assert_eq!(
        userinfo(&store, &caches, &tokens.access_token, t0()).await,
        Err(OAuthError::InvalidToken)
    );
    let introspected = introspect(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &refresh,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(introspected, json!({"active": false}));
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &refresh_params(&refresh),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
});

storage_test!(a_missing_or_wrong_pkce_verifier_is_refused, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    let code = &answer["code"];
    let wrong = "another-verifier-of-the-right-length-0123456789-abcdef";
    for verifier in [None, Some(wrong), Some("short")] {
        let refused = token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(code, "https://rp.test/cb", verifier),
            BASE,
            t0(),
        )
        .await;
        assert!(
            matches!(refused, Err(OAuthError::InvalidGrant(_))),
            "{verifier:?}: {refused:?}"
        );
    }
    // A redirect_uri other than the request's is refused too.
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(code, "https://rp.test/re/other", Some(VERIFIER)),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    // A code requested without a challenge takes no verifier.
    let mut bare = params("rp", "https://rp.test/cb", "openid");
    bare.code_challenge = None;
    bare.code_challenge_method = None;
    let answer = authorize_code(&store, ada, &session, &bare).await;
    assert!(matches!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
            BASE,
            t0()
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    assert!(
        token(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &code_params(&answer["code"], "https://rp.test/cb", None),
            BASE,
            t0()
        )
        .await
        .is_ok()
    );
});

storage_test!(an_expired_code_is_refused, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    // The provider keeps codes for a minute (the default `access_code_validity`).
    let later = t0() + time::Duration::seconds(61);
    let refused = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        later,
    )
    .await;
    assert_eq!(
        refused.unwrap_err(),
        OAuthError::InvalidGrant("The code has expired.".into())
    );
});

storage_test!(a_wrong_client_secret_is_refused_everywhere, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid"),
    )
    .await;
    let exchange = code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER));
    for bad in [
        auth("rp", "rp-secret-rp-secret-rp-secreT"),
        auth("rp", ""),
        ClientAuth {
            client_id: Some("rp".into()),
            client_secret: None,
        },
        auth("gitea", GITEA_SECRET),
        auth("nobody", RP_SECRET),
    ] {
        let refused = token(&store, &caches, &bad, &exchange, BASE, t0()).await;
        assert!(
            matches!(
                refused,
                Err(OAuthError::InvalidClient | OAuthError::InvalidGrant(_))
            ),
            "{bad:?}: {refused:?}"
        );
    }
    // The right secret still works: the refusals consumed nothing.
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &exchange,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let bad = auth("rp", "wrong");
    assert_eq!(
        introspect(&store, &caches, &bad, &tokens.access_token, BASE, t0()).await,
        Err(OAuthError::InvalidClient)
    );
    assert_eq!(
        revoke(&store, &caches, &bad, &tokens.access_token, t0()).await,
        Err(OAuthError::InvalidClient)
    );
    // Another client learns nothing about the token and cannot revoke it.
    let other = auth("gitea", GITEA_SECRET);
    assert_eq!(
        introspect(&store, &caches, &other, &tokens.access_token, BASE, t0())
            .await
            .unwrap(),
        json!({"active": false})
    );
    revoke(&store, &caches, &other, &tokens.access_token, t0())
        .await
        .unwrap();
    let mine = introspect(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &tokens.access_token,
        BASE,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(mine["active"], true);
    assert_eq!(mine["username"], "ada");
    assert_eq!(mine["client_id"], "rp");
    // Its own client can.
    revoke(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &tokens.access_token,
        t0(),
    )
    .await
    .unwrap();
    assert_eq!(
        introspect(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &tokens.access_token,
            BASE,
            t0()
        )
        .await
        .unwrap(),
        json!({"active": false})
    );
});

storage_test!(a_reused_refresh_token_revokes_its_grant, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email offline_access"),
    )
    .await;
    let rp = auth("rp", RP_SECRET);
    let first = token(
        &store,
        &caches,
        &rp,
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let later = t0() + time::Duration::seconds(30);
    let second = token(
        &store,
        &caches,
        &rp,
        &refresh_params(first.refresh_token.as_deref().unwrap()),
        BASE,
        later,
    )
    .await
    .unwrap();
    assert_ne!(second.refresh_token, first.refresh_token, "rotated");
    assert!(second.id_token.is_some());
    assert!(
        payload(second.id_token.as_deref().unwrap())
            .get("nonce")
            .is_none()
    );
    assert!(
        userinfo(&store, &caches, &second.access_token, later)
            .await
            .is_ok()
    );
    // Narrowing the scope is allowed, widening it is not.
    let mut wider = refresh_params(second.refresh_token.as_deref().unwrap());
    wider.scope = Some("openid profile".into());
    assert!(matches!(
        token(&store, &caches, &rp, &wider, BASE, later).await,
        Err(OAuthError::InvalidScope(_))
    ));

    // The first refresh token comes back: somebody kept a copy.
    let reused = token(
        &store,
        &caches,
        &rp,
        &refresh_params(first.refresh_token.as_deref().unwrap()),
        BASE,
        later,
    )
    .await;
    assert!(
        matches!(reused, Err(OAuthError::InvalidGrant(_))),
        "{reused:?}"
    );
    // Every token of the grant is revoked: the current refresh token and both access
    // tokens.
    assert!(matches!(
        token(
            &store,
            &caches,
            &rp,
            &refresh_params(second.refresh_token.as_deref().unwrap()),
            BASE,
            later
        )
        .await,
        Err(OAuthError::InvalidGrant(_))
    ));
    for access in [&first.access_token, &second.access_token] {
        assert_eq!(
            userinfo(&store, &caches, access, later).await,
            Err(OAuthError::InvalidToken)
        );
    }
});
