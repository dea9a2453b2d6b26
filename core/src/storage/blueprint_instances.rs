//! Blueprint instances: the record of each blueprint file applied, so that an admin
//! can see which files are in force, when they last ran and why one failed.

use super::{Db, Result, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::text_enum::text_enum;

text_enum!(
    /// How the last apply of a blueprint went.
    InstanceStatus {
        /// Applied whole.
        Successful = "successful",
        /// Refused; nothing of it was written.
        Error = "error",
        /// The file is gone; what it made stays.
        Orphaned = "orphaned",
    }
);

/// A stored blueprint instance.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct BlueprintInstance {
    /// Where the blueprint comes from: a path in the blueprints folder, or
    /// `builtin:<path>` for a shipped default.
    pub path: String,
    /// `metadata.name` of the blueprint.
    pub name: String,
    /// SHA-256 of the file's content.
    pub content_hash: String,
    /// Outcome of the last apply.
    pub status: InstanceStatus,
    /// The error of the last apply, empty when it succeeded.
    pub error: String,
    /// When it was last applied.
    pub last_applied_at: Timestamp,
    /// When it was first seen.
    pub created_at: Timestamp,
}

macro_rules! columns {
    () => {
        "path, name, content_hash, status, error, last_applied_at, created_at"
    };
}

/// Records an apply of `instance.path`, keeping the first-seen time of an existing row.
pub async fn record(db: &mut impl Db, instance: &BlueprintInstance) -> Result<()> {
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO blueprint_instances (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (path) DO UPDATE SET \
             name = excluded.name, content_hash = excluded.content_hash, \
             status = excluded.status, error = excluded.error, \
             last_applied_at = excluded.last_applied_at"
        ))
        .bind(&instance.path)
        .bind(&instance.name)
        .bind(&instance.content_hash)
        .bind(instance.status)
        .bind(&instance.error)
        .bind(instance.last_applied_at)
        .bind(instance.created_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(())
}

/// Marks the instance of `path` orphaned (its file is gone). Returns whether it existed.
pub async fn mark_orphaned(db: &mut impl Db, path: &str) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("UPDATE blueprint_instances SET status = $2 WHERE path = $1")
            .bind(path)
            .bind(InstanceStatus::Orphaned)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// The instance of `path`.
pub async fn get(db: &mut impl Db, path: &str) -> Result<Option<BlueprintInstance>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM blueprint_instances WHERE path = $1"
    );
    fetch_optional!(db, sql, path)
}

/// Every instance, by path.
pub async fn list(db: &mut impl Db) -> Result<Vec<BlueprintInstance>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM blueprint_instances ORDER BY path"
    );
    fetch_all!(db, sql)
}

#[cfg(test)]
mod tests;
