use serde_json::json;

use super::*;
use crate::storage::flows::{self, FlowDesignation, NewFlow};
use crate::storage::testing::{storage_test, t0};

storage_test!(
    a_flow_session_is_found_by_key_and_flow_until_it_expires,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let flow = flows::create(
            &mut db,
            NewFlow::new("login", FlowDesignation::Authentication),
            t0(),
        )
        .await
        .unwrap();
        let other = flows::create(
            &mut db,
            NewFlow::new("other", FlowDesignation::Authentication),
            t0(),
        )
        .await
        .unwrap();
        let hour = time::Duration::hours(1);
        let session = create(
            &mut db,
            "k1".into(),
            flow.id,
            json!({"step": 0}),
            t0(),
            t0() + hour,
        )
        .await
        .unwrap();
        let found = find_active(&mut db, "k1", flow.id, t0()).await.unwrap();
        assert_eq!(found, Some(session.clone()));
        assert!(
            find_active(&mut db, "k1", other.id, t0())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            find_active(&mut db, "k2", flow.id, t0())
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            find_active(&mut db, "k1", flow.id, t0() + hour)
                .await
                .unwrap()
                .is_none()
        );

        let later = t0() + time::Duration::minutes(10);
        assert!(
            save_state(
                &mut db,
                session.id,
                &json!({"step": 1}),
                later,
                later + hour
            )
            .await
            .unwrap()
        );
        let saved = find_active(&mut db, "k1", flow.id, t0() + hour)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(saved.state, json!({"step": 1}));
        assert_eq!(saved.updated_at, later);

        assert_eq!(delete_expired(&mut db, later + hour).await.unwrap(), 1);
        assert!(!delete(&mut db, session.id).await.unwrap());
    }
);

storage_test!(deleting_the_flow_ends_its_sessions, |store| {
    let mut db = store.acquire().await.unwrap();
    let flow = flows::create(
        &mut db,
        NewFlow::new("login", FlowDesignation::Authentication),
        t0(),
    )
    .await
    .unwrap();
    let later = t0() + time::Duration::hours(1);
    let session = create(&mut db, "k".into(), flow.id, json!({}), t0(), later)
        .await
        .unwrap();
    assert!(flows::delete(&mut db, flow.id).await.unwrap());
    assert!(!delete(&mut db, session.id).await.unwrap());
});
