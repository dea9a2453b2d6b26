//! Sessions: a signed-in browser, known by the hash of the random key its cookie
//! carries. Revoked sessions stay (with `revoked_at`) until they expire, so outposts
//! that reconnect can ask what was revoked while they were away.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, dispatch, fetch_optional};
use crate::Timestamp;
use crate::ids::{SessionId, UserId};

/// A stored session.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Session {
    /// Stable id; the `sid` outposts and tokens refer to.
    pub id: SessionId,
    /// Hash of the cookie's key.
    pub key_hash: String,
    /// The signed-in user.
    pub user_id: UserId,
    /// How the user authenticated (a JSON array of methods, as `amr` reports them).
    #[sqlx(json)]
    pub auth_methods: Value,
    /// Address the session was created from.
    pub client_ip: String,
    /// Browser's `User-Agent` when the session was created.
    pub user_agent: String,
    /// Sign-in time.
    pub created_at: Timestamp,
    /// Last request seen with this session.
    pub last_seen_at: Timestamp,
    /// When the session ends by itself.
    pub expires_at: Timestamp,
    /// When the session was ended (sign-out, admin, password change); `None` while
    /// it is in force.
    pub revoked_at: Option<Timestamp>,
}

impl Session {
    /// Whether the session still signs its user in at `now`.
    pub fn is_active(&self, now: Timestamp) -> bool {
        self.revoked_at.is_none() && self.expires_at > now
    }
}

/// What is needed to create a session.
#[derive(Debug, Clone)]
pub struct NewSession {
    /// Hash of the cookie's key.
    pub key_hash: String,
    /// The signed-in user.
    pub user_id: UserId,
    /// JSON array of authentication methods.
    pub auth_methods: Value,
    /// Client address.
    pub client_ip: String,
    /// Browser's `User-Agent`.
    pub user_agent: String,
    /// When the session ends by itself.
    pub expires_at: Timestamp,
}

/// The columns of [`Session`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, key_hash, user_id, auth_methods, client_ip, user_agent, created_at, \
         last_seen_at, expires_at, revoked_at"
    };
}

/// Creates a session, seen for the first time at `now`. A taken key hash is
/// [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewSession, now: Timestamp) -> Result<Session> {
    let session = Session {
        id: SessionId::new(),
        key_hash: new.key_hash,
        user_id: new.user_id,
        auth_methods: new.auth_methods,
        client_ip: new.client_ip,
        user_agent: new.user_agent,
        created_at: now,
        last_seen_at: now,
        expires_at: new.expires_at,
        revoked_at: None,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO sessions (id, key_hash, user_id, auth_methods, client_ip, user_agent, \
             created_at, last_seen_at, expires_at, revoked_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        )
        .bind(session.id)
        .bind(&session.key_hash)
        .bind(session.user_id)
        .bind(Json(&session.auth_methods))
        .bind(&session.client_ip)
        .bind(&session.user_agent)
        .bind(session.created_at)
        .bind(session.last_seen_at)
        .bind(session.expires_at)
        .bind(session.revoked_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(session)
}

/// The session with this id, whatever its state.
pub async fn get(db: &mut impl Db, id: SessionId) -> Result<Option<Session>> {
    let sql = concat!("SELECT ", columns!(), " FROM sessions WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The session whose cookie key hashes to `key_hash`, if it is neither revoked nor
/// expired at `now`: what each request is authenticated with.
pub async fn find_active_by_key_hash(
    db: &mut impl Db,
    key_hash: &str,
    now: Timestamp,
) -> Result<Option<Session>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sessions WHERE key_hash = $1 AND revoked_at IS NULL AND expires_at > $2"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(key_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
}

/// The sessions of `user` in force at `now`, oldest first.
pub async fn list_active_for_user(
    db: &mut impl Db,
    user: UserId,
    now: Timestamp,
) -> Result<Vec<Session>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM sessions WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 \
         ORDER BY created_at, id"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(user)
        .bind(now)
        .fetch_all(c)
        .await)?)
}

/// Records a request seen at `now`. Returns `false` (and changes nothing) when the
/// session is unknown, revoked or expired.
pub async fn touch(db: &mut impl Db, id: SessionId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE sessions SET last_seen_at = $2 \
             WHERE id = $1 AND revoked_at IS NULL AND expires_at > $2",
        )
        .bind(id)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Revokes a session at `now`. Returns `false` when it was unknown or already
/// revoked, so the first revocation time is kept.
pub async fn revoke(db: &mut impl Db, id: SessionId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Revokes every session of `user` in force at `now` (sign out everywhere) and
/// returns their ids, in no particular order, for outposts to be told.
pub async fn revoke_all_for_user(
    db: &mut impl Db,
    user: UserId,
    now: Timestamp,
) -> Result<Vec<SessionId>> {
    Ok(dispatch!(db, |c| {
        sqlx::query_scalar(
            "UPDATE sessions SET revoked_at = $2 \
             WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 RETURNING id",
        )
        .bind(user)
        .bind(now)
        .fetch_all(c)
        .await
    })?)
}

/// Sessions revoked at or after `since`, oldest revocation first, with the time of
/// revocation. The bound is inclusive: an outpost passing the last time it saw may
/// hear about a session twice, never miss one revoked in the same microsecond.
pub async fn revoked_since(
    db: &mut impl Db,
    since: Timestamp,
) -> Result<Vec<(SessionId, Timestamp)>> {
    Ok(dispatch!(db, |c| {
        sqlx::query_as(
            "SELECT id, revoked_at FROM sessions WHERE revoked_at >= $1 \
             ORDER BY revoked_at, id",
        )
        .bind(since)
        .fetch_all(c)
        .await
    })?)
}

/// Deletes every session that has expired at `now`, revoked or not; returns how many.
pub async fn delete_expired(db: &mut impl Db, now: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query("DELETE FROM sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

#[cfg(test)]
mod tests;
