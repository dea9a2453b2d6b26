//! Flows: ordered lists of stages a user walks through (sign-in, enrollment,
//! recovery, consent), with authentik's flow options.
//!
//! The binding of stages to flows lives in the `bindings` submodule and is
//! re-exported here.

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::FlowId;
use crate::storage::policies::PolicyEngineMode;
use crate::text_enum::text_enum;

mod bindings;

pub use bindings::{
    InvalidResponseAction, NewStageBinding, StageBinding, bindings_of_flow, create_binding,
    delete_binding, get_binding, list_bindings, update_binding,
};

text_enum!(
    /// What a flow is for; brands and providers pick flows by it.
    FlowDesignation {
        /// Signs a user in.
        Authentication = "authentication",
        /// Asks for consent before an application gets access.
        Authorization = "authorization",
        /// Creates an account.
        Enrollment = "enrollment",
        /// Signs a user out.
        Invalidation = "invalidation",
        /// Lets a user regain access to their account.
        Recovery = "recovery",
        /// Lets a user configure a stage (an authenticator).
        StageConfiguration = "stage_configuration",
        /// Deletes an account.
        Unenrollment = "unenrollment",
    }
);

text_enum!(
    /// Who may start a flow.
    FlowAuthentication {
        /// Anyone.
        None = "none",
        /// Only a signed-in user.
        RequireAuthenticated = "require_authenticated",
        /// Only someone not signed in.
        RequireUnauthenticated = "require_unauthenticated",
        /// Only a superuser.
        RequireSuperuser = "require_superuser",
        /// Only a request coming through an outpost.
        RequireOutpost = "require_outpost",
    }
);

text_enum!(
    /// What happens when the flow's policies deny access.
    DeniedAction {
        /// Show a message, continuing to the `next` URL if there is one.
        MessageContinue = "message_continue",
        /// Always show a message.
        Message = "message",
        /// Continue to the `next` URL without a message.
        Continue = "continue",
    }
);

text_enum!(
    /// How the flow executor page is laid out.
    FlowLayout {
        /// The form centred over the background.
        Stacked = "stacked",
        /// The form on the left.
        ContentLeft = "content_left",
        /// The form on the right.
        ContentRight = "content_right",
        /// The form in a sidebar on the left.
        SidebarLeft = "sidebar_left",
        /// The form in a sidebar on the right.
        SidebarRight = "sidebar_right",
    }
);

/// A stored flow.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct Flow {
    /// Stable id.
    pub id: FlowId,
    /// Unique name in URLs (`/if/flow/<slug>/`).
    pub slug: String,
    /// Name in the admin interface.
    pub name: String,
    /// Heading shown to the user.
    pub title: String,
    /// What the flow is for.
    pub designation: FlowDesignation,
    /// Who may start it.
    pub authentication: FlowAuthentication,
    /// What a denial does.
    pub denied_action: DeniedAction,
    /// How the flow's policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
    /// Page layout.
    pub layout: FlowLayout,
    /// Background image URL, empty for the default.
    pub background: String,
    /// Work around password managers and embedded browsers that mishandle the UI.
    pub compatibility_mode: bool,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

/// What is needed to create a flow.
#[derive(Debug, Clone)]
pub struct NewFlow {
    /// Unique URL name.
    pub slug: String,
    /// Admin name.
    pub name: String,
    /// Heading.
    pub title: String,
    /// What the flow is for.
    pub designation: FlowDesignation,
    /// Who may start it.
    pub authentication: FlowAuthentication,
    /// What a denial does.
    pub denied_action: DeniedAction,
    /// How policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
    /// Page layout.
    pub layout: FlowLayout,
    /// Background image URL.
    pub background: String,
    /// Compatibility mode.
    pub compatibility_mode: bool,
}

impl NewFlow {
    /// A flow with the schema's defaults, named and titled after its slug.
    pub fn new(slug: impl Into<String>, designation: FlowDesignation) -> Self {
        let slug = slug.into();
        Self {
            name: slug.clone(),
            title: slug.clone(),
            slug,
            designation,
            authentication: FlowAuthentication::None,
            denied_action: DeniedAction::MessageContinue,
            policy_engine_mode: PolicyEngineMode::Any,
            layout: FlowLayout::Stacked,
            background: String::new(),
            compatibility_mode: false,
        }
    }
}

/// The columns of [`Flow`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, slug, name, title, designation, authentication, denied_action, \
         policy_engine_mode, layout, background, compatibility_mode, created_at, updated_at"
    };
}

/// Creates a flow. A taken slug is [`super::StorageError::Conflict`].
pub async fn create(db: &mut impl Db, new: NewFlow, now: Timestamp) -> Result<Flow> {
    let flow = Flow {
        id: FlowId::new(),
        slug: new.slug,
        name: new.name,
        title: new.title,
        designation: new.designation,
        authentication: new.authentication,
        denied_action: new.denied_action,
        policy_engine_mode: new.policy_engine_mode,
        layout: new.layout,
        background: new.background,
        compatibility_mode: new.compatibility_mode,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO flows (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
        ))
        .bind(flow.id)
        .bind(&flow.slug)
        .bind(&flow.name)
        .bind(&flow.title)
        .bind(flow.designation)
        .bind(flow.authentication)
        .bind(flow.denied_action)
        .bind(flow.policy_engine_mode)
        .bind(flow.layout)
        .bind(&flow.background)
        .bind(flow.compatibility_mode)
        .bind(flow.created_at)
        .bind(flow.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(flow)
}

/// The flow with this id.
pub async fn get(db: &mut impl Db, id: FlowId) -> Result<Option<Flow>> {
    let sql = concat!("SELECT ", columns!(), " FROM flows WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// The flow with exactly this slug.
pub async fn find_by_slug(db: &mut impl Db, slug: &str) -> Result<Option<Flow>> {
    let sql = concat!("SELECT ", columns!(), " FROM flows WHERE slug = $1");
    fetch_optional!(db, sql, slug)
}

/// Every flow, ordered by slug.
pub async fn list(db: &mut impl Db) -> Result<Vec<Flow>> {
    let sql = concat!("SELECT ", columns!(), " FROM flows ORDER BY slug");
    fetch_all!(db, sql)
}

/// Writes every field of `flow` but its id and creation time. Returns whether the
/// flow existed.
pub async fn update(db: &mut impl Db, flow: &Flow, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE flows SET slug = $2, name = $3, title = $4, designation = $5, \
             authentication = $6, denied_action = $7, policy_engine_mode = $8, layout = $9, \
             background = $10, compatibility_mode = $11, updated_at = $12 WHERE id = $1",
        )
        .bind(flow.id)
        .bind(&flow.slug)
        .bind(&flow.name)
        .bind(&flow.title)
        .bind(flow.designation)
        .bind(flow.authentication)
        .bind(flow.denied_action)
        .bind(flow.policy_engine_mode)
        .bind(flow.layout)
        .bind(&flow.background)
        .bind(flow.compatibility_mode)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a flow with its stage bindings; brands and providers that used it are
/// left without that flow. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: FlowId) -> Result<bool> {
    delete_one!(db, "DELETE FROM flows WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
