//! Flow sessions: a flow in progress, known by the hash of the random key in its
//! cookie. The engine keeps its plan and context in `state` (JSON it owns), so the
//! flow survives a restart and can continue on another replica.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch};
use crate::Timestamp;
use crate::ids::{FlowId, FlowSessionId};

/// A stored flow session.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct FlowSession {
    /// Stable id.
    pub id: FlowSessionId,
    /// Hash of the cookie's key.
    pub key_hash: String,
    /// The flow being run.
    pub flow_id: FlowId,
    /// The engine's plan and context.
    #[sqlx(json)]
    pub state: Value,
    /// When the flow started.
    pub created_at: Timestamp,
    /// Last answer.
    pub updated_at: Timestamp,
    /// After this the flow starts over.
    pub expires_at: Timestamp,
}

macro_rules! columns {
    () => {
        "id, key_hash, flow_id, state, created_at, updated_at, expires_at"
    };
}

/// Starts a flow session.
pub async fn create(
    db: &mut impl Db,
    key_hash: String,
    flow_id: FlowId,
    state: Value,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<FlowSession> {
    let session = FlowSession {
        id: FlowSessionId::new(),
        key_hash,
        flow_id,
        state,
        created_at: now,
        updated_at: now,
        expires_at,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO flow_sessions (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(session.id)
        .bind(&session.key_hash)
        .bind(session.flow_id)
        .bind(Json(&session.state))
        .bind(session.created_at)
        .bind(session.updated_at)
        .bind(session.expires_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(session)
}

/// The unexpired flow session of `flow` whose key hashes to `key_hash`.
pub async fn find_active(
    db: &mut impl Db,
    key_hash: &str,
    flow: FlowId,
    now: Timestamp,
) -> Result<Option<FlowSession>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM flow_sessions WHERE key_hash = $1 AND flow_id = $2 AND expires_at > $3"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(key_hash)
        .bind(flow)
        .bind(now)
        .fetch_optional(c)
        .await)?)
}

/// Replaces the state and pushes the expiry out. Returns whether the session existed.
pub async fn save_state(
    db: &mut impl Db,
    id: FlowSessionId,
    state: &Value,
    now: Timestamp,
    expires_at: Timestamp,
) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE flow_sessions SET state = $2, updated_at = $3, expires_at = $4 WHERE id = $1",
        )
        .bind(id)
        .bind(Json(state))
        .bind(now)
        .bind(expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Ends a flow session (the flow finished or was cancelled).
pub async fn delete(db: &mut impl Db, id: FlowSessionId) -> Result<bool> {
    delete_one!(db, "DELETE FROM flow_sessions WHERE id = $1", id)
}

/// Deletes every flow session that has expired at `now`; returns how many.
pub async fn delete_expired(db: &mut impl Db, now: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query("DELETE FROM flow_sessions WHERE expires_at <= $1")
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

#[cfg(test)]
mod tests;
