//! Tokens: long-lived API tokens and app passwords, and the one-time keys of recovery
//! and verification links. Only a hash of the secret part is stored.

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{TokenId, UserId};
use crate::text_enum::text_enum;

text_enum!(
    /// What a token may be used for (authentik's token intents).
    TokenIntent {
        /// Bearer token for the API.
        Api = "api",
        /// Password for a single application, used instead of the user's password.
        AppPassword = "app_password",
        /// One-time key of an account recovery link.
        Recovery = "recovery",
        /// One-time key of an email verification link.
        Verification = "verification",
    }
);

/// A stored token, without its secret.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Token {
    /// Stable id.
    pub id: TokenId,
    /// Unique name the user and the admin interface refer to the token by.
    pub identifier: String,
    /// What the token may be used for.
    pub intent: TokenIntent,
    /// The user the token acts as.
    pub user_id: UserId,
    /// Free text saying what the token is for.
    pub description: String,
    /// Hash of the secret key; unique, the key is looked up by it.
    pub key_hash: String,
    /// When the token stops working; `None` never.
    pub expires_at: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
}

/// What is needed to create a token.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// Unique name.
    pub identifier: String,
    /// What the token may be used for.
    pub intent: TokenIntent,
    /// The user the token acts as.
    pub user_id: UserId,
    /// Free text.
    pub description: String,
    /// Hash of the secret key.
    pub key_hash: String,
    /// Expiry; `None` never.
    pub expires_at: Option<Timestamp>,
}

/// The columns of [`Token`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, identifier, intent, user_id, description, key_hash, expires_at, created_at"
    };
}

/// Creates a token. A taken identifier or key hash is
/// [`super::StorageError::Conflict`], an unknown user
/// [`super::StorageError::MissingReference`].
pub async fn create(db: &mut impl Db, new: NewToken, now: Timestamp) -> Result<Token> {
    let token = Token {
        id: TokenId::new(),
        identifier: new.identifier,
        intent: new.intent,
        user_id: new.user_id,
        description: new.description,
        key_hash: new.key_hash,
        expires_at: new.expires_at,
        created_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO tokens (id, identifier, intent, user_id, description, key_hash, \
             expires_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(token.id)
        .bind(&token.identifier)
        .bind(token.intent)
        .bind(token.user_id)
        .bind(&token.description)
        .bind(&token.key_hash)
        .bind(token.expires_at)
        .bind(token.created_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(token)
}

/// The token with this identifier, expired or not (for management, not sign-in).
pub async fn find_by_identifier(db: &mut impl Db, identifier: &str) -> Result<Option<Token>> {
    let sql = concat!("SELECT ", columns!(), " FROM tokens WHERE identifier = $1");
    fetch_optional!(db, sql, identifier)
}

/// The token whose key hashes to `key_hash`, if it has not expired at `now`: what a
/// presented key is checked with. The caller still checks the intent.
pub async fn find_valid_by_key_hash(
    db: &mut impl Db,
    key_hash: &str,
    now: Timestamp,
) -> Result<Option<Token>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM tokens WHERE key_hash = $1 AND (expires_at IS NULL OR expires_at > $2)"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(key_hash)
        .bind(now)
        .fetch_optional(c)
        .await)?)
}

/// Every token of `user`, expired ones included, by identifier.
pub async fn list_for_user(db: &mut impl Db, user: UserId) -> Result<Vec<Token>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM tokens WHERE user_id = $1 ORDER BY identifier"
    );
    fetch_all!(db, sql, user)
}

/// Every token, by identifier.
pub async fn list(db: &mut impl Db) -> Result<Vec<Token>> {
    let sql = concat!("SELECT ", columns!(), " FROM tokens ORDER BY identifier");
    fetch_all!(db, sql)
}

/// Writes every field of `token` but its id and creation time. Returns whether it
/// existed.
pub async fn update(db: &mut impl Db, token: &Token) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE tokens SET identifier = $2, intent = $3, user_id = $4, description = $5, \
             key_hash = $6, expires_at = $7 WHERE id = $1",
        )
        .bind(token.id)
        .bind(&token.identifier)
        .bind(token.intent)
        .bind(token.user_id)
        .bind(&token.description)
        .bind(&token.key_hash)
        .bind(token.expires_at)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a token. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: TokenId) -> Result<bool> {
    delete_one!(db, "DELETE FROM tokens WHERE id = $1", id)
}

/// Deletes every token that has expired at `now`; returns how many.
pub async fn delete_expired(db: &mut impl Db, now: Timestamp) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query("DELETE FROM tokens WHERE expires_at IS NOT NULL AND expires_at <= $1")
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?)
}

#[cfg(test)]
mod tests;
