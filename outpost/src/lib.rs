//! The Gatehouse outpost: answers forward-auth subrequests and proxies traffic itself,
//! deciding every request locally from the configuration the core pushes to it.
//!
//! The proxy arrives with the outpost issue; until then this crate only fixes its
//! place in the workspace and its dependency rule: it links `gatehouse-core` without
//! the `storage` feature, so no database driver ends up in the outpost binary (the
//! `dependency_rules` end-to-end test checks this with `cargo tree`).
