use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};

storage_test!(created_user_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewUser::new("akadmin");
    new.email = "admin@example.org".into();
    new.attributes = json!({"settings": {"locale": "en"}});
    new.password_hash = Some("$argon2id$v=19$stub".into());
    let user = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(user.password_changed_at, Some(t0()));
    assert_eq!(get(&mut db, user.id).await.unwrap(), Some(user.clone()));
    assert_eq!(
        find_by_username(&mut db, "akadmin").await.unwrap(),
        Some(user)
    );
    assert_eq!(find_by_username(&mut db, "AKADMIN").await.unwrap(), None);
});

storage_test!(username_is_unique, |store| {
    let mut db = store.acquire().await.unwrap();
    create(&mut db, NewUser::new("jo"), t0()).await.unwrap();
    let err = create(&mut db, NewUser::new("jo"), t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    assert_eq!(count(&mut db).await.unwrap(), 1);
});

storage_test!(login_lookup_ignores_case_of_username_and_email, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewUser::new("Alice");
    new.email = "Alice@Example.org".into();
    let alice = create(&mut db, new, t0()).await.unwrap();
    create(&mut db, NewUser::new("bob"), t0()).await.unwrap();
    let by_name = find_by_login_ignoring_case(&mut db, "alice").await.unwrap();
    assert_eq!(by_name, vec![alice.clone()]);
    let by_mail = find_by_login_ignoring_case(&mut db, "ALICE@example.ORG")
        .await
        .unwrap();
    assert_eq!(by_mail, vec![alice]);
});

storage_test!(update_password_login_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut user = create(&mut db, NewUser::new("carol"), t0()).await.unwrap();
    let later = t0() + time::Duration::minutes(5);
    user.name = "Carol C".into();
    user.is_active = false;
    user.user_type = UserType::ServiceAccount;
    assert!(update(&mut db, &user, later).await.unwrap());
    assert!(
        set_password_hash(&mut db, user.id, Some("h"), later)
            .await
            .unwrap()
    );
    assert!(record_login(&mut db, user.id, later).await.unwrap());
    let got = get(&mut db, user.id).await.unwrap().unwrap();
    assert_eq!(got.name, "Carol C");
    assert!(!got.is_active);
    assert_eq!(got.user_type, UserType::ServiceAccount);
    assert_eq!(got.password_hash.as_deref(), Some("h"));
    assert_eq!(got.last_login, Some(later));
    assert_eq!(got.updated_at, later);
    assert!(delete(&mut db, user.id).await.unwrap());
    assert!(!delete(&mut db, user.id).await.unwrap());
    assert_eq!(get(&mut db, user.id).await.unwrap(), None);
});

storage_test!(list_pages_in_username_order, |store| {
    let mut db = store.acquire().await.unwrap();
    for name in ["c", "a", "b"] {
        create(&mut db, NewUser::new(name), t0()).await.unwrap();
    }
    let names = |users: Vec<User>| users.into_iter().map(|u| u.username).collect::<Vec<_>>();
    assert_eq!(names(list(&mut db, 2, 0).await.unwrap()), ["a", "b"]);
    assert_eq!(names(list(&mut db, 2, 2).await.unwrap()), ["c"]);
});

storage_test!(rolled_back_transaction_writes_nothing, |store| {
    let mut tx = store.begin().await.unwrap();
    create(&mut tx, NewUser::new("ghost"), t0()).await.unwrap();
    tx.rollback().await.unwrap();
    let mut db = store.acquire().await.unwrap();
    assert_eq!(find_by_username(&mut db, "ghost").await.unwrap(), None);
    let mut tx = store.begin().await.unwrap();
    create(&mut tx, NewUser::new("kept"), t0()).await.unwrap();
    tx.commit().await.unwrap();
    assert!(find_by_username(&mut db, "kept").await.unwrap().is_some());
});

#[test]
fn debug_output_leaves_out_the_password_hash() {
    let mut new = NewUser::new("dora");
    new.password_hash = Some("$argon2id$secret-hash".into());
    assert!(!format!("{new:?}").contains("secret-hash"));
    assert!(format!("{new:?}").contains("has_password: true"));
}
