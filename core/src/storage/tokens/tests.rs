use time::Duration;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users::{self, NewUser};

fn new_token(user: UserId, identifier: &str, expires_at: Option<Timestamp>) -> NewToken {
    NewToken {
        identifier: identifier.into(),
        intent: TokenIntent::Api,
        user_id: user,
        description: String::new(),
        key_hash: format!("hash-of-{identifier}"),
        expires_at,
    }
}

storage_test!(created_token_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    let mut new = new_token(user.id, "recover-u", Some(t0() + Duration::minutes(30)));
    new.intent = TokenIntent::Recovery;
    new.description = "recovery link".into();
    let token = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(
        find_by_identifier(&mut db, "recover-u").await.unwrap(),
        Some(token.clone())
    );
    assert_eq!(
        find_valid_by_key_hash(&mut db, "hash-of-recover-u", t0())
            .await
            .unwrap(),
        Some(token)
    );
});

storage_test!(
    identifier_and_key_hash_are_unique_and_user_must_exist,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let user = users::create(&mut db, NewUser::new("u"), t0())
            .await
            .unwrap();
        create(&mut db, new_token(user.id, "a", None), t0())
            .await
            .unwrap();
        let err = create(&mut db, new_token(user.id, "a", None), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let mut same_key = new_token(user.id, "b", None);
        same_key.key_hash = "hash-of-a".into();
        let err = create(&mut db, same_key, t0()).await.unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
        let err = create(&mut db, new_token(UserId::new(), "c", None), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
    }
);

storage_test!(expired_tokens_are_not_valid_and_get_deleted, |store| {
    let mut db = store.acquire().await.unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    let expiry = t0() + Duration::hours(1);
    create(&mut db, new_token(user.id, "forever", None), t0())
        .await
        .unwrap();
    create(&mut db, new_token(user.id, "hour", Some(expiry)), t0())
        .await
        .unwrap();
    let just_before = expiry - Duration::microseconds(1);
    assert!(
        find_valid_by_key_hash(&mut db, "hash-of-hour", just_before)
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(
        find_valid_by_key_hash(&mut db, "hash-of-hour", expiry)
            .await
            .unwrap(),
        None
    );
    assert!(
        find_valid_by_key_hash(&mut db, "hash-of-forever", expiry + Duration::days(3650))
            .await
            .unwrap()
            .is_some()
    );
    assert_eq!(delete_expired(&mut db, just_before).await.unwrap(), 0);
    assert_eq!(delete_expired(&mut db, expiry).await.unwrap(), 1);
    assert_eq!(find_by_identifier(&mut db, "hour").await.unwrap(), None);
    assert!(
        find_by_identifier(&mut db, "forever")
            .await
            .unwrap()
            .is_some()
    );
});

storage_test!(
    tokens_are_listed_per_user_and_deleted_with_the_user,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let ann = users::create(&mut db, NewUser::new("ann"), t0())
            .await
            .unwrap();
        let ben = users::create(&mut db, NewUser::new("ben"), t0())
            .await
            .unwrap();
        let b = create(&mut db, new_token(ann.id, "b", None), t0())
            .await
            .unwrap();
        let a = create(&mut db, new_token(ann.id, "a", None), t0())
            .await
            .unwrap();
        let other = create(&mut db, new_token(ben.id, "c", None), t0())
            .await
            .unwrap();
        assert_eq!(
            list_for_user(&mut db, ann.id).await.unwrap(),
            vec![a.clone(), b]
        );
        assert!(delete(&mut db, a.id).await.unwrap());
        assert!(!delete(&mut db, a.id).await.unwrap());
        assert!(users::delete(&mut db, ann.id).await.unwrap());
        assert_eq!(list_for_user(&mut db, ann.id).await.unwrap(), vec![]);
        assert_eq!(list_for_user(&mut db, ben.id).await.unwrap(), vec![other]);
    }
);
