use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::flows::{self, FlowDesignation, NewFlow};
use crate::storage::property_mappings::{self, NewPropertyMapping};
use crate::storage::testing::{storage_test, t0};

async fn mapping(db: &mut impl Db, name: &str) -> PropertyMappingId {
    property_mappings::create(
        db,
        NewPropertyMapping::new(name, "scope", "return {}"),
        t0(),
    )
    .await
    .unwrap()
    .id
}

storage_test!(
    created_provider_reads_back_equal_and_name_is_unique,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let flow = flows::create(
            &mut db,
            NewFlow::new("consent", FlowDesignation::Authorization),
            t0(),
        )
        .await
        .unwrap();
        let mut new = NewProvider::new("grafana", ProviderKind::OAuth2);
        new.authorization_flow_id = Some(flow.id);
        new.settings = json!({"client_id": "abc", "redirect_uris": ["https://g.example.org/cb"]});
        let provider = create(&mut db, new, t0()).await.unwrap();
        assert_eq!(
            get(&mut db, provider.id).await.unwrap(),
            Some(provider.clone())
        );
        assert_eq!(
            find_by_name(&mut db, "grafana").await.unwrap(),
            Some(provider)
        );
        let err = create(
            &mut db,
            NewProvider::new("grafana", ProviderKind::Proxy),
            t0(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    }
);

storage_test!(deleting_a_flow_unsets_it_on_the_provider, |store| {
    let mut db = store.acquire().await.unwrap();
    let flow = flows::create(
        &mut db,
        NewFlow::new("bye", FlowDesignation::Invalidation),
        t0(),
    )
    .await
    .unwrap();
    let mut new = NewProvider::new("p", ProviderKind::Proxy);
    new.invalidation_flow_id = Some(flow.id);
    let provider = create(&mut db, new, t0()).await.unwrap();
    assert!(flows::delete(&mut db, flow.id).await.unwrap());
    let got = get(&mut db, provider.id).await.unwrap().unwrap();
    assert_eq!(got.invalidation_flow_id, None);
});

storage_test!(providers_update_list_by_name_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut b = create(&mut db, NewProvider::new("b", ProviderKind::OAuth2), t0())
        .await
        .unwrap();
    let a = create(&mut db, NewProvider::new("a", ProviderKind::Proxy), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::minutes(3);
    b.kind = ProviderKind::Proxy;
    b.settings = json!({"external_host": "https://b.example.org"});
    assert!(update(&mut db, &b, later).await.unwrap());
    b.updated_at = later;
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), b.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![b]);
});

storage_test!(property_mappings_are_replaced_as_a_set, |store| {
    let mut db = store.acquire().await.unwrap();
    let provider = create(&mut db, NewProvider::new("p", ProviderKind::OAuth2), t0())
        .await
        .unwrap();
    let email = mapping(&mut db, "email").await;
    let openid = mapping(&mut db, "openid").await;
    let profile = mapping(&mut db, "profile").await;
    set_property_mappings(&mut db, provider.id, &[profile, email, email])
        .await
        .unwrap();
    assert_eq!(
        property_mappings_of(&mut db, provider.id).await.unwrap(),
        [email, profile]
    );
    set_property_mappings(&mut db, provider.id, &[openid])
        .await
        .unwrap();
    assert_eq!(
        property_mappings_of(&mut db, provider.id).await.unwrap(),
        [openid]
    );

    // An unknown mapping refuses the whole replacement.
    let err = set_property_mappings(&mut db, provider.id, &[email, PropertyMappingId::new()])
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
    assert_eq!(
        property_mappings_of(&mut db, provider.id).await.unwrap(),
        [openid]
    );

    assert!(property_mappings::delete(&mut db, openid).await.unwrap());
    assert_eq!(
        property_mappings_of(&mut db, provider.id).await.unwrap(),
        []
    );
    set_property_mappings(&mut db, provider.id, &[email])
        .await
        .unwrap();
    set_property_mappings(&mut db, provider.id, &[])
        .await
        .unwrap();
    assert_eq!(
        property_mappings_of(&mut db, provider.id).await.unwrap(),
        []
    );
});

storage_test!(
    replacing_mappings_inside_a_transaction_rolls_back_with_it,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let provider = create(&mut db, NewProvider::new("p", ProviderKind::OAuth2), t0())
            .await
            .unwrap();
        let email = mapping(&mut db, "email").await;
        let openid = mapping(&mut db, "openid").await;
        set_property_mappings(&mut db, provider.id, &[email])
            .await
            .unwrap();
        let mut tx = store.begin().await.unwrap();
        set_property_mappings(&mut tx, provider.id, &[openid])
            .await
            .unwrap();
        assert_eq!(
            property_mappings_of(&mut tx, provider.id).await.unwrap(),
            [openid]
        );
        tx.rollback().await.unwrap();
        assert_eq!(
            property_mappings_of(&mut db, provider.id).await.unwrap(),
            [email]
        );
    }
);
