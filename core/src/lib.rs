//! Gatehouse's identity engine as a library: storage, and (as later issues add them)
//! flows and stages, the policy engine, OAuth2/OIDC logic, sessions and events.
//!
//! No HTTP here: the server crate owns listeners and the outpost owns the proxy. The
//! database layer sits behind the `storage` feature so the outpost can link this crate
//! without a database driver. Time is always a parameter (`now`), never read here.

#[cfg(feature = "storage")]
pub mod access;
pub mod blueprints;
pub mod bootstrap;
pub mod evaluator;
pub mod expr;
#[cfg(feature = "storage")]
pub mod flows;
pub mod ids;
#[cfg(feature = "storage")]
pub mod oauth2;
pub mod oidc;
#[cfg(feature = "storage")]
pub mod outposts;
#[cfg(feature = "storage")]
pub mod policies;
pub mod secrets;
#[cfg(feature = "storage")]
pub mod storage;
#[cfg(feature = "storage")]
pub(crate) mod text_enum;
pub mod timestamp;

pub use timestamp::Timestamp;
