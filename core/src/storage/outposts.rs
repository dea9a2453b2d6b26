//! Outposts: remote proxies that enforce access for proxy providers. An outpost
//! authenticates to the control channel with a token of which only the hash is kept.

use serde_json::Value;
use sqlx::types::Json;

use super::providers::{Provider, columns as provider_columns};
use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{OutpostId, ProviderId};
use crate::text_enum::text_enum;

text_enum!(
    /// What an outpost runs.
    OutpostKind {
        /// The forward-auth / reverse proxy.
        Proxy = "proxy",
    }
);

/// A stored outpost.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Outpost {
    /// Stable id.
    pub id: OutpostId,
    /// Unique name.
    pub name: String,
    /// What it runs.
    pub kind: OutpostKind,
    /// Hash of the token the outpost connects with.
    pub token_hash: String,
    /// Outpost configuration (log level, refresh interval, …).
    #[sqlx(json)]
    pub settings: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create an outpost.
#[derive(Debug, Clone)]
pub struct NewOutpost {
    /// Unique name.
    pub name: String,
    /// What it runs.
    pub kind: OutpostKind,
    /// Hash of its token.
    pub token_hash: String,
    /// Configuration.
    pub settings: Value,
}

impl NewOutpost {
    /// A proxy outpost with empty settings.
    pub fn new(name: impl Into<String>, token_hash: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: OutpostKind::Proxy,
            token_hash: token_hash.into(),
            settings: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`Outpost`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, kind, token_hash, settings, created_at, updated_at"
    };
}

/// Creates an outpost. A taken name or token hash is
/// [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewOutpost, now: Timestamp) -> Result<Outpost> {
    let outpost = Outpost {
        id: OutpostId::new(),
        name: new.name,
        kind: new.kind,
        token_hash: new.token_hash,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO outposts (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(outpost.id)
        .bind(&outpost.name)
        .bind(outpost.kind)
        .bind(&outpost.token_hash)
        .bind(Json(&outpost.settings))
        .bind(outpost.created_at)
        .bind(outpost.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(outpost)
}

/// The outpost with this id.
pub async fn get(db: &mut impl Db, id: OutpostId) -> Result<Option<Outpost>> {
    let sql = concat!("SELECT ", columns!(), " FROM outposts WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The outpost with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<Outpost>> {
    let sql = concat!("SELECT ", columns!(), " FROM outposts WHERE name = $1");
    fetch_optional!(db, sql, name)
}

/// The outpost whose token hashes to `token_hash`: how a connecting outpost is
/// recognised.
pub async fn find_by_token_hash(db: &mut impl Db, token_hash: &str) -> Result<Option<Outpost>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM outposts WHERE token_hash = $1"
    );
    fetch_optional!(db, sql, token_hash)
}

/// Every outpost, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<Outpost>> {
    let sql = concat!("SELECT ", columns!(), " FROM outposts ORDER BY name");
    fetch_all!(db, sql)
}

/// Writes the name, kind and settings of `outpost` (not its token, see
/// [`set_token_hash`]). Returns whether the outpost existed.
pub async fn update(db: &mut impl Db, outpost: &Outpost, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE outposts SET name = $2, kind = $3, settings = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(outpost.id)
        .bind(&outpost.name)
        .bind(outpost.kind)
        .bind(Json(&outpost.settings))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Replaces the outpost's token (rotation); the old one stops working at once.
/// Returns whether the outpost existed.
pub async fn set_token_hash(
    db: &mut impl Db,
    id: OutpostId,
    token_hash: &str,
    now: Timestamp,
) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE outposts SET token_hash = $2, updated_at = $3 WHERE id = $1")
            .bind(id)
            .bind(token_hash)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes an outpost and its provider links. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: OutpostId) -> Result<bool> {
    delete_one!(db, "DELETE FROM outposts WHERE id = $1", id)
}

/// Makes `providers` the ones the outpost serves, replacing the previous set, all or
/// nothing: an unknown provider is [`super::StorageError::MissingReference`] and
/// leaves the previous set in place. Duplicates count once.
pub async fn set_providers(
    db: &mut impl Db,
    outpost: OutpostId,
    providers: &[ProviderId],
) -> Result<()> {
    // A nested transaction (a savepoint when the caller already has one) makes the
    // replacement atomic whether `db` is a pooled connection or a transaction.
    dispatch!(db, |c| async {
        let mut tx = sqlx::Connection::begin(c).await?;
        sqlx::query("DELETE FROM outpost_providers WHERE outpost_id = $1")
            .bind(outpost)
            .execute(&mut *tx)
            .await?;
        for provider in providers {
            sqlx::query(
                "INSERT INTO outpost_providers (outpost_id, provider_id) VALUES ($1, $2) \
                 ON CONFLICT DO NOTHING",
            )
            .bind(outpost)
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
    .await)?;
    Ok(())
}

/// The providers the outpost serves, by name: what its configuration is built from.
pub async fn providers_of(db: &mut impl Db, outpost: OutpostId) -> Result<Vec<Provider>> {
    let sql = concat!(
        "SELECT ",
        provider_columns!(),
        " FROM providers WHERE id IN \
         (SELECT provider_id FROM outpost_providers WHERE outpost_id = $1) ORDER BY name"
    );
    fetch_all!(db, sql, outpost)
}

/// Every (outpost, provider) pair.
pub async fn all_providers(db: &mut impl Db) -> Result<Vec<(OutpostId, ProviderId)>> {
    fetch_all!(db, "SELECT outpost_id, provider_id FROM outpost_providers")
}

#[cfg(test)]
mod tests;
