use gatehouse_config::control::{Revocations, RevokedSession, RevokedUser};
use gatehouse_config::objects::ProxyMode;
use time::OffsetDateTime;
use uuid::Uuid;

use super::*;
use crate::testing::snapshot;

#[tokio::test]
async fn config_and_revocations_survive_a_restart_through_the_state_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    let first = Outpost::new(Some(file.clone()));
    assert_eq!(first.hello().config_version, None);
    assert_eq!(first.hello().revocations_since, None);
    first
        .apply_config("v1".into(), snapshot(ProxyMode::Proxy))
        .await;
    let now = OffsetDateTime::now_utc().replace_nanosecond(0).unwrap();
    let (sid, uid) = (Uuid::new_v4(), Uuid::new_v4());
    first
        .apply_revocations(&Revocations {
            sessions: vec![RevokedSession { id: sid, at: now }],
            users: vec![RevokedUser {
                id: uid,
                at: now - time::Duration::SECOND,
            }],
        })
        .await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the file holds cookie keys");
    }

    let second = Outpost::new(Some(file));
    let hello = second.hello();
    assert_eq!(hello.config_version.as_deref(), Some("v1"));
    assert_eq!(hello.revocations_since, Some(now));
    assert_eq!(second.enforced().providers.len(), 1);
    assert!(second.revoked().refuses(sid, Uuid::new_v4(), 0));
    assert!(
        second
            .revoked()
            .refuses(Uuid::new_v4(), uid, now.unix_timestamp() - 5)
    );
    assert!(
        !second
            .revoked()
            .refuses(Uuid::new_v4(), uid, now.unix_timestamp() + 5)
    );
}

#[tokio::test]
async fn an_unreadable_state_file_is_ignored() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("state.json");
    std::fs::write(&file, b"{not json").unwrap();
    let outpost = Outpost::new(Some(file));
    assert_eq!(outpost.hello().config_version, None);
    assert!(outpost.enforced().providers.is_empty());
}

#[tokio::test]
async fn revocations_older_than_any_live_cookie_are_forgotten() {
    let outpost = Outpost::new(None);
    // The snapshot's provider keeps sessions 24 hours by default.
    outpost
        .apply_config("v1".into(), snapshot(ProxyMode::Proxy))
        .await;
    let (old, recent) = (Uuid::new_v4(), Uuid::new_v4());
    let now = OffsetDateTime::now_utc();
    outpost
        .apply_revocations(&Revocations {
            sessions: vec![
                RevokedSession {
                    id: old,
                    at: now - time::Duration::days(3),
                },
                RevokedSession {
                    id: recent,
                    at: now - time::Duration::hours(2),
                },
            ],
            users: Vec::new(),
        })
        .await;
    assert!(!outpost.revoked().sessions.contains_key(&old));
    assert!(outpost.revoked().sessions.contains_key(&recent));
}

#[tokio::test]
async fn the_log_level_of_the_config_is_followed() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let hook: LogLevelHook = {
        let seen = seen.clone();
        Arc::new(move |level: &str| seen.lock().unwrap().push(level.to_owned()))
    };
    let outpost = Outpost::with_log_level(None, Some(hook));
    let mut snapshot = snapshot(ProxyMode::Proxy);
    snapshot.outpost.config.log_level = "warning".into();
    outpost.apply_config("v1".into(), snapshot.clone()).await;
    snapshot.outpost.config.log_level = "loud".into();
    outpost.apply_config("v2".into(), snapshot).await;
    assert_eq!(*seen.lock().unwrap(), vec!["warn".to_owned()]);
}
