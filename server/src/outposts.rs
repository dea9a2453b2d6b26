//! The control channel's hub: outposts connect over a WebSocket, get their config
//! and hear every revocation (protocol: `gatehouse_config::control`).

pub mod connection;
pub mod embedded;
pub mod hub;
mod status;

pub use hub::{Change, Hub};
