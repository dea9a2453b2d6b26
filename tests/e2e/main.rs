//! End-to-end tests: real `gatehouse` binaries, real PostgreSQL, real HTTP(S) clients.
//! One test binary made of modules (every extra binary is another slow link).
//!
//! Run through `tests/run`, which builds the binary and starts PostgreSQL first.

// Test code: a failed unwrap is a failed test, with the reason in the message.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod blueprints;
mod browser;
mod dependency_rules;
mod flows;
mod fronts;
mod harness;
mod oidc;
mod outposts;
mod proxy_mode;
mod server;
mod sessions;
