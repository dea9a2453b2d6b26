//! Applications: what users see in their library and what access is granted to,
//! each backed by at most one provider (OAuth2, proxy) that speaks its protocol.

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::{ApplicationId, ProviderId};
use crate::storage::policies::PolicyEngineMode;

/// A stored application.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Application {
    /// Stable id.
    pub id: ApplicationId,
    /// Unique name in URLs.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The provider; `None` makes a plain link. A provider backs one application.
    pub provider_id: Option<ProviderId>,
    /// Heading the library groups the application under (authentik's `group`).
    pub group_name: String,
    /// Where the library's link goes; empty to derive it from the provider.
    pub launch_url: String,
    /// Icon URL.
    pub icon: String,
    /// Description shown in the library.
    pub description: String,
    /// Publisher shown in the library.
    pub publisher: String,
    /// Open the link in a new browser tab.
    pub open_in_new_tab: bool,
    /// How the application's policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create an application.
#[derive(Debug, Clone)]
pub struct NewApplication {
    /// Unique URL name.
    pub slug: String,
    /// Display name.
    pub name: String,
    /// The provider, if any.
    pub provider_id: Option<ProviderId>,
    /// Library heading.
    pub group_name: String,
    /// Link target.
    pub launch_url: String,
    /// Icon URL.
    pub icon: String,
    /// Description.
    pub description: String,
    /// Publisher.
    pub publisher: String,
    /// Open in a new tab.
    pub open_in_new_tab: bool,
    /// How policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
}

impl NewApplication {
    /// An application without provider or library details.
    pub fn new(slug: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            slug: slug.into(),
            name: name.into(),
            provider_id: None,
            group_name: String::new(),
            launch_url: String::new(),
            icon: String::new(),
            description: String::new(),
            publisher: String::new(),
            open_in_new_tab: false,
            policy_engine_mode: PolicyEngineMode::Any,
        }
    }
}

/// The columns of [`Application`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, slug, name, provider_id, group_name, launch_url, icon, description, publisher, \
         open_in_new_tab, policy_engine_mode, created_at, updated_at"
    };
}

/// Creates an application. A taken slug, or a provider already backing another
/// application, is [`super::StorageError::Conflict`]; an unknown provider
/// [`super::StorageError::MissingReference`].
pub async fn create(db: &mut impl Db, new: NewApplication, now: Timestamp) -> Result<Application> {
    let app = Application {
        id: ApplicationId::new(),
        slug: new.slug,
        name: new.name,
        provider_id: new.provider_id,
        group_name: new.group_name,
        launch_url: new.launch_url,
        icon: new.icon,
        description: new.description,
        publisher: new.publisher,
        open_in_new_tab: new.open_in_new_tab,
        policy_engine_mode: new.policy_engine_mode,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO applications (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(app.id)
        .bind(&app.slug)
        .bind(&app.name)
        .bind(app.provider_id)
        .bind(&app.group_name)
        .bind(&app.launch_url)
        .bind(&app.icon)
        .bind(&app.description)
        .bind(&app.publisher)
        .bind(app.open_in_new_tab)
        .bind(app.policy_engine_mode)
        .bind(app.created_at)
        .bind(app.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(app)
}

/// The application with this id.
pub async fn get(db: &mut impl Db, id: ApplicationId) -> Result<Option<Application>> {
    let sql = concat!("SELECT ", columns!(), " FROM applications WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The application with exactly this slug.
pub async fn find_by_slug(db: &mut impl Db, slug: &str) -> Result<Option<Application>> {
    let sql = concat!("SELECT ", columns!(), " FROM applications WHERE slug = $1");
    fetch_optional!(db, sql, slug)
}

/// The application `provider` backs, if any: whose policies a provider's request is
/// checked against.
pub async fn find_by_provider(
    db: &mut impl Db,
    provider: ProviderId,
) -> Result<Option<Application>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM applications WHERE provider_id = $1"
    );
    fetch_optional!(db, sql, provider)
}

/// Every application, ordered by name then slug (the library's order).
pub async fn list(db: &mut impl Db) -> Result<Vec<Application>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM applications ORDER BY name, slug"
    );
    fetch_all!(db, sql)
}

/// Writes every field of `app` but its id and creation time. Returns whether the
/// application existed.
pub async fn update(db: &mut impl Db, app: &Application, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE applications SET slug = $2, name = $3, provider_id = $4, group_name = $5, \
             launch_url = $6, icon = $7, description = $8, publisher = $9, \
             open_in_new_tab = $10, policy_engine_mode = $11, updated_at = $12 WHERE id = $1",
        )
        .bind(app.id)
        .bind(&app.slug)
        .bind(&app.name)
        .bind(app.provider_id)
        .bind(&app.group_name)
        .bind(&app.launch_url)
        .bind(&app.icon)
        .bind(&app.description)
        .bind(&app.publisher)
        .bind(app.open_in_new_tab)
        .bind(app.policy_engine_mode)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes an application; its provider stays. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: ApplicationId) -> Result<bool> {
    delete_one!(db, "DELETE FROM applications WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
