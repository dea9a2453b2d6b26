use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::providers::{self, NewProvider, ProviderKind};
use crate::storage::testing::{storage_test, t0};

storage_test!(
    created_outpost_reads_back_equal_and_is_found_by_token,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let mut new = NewOutpost::new("edge", "token-hash-1");
        new.settings = json!({"log_level": "info", "refresh_interval": "minutes=5"});
        let outpost = create(&mut db, new, t0()).await.unwrap();
        assert_eq!(outpost.kind, OutpostKind::Proxy);
        assert_eq!(
            get(&mut db, outpost.id).await.unwrap(),
            Some(outpost.clone())
        );
        assert_eq!(
            find_by_name(&mut db, "edge").await.unwrap(),
            Some(outpost.clone())
        );
        assert_eq!(
            find_by_token_hash(&mut db, "token-hash-1").await.unwrap(),
            Some(outpost)
        );
    }
);

storage_test!(
    name_and_token_are_unique_and_a_rotated_token_replaces_the_old,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let outpost = create(&mut db, NewOutpost::new("a", "t1"), t0())
            .await
            .unwrap();
        let err = create(&mut db, NewOutpost::new("a", "t2"), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let err = create(&mut db, NewOutpost::new("b", "t1"), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let later = t0() + time::Duration::hours(2);
        assert!(
            set_token_hash(&mut db, outpost.id, "t3", later)
                .await
                .unwrap()
        );
        assert_eq!(find_by_token_hash(&mut db, "t1").await.unwrap(), None);
        let got = find_by_token_hash(&mut db, "t3").await.unwrap().unwrap();
        assert_eq!((got.id, got.updated_at), (outpost.id, later));
    }
);

storage_test!(update_keeps_the_token_and_list_is_by_name, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut z = create(&mut db, NewOutpost::new("z", "tz"), t0())
        .await
        .unwrap();
    let a = create(&mut db, NewOutpost::new("a", "ta"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::minutes(1);
    z.settings = json!({"log_level": "debug"});
    z.token_hash = "ignored".into();
    assert!(update(&mut db, &z, later).await.unwrap());
    let got = get(&mut db, z.id).await.unwrap().unwrap();
    assert_eq!(got.token_hash, "tz");
    assert_eq!(got.settings, json!({"log_level": "debug"}));
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), got]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap().len(), 1);
});

storage_test!(
    providers_are_replaced_as_a_set_and_follow_deletes,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let outpost = create(&mut db, NewOutpost::new("edge", "t"), t0())
            .await
            .unwrap();
        let mut made = Vec::new();
        for name in ["wiki", "grafana", "chat"] {
            let p = providers::create(&mut db, NewProvider::new(name, ProviderKind::Proxy), t0())
                .await
                .unwrap();
            made.push(p);
        }
        let [wiki, grafana, chat] = <[Provider; 3]>::try_from(made).unwrap();
        set_providers(&mut db, outpost.id, &[wiki.id, grafana.id, wiki.id])
            .await
            .unwrap();
        assert_eq!(
            providers_of(&mut db, outpost.id).await.unwrap(),
            vec![grafana.clone(), wiki.clone()]
        );
        let err = set_providers(&mut db, outpost.id, &[chat.id, ProviderId::new()])
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
        assert_eq!(providers_of(&mut db, outpost.id).await.unwrap().len(), 2);
        set_providers(&mut db, outpost.id, &[chat.id, wiki.id])
            .await
            .unwrap();
        assert_eq!(
            providers_of(&mut db, outpost.id).await.unwrap(),
            vec![chat, wiki.clone()]
        );
        assert!(providers::delete(&mut db, wiki.id).await.unwrap());
        assert_eq!(providers_of(&mut db, outpost.id).await.unwrap().len(), 1);
        assert!(delete(&mut db, outpost.id).await.unwrap());
        assert_eq!(providers_of(&mut db, outpost.id).await.unwrap(), vec![]);
    }
);
