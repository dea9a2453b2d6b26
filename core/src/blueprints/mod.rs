//! Applying blueprints (issue "Blueprints", in progress): evaluating their tags, and
//! (to come) the model registry and the one-transaction apply.

pub mod eval;
