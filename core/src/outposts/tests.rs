use gatehouse_config::control::BindingSubject;
use gatehouse_config::objects::ProxyMode;
use time::Duration;

use super::*;
use crate::blueprints::apply::{apply_shipped_cheaply, apply_text_cheaply as apply_text};
use crate::storage::sessions::NewSession;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users;

const EDGE: &str = r#"version: 1
entries:
  - model: gatehouse_core.group
    id: ops
    identifiers: {name: ops}
  - model: gatehouse_core.user
    identifiers: {username: ada}
    attrs: {groups: [!KeyOf ops]}
  - model: gatehouse_providers_proxy.proxyprovider
    id: prom
    identifiers: {name: prometheus}
    attrs: {mode: forward_domain, external_host: "https://prom.example.org", cookie_domain: example.org}
  - model: gatehouse_core.application
    id: app
    identifiers: {slug: prometheus}
    attrs: {name: Prometheus, provider: !KeyOf prom}
  - model: gatehouse_policies.policybinding
    identifiers: {target: !KeyOf app, group: !KeyOf ops, order: 0}
  - model: gatehouse_outposts.outpost
    identifiers: {name: edge}
    attrs: {providers: [!KeyOf prom], token: edge-token}
"#;

async fn edge(store: &crate::storage::Store) -> Outpost {
    let mut db = store.acquire().await.unwrap();
    authenticate(&mut db, "edge-token").await.unwrap().unwrap()
}

async fn snapshot_version(store: &crate::storage::Store, outpost: &Outpost) -> String {
    let mut db = store.acquire().await.unwrap();
    snapshot(&mut db, outpost).await.unwrap().0
}

/// The shipped defaults, the self-signed pair and the blueprint above.
async fn setup(store: &crate::storage::Store) {
    crate::oauth2::tests::with_self_signed(store).await;
    apply_shipped_cheaply(store).await;
    apply_text(store, "edge.yaml", EDGE).await;
}

storage_test!(an_outpost_is_known_by_its_token_only, |store| {
    setup(&store).await;
    assert_eq!(edge(&store).await.name, "edge");
    let mut db = store.acquire().await.unwrap();
    assert!(authenticate(&mut db, "other").await.unwrap().is_none());
    assert!(authenticate(&mut db, "").await.unwrap().is_none());
});

storage_test!(
    snapshot_carries_the_provider_its_client_and_its_access_policy,
    |store| {
        setup(&store).await;
        let outpost = edge(&store).await;
        let mut db = store.acquire().await.unwrap();
        let (version, snapshot) = snapshot(&mut db, &outpost).await.unwrap();
        assert_eq!(snapshot.outpost.name, "edge");
        let [provider] = snapshot.providers.as_slice() else {
            panic!("{snapshot:#?}");
        };
        assert_eq!(provider.settings.mode, ProxyMode::ForwardDomain);
        // Credentials and the cookie key were made with the provider...
        assert_eq!(provider.settings.client_id.len(), 40);
        assert!(provider.settings.client_secret.len() >= 80);
        assert!(provider.settings.cookie_secret.len() >= 80);
        // ...and the provider is an OAuth2 client whose callbacks are the outpost's.
        let client = find_client(&mut db, &provider.settings.client_id)
            .await
            .unwrap()
            .unwrap();
        assert!(client.authenticates_with(Some(&provider.settings.client_secret)));
        assert!(!client.authenticates_with(Some("guess")));
        let callback = |host: &str| format!("https://{host}/outpost.gatehouse/callback");
        assert!(client.redirect_allowed(&callback("prom.example.org")));
        assert!(client.redirect_allowed(&callback("grafana.example.org")));
        assert!(!client.redirect_allowed(&callback("example.org.evil.test")));
        // Browsers read a backslash as the end of the host.
        assert!(!client.redirect_allowed(&callback("evil.test\\.example.org")));
        assert!(!client.redirect_allowed(&callback("evil.test@prom.example.org")));
        assert!(!client.redirect_allowed("https://prom.example.org/elsewhere"));
        let app = provider.application.as_ref().unwrap();
        assert_eq!(app.slug, "prometheus");
        assert!(
            matches!(&app.bindings[..], [b] if matches!(&b.subject,
                BindingSubject::Group { name, .. } if name == "ops")),
            "{app:#?}"
        );
        assert_eq!(provider.jwks["keys"].as_array().map(Vec::len), Some(1));
        drop(db);
        // The version is the content's: the same again, another after a change.
        assert_eq!(snapshot_version(&store, &outpost).await, version);
        apply_text(
            &store,
            "edge2.yaml",
            "version: 1\nentries:\n  - model: gatehouse_providers_proxy.proxyprovider\n    \
             identifiers: {name: prometheus}\n    attrs: {skip_path_regex: \"^/-/healthy$\"}\n",
        )
        .await;
        assert_ne!(snapshot_version(&store, &outpost).await, version);
    }
);

storage_test!(
    revocations_name_ended_sessions_and_users_who_left_a_group,
    |store| {
        setup(&store).await;
        let mut db = store.acquire().await.unwrap();
        let ada = users::find_by_username(&mut db, "ada")
            .await
            .unwrap()
            .unwrap();
        let session = sessions::create(
            &mut db,
            NewSession {
                key_hash: "k".into(),
                user_id: ada.id,
                auth_methods: serde_json::json!(["pwd"]),
                client_ip: "192.0.2.1".into(),
                user_agent: "test".into(),
                expires_at: t0() + Duration::hours(1),
            },
            t0() - Duration::hours(1),
        )
        .await
        .unwrap();
        assert!(revocations_since(&mut db, None).await.unwrap().is_empty());
        let ended = t0() - Duration::minutes(1);
        sessions::revoke(&mut db, session.id, ended).await.unwrap();
        drop(db);
        // Ada leaves ops (blueprints apply at t0 in tests).
        apply_text(
            &store,
            "leave.yaml",
            "version: 1\nentries:\n  - model: gatehouse_core.user\n    \
             identifiers: {username: ada}\n    attrs: {groups: []}\n",
        )
        .await;
        let mut db = store.acquire().await.unwrap();
        let all = revocations_since(&mut db, None).await.unwrap();
        let expected = RevokedSession {
            id: session.id.0,
            at: ended.as_datetime(),
        };
        assert_eq!(all.sessions, vec![expected]);
        assert_eq!(all.users.len(), 1, "{all:?}");
        assert_eq!(all.users[0].id, ada.id.0);
        // Asking from after the session's end leaves it out.
        let later = Timestamp::from_datetime(ended.as_datetime() + Duration::SECOND);
        let since = revocations_since(&mut db, Some(later)).await.unwrap();
        assert!(since.sessions.is_empty());
        assert_eq!(since.users.len(), 1);
    }
);

storage_test!(
    a_proxy_client_names_the_user_by_id_and_carries_what_its_outposts_decide_with,
    |store| {
        setup(&store).await;
        let outpost = edge(&store).await;
        let mut db = store.acquire().await.unwrap();
        let (_, snapshot) = snapshot(&mut db, &outpost).await.unwrap();
        let client_id = &snapshot.providers[0].settings.client_id;
        let client = find_client(&mut db, client_id).await.unwrap().unwrap();
        let ada = users::find_by_username(&mut db, "ada")
            .await
            .unwrap()
            .unwrap();
        let who = crate::policies::who(&mut db, Some(ada.id)).await.unwrap();
        let claims =
            crate::oauth2::claims::scope_claims(&mut db, &client, &["openid".into()], &who)
                .await
                .unwrap();
        assert_eq!(claims["preferred_username"], "ada");
        assert_eq!(claims["groups"], serde_json::json!(["ops"]));
        assert_eq!(claims["gatehouse_proxy"]["is_superuser"], false);
        assert_eq!(
            claims["gatehouse_proxy"]["user_attributes"],
            serde_json::json!({})
        );
        let sub = crate::oauth2::claims::subject(
            &client.settings,
            client.provider.id,
            &ada.id.to_string(),
            "ada",
            "",
        );
        assert_eq!(sub, ada.id.to_string());
    }
);
