//! Policies and their bindings: a policy (expression, password, reputation, …) is
//! bound to a flow, a stage binding or an application, and a binding may instead name
//! a group or a user directly, as in authentik.
//!
//! The binding model lives in the `bindings` submodule and is re-exported here.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::PolicyId;
use crate::text_enum::text_enum;

mod bindings;

pub use bindings::{
    BindingTarget, DEFAULT_TIMEOUT_MS, NewPolicyBinding, PolicyBinding, PolicyBindingSubject,
    bindings_of_target, create_binding, delete_binding, list_bindings, update_binding,
};

text_enum!(
    /// How the results of several bindings combine into one decision.
    PolicyEngineMode {
        /// Every binding must pass.
        All = "all",
        /// One passing binding is enough.
        Any = "any",
    }
);

/// A stored policy.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Policy {
    /// Stable id.
    pub id: PolicyId,
    /// Unique name.
    pub name: String,
    /// Which policy implementation evaluates it (`expression`, `password`, …).
    pub kind: String,
    /// The kind's own settings.
    #[sqlx(json)]
    pub settings: Value,
    /// Log every evaluation, not only failures.
    pub execution_logging: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a policy.
#[derive(Debug, Clone)]
pub struct NewPolicy {
    /// Unique name.
    pub name: String,
    /// Which implementation evaluates it.
    pub kind: String,
    /// The kind's settings.
    pub settings: Value,
    /// Log every evaluation.
    pub execution_logging: bool,
}

impl NewPolicy {
    /// A policy of `kind` with empty settings and no execution logging.
    pub fn new(name: impl Into<String>, kind: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            kind: kind.into(),
            settings: Value::Object(Default::default()),
            execution_logging: false,
        }
    }
}

/// The columns of [`Policy`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, kind, settings, execution_logging, created_at, updated_at"
    };
}

/// Creates a policy. A taken name is [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewPolicy, now: Timestamp) -> Result<Policy> {
    let policy = Policy {
        id: PolicyId::new(),
        name: new.name,
        kind: new.kind,
        settings: new.settings,
        execution_logging: new.execution_logging,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(
            "INSERT INTO policies (id, name, kind, settings, execution_logging, created_at, \
             updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(policy.id)
        .bind(&policy.name)
        .bind(&policy.kind)
        .bind(Json(&policy.settings))
        .bind(policy.execution_logging)
        .bind(policy.created_at)
        .bind(policy.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(policy)
}

/// The policy with this id.
pub async fn get(db: &mut impl Db, id: PolicyId) -> Result<Option<Policy>> {
    let sql = concat!("SELECT ", columns!(), " FROM policies WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The policy with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<Policy>> {
    let sql = concat!("SELECT ", columns!(), " FROM policies WHERE name = $1");
    fetch_optional!(db, sql, name)
}

/// Every policy, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<Policy>> {
    let sql = concat!("SELECT ", columns!(), " FROM policies ORDER BY name");
    fetch_all!(db, sql)
}

/// Writes every field of `policy` but its id and creation time. Returns whether the
/// policy existed.
pub async fn update(db: &mut impl Db, policy: &Policy, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE policies SET name = $2, kind = $3, settings = $4, execution_logging = $5, \
             updated_at = $6 WHERE id = $1",
        )
        .bind(policy.id)
        .bind(&policy.name)
        .bind(&policy.kind)
        .bind(Json(&policy.settings))
        .bind(policy.execution_logging)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a policy with its bindings. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: PolicyId) -> Result<bool> {
    delete_one!(db, "DELETE FROM policies WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
