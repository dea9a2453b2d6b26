//! Flows, stages of every kind, and the bindings that put stages in flows.

use gatehouse_config::objects::Kind;
use serde::{Deserialize, Serialize};

use super::{
    CommonFields, Fields, Object, WriteError, join_settings, parse_id, settings_of, typed, untyped,
    yes,
};
use crate::Timestamp;
use crate::ids::{FlowId, StageId};
use crate::storage::flows::{
    self, DeniedAction, Flow, FlowAuthentication, FlowDesignation, FlowLayout,
    InvalidResponseAction, NewFlow, NewStageBinding, StageBinding,
};
use crate::storage::policies::PolicyEngineMode;
use crate::storage::stages::{self, NewStage, Stage};
use crate::storage::{StorageError, Tx};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct FlowRecord {
    slug: String,
    name: String,
    #[serde(default)]
    title: String,
    designation: FlowDesignation,
    #[serde(default = "auth_none")]
    authentication: FlowAuthentication,
    #[serde(default = "message_continue")]
    denied_action: DeniedAction,
    #[serde(default = "any")]
    policy_engine_mode: PolicyEngineMode,
    #[serde(default = "stacked")]
    layout: FlowLayout,
    #[serde(default)]
    background: String,
    #[serde(default)]
    compatibility_mode: bool,
}

fn auth_none() -> FlowAuthentication {
    FlowAuthentication::None
}
fn message_continue() -> DeniedAction {
    DeniedAction::MessageContinue
}
pub(super) fn any() -> PolicyEngineMode {
    PolicyEngineMode::Any
}
fn stacked() -> FlowLayout {
    FlowLayout::Stacked
}

pub(super) async fn list_flows(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(flows::list(tx)
        .await?
        .into_iter()
        .map(|f: Flow| Object {
            id: f.id.to_string(),
            fields: untyped(&FlowRecord {
                slug: f.slug,
                name: f.name,
                title: f.title,
                designation: f.designation,
                authentication: f.authentication,
                denied_action: f.denied_action,
                policy_engine_mode: f.policy_engine_mode,
                layout: f.layout,
                background: f.background,
                compatibility_mode: f.compatibility_mode,
            }),
        })
        .collect())
}

pub(super) async fn create_flow(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: FlowRecord = typed(fields)?;
    let flow = flows::create(
        tx,
        NewFlow {
            slug: r.slug,
            name: r.name,
            title: r.title,
            designation: r.designation,
            authentication: r.authentication,
            denied_action: r.denied_action,
            policy_engine_mode: r.policy_engine_mode,
            layout: r.layout,
            background: r.background,
            compatibility_mode: r.compatibility_mode,
        },
        now,
    )
    .await?;
    Ok(flow.id.to_string())
}

pub(super) async fn update_flow(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: FlowRecord = typed(fields)?;
    let Some(flow) = flows::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    flows::update(
        tx,
        &Flow {
            slug: r.slug,
            name: r.name,
            title: r.title,
            designation: r.designation,
            authentication: r.authentication,
            denied_action: r.denied_action,
            policy_engine_mode: r.policy_engine_mode,
            layout: r.layout,
            background: r.background,
            compatibility_mode: r.compatibility_mode,
            ..flow
        },
        now,
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StageBindingRecord {
    /// The flow.
    target: FlowId,
    stage: StageId,
    order: i32,
    #[serde(default)]
    evaluate_on_plan: bool,
    #[serde(default = "yes")]
    re_evaluate_policies: bool,
    #[serde(default = "retry")]
    invalid_response_action: InvalidResponseAction,
    #[serde(default = "any")]
    policy_engine_mode: PolicyEngineMode,
}

fn retry() -> InvalidResponseAction {
    InvalidResponseAction::Retry
}

pub(super) async fn list_stage_bindings(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(flows::list_bindings(tx)
        .await?
        .into_iter()
        .map(|b: StageBinding| Object {
            id: b.id.to_string(),
            fields: untyped(&StageBindingRecord {
                target: b.flow_id,
                stage: b.stage_id,
                order: b.sort_order,
                evaluate_on_plan: b.evaluate_on_plan,
                re_evaluate_policies: b.re_evaluate_policies,
                invalid_response_action: b.invalid_response_action,
                policy_engine_mode: b.policy_engine_mode,
            }),
        })
        .collect())
}

pub(super) async fn create_stage_binding(
    tx: &mut Tx,
    fields: &Fields,
) -> Result<String, WriteError> {
    let r: StageBindingRecord = typed(fields)?;
    let binding = flows::create_binding(
        tx,
        NewStageBinding {
            flow_id: r.target,
            stage_id: r.stage,
            sort_order: r.order,
            evaluate_on_plan: r.evaluate_on_plan,
            re_evaluate_policies: r.re_evaluate_policies,
            invalid_response_action: r.invalid_response_action,
            policy_engine_mode: r.policy_engine_mode,
        },
    )
    .await?;
    Ok(binding.id.to_string())
}

pub(super) async fn update_stage_binding(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
) -> Result<(), WriteError> {
    let r: StageBindingRecord = typed(fields)?;
    flows::update_binding(
        tx,
        &StageBinding {
            id: parse_id(id)?,
            flow_id: r.target,
            stage_id: r.stage,
            sort_order: r.order,
            evaluate_on_plan: r.evaluate_on_plan,
            re_evaluate_policies: r.re_evaluate_policies,
            invalid_response_action: r.invalid_response_action,
            policy_engine_mode: r.policy_engine_mode,
        },
    )
    .await?;
    Ok(())
}

/// The fields every stage has besides its kind's settings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct StageCommon {
    name: String,
}

impl CommonFields for StageCommon {
    const NAMES: &'static [&'static str] = &["name"];
}

pub(super) async fn list_stages(tx: &mut Tx, kind: Kind) -> Result<Vec<Object>, StorageError> {
    Ok(stages::list(tx)
        .await?
        .into_iter()
        .filter(|s| s.kind == kind.name)
        .map(|s: Stage| Object {
            id: s.id.to_string(),
            fields: join_settings(kind, untyped(&StageCommon { name: s.name }), &s.settings),
        })
        .collect())
}

pub(super) async fn create_stage(
    tx: &mut Tx,
    kind: Kind,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let common: StageCommon = typed(&common_part::<StageCommon>(fields))?;
    let stage = stages::create(
        tx,
        NewStage {
            name: common.name,
            kind: kind.name.to_owned(),
            settings: settings_of::<StageCommon>(fields),
        },
        now,
    )
    .await?;
    Ok(stage.id.to_string())
}

pub(super) async fn update_stage(
    tx: &mut Tx,
    _kind: Kind,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let common: StageCommon = typed(&common_part::<StageCommon>(fields))?;
    let Some(stage) = stages::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    stages::update(
        tx,
        &Stage {
            name: common.name,
            settings: settings_of::<StageCommon>(fields),
            ..stage
        },
        now,
    )
    .await?;
    Ok(())
}

/// The common fields of canonical `fields`.
pub(super) fn common_part<C: CommonFields>(fields: &Fields) -> Fields {
    fields
        .iter()
        .filter(|(k, _)| C::NAMES.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}
