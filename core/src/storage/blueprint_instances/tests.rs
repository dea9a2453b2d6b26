use super::*;
use crate::storage::testing::{storage_test, t0};

storage_test!(
    record_upserts_keeping_first_seen_and_orphan_marks,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let first = BlueprintInstance {
            path: "users.yaml".into(),
            name: "Users".into(),
            content_hash: "h1".into(),
            status: InstanceStatus::Error,
            error: "users.yaml:3:1: boom".into(),
            last_applied_at: t0(),
            created_at: t0(),
        };
        record(&mut db, &first).await.unwrap();
        let later = t0() + time::Duration::minutes(5);
        let second = BlueprintInstance {
            content_hash: "h2".into(),
            status: InstanceStatus::Successful,
            error: String::new(),
            last_applied_at: later,
            created_at: later,
            ..first.clone()
        };
        record(&mut db, &second).await.unwrap();
        let stored = get(&mut db, "users.yaml").await.unwrap().unwrap();
        assert_eq!(stored.content_hash, "h2");
        assert_eq!(stored.status, InstanceStatus::Successful);
        assert_eq!(stored.created_at, t0());
        assert_eq!(stored.last_applied_at, later);
        assert!(mark_orphaned(&mut db, "users.yaml").await.unwrap());
        assert!(!mark_orphaned(&mut db, "other.yaml").await.unwrap());
        let all = list(&mut db).await.unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].status, InstanceStatus::Orphaned);
    }
);
