//! Users whose earlier sessions no longer open anything behind an outpost: an
//! outpost's cookie carries what the user was at sign-in (active, their groups), so
//! a change to either is told to outposts as "refuse this user's sessions from
//! before now". The user signs in again and gets a cookie with what they are now.

use super::{Db, Result, dispatch};
use crate::Timestamp;
use crate::ids::UserId;

/// Records that `user`'s sessions from before `now` are revoked (a later call moves
/// the time forward, never back).
pub async fn revoke(db: &mut impl Db, user: UserId, now: Timestamp) -> Result<()> {
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO user_revocations (user_id, revoked_at) VALUES ($1, $2) \
             ON CONFLICT (user_id) DO UPDATE SET revoked_at = excluded.revoked_at \
             WHERE user_revocations.revoked_at < excluded.revoked_at",
        )
        .bind(user)
        .bind(now)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Users revoked at or after `since`, oldest first, with the time. Inclusive, like
/// [`super::sessions::revoked_since`].
pub async fn revoked_since(db: &mut impl Db, since: Timestamp) -> Result<Vec<(UserId, Timestamp)>> {
    Ok(dispatch!(db, |c| {
        sqlx::query_as(
            "SELECT user_id, revoked_at FROM user_revocations WHERE revoked_at >= $1 \
             ORDER BY revoked_at, user_id",
        )
        .bind(since)
        .fetch_all(c)
        .await
    })?)
}

/// Forgets revocations made before `before` (older than any outpost cookie that
/// could still be alive); returns how many.
pub async fn delete_before(db: &mut impl Db, before: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query("DELETE FROM user_revocations WHERE revoked_at < $1")
            .bind(before)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

#[cfg(test)]
mod tests {
    use time::Duration;

    use super::*;
    use crate::storage::testing::{storage_test, t0};
    use crate::storage::users::{self, NewUser};

    storage_test!(a_revocation_moves_forward_and_outlives_its_user, |store| {
        let mut db = store.acquire().await.unwrap();
        let user = users::create(&mut db, NewUser::new("ann"), t0())
            .await
            .unwrap();
        let (t1, t2) = (t0() + Duration::minutes(1), t0() + Duration::minutes(2));
        revoke(&mut db, user.id, t2).await.unwrap();
        revoke(&mut db, user.id, t1).await.unwrap();
        assert_eq!(
            revoked_since(&mut db, t0()).await.unwrap(),
            vec![(user.id, t2)]
        );
        assert_eq!(
            revoked_since(&mut db, t2).await.unwrap(),
            vec![(user.id, t2)]
        );
        let later = t2 + Duration::SECOND;
        assert!(revoked_since(&mut db, later).await.unwrap().is_empty());
        // Deleting the user keeps the revocation: outposts must still hear it.
        users::delete(&mut db, user.id).await.unwrap();
        assert_eq!(revoked_since(&mut db, t0()).await.unwrap().len(), 1);
        assert_eq!(delete_before(&mut db, later).await.unwrap(), 1);
        assert!(revoked_since(&mut db, t0()).await.unwrap().is_empty());
    });
}
