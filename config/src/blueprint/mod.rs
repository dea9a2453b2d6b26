//! Blueprints: Gatehouse's configuration as code, YAML files of the shape authentik's
//! blueprints have. This module parses; `gatehouse-core` applies.
//!
//! Work in progress (issue "Blueprints"): so far the YAML layer that keeps each node's
//! position and tag; the entry model and tags build on it.

pub mod yaml;
