//! The client-credentials and device-code grants.

use super::*;

storage_test!(
    client_credentials_act_as_the_clients_service_account,
    |store| {
        let caches = Caches::default();
        setup(&store).await;
        let params = TokenParams {
            grant_type: Some("client_credentials".into()),
            scope: Some("openid email offline_access".into()),
            ..TokenParams::default()
        };
        let tokens = token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0())
            .await
            .unwrap();
        assert!(tokens.refresh_token.is_none());
        assert!(tokens.id_token.is_none());
        assert_eq!(tokens.scope, "email");
        let seen = introspect(
            &store,
            &caches,
            &auth("rp", RP_SECRET),
            &tokens.access_token,
            BASE,
            t0(),
        )
        .await
        .unwrap();
        assert_eq!(seen["username"], service_account_name("rp"));
        // The same account the next time.
        token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0())
            .await
            .unwrap();
        let mut db = store.acquire().await.unwrap();
        let account = users::find_by_username(&mut db, &service_account_name("rp"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(account.user_type, users::UserType::InternalServiceAccount);
        drop(db);
        // A public client has no secret to prove itself with; a wrong secret fails.
        let public = ClientAuth {
            client_id: Some("spa".into()),
            client_secret: None,
        };
        assert!(matches!(
            token(&store, &caches, &public, &params, BASE, t0()).await,
            Err(OAuthError::UnauthorizedClient(_))
        ));
        assert_eq!(
            token(&store, &caches, &auth("rp", "nope"), &params, BASE, t0())
                .await
                .unwrap_err(),
            OAuthError::InvalidClient
        );
        // The application's bindings apply to the service account like to anyone.
        apply_text(
            &store,
            "bind.yaml",
            "version: 1
entries:
  - model: gatehouse_policies.policybinding
    identifiers:
      target: !Find [gatehouse_core.application, [slug, rp]]
      group: !Find [gatehouse_core.group, [name, Admins]]
      order: 0
",
        )
        .await;
        assert!(matches!(
            token(&store, &caches, &auth("rp", RP_SECRET), &params, BASE, t0()).await,
            Err(OAuthError::InvalidGrant(_))
        ));
    }
);

storage_test!(
    a_device_polls_until_its_user_approves_then_gets_tokens_once,
    |store| {
        let caches = Caches::default();
        let (ada, session) = setup(&store).await;
        let rp = auth("rp", RP_SECRET);
        let started =
            device::device_authorize(&store, &caches, &rp, Some("openid email"), BASE, t0())
                .await
                .unwrap();
        assert_eq!(started.verification_uri, "https://id.test/if/device/");
        assert_eq!(started.user_code.len(), 9);
        let poll = TokenParams {
            grant_type: Some(device::DEVICE_CODE_GRANT.into()),
            device_code: Some(started.device_code.clone()),
            ..TokenParams::default()
        };
        assert_eq!(
            token(&store, &caches, &rp, &poll, BASE, t0())
                .await
                .unwrap_err(),
            OAuthError::AuthorizationPending
        );
        // Polling again within the interval: slow down.
        assert_eq!(
            token(
                &store,
                &caches,
                &rp,
                &poll,
                BASE,
                t0() + time::Duration::seconds(1)
            )
            .await
            .unwrap_err(),
            OAuthError::SlowDown
        );
        // The user types the code in another case and without its dash.
        let typed = started.user_code.replace('-', " ").to_lowercase();
        let (waiting, client) = {
            let mut db = store.acquire().await.unwrap();
            device::waiting_device(&mut db, &typed, t0())
                .await
                .unwrap()
                .unwrap()
        };
        let pending = device::pending_for_device(&waiting, &client, BASE).unwrap();
        let approved = executor::authorize(
            &store,
            "default-provider-authorization-implicit-consent",
            pending,
            &request(ada, &session, t0()),
        )
        .await
        .unwrap();
        assert_eq!(
            approved.challenge,
            Challenge::Redirect {
                to: "/if/device/?approved=1".into()
            }
        );
        // An answered code is no longer offered to users.
        let mut db = store.acquire().await.unwrap();
        assert!(
            device::waiting_device(&mut db, &typed, t0())
                .await
                .unwrap()
                .is_none()
        );
        drop(db);
        let later = t0() + time::Duration::seconds(10);
        let tokens = token(&store, &caches, &rp, &poll, BASE, later)
            .await
            .unwrap();
        assert_eq!(
            payload(tokens.id_token.as_deref().unwrap())["email"],
            "ada@example.org"
        );
        assert!(matches!(
            token(&store, &caches, &rp, &poll, BASE, later).await,
            Err(OAuthError::InvalidGrant(_))
        ));
        // Another client cannot use it; an unanswered one expires.
        let other = device::device_authorize(&store, &caches, &rp, None, BASE, t0())
            .await
            .unwrap();
        let mut expired = poll.clone();
        expired.device_code = Some(other.device_code);
        assert!(matches!(
            token(
                &store,
                &caches,
                &auth("gitea", GITEA_SECRET),
                &expired,
                BASE,
                t0()
            )
            .await,
            Err(OAuthError::InvalidGrant(_))
        ));
        assert_eq!(
            token(
                &store,
                &caches,
                &rp,
                &expired,
                BASE,
                t0() + time::Duration::minutes(11)
            )
            .await
            .unwrap_err(),
            OAuthError::ExpiredToken
        );
    }
);
