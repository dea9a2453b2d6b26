//! Errors of the server process, each naming what the operator should look at.

use gatehouse_core::bootstrap::BootstrapError;
use gatehouse_core::storage::StorageError;

/// Why the server could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A setting's value cannot work here (the port is taken, the folder is not writable).
    #[error("invalid setting {name}: {message}")]
    Setting {
        /// The setting, spelled as an environment variable.
        name: &'static str,
        /// What went wrong.
        message: String,
    },
    /// The secret key or TLS pair could not be read or made.
    #[error("{0}")]
    Bootstrap(#[from] BootstrapError),
    /// The configured database could not be reached.
    #[error("{0} (check GATEHOUSE_DATABASE__URL)")]
    Database(StorageError),
    /// The database could not be migrated or used.
    #[error("{0}")]
    Storage(#[from] StorageError),
    /// The TLS pair is not usable by rustls.
    #[error("TLS certificate or key unusable: {0}")]
    Tls(String),
    /// A listener failed while serving.
    #[error("{0}")]
    Io(#[from] std::io::Error),
    /// The token signing key could not be made.
    #[error("token signing key: {0}")]
    SigningKey(#[from] gatehouse_core::oidc::EnsureError),
}
