//! The Gatehouse core process: the HTTP and HTTPS listeners (axum on hyper, rustls),
//! health and metrics endpoints, and the command line. Later issues add the login
//! pages, the OIDC endpoints, the admin API and the outpost hub here.

pub mod blueprints;
pub mod cli;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod tls;

pub use http::app;
pub use state::AppState;
