//! The flow engine: a flow's stage bindings become a plan kept in a flow session; each
//! request shows the current stage's challenge or takes its answer. The same engine
//! serves the HTML pages and the JSON executor; this module knows nothing of HTTP.
//!
//! A run starts with [`executor::run`]: it finds (or starts) the flow session named by
//! the caller's flow cookie key, plans the flow if needed (flow policies, stage
//! bindings with `evaluate_on_plan`), then lets the current stage answer. Answers that
//! complete the last stage end the flow with a redirect to where the user was going.

use serde::{Deserialize, Serialize};

use crate::Timestamp;
use crate::ids::{StageBindingId, StageId, UserId};
use crate::secrets::PasswordCost;

pub mod challenge;
pub mod executor;
mod stages;

pub(crate) use stages::{LOGIN_FAILED, LOGIN_SUCCEEDED, throttle_key};

pub use challenge::Challenge;

/// Slug of the shipped flow that sets the first admin's email and password.
pub const INITIAL_SETUP_SLUG: &str = "initial-setup";

/// Whether the initial-setup flow exists and is still open: no superuser has a usable
/// password yet (what its `setup` policy checks).
pub async fn initial_setup_open(store: &crate::storage::Store) -> Result<bool, FlowError> {
    let mut db = store.acquire().await?;
    if crate::storage::flows::find_by_slug(&mut db, INITIAL_SETUP_SLUG)
        .await?
        .is_none()
    {
        return Ok(false);
    }
    Ok(crate::storage::groups::superusers_with_password(&mut db).await? == 0)
}

/// One planned step: a stage binding and its stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Step {
    /// The binding (its policies and options).
    pub binding: StageBindingId,
    /// The stage.
    pub stage: StageId,
}

/// Everything a flow run carries between requests, stored as JSON in the flow session.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FlowState {
    /// The steps, in order.
    pub plan: Vec<Step>,
    /// Index of the current step.
    pub position: usize,
    /// The user the flow is about, once identified.
    pub pending_user: Option<UserId>,
    /// What the user typed to identify, kept when no user matched so that the next
    /// stages behave as if one had (no user enumeration).
    pub pending_identifier: Option<String>,
    /// Wrong answers on the current stage.
    pub attempts: u32,
    /// Where to send the user when the flow completes (already checked).
    pub next: Option<String>,
    /// How the user proved who they are (`pwd`), for the session and `amr`.
    pub auth_methods: Vec<String>,
    /// "Stay signed in" was ticked.
    pub remember_me: bool,
    /// Answers of prompt stages by field key; a password is kept only as its
    /// argon2id hash (a PHC string), never in the clear.
    pub prompt_data: std::collections::BTreeMap<String, serde_json::Value>,
    /// The OAuth2 authorization request an authorization flow runs for: when the
    /// flow completes, the code is issued and the browser sent back to the client.
    pub authorization: Option<crate::oauth2::PendingAuthorization>,
}

/// What the engine needs to know about the request.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// The user of the core session the request carries, if any.
    pub session_user: Option<UserId>,
    /// The core session's cookie key, if any (for logout).
    pub session_key: Option<String>,
    /// Client address.
    pub client_ip: String,
    /// `Host`.
    pub host: String,
    /// Method of the request.
    pub method: String,
    /// Path of the request, without the query.
    pub path: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// Request headers by lower-case name, for policies (without `Cookie` and
    /// `Authorization`).
    pub headers: std::collections::BTreeMap<String, String>,
    /// Where to go after the flow, already checked against open redirects.
    pub next: Option<String>,
    /// The time of the request.
    pub now: Timestamp,
    /// argon2id cost of new password hashes.
    pub password_cost: PasswordCost,
    /// When failed sign-ins lock further attempts.
    pub throttle: Throttle,
}

/// Login throttling: from the second consecutive failed sign-in for one login name the
/// answer is delayed (1 s, doubling, at most 8 s); after `per_user` failures for the
/// name, or `per_ip` from one client address, further attempts are refused until
/// `window` has passed since the failures (a success resets the count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttle {
    /// Failures per login name (what was typed, ignoring case).
    pub per_user: u32,
    /// Failures per client address (higher: offices share addresses).
    pub per_ip: u32,
    /// How far back failures count, and so how long a lock lasts.
    pub window: time::Duration,
}

impl Default for Throttle {
    fn default() -> Self {
        Self {
            per_user: 5,
            per_ip: 20,
            window: time::Duration::minutes(5),
        }
    }
}

/// What the caller must do besides showing the challenge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Effects {
    /// Set the flow cookie to this key (a new flow session started).
    pub set_flow_key: Option<String>,
    /// Clear the flow cookie (the flow ended).
    pub clear_flow_key: bool,
    /// Set the core session cookie: its key, and until when the browser should keep
    /// it (`None`: until the browser closes).
    pub login: Option<(String, Option<Timestamp>)>,
    /// Clear the core session cookie.
    pub logout: bool,
    /// Sessions were ended (a sign-out, or the others at a sign-in that ends them):
    /// outposts must be told.
    pub sessions_revoked: bool,
    /// Answer only after this long: consecutive failed sign-ins slow down before
    /// they lock. The caller waits (the engine holds nothing meanwhile).
    pub delay: Option<std::time::Duration>,
}

/// The answer to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// What to show (or where to go).
    pub challenge: Challenge,
    /// Cookies to set or clear.
    pub effects: Effects,
}

/// Why a flow could not run at all.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// No flow has this slug.
    #[error("no flow has the slug {0:?}")]
    UnknownFlow(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),
    /// A password could not be hashed (the system's randomness failed).
    #[error(transparent)]
    Secret(#[from] crate::secrets::SecretError),
}
