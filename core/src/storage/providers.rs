//! Providers: how an application is reached (an OAuth2/OIDC client, a forward-auth
//! proxy), with the flows they use and the property mappings that shape their claims.

use serde_json::Value;
use sqlx::types::Json;

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{FlowId, PropertyMappingId, ProviderId};
use crate::text_enum::text_enum;

text_enum!(
    /// Which protocol a provider speaks.
    ProviderKind {
        /// OAuth 2.0 / OpenID Connect.
        OAuth2 = "oauth2",
        /// Forward authentication through an outpost.
        Proxy = "proxy",
    }
);

/// A stored provider.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Provider {
    /// Stable id.
    pub id: ProviderId,
    /// Unique name.
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Flow run when a user is sent to the application (consent); `None` after the
    /// flow was deleted.
    pub authorization_flow_id: Option<FlowId>,
    /// Flow run when the user signs out of the application.
    pub invalidation_flow_id: Option<FlowId>,
    /// The kind's own settings (client id, redirect URIs, external host, …).
    #[sqlx(json)]
    pub settings: Value,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a provider.
#[derive(Debug, Clone)]
pub struct NewProvider {
    /// Unique name.
    pub name: String,
    /// Protocol.
    pub kind: ProviderKind,
    /// Authorization flow.
    pub authorization_flow_id: Option<FlowId>,
    /// Invalidation flow.
    pub invalidation_flow_id: Option<FlowId>,
    /// The kind's settings.
    pub settings: Value,
}

impl NewProvider {
    /// A provider of `kind` without flows or settings.
    pub fn new(name: impl Into<String>, kind: ProviderKind) -> Self {
        Self {
            name: name.into(),
            kind,
            authorization_flow_id: None,
            invalidation_flow_id: None,
            settings: Value::Object(Default::default()),
        }
    }
}

/// The columns of [`Provider`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, kind, authorization_flow_id, invalidation_flow_id, settings, created_at, \
         updated_at"
    };
}
// Outposts select whole providers too.
pub(crate) use columns;

/// Creates a provider. A taken name is [`super::StorageError::Conflict`], an unknown
/// flow [`super::StorageError::MissingReference`].
pub async fn create(db: &mut impl Db, new: NewProvider, now: Timestamp) -> Result<Provider> {
    let provider = Provider {
        id: ProviderId::new(),
        name: new.name,
        kind: new.kind,
        authorization_flow_id: new.authorization_flow_id,
        invalidation_flow_id: new.invalidation_flow_id,
        settings: new.settings,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO providers (",
            columns!(),
            ", client_id) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        ))
        .bind(provider.id)
        .bind(&provider.name)
        .bind(provider.kind)
        .bind(provider.authorization_flow_id)
        .bind(provider.invalidation_flow_id)
        .bind(Json(&provider.settings))
        .bind(provider.created_at)
        .bind(provider.updated_at)
        .bind(client_id_of(&provider))
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(provider)
}

/// The client id an OAuth2 or proxy provider is found by (kept in its own indexed,
/// unique column); `None` for other kinds and for a provider without one yet.
fn client_id_of(provider: &Provider) -> Option<&str> {
    matches!(provider.kind, ProviderKind::OAuth2 | ProviderKind::Proxy)
        .then(|| provider.settings.get("client_id").and_then(Value::as_str))
        .flatten()
        .filter(|id| !id.is_empty())
}

/// The OAuth2 or proxy provider whose client id is `client_id`.
pub async fn find_by_client_id(db: &mut impl Db, client_id: &str) -> Result<Option<Provider>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM providers WHERE client_id = $1"
    );
    fetch_optional!(db, sql, client_id)
}

/// The provider with this id.
pub async fn get(db: &mut impl Db, id: ProviderId) -> Result<Option<Provider>> {
    let sql = concat!("SELECT ", columns!(), " FROM providers WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The provider with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<Provider>> {
    let sql = concat!("SELECT ", columns!(), " FROM providers WHERE name = $1");
    fetch_optional!(db, sql, name)
}

/// Every provider, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<Provider>> {
    let sql = concat!("SELECT ", columns!(), " FROM providers ORDER BY name");
    fetch_all!(db, sql)
}

/// Writes every field of `provider` but its id and creation time. Returns whether the
/// provider existed.
pub async fn update(db: &mut impl Db, provider: &Provider, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE providers SET name = $2, kind = $3, authorization_flow_id = $4, \
             invalidation_flow_id = $5, settings = $6, updated_at = $7, client_id = $8 \
             WHERE id = $1",
        )
        .bind(provider.id)
        .bind(&provider.name)
        .bind(provider.kind)
        .bind(provider.authorization_flow_id)
        .bind(provider.invalidation_flow_id)
        .bind(Json(&provider.settings))
        .bind(now)
        .bind(client_id_of(provider))
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a provider with its mapping and outpost links; its application stays,
/// without a provider. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: ProviderId) -> Result<bool> {
    delete_one!(db, "DELETE FROM providers WHERE id = $1", id)
}

/// Makes `mappings` the provider's property mappings, replacing the previous set, all
/// or nothing: an unknown mapping is [`super::StorageError::MissingReference`] and
/// leaves the previous set in place. Duplicates in `mappings` count once.
pub async fn set_property_mappings(
    db: &mut impl Db,
    provider: ProviderId,
    mappings: &[PropertyMappingId],
) -> Result<()> {
    // A nested transaction (a savepoint when the caller already has one) makes the
    // replacement atomic whether `db` is a pooled connection or a transaction.
    dispatch!(db, |c| async {
        let mut tx = sqlx::Connection::begin(c).await?;
        sqlx::query("DELETE FROM provider_property_mappings WHERE provider_id = $1")
            .bind(provider)
            .execute(&mut *tx)
            .await?;
        for mapping in mappings {
            sqlx::query(
                "INSERT INTO provider_property_mappings (provider_id, property_mapping_id) \
                 VALUES ($1, $2) ON CONFLICT DO NOTHING",
            )
            .bind(provider)
            .bind(mapping)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await
    }
    .await)?;
    Ok(())
}

/// The ids of the provider's property mappings, ordered by mapping name.
pub async fn property_mappings_of(
    db: &mut impl Db,
    provider: ProviderId,
) -> Result<Vec<PropertyMappingId>> {
    Ok(dispatch!(db, |c| {
        sqlx::query_scalar(
            "SELECT m.id FROM property_mappings m \
             JOIN provider_property_mappings pm ON pm.property_mapping_id = m.id \
             WHERE pm.provider_id = $1 ORDER BY m.name",
        )
        .bind(provider)
        .fetch_all(c)
        .await
    })?)
}

/// Every (provider, property mapping) pair.
pub async fn all_property_mappings(
    db: &mut impl Db,
) -> Result<Vec<(ProviderId, PropertyMappingId)>> {
    fetch_all!(
        db,
        "SELECT provider_id, property_mapping_id FROM provider_property_mappings"
    )
}

#[cfg(test)]
mod tests;
