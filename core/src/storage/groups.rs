//! Groups: named sets of users, nested through `parent_id`, carrying attributes and
//! the superuser flag that a member inherits.

use serde_json::Value;
use sqlx::types::Json;

use super::users::{User, columns as user_columns};
use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{GroupId, UserId};

/// A stored group.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Group {
    /// Stable id.
    pub id: GroupId,
    /// Unique name.
    pub name: String,
    /// The group this one is nested in; members of this group count as members of
    /// every ancestor.
    pub parent_id: Option<GroupId>,
    /// Members are superusers (see everything in the admin interface).
    pub is_superuser: bool,
    /// Free-form attributes policies and mappings read.
    #[sqlx(json)]
    pub attributes: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a group.
#[derive(Debug, Clone)]
pub struct NewGroup {
    /// Unique name.
    pub name: String,
    /// The enclosing group, if any.
    pub parent_id: Option<GroupId>,
    /// Whether members are superusers.
    pub is_superuser: bool,
    /// Free-form attributes.
    pub attributes: Value,
}

impl NewGroup {
    /// A top-level, non-superuser group without attributes.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            parent_id: None,
            is_superuser: false,
            attributes: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`Group`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, parent_id, is_superuser, attributes, created_at, updated_at"
    };
}

/// Creates a group. A taken name is [`super::StorageError::Conflict`], an unknown
/// parent [`super::StorageError::MissingReference`].
pub async fn create(db: &mut impl Db, new: NewGroup, now: Timestamp) -> Result<Group> {
    let group = Group {
        id: GroupId::new(),
        name: new.name,
        parent_id: new.parent_id,
        is_superuser: new.is_superuser,
        attributes: new.attributes,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO groups (id, name, parent_id, is_superuser, attributes, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(group.id)
        .bind(&group.name)
        .bind(group.parent_id)
        .bind(group.is_superuser)
        .bind(Json(&group.attributes))
        .bind(group.created_at)
        .bind(group.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(group)
}

/// The group with this id.
pub async fn get(db: &mut impl Db, id: GroupId) -> Result<Option<Group>> {
    let sql = concat!("SELECT ", columns!(), " FROM groups WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The group with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<Group>> {
    let sql = concat!("SELECT ", columns!(), " FROM groups WHERE name = $1");
    fetch_optional!(db, sql, name)
}

/// Every group, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<Group>> {
    let sql = concat!("SELECT ", columns!(), " FROM groups ORDER BY name");
    fetch_all!(db, sql)
}

/// Writes every field of `group` but its id and creation time. Returns whether the
/// group existed.
pub async fn update(db: &mut impl Db, group: &Group, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE groups SET name = $2, parent_id = $3, is_superuser = $4, attributes = $5, \
             updated_at = $6 WHERE id = $1",
        )
        .bind(group.id)
        .bind(&group.name)
        .bind(group.parent_id)
        .bind(group.is_superuser)
        .bind(Json(&group.attributes))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a group with its memberships and policy bindings; its child groups
/// become top-level groups.
pub async fn delete(db: &mut impl Db, id: GroupId) -> Result<bool> {
    delete_one!(db, "DELETE FROM groups WHERE id = $1", id)
}

/// Makes `user` a member of `group`. Returns `false` when they already were one.
pub async fn add_member(db: &mut impl Db, group: GroupId, user: UserId) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO group_memberships (group_id, user_id) VALUES ($1, $2) \
             ON CONFLICT DO NOTHING",
        )
        .bind(group)
        .bind(user)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Every (group, user) membership.
pub async fn memberships(db: &mut impl Db) -> Result<Vec<(GroupId, UserId)>> {
    fetch_all!(db, "SELECT group_id, user_id FROM group_memberships")
}

/// Ends the membership of `user` in `group`. Returns whether there was one.
pub async fn remove_member(db: &mut impl Db, group: GroupId, user: UserId) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("DELETE FROM group_memberships WHERE group_id = $1 AND user_id = $2")
            .bind(group)
            .bind(user)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// The direct members of `group` (not those of its child groups), by username.
pub async fn members(db: &mut impl Db, group: GroupId) -> Result<Vec<User>> {
    let sql = concat!(
        "SELECT ",
        user_columns!(),
        " FROM users WHERE id IN \
         (SELECT user_id FROM group_memberships WHERE group_id = $1) ORDER BY username"
    );
    fetch_all!(db, sql, group)
}

/// The groups `user` is a direct member of, by name.
pub async fn groups_of_user(db: &mut impl Db, user: UserId) -> Result<Vec<Group>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM groups WHERE id IN \
         (SELECT group_id FROM group_memberships WHERE user_id = $1) ORDER BY name"
    );
    fetch_all!(db, sql, user)
}

/// The groups `user` belongs to directly or through nesting (every ancestor of a
/// direct group), by name: what policies and the superuser check look at.
pub async fn groups_of_user_with_ancestors(db: &mut impl Db, user: UserId) -> Result<Vec<Group>> {
    // UNION (not UNION ALL) drops rows already found, so a parent cycle written by
    // mistake ends the recursion instead of looping forever.
    let sql = concat!(
        "WITH RECURSIVE ancestors (id) AS (\
         SELECT group_id FROM group_memberships WHERE user_id = $1 \
         UNION \
         SELECT g.parent_id FROM groups g JOIN ancestors a ON g.id = a.id \
         WHERE g.parent_id IS NOT NULL) \
         SELECT ",
        columns!(),
        " FROM groups WHERE id IN (SELECT id FROM ancestors) ORDER BY name"
    );
    fetch_all!(db, sql, user)
}

/// How many superusers (members of a superuser group or of a group nested under one)
/// have a usable password, active or not. While none has, initial setup is open.
pub async fn superusers_with_password(db: &mut impl Db) -> Result<i64> {
    Ok(dispatch!(db, |c| sqlx::query_scalar(
        "WITH RECURSIVE admin_groups (id) AS (\
         SELECT id FROM groups WHERE is_superuser \
         UNION \
         SELECT g.id FROM groups g JOIN admin_groups a ON g.parent_id = a.id) \
         SELECT COUNT(*) FROM users WHERE password_hash IS NOT NULL AND password_hash <> '' \
         AND id IN (SELECT user_id FROM group_memberships \
         WHERE group_id IN (SELECT id FROM admin_groups))"
    )
    .fetch_one(c)
    .await)?)
}

#[cfg(test)]
mod tests;
