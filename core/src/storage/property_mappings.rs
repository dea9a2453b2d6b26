//! Property mappings: expressions that turn a user into the claims or headers a
//! provider sends (`openid`, `email`, `profile` scopes). The ones Gatehouse ships
//! carry a `managed` key so an upgrade can find and refresh them.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::PropertyMappingId;

/// A stored property mapping.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct PropertyMapping {
    /// Stable id.
    pub id: PropertyMappingId,
    /// Unique name.
    pub name: String,
    /// Unique key of a mapping Gatehouse manages (`goauthentik.io/providers/oauth2/
    /// scope-email` in authentik); `None` for one an admin made.
    pub managed: Option<String>,
    /// Which mapping implementation applies it (`scope`, …).
    pub kind: String,
    /// The expression evaluated for each user.
    pub expression: String,
    /// The kind's own settings (the scope name, its description).
    #[sqlx(json)]
    pub settings: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a property mapping.
#[derive(Debug, Clone)]
pub struct NewPropertyMapping {
    /// Unique name.
    pub name: String,
    /// Managed key, if Gatehouse owns the mapping.
    pub managed: Option<String>,
    /// Which implementation applies it.
    pub kind: String,
    /// The expression.
    pub expression: String,
    /// The kind's settings.
    pub settings: Value,
}

impl NewPropertyMapping {
    /// An unmanaged mapping with empty settings.
    pub fn new(
        name: impl Into<String>,
        kind: impl Into<String>,
        expression: impl Into<String>,
    ) -> Self {
        Self {
            name: name.into(),
            managed: None,
            kind: kind.into(),
            expression: expression.into(),
            settings: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`PropertyMapping`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, managed, kind, expression, settings, created_at, updated_at"
    };
}

/// Creates a property mapping. A taken name or managed key is
/// [`super::StorageError::Conflict`].
pub async fn create(
    db: &mut impl Db,
    new: NewPropertyMapping,
    now: Timestamp,
) -> Result<PropertyMapping> {
    let mapping = PropertyMapping {
        id: PropertyMappingId::new(),
        name: new.name,
        managed: new.managed,
        kind: new.kind,
        expression: new.expression,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO property_mappings (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(mapping.id)
        .bind(&mapping.name)
        .bind(&mapping.managed)
        .bind(&mapping.kind)
        .bind(&mapping.expression)
        .bind(Json(&mapping.settings))
        .bind(mapping.created_at)
        .bind(mapping.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(mapping)
}

/// The property mapping with this id.
pub async fn get(db: &mut impl Db, id: PropertyMappingId) -> Result<Option<PropertyMapping>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM property_mappings WHERE id = $1"
    );
    fetch_optional!(db, sql, id)
}

/// The property mapping with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<PropertyMapping>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM property_mappings WHERE name = $1"
    );
    fetch_optional!(db, sql, name)
}

/// The managed property mapping with this key.
pub async fn find_by_managed(db: &mut impl Db, managed: &str) -> Result<Option<PropertyMapping>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM property_mappings WHERE managed = $1"
    );
    fetch_optional!(db, sql, managed)
}

/// Every property mapping, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<PropertyMapping>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM property_mappings ORDER BY name"
    );
    fetch_all!(db, sql)
}

/// Writes every field of `mapping` but its id and creation time. Returns whether the
/// mapping existed.
pub async fn update(db: &mut impl Db, mapping: &PropertyMapping, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE property_mappings SET name = $2, managed = $3, kind = $4, expression = $5, \
             settings = $6, updated_at = $7 WHERE id = $1",
        )
        .bind(mapping.id)
        .bind(&mapping.name)
        .bind(&mapping.managed)
        .bind(&mapping.kind)
        .bind(&mapping.expression)
        .bind(Json(&mapping.settings))
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a property mapping and removes it from every provider. Returns whether it
/// existed.
pub async fn delete(db: &mut impl Db, id: PropertyMappingId) -> Result<bool> {
    delete_one!(db, "DELETE FROM property_mappings WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
