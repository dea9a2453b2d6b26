//! Gatehouse's shared vocabulary: the settings every process reads, and (as later
//! issues add them) the declarative object types that blueprints and the control
//! channel carry. This crate parses and validates; it performs no I/O beyond reading
//! the settings file it is pointed at.

pub mod blueprint;
pub mod control;
pub mod env;
pub mod objects;
pub mod secret;
pub mod settings;

pub use env::{Environment, ProcessEnv};
pub use secret::Secret;
pub use settings::{
    DatabaseSettings, ListenSettings, LogFormat, LogLevel, LoginSettings, OutpostSettings,
    PasswordHashSettings, Settings, SettingsError, TlsSettings,
};
