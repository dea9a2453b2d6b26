use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};

storage_test!(created_stage_reads_back_equal_and_name_is_unique, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewStage::new("default-identification", "identification");
    new.settings = json!({"user_fields": ["username", "email"], "case_insensitive": true});
    let stage = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, stage.id).await.unwrap(), Some(stage.clone()));
    assert_eq!(
        find_by_name(&mut db, "default-identification")
            .await
            .unwrap(),
        Some(stage)
    );
    let err = create(
        &mut db,
        NewStage::new("default-identification", "password"),
        t0(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
});

storage_test!(stages_update_list_by_name_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut b = create(&mut db, NewStage::new("b", "password"), t0())
        .await
        .unwrap();
    let a = create(&mut db, NewStage::new("a", "user_login"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::hours(1);
    b.settings = json!({"failed_attempts_before_cancel": 5});
    assert!(update(&mut db, &b, later).await.unwrap());
    b.updated_at = later;
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), b.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert!(!update(&mut db, &a, later).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![b]);
});
