use serde_json::json;
use time::Duration;

use super::*;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users::{self, NewUser};

const KEEP: Duration = Duration::days(30);

fn at(minutes: i64) -> Timestamp {
    t0() + Duration::minutes(minutes)
}

storage_test!(recorded_event_reads_back_and_outlives_its_user, |store| {
    let mut db = store.acquire().await.unwrap();
    let user = users::create(&mut db, NewUser::new("ann"), t0())
        .await
        .unwrap();
    let mut new = NewEvent::new("login", KEEP);
    new.user_id = Some(user.id);
    new.username = "ann".into();
    new.client_ip = "2001:db8::1".into();
    new.context = json!({"auth_method": "password", "http_request": {"path": "/"}});
    let event = record(&mut db, new, t0()).await.unwrap();
    assert_eq!(event.expires_at, t0() + KEEP);
    assert!(users::delete(&mut db, user.id).await.unwrap());
    assert_eq!(list_recent(&mut db, 10, None).await.unwrap(), vec![event]);
});

storage_test!(
    recent_events_come_newest_first_filtered_by_action,
    |store| {
        let mut db = store.acquire().await.unwrap();
        for (minute, action) in [
            (1, "login"),
            (3, "login_failed"),
            (2, "login"),
            (4, "logout"),
        ] {
            record(&mut db, NewEvent::new(action, KEEP), at(minute))
                .await
                .unwrap();
        }
        let times =
            |events: Vec<Event>| events.into_iter().map(|e| e.created_at).collect::<Vec<_>>();
        assert_eq!(
            times(list_recent(&mut db, 10, None).await.unwrap()),
            [at(4), at(3), at(2), at(1)]
        );
        assert_eq!(
            times(list_recent(&mut db, 2, None).await.unwrap()),
            [at(4), at(3)]
        );
        assert_eq!(
            times(list_recent(&mut db, 10, Some("login")).await.unwrap()),
            [at(2), at(1)]
        );
        assert_eq!(
            list_recent(&mut db, 10, Some("nothing")).await.unwrap(),
            vec![]
        );
    }
);

storage_test!(events_are_deleted_when_their_retention_ends, |store| {
    let mut db = store.acquire().await.unwrap();
    let short = record(&mut db, NewEvent::new("a", Duration::hours(1)), t0())
        .await
        .unwrap();
    let long = record(&mut db, NewEvent::new("b", KEEP), t0())
        .await
        .unwrap();
    assert_eq!(
        delete_expired(&mut db, short.expires_at - Duration::seconds(1))
            .await
            .unwrap(),
        0
    );
    assert_eq!(delete_expired(&mut db, short.expires_at).await.unwrap(), 1);
    assert_eq!(list_recent(&mut db, 10, None).await.unwrap(), vec![long]);
});
