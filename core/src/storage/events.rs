//! Events: the audit log (sign-ins, failures, changes), each kept for a retention
//! period chosen when it is recorded. Events outlive the users they mention, so the
//! username is copied and the user id is not a foreign key.

use serde_json::Value;
use sqlx::types::Json;
use time::Duration;

use super::{Db, Result, dispatch};
use crate::Timestamp;
use crate::ids::{EventId, UserId};

/// A stored event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Event {
    /// Stable id.
    pub id: EventId,
    /// What happened, as authentik names it (`login`, `login_failed`, `model_updated`).
    pub action: String,
    /// The user who acted, if known; may name a user deleted since.
    pub user_id: Option<UserId>,
    /// The user's name at the time, empty when anonymous.
    pub username: String,
    /// Client address.
    pub client_ip: String,
    /// Action-specific details.
    #[sqlx(json)]
    pub context: Value,
    /// When it happened.
    pub created_at: Timestamp,
    /// When the event may be deleted.
    pub expires_at: Timestamp,
}

/// What is needed to record an event.
#[derive(Debug, Clone)]
pub struct NewEvent {
    /// What happened.
    pub action: String,
    /// The user who acted.
    pub user_id: Option<UserId>,
    /// The user's name at the time.
    pub username: String,
    /// Client address.
    pub client_ip: String,
    /// Action-specific details.
    pub context: Value,
    /// How long the event is kept.
    pub retention: Duration,
}

impl NewEvent {
    /// An anonymous event with an empty context, kept for `retention`.
    pub fn new(action: impl Into<String>, retention: Duration) -> Self {
        Self {
            action: action.into(),
            user_id: None,
            username: String::new(),
            client_ip: String::new(),
            context: Value::Object(Default::default()),
            retention,
        }
    }
}

/// The columns of [`Event`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, action, user_id, username, client_ip, context, created_at, expires_at"
    };
}

/// Records an event that happened at `now`, kept until `now + retention`.
pub async fn record(db: &mut impl Db, new: NewEvent, now: Timestamp) -> Result<Event> {
    let event = Event {
        id: EventId::new(),
        action: new.action,
        user_id: new.user_id,
        username: new.username,
        client_ip: new.client_ip,
        context: new.context,
        created_at: now,
        expires_at: now + new.retention,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO events (id, action, user_id, username, client_ip, context, \
             created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(event.id)
        .bind(&event.action)
        .bind(event.user_id)
        .bind(&event.username)
        .bind(&event.client_ip)
        .bind(Json(&event.context))
        .bind(event.created_at)
        .bind(event.expires_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(event)
}

/// The `limit` newest events, newest first, only those with `action` when given.
pub async fn list_recent(db: &mut impl Db, limit: i64, action: Option<&str>) -> Result<Vec<Event>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM events WHERE ($2 IS NULL OR action = $2) \
         ORDER BY created_at DESC, id DESC LIMIT $1"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(limit)
        .bind(action)
        .fetch_all(c)
        .await)?)
}

/// How many `failed` events name `key` (in the username column, or the client IP
/// column with `by_ip`) after `since` and after the newest `succeeded` event naming
/// it: the consecutive failures login throttling counts.
pub async fn count_failures_since_success(
    db: &mut impl Db,
    failed: &str,
    succeeded: &str,
    key: &str,
    by_ip: bool,
    since: Timestamp,
) -> Result<i64> {
    let sql = if by_ip {
        "SELECT COUNT(*) FROM events WHERE action = $1 AND client_ip = $3 AND created_at > $4 \
         AND created_at > COALESCE((SELECT MAX(created_at) FROM events \
         WHERE action = $2 AND client_ip = $3), $4)"
    } else {
        "SELECT COUNT(*) FROM events WHERE action = $1 AND username = $3 AND created_at > $4 \
         AND created_at > COALESCE((SELECT MAX(created_at) FROM events \
         WHERE action = $2 AND username = $3), $4)"
    };
    Ok(dispatch!(db, |c| sqlx::query_scalar(sql)
        .bind(failed)
        .bind(succeeded)
        .bind(key)
        .bind(since)
        .fetch_one(c)
        .await)?)
}

/// Deletes every event whose retention has ended at `now`; returns how many.
pub async fn delete_expired(db: &mut impl Db, now: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query("DELETE FROM events WHERE expires_at <= $1")
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

#[cfg(test)]
mod tests;
