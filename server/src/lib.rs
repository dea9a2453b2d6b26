//! The Gatehouse core process: the HTTP and HTTPS listeners (axum on hyper, rustls),
//! health and metrics endpoints, the login pages, the OIDC endpoints, the outposts'
//! control-channel hub, and the command line.

pub mod blueprints;
pub mod cli;
pub mod error;
pub mod http;
pub mod logging;
pub mod metrics;
pub mod outposts;
pub mod serve;
pub mod shutdown;
pub mod state;
pub mod tls;

pub use http::app;
pub use state::AppState;
