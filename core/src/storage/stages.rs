//! Stages: the steps flows are made of (identification, password, consent, …), each
//! a kind with its own settings. Flows use them through stage bindings.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::StageId;

/// A stored stage.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Stage {
    /// Stable id.
    pub id: StageId,
    /// Unique name.
    pub name: String,
    /// Which stage implementation runs it (`identification`, `password`, …).
    pub kind: String,
    /// The kind's own settings.
    #[sqlx(json)]
    pub settings: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a stage.
#[derive(Debug, Clone)]
pub struct NewStage {
    /// Unique name.
    pub name: String,
    /// Which implementation runs it.
    pub kind: String,
    /// The kind's settings.
    pub settings: Value,
}

impl NewStage {
    /// A stage of `kind` with empty settings.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            settings: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`Stage`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, kind, settings, created_at, updated_at"
    };
}

/// Creates a stage. A taken name is [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewStage, now: Timestamp) -> Result<Stage> {
    let stage = Stage {
        id: StageId::new(),
        name: new.name,
        kind: new.kind,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO stages (id, name, kind, settings, created_at, updated_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(stage.id)
        .bind(&stage.name)
        .bind(&stage.kind)
        .bind(Json(&stage.settings))
        .bind(stage.created_at)
        .bind(stage.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(stage)
}

/// The stage with this id.
pub async fn get(db: &mut impl Db, id: StageId) -> Result<Option<Stage>> {
    let sql = concat!("SELECT ", columns!(), " FROM stages WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The stage with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<Stage>> {
    let sql = concat!("SELECT ", columns!(), " FROM stages WHERE name = $1");
    fetch_optional!(db, sql, name)
}

/// Every stage, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<Stage>> {
    let sql = concat!("SELECT ", columns!(), " FROM stages ORDER BY name");
    fetch_all!(db, sql)
}

/// Writes every field of `stage` but its id and creation time. Returns whether the
/// stage existed.
pub async fn update(db: &mut impl Db, stage: &Stage, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE stages SET name = $2, kind = $3, settings = $4, updated_at = $5 \
             WHERE id = $1",
        )
        .bind(stage.id)
        .bind(&stage.name)
        .bind(&stage.kind)
        .bind(Json(&stage.settings))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a stage and removes it from every flow. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: StageId) -> Result<bool> {
    delete_one!(db, "DELETE FROM stages WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
