//! Blueprints: Gatehouse's configuration as code, YAML files of the shape authentik's
//! blueprints have. This module parses and checks what needs no database; applying
//! them (model registry, tag evaluation, the transaction) is `gatehouse-core`'s.

pub mod emit;
#[cfg(test)]
mod fuzz;
pub mod model;
pub mod shipped;
mod tags;
pub mod yaml;

pub use emit::to_yaml;
pub use model::{
    Blueprint, BlueprintError, ConditionOp, Entry, EntryState, Value, ValueKind, parse,
};
