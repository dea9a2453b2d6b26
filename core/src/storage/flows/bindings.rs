//! Stage bindings: which stages a flow runs, in which order, and how each reacts to
//! invalid input and to its own policy bindings.

use crate::ids::{FlowId, StageBindingId, StageId};
use crate::storage::policies::PolicyEngineMode;
use crate::storage::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::text_enum::text_enum;

text_enum!(
    /// What the flow does when a stage receives an invalid response.
    InvalidResponseAction {
        /// Show the stage again.
        Retry = "retry",
        /// Start the flow over.
        Restart = "restart",
        /// Start the flow over, keeping what the flow has gathered.
        RestartWithContext = "restart_with_context",
    }
);

/// A stored stage binding.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct StageBinding {
    /// Stable id; policy bindings refer to it.
    pub id: StageBindingId,
    /// The flow.
    pub flow_id: FlowId,
    /// The stage it runs.
    pub stage_id: StageId,
    /// Position in the flow, lowest first.
    pub sort_order: i32,
    /// Evaluate the binding's policies when the flow is planned.
    pub evaluate_on_plan: bool,
    /// Evaluate them again when the plan reaches the stage.
    pub re_evaluate_policies: bool,
    /// Reaction to an invalid response.
    pub invalid_response_action: InvalidResponseAction,
    /// How the binding's policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
}

/// What is needed to bind a stage to a flow.
#[derive(Debug, Clone)]
pub struct NewStageBinding {
    /// The flow.
    pub flow_id: FlowId,
    /// The stage.
    pub stage_id: StageId,
    /// Position in the flow.
    pub sort_order: i32,
    /// Evaluate policies when planning.
    pub evaluate_on_plan: bool,
    /// Evaluate policies again when reached.
    pub re_evaluate_policies: bool,
    /// Reaction to an invalid response.
    pub invalid_response_action: InvalidResponseAction,
    /// How policy bindings combine.
    pub policy_engine_mode: PolicyEngineMode,
}

impl NewStageBinding {
    /// A binding with the schema's defaults: policies re-evaluated when the stage is
    /// reached, retry on invalid input, any policy may pass.
    pub fn new(flow_id: FlowId, stage_id: StageId, sort_order: i32) -> Self {
        Self {
            flow_id,
            stage_id,
            sort_order,
            evaluate_on_plan: false,
            re_evaluate_policies: true,
            invalid_response_action: InvalidResponseAction::Retry,
            policy_engine_mode: PolicyEngineMode::Any,
        }
    }
}

/// The columns of [`StageBinding`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, flow_id, stage_id, sort_order, evaluate_on_plan, re_evaluate_policies, \
         invalid_response_action, policy_engine_mode"
    };
}

/// Binds a stage to a flow. The same stage at the same position twice is
/// [`crate::storage::StorageError::Conflict`]; an unknown flow or stage
/// [`crate::storage::StorageError::MissingReference`].
pub async fn create_binding(db: &mut impl Db, new: NewStageBinding) -> Result<StageBinding> {
    let binding = StageBinding {
        id: StageBindingId::new(),
        flow_id: new.flow_id,
        stage_id: new.stage_id,
        sort_order: new.sort_order,
        evaluate_on_plan: new.evaluate_on_plan,
        re_evaluate_policies: new.re_evaluate_policies,
        invalid_response_action: new.invalid_response_action,
        policy_engine_mode: new.policy_engine_mode,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO stage_bindings (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        ))
        .bind(binding.id)
        .bind(binding.flow_id)
        .bind(binding.stage_id)
        .bind(binding.sort_order)
        .bind(binding.evaluate_on_plan)
        .bind(binding.re_evaluate_policies)
        .bind(binding.invalid_response_action)
        .bind(binding.policy_engine_mode)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(binding)
}

/// The stage bindings of `flow` in the order the flow runs them (`sort_order`, then
/// id so that equal positions keep a stable order).
pub async fn bindings_of_flow(db: &mut impl Db, flow: FlowId) -> Result<Vec<StageBinding>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM stage_bindings WHERE flow_id = $1 ORDER BY sort_order, id"
    );
    fetch_all!(db, sql, flow)
}

/// The stage binding with this id.
pub async fn get_binding(db: &mut impl Db, id: StageBindingId) -> Result<Option<StageBinding>> {
    let sql = concat!("SELECT ", columns!(), " FROM stage_bindings WHERE id = $1");
    fetch_optional!(db, sql, id)
}

/// Every stage binding of every flow, by flow, order and id.
pub async fn list_bindings(db: &mut impl Db) -> Result<Vec<StageBinding>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM stage_bindings ORDER BY flow_id, sort_order, id"
    );
    fetch_all!(db, sql)
}

/// Writes every field of `binding` but its id. Returns whether it existed.
pub async fn update_binding(db: &mut impl Db, binding: &StageBinding) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE stage_bindings SET flow_id = $2, stage_id = $3, sort_order = $4, \
             evaluate_on_plan = $5, re_evaluate_policies = $6, invalid_response_action = $7, \
             policy_engine_mode = $8 WHERE id = $1",
        )
        .bind(binding.id)
        .bind(binding.flow_id)
        .bind(binding.stage_id)
        .bind(binding.sort_order)
        .bind(binding.evaluate_on_plan)
        .bind(binding.re_evaluate_policies)
        .bind(binding.invalid_response_action)
        .bind(binding.policy_engine_mode)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Removes a stage from a flow. Returns whether the binding existed.
pub async fn delete_binding(db: &mut impl Db, id: StageBindingId) -> Result<bool> {
    delete_one!(db, "DELETE FROM stage_bindings WHERE id = $1", id)
}
