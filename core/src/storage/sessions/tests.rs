use serde_json::json;
use time::Duration;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users::{self, NewUser};

fn new_session(user: UserId, key: &str, expires_at: Timestamp) -> NewSession {
    NewSession {
        key_hash: key.into(),
        user_id: user,
        auth_methods: json!(["pwd"]),
        client_ip: "192.0.2.1".into(),
        user_agent: "test".into(),
        expires_at,
    }
}

fn minutes(n: i64) -> Timestamp {
    t0() + Duration::minutes(n)
}

storage_test!(
    created_session_reads_back_equal_and_key_is_unique,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let user = users::create(&mut db, NewUser::new("u"), t0())
            .await
            .unwrap();
        let mut new = new_session(user.id, "k1", minutes(60));
        new.auth_methods = json!(["pwd", "otp"]);
        let session = create(&mut db, new, t0()).await.unwrap();
        assert_eq!(session.last_seen_at, t0());
        assert!(session.is_active(t0()));
        assert_eq!(
            get(&mut db, session.id).await.unwrap(),
            Some(session.clone())
        );
        assert_eq!(
            find_active_by_key_hash(&mut db, "k1", t0()).await.unwrap(),
            Some(session)
        );
        let err = create(&mut db, new_session(user.id, "k1", minutes(60)), t0())
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    }
);

storage_test!(expired_or_revoked_sessions_are_not_active, |store| {
    let mut db = store.acquire().await.unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    let s = create(&mut db, new_session(user.id, "k", minutes(10)), t0())
        .await
        .unwrap();
    assert!(touch(&mut db, s.id, minutes(5)).await.unwrap());
    assert_eq!(
        get(&mut db, s.id).await.unwrap().unwrap().last_seen_at,
        minutes(5)
    );
    // Expiry is exclusive: at `expires_at` the session is over.
    assert!(
        find_active_by_key_hash(&mut db, "k", minutes(10))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!touch(&mut db, s.id, minutes(10)).await.unwrap());

    assert!(revoke(&mut db, s.id, minutes(6)).await.unwrap());
    assert!(!revoke(&mut db, s.id, minutes(7)).await.unwrap());
    let got = get(&mut db, s.id).await.unwrap().unwrap();
    assert_eq!(got.revoked_at, Some(minutes(6)));
    assert!(!got.is_active(minutes(6)));
    assert!(
        find_active_by_key_hash(&mut db, "k", minutes(6))
            .await
            .unwrap()
            .is_none()
    );
    assert!(!touch(&mut db, s.id, minutes(7)).await.unwrap());
    assert_eq!(
        get(&mut db, s.id).await.unwrap().unwrap().last_seen_at,
        minutes(5)
    );
});

storage_test!(revoke_all_touches_only_the_users_active_sessions, |store| {
    let mut db = store.acquire().await.unwrap();
    let ann = users::create(&mut db, NewUser::new("ann"), t0())
        .await
        .unwrap();
    let ben = users::create(&mut db, NewUser::new("ben"), t0())
        .await
        .unwrap();
    let a1 = create(&mut db, new_session(ann.id, "a1", minutes(60)), t0())
        .await
        .unwrap();
    let a2 = create(&mut db, new_session(ann.id, "a2", minutes(60)), minutes(1))
        .await
        .unwrap();
    let gone = create(&mut db, new_session(ann.id, "a3", minutes(2)), t0())
        .await
        .unwrap();
    let old = create(&mut db, new_session(ann.id, "a4", minutes(60)), t0())
        .await
        .unwrap();
    let b1 = create(&mut db, new_session(ben.id, "b1", minutes(60)), t0())
        .await
        .unwrap();
    revoke(&mut db, old.id, minutes(3)).await.unwrap();
    assert_eq!(
        list_active_for_user(&mut db, ann.id, minutes(5))
            .await
            .unwrap(),
        vec![a1.clone(), a2.clone()]
    );

    let mut revoked = revoke_all_for_user(&mut db, ann.id, minutes(5))
        .await
        .unwrap();
    revoked.sort();
    let mut expected = vec![a1.id, a2.id];
    expected.sort();
    assert_eq!(revoked, expected);
    assert_eq!(
        list_active_for_user(&mut db, ann.id, minutes(5))
            .await
            .unwrap(),
        vec![]
    );
    assert_eq!(
        get(&mut db, gone.id).await.unwrap().unwrap().revoked_at,
        None
    );
    assert_eq!(
        get(&mut db, old.id).await.unwrap().unwrap().revoked_at,
        Some(minutes(3))
    );
    assert_eq!(
        list_active_for_user(&mut db, ben.id, minutes(5))
            .await
            .unwrap(),
        vec![b1]
    );
});

storage_test!(
    revoked_since_is_inclusive_and_ordered_by_revocation,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let user = users::create(&mut db, NewUser::new("u"), t0())
            .await
            .unwrap();
        let mut ids = Vec::new();
        for key in ["x", "y", "z"] {
            let s = create(&mut db, new_session(user.id, key, minutes(60)), t0())
                .await
                .unwrap();
            ids.push(s.id);
        }
        revoke(&mut db, ids[2], minutes(1)).await.unwrap();
        revoke(&mut db, ids[0], minutes(3)).await.unwrap();
        revoke(&mut db, ids[1], minutes(2)).await.unwrap();
        assert_eq!(
            revoked_since(&mut db, minutes(2)).await.unwrap(),
            vec![(ids[1], minutes(2)), (ids[0], minutes(3))]
        );
        assert_eq!(revoked_since(&mut db, t0()).await.unwrap().len(), 3);
        assert_eq!(revoked_since(&mut db, minutes(4)).await.unwrap(), vec![]);
    }
);

storage_test!(
    delete_expired_removes_revoked_and_unrevoked_alike,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let user = users::create(&mut db, NewUser::new("u"), t0())
            .await
            .unwrap();
        let short = create(&mut db, new_session(user.id, "s", minutes(10)), t0())
            .await
            .unwrap();
        let revoked = create(&mut db, new_session(user.id, "r", minutes(10)), t0())
            .await
            .unwrap();
        let long = create(&mut db, new_session(user.id, "l", minutes(20)), t0())
            .await
            .unwrap();
        revoke(&mut db, revoked.id, minutes(1)).await.unwrap();
        assert_eq!(delete_expired(&mut db, minutes(9)).await.unwrap(), 0);
        assert_eq!(delete_expired(&mut db, minutes(10)).await.unwrap(), 2);
        assert_eq!(get(&mut db, short.id).await.unwrap(), None);
        assert_eq!(revoked_since(&mut db, t0()).await.unwrap(), vec![]);
        assert!(get(&mut db, long.id).await.unwrap().is_some());
        assert!(users::delete(&mut db, user.id).await.unwrap());
        assert_eq!(get(&mut db, long.id).await.unwrap(), None);
    }
);

storage_test!(expiry_is_exact_within_the_same_second, |store| {
    // Guards the fixed-width time text on SQLite: with variable-width RFC 3339,
    // "12:00:00Z" sorts after "12:00:00.5Z" and an expired session would pass.
    let mut db = store.acquire().await.unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    create(
        &mut db,
        new_session(user.id, "k", t0()),
        t0() - Duration::seconds(1),
    )
    .await
    .unwrap();
    let before = t0() - Duration::milliseconds(500);
    let after = t0() + Duration::milliseconds(500);
    assert!(
        find_active_by_key_hash(&mut db, "k", before)
            .await
            .unwrap()
            .is_some()
    );
    assert!(
        find_active_by_key_hash(&mut db, "k", after)
            .await
            .unwrap()
            .is_none()
    );
    assert_eq!(
        list_active_for_user(&mut db, user.id, after).await.unwrap(),
        vec![]
    );
});
