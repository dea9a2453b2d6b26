use super::*;
use crate::storage::testing::{storage_test, t0};
use crate::storage::{providers, users};

storage_test!(
    expired_codes_tokens_and_device_codes_are_forgotten,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let provider = providers::create(
            &mut db,
            providers::NewProvider::new("p", providers::ProviderKind::OAuth2),
            t0(),
        )
        .await
        .unwrap();
        let user = users::create(&mut db, users::NewUser::new("u"), t0())
            .await
            .unwrap();
        let minute = time::Duration::minutes(1);
        let code = create_code(
            &mut db,
            NewCode {
                code_hash: "c".into(),
                provider_id: provider.id,
                user_id: user.id,
                session_id: None,
                redirect_uri: "https://rp.test/cb".into(),
                scope: "openid".into(),
                nonce: None,
                code_challenge: None,
                auth_time: t0(),
                auth_methods: Value::Array(Vec::new()),
                expires_at: t0() + minute,
            },
            t0(),
        )
        .await
        .unwrap();
        let token = create_token(
            &mut db,
            NewToken {
                id: OAuth2TokenId::new(),
                kind: TokenKind::Refresh,
                token_hash: "t".into(),
                provider_id: provider.id,
                user_id: Some(user.id),
                session_id: None,
                grant_id: GrantId(code.id.0),
                scope: "openid".into(),
                nonce: None,
                auth_time: None,
                auth_methods: Value::Array(Vec::new()),
                expires_at: t0() + minute * 10,
            },
            t0(),
        )
        .await
        .unwrap();
        create_device_code(
            &mut db,
            "d".into(),
            "BCDF-GHJK".into(),
            provider.id,
            "openid".into(),
            t0(),
            t0() + minute * 5,
        )
        .await
        .unwrap();
        // Nothing has expired yet; then the code, then the device code, then the token.
        assert_eq!(delete_expired(&mut db, t0() + minute).await.unwrap(), 0);
        assert_eq!(delete_expired(&mut db, t0() + minute * 2).await.unwrap(), 1);
        assert!(find_code(&mut db, "c").await.unwrap().is_none());
        assert_eq!(find_token(&mut db, "t").await.unwrap(), Some(token));
        assert_eq!(delete_expired(&mut db, t0() + minute * 6).await.unwrap(), 1);
        assert!(
            find_user_code(&mut db, "BCDF-GHJK")
                .await
                .unwrap()
                .is_none()
        );
        assert_eq!(
            delete_expired(&mut db, t0() + minute * 11).await.unwrap(),
            1
        );
        assert!(find_token(&mut db, "t").await.unwrap().is_none());
    }
);
