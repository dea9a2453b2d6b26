//! Users: who can sign in, with their profile, attributes and password hash.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::UserId;
use crate::text_enum::text_enum;

text_enum!(
    /// What kind of account a user is (authentik's user types).
    UserType {
        /// A person of the organisation.
        Internal = "internal",
        /// A person from outside (customer, partner).
        External = "external",
        /// A machine account that authenticates with tokens only.
        ServiceAccount = "service_account",
        /// A machine account Gatehouse manages itself (an outpost's).
        InternalServiceAccount = "internal_service_account",
    }
);

/// A stored user. `Debug` leaves out the password hash.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email address, may be empty.
    pub email: String,
    /// Folder-like path used to organise users (`users`, `infra`).
    pub path: String,
    /// An inactive user cannot sign in.
    pub is_active: bool,
    /// Kind of account.
    #[sqlx(rename = "type")]
    pub user_type: UserType,
    /// Free-form attributes policies and mappings read.
    #[sqlx(json)]
    pub attributes: Value,
    /// PHC-format password hash; `None` means no usable password.
    pub password_hash: Option<String>,
    /// When the password was last set.
    pub password_changed_at: Option<Timestamp>,
    /// Last successful sign-in.
    pub last_login: Option<Timestamp>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("is_active", &self.is_active)
            .field("user_type", &self.user_type)
            .field("has_password", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

/// What is needed to create a user; the rest starts empty.
#[derive(Clone)]
pub struct NewUser {
    /// Unique login name.
    pub username: String,
    /// Display name.
    pub name: String,
    /// Email address.
    pub email: String,
    /// Folder-like path.
    pub path: String,
    /// Whether the user may sign in.
    pub is_active: bool,
    /// Kind of account.
    pub user_type: UserType,
    /// Free-form attributes.
    pub attributes: Value,
    /// PHC-format password hash, if the user has a password.
    pub password_hash: Option<String>,
}

impl std::fmt::Debug for NewUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewUser")
            .field("username", &self.username)
            .field("has_password", &self.password_hash.is_some())
            .finish_non_exhaustive()
    }
}

impl NewUser {
    /// An active internal user in `users` with no password.
    pub fn new(username: impl Into<String>) -> Self {
        Self {
            username: username.into(),
            name: String::new(),
            email: String::new(),
            path: "users".into(),
            is_active: true,
            user_type: UserType::Internal,
            attributes: Value::Object(Default::default()),
            password_hash: None,
        }
    }
}

/// The columns of [`User`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, username, name, email, path, is_active, type, attributes, password_hash, \
         password_changed_at, last_login, created_at, updated_at"
    };
}
// Other repositories select whole users too (group members).
pub(crate) use columns;

/// Creates a user. A taken username is [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewUser, now: Timestamp) -> Result<User> {
    let user = User {
        id: UserId::new(),
        username: new.username,
        name: new.name,
        email: new.email,
        path: new.path,
        is_active: new.is_active,
        user_type: new.user_type,
        attributes: new.attributes,
        password_changed_at: new.password_hash.as_ref().map(|_| now),
        password_hash: new.password_hash,
        last_login: None,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO users (id, username, name, email, path, is_active, type, attributes, \
             password_hash, password_changed_at, last_login, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
        )
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.name)
        .bind(&user.email)
        .bind(&user.path)
        .bind(user.is_active)
        .bind(user.user_type)
        .bind(Json(&user.attributes))
        .bind(&user.password_hash)
        .bind(user.password_changed_at)
        .bind(user.last_login)
        .bind(user.created_at)
        .bind(user.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(user)
}

/// The user with this id.
pub async fn get(db: &mut impl Db, id: UserId) -> Result<Option<User>> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The user with exactly this username.
pub async fn find_by_username(db: &mut impl Db, username: &str) -> Result<Option<User>> {
    let sql = concat!("SELECT ", columns!(), " FROM users WHERE username = $1");
    fetch_optional!(db, sql, username)
}

/// Users whose username or email equals `value` ignoring case (identification stage).
/// More than one match is possible for emails; the caller decides what that means.
pub async fn find_by_login_ignoring_case(db: &mut impl Db, value: &str) -> Result<Vec<User>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM users WHERE lower(username) = lower($1) OR lower(email) = lower($1) \
         ORDER BY username"
    );
    fetch_all!(db, sql, value)
}

/// A page of users ordered by username.
pub async fn list(db: &mut impl Db, limit: i64, offset: i64) -> Result<Vec<User>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM users ORDER BY username LIMIT $1 OFFSET $2"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(limit)
        .bind(offset)
        .fetch_all(c)
        .await)?)
}

/// How many users exist.
pub async fn count(db: &mut impl Db) -> Result<i64> {
    Ok(dispatch!(db, |c| sqlx::query_scalar(
        "SELECT COUNT(*) FROM users"
    )
    .fetch_one(c)
    .await)?)
}

/// Writes the profile fields of `user` (not the password or login time). Returns
/// whether the user existed.
pub async fn update(db: &mut impl Db, user: &User, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE users SET username = $2, name = $3, email = $4, path = $5, is_active = $6, \
             type = $7, attributes = $8, updated_at = $9 WHERE id = $1",
        )
        .bind(user.id)
        .bind(&user.username)
        .bind(&user.name)
        .bind(&user.email)
        .bind(&user.path)
        .bind(user.is_active)
        .bind(user.user_type)
        .bind(Json(&user.attributes))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Sets (or with `None`, removes) the password hash.
pub async fn set_password_hash(
    db: &mut impl Db,
    id: UserId,
    hash: Option<&str>,
    now: Timestamp,
) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE users SET password_hash = $2, password_changed_at = $3, updated_at = $3 \
             WHERE id = $1",
        )
        .bind(id)
        .bind(hash)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Records a successful sign-in.
pub async fn record_login(db: &mut impl Db, id: UserId, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE users SET last_login = $2 WHERE id = $1")
            .bind(id)
            .bind(now)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a user with their memberships, tokens and sessions.
pub async fn delete(db: &mut impl Db, id: UserId) -> Result<bool> {
    delete_one!(db, "DELETE FROM users WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
