//! The Gatehouse outpost: decides every request locally from the configuration and
//! revocations the core pushes over the control channel, and keeps enforcing them
//! when the core is out of reach.
//!
//! It links `gatehouse-core` without the `storage` feature, so no database driver
//! ends up in the outpost (the `dependency_rules` end-to-end test checks this with
//! `cargo tree`).

pub mod control;
pub mod decide;
pub mod http;
pub mod login;
pub mod session;
pub mod signin;
pub mod state;
mod tls;

#[cfg(test)]
mod testing;

use std::path::PathBuf;
use std::sync::Arc;

use gatehouse_config::OutpostSettings;
pub use state::Outpost;
use tokio::net::TcpListener;

/// The file in the data folder that keeps the last config and revocations.
pub const STATE_FILE: &str = "outpost-state.json";

/// Why the outpost could not start or stopped.
#[derive(Debug, thiserror::Error)]
pub enum OutpostError {
    /// A listener could not be bound.
    #[error("cannot listen on {addr} (GATEHOUSE_LISTEN__HTTP): {source}")]
    Bind {
        /// The address.
        addr: std::net::SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The data folder could not be made.
    #[error("cannot use the data folder {path} (GATEHOUSE_DATA_DIR): {source}")]
    DataDir {
        /// The folder.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The listener failed.
    #[error("listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// Runs the standalone outpost (`gatehouse outpost`) until `stop` completes.
/// `log_level`, when given, is called with the level the outpost's config names.
pub async fn run(
    settings: OutpostSettings,
    stop: impl Future<Output = ()>,
    log_level: Option<state::LogLevelHook>,
) -> Result<(), OutpostError> {
    std::fs::create_dir_all(&settings.data_dir).map_err(|source| OutpostError::DataDir {
        path: settings.data_dir.clone(),
        source,
    })?;
    let outpost = Outpost::with_log_level(Some(settings.data_dir.join(STATE_FILE)), log_level);
    let addr = settings.listen.http;
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| OutpostError::Bind { addr, source })?;
    tracing::info!(http = %listener.local_addr()?, core = %settings.host, "outpost listening");
    let Some(token) = settings.token else {
        // OutpostSettings::load refuses a missing token; this is only reached by a
        // caller that built the settings by hand.
        return Err(OutpostError::Io(std::io::Error::other(
            "GATEHOUSE_TOKEN is not set",
        )));
    };
    let target = control::Target {
        host: settings.host.clone(),
        token,
        danger_insecure: settings.insecure,
    };
    let core = signin::Core::new(&settings.host, settings.insecure)
        .map_err(|e| OutpostError::Io(std::io::Error::other(e)))?;
    let control = tokio::spawn(control::run(target, outpost.clone()));
    let endpoints = Arc::new(http::Endpoints { outpost, core });
    let result = tokio::select! {
        served = http::serve(listener, endpoints) => served.map_err(OutpostError::from),
        () = stop => Ok(()),
    };
    control.abort();
    tracing::info!("outpost stopped");
    result
}
