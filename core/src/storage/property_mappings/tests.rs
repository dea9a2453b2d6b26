use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};

const MANAGED_EMAIL: &str = "gatehouse/providers/oauth2/scope-email";

storage_test!(created_mapping_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewPropertyMapping::new("scope email", "scope", "return {'email': user.email}");
    new.managed = Some(MANAGED_EMAIL.into());
    new.settings = json!({"scope_name": "email"});
    let mapping = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(
        get(&mut db, mapping.id).await.unwrap(),
        Some(mapping.clone())
    );
    assert_eq!(
        find_by_name(&mut db, "scope email").await.unwrap(),
        Some(mapping.clone())
    );
    assert_eq!(
        find_by_managed(&mut db, MANAGED_EMAIL).await.unwrap(),
        Some(mapping)
    );
    assert_eq!(find_by_managed(&mut db, "other").await.unwrap(), None);
});

storage_test!(
    name_and_managed_key_are_unique_but_many_may_be_unmanaged,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let mut new = NewPropertyMapping::new("a", "scope", "x");
        new.managed = Some(MANAGED_EMAIL.into());
        create(&mut db, new.clone(), t0()).await.unwrap();
        new.name = "b".into();
        let err = create(&mut db, new, t0()).await.unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let err = create(&mut db, NewPropertyMapping::new("a", "scope", "y"), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        create(&mut db, NewPropertyMapping::new("c", "scope", "x"), t0())
            .await
            .unwrap();
        create(&mut db, NewPropertyMapping::new("d", "scope", "x"), t0())
            .await
            .unwrap();
        assert_eq!(list(&mut db).await.unwrap().len(), 3);
    }
);

storage_test!(mappings_update_list_by_name_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut z = create(&mut db, NewPropertyMapping::new("z", "scope", "1"), t0())
        .await
        .unwrap();
    let a = create(&mut db, NewPropertyMapping::new("a", "scope", "2"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::seconds(5);
    z.expression = "return {'groups': []}".into();
    z.managed = Some("k".into());
    assert!(update(&mut db, &z, later).await.unwrap());
    z.updated_at = later;
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), z.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![z]);
});
