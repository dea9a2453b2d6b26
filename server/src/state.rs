//! What every request handler can reach.

use std::sync::Arc;

use gatehouse_config::{Secret, Settings};
use gatehouse_core::storage::Store;

/// Shared state of the core's HTTP surface; cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    /// The database.
    pub store: Store,
    /// Settings as loaded at start.
    pub settings: Arc<Settings>,
    /// The root secret: configured, or generated once into the data dir.
    pub secret_key: Secret,
    /// OAuth2 clients and tokens kept between requests (see its docs for how stale
    /// they may get).
    pub oauth2: gatehouse_core::oauth2::Caches,
    /// Where changes that matter to outposts are published.
    pub hub: crate::outposts::Hub,
    /// The outpost running inside the server, when `embedded_outpost` is on.
    pub embedded_outpost: Option<Arc<gatehouse_outpost::http::Endpoints>>,
}
