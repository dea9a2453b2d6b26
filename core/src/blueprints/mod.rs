//! Applying blueprints: evaluating their tags, the model registry, and the
//! one-transaction apply and the export that reads back what apply writes.

#[cfg(feature = "storage")]
pub mod apply;
pub mod eval;
#[cfg(feature = "storage")]
pub mod export;
#[cfg(feature = "storage")]
pub mod models;
