use super::*;
use crate::storage::StorageError;
use crate::storage::providers::{self, NewProvider, ProviderKind};
use crate::storage::testing::{storage_test, t0};

storage_test!(created_application_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let provider = providers::create(&mut db, NewProvider::new("p", ProviderKind::OAuth2), t0())
        .await
        .unwrap();
    let mut new = NewApplication::new("grafana", "Grafana");
    new.provider_id = Some(provider.id);
    new.group_name = "Monitoring".into();
    new.launch_url = "https://grafana.example.org/".into();
    new.open_in_new_tab = true;
    new.policy_engine_mode = PolicyEngineMode::All;
    let app = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, app.id).await.unwrap(), Some(app.clone()));
    assert_eq!(
        find_by_slug(&mut db, "grafana").await.unwrap(),
        Some(app.clone())
    );
    assert_eq!(
        find_by_provider(&mut db, provider.id).await.unwrap(),
        Some(app)
    );
    assert_eq!(
        find_by_provider(&mut db, ProviderId::new()).await.unwrap(),
        None
    );
});

storage_test!(
    slug_is_unique_and_a_provider_backs_one_application,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let provider = providers::create(&mut db, NewProvider::new("p", ProviderKind::Proxy), t0())
            .await
            .unwrap();
        let mut new = NewApplication::new("a", "A");
        new.provider_id = Some(provider.id);
        create(&mut db, new, t0()).await.unwrap();
        let err = create(&mut db, NewApplication::new("a", "Other"), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let mut second = NewApplication::new("b", "B");
        second.provider_id = Some(provider.id);
        let err = create(&mut db, second, t0()).await.unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let mut unknown = NewApplication::new("c", "C");
        unknown.provider_id = Some(ProviderId::new());
        let err = create(&mut db, unknown, t0()).await.unwrap_err();
        assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
    }
);

storage_test!(deleting_the_provider_keeps_the_application, |store| {
    let mut db = store.acquire().await.unwrap();
    let provider = providers::create(&mut db, NewProvider::new("p", ProviderKind::OAuth2), t0())
        .await
        .unwrap();
    let mut new = NewApplication::new("app", "App");
    new.provider_id = Some(provider.id);
    let app = create(&mut db, new, t0()).await.unwrap();
    assert!(providers::delete(&mut db, provider.id).await.unwrap());
    let got = get(&mut db, app.id).await.unwrap().unwrap();
    assert_eq!(got.provider_id, None);
});

storage_test!(applications_update_list_by_name_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut wiki = create(&mut db, NewApplication::new("wiki", "Wiki"), t0())
        .await
        .unwrap();
    let chat = create(&mut db, NewApplication::new("chat", "Chat"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::days(1);
    wiki.name = "Atlas".into();
    wiki.description = "Team wiki".into();
    assert!(update(&mut db, &wiki, later).await.unwrap());
    wiki.updated_at = later;
    assert_eq!(
        list(&mut db).await.unwrap(),
        vec![wiki.clone(), chat.clone()]
    );
    assert!(delete(&mut db, chat.id).await.unwrap());
    assert!(!delete(&mut db, chat.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![wiki]);
});
