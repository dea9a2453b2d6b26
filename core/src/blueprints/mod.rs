//! Applying blueprints: evaluating their tags, the model registry, and the
//! one-transaction apply and the export that reads back what apply writes.

pub mod eval;
#[cfg(feature = "storage")]
pub mod models;
#[cfg(feature = "storage")]
pub mod apply;
#[cfg(feature = "storage")]
pub mod export;
