//! Policies of every kind, policy bindings and applications.

use gatehouse_config::objects::{FieldError, Kind};
use serde::{Deserialize, Serialize};

use super::flows::{any, common_part};
use super::{
    CommonFields, Fields, Object, WriteError, join_settings, parse_id, settings_of, typed, untyped,
    yes,
};
use crate::Timestamp;
use crate::ids::{
    ApplicationId, FlowId, GroupId, PolicyBindingId, PolicyId, ProviderId, StageBindingId, UserId,
};
use crate::storage::applications::{self, Application, NewApplication};
use crate::storage::policies::{
    self, BindingTarget, NewPolicy, NewPolicyBinding, Policy, PolicyBinding, PolicyBindingSubject,
    PolicyEngineMode,
};
use crate::storage::{StorageError, Tx, flows};

/// The fields every policy has besides its kind's settings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct PolicyCommon {
    name: String,
    #[serde(default)]
    execution_logging: bool,
}

impl CommonFields for PolicyCommon {
    const NAMES: &'static [&'static str] = &["name", "execution_logging"];
}

pub(super) async fn list_policies(tx: &mut Tx, kind: Kind) -> Result<Vec<Object>, StorageError> {
    Ok(policies::list(tx)
        .await?
        .into_iter()
        .filter(|p| p.kind == kind.name)
        .map(|p: Policy| Object {
            id: p.id.to_string(),
            fields: join_settings(
                kind,
                untyped(&PolicyCommon {
                    name: p.name,
                    execution_logging: p.execution_logging,
                }),
                &p.settings,
            ),
        })
        .collect())
}

pub(super) async fn create_policy(
    tx: &mut Tx,
    kind: Kind,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let common: PolicyCommon = typed(&common_part::<PolicyCommon>(fields))?;
    let policy = policies::create(
        tx,
        NewPolicy {
            name: common.name,
            kind: kind.name.to_owned(),
            settings: settings_of::<PolicyCommon>(fields),
            execution_logging: common.execution_logging,
        },
        now,
    )
    .await?;
    Ok(policy.id.to_string())
}

pub(super) async fn update_policy(
    tx: &mut Tx,
    _kind: Kind,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let common: PolicyCommon = typed(&common_part::<PolicyCommon>(fields))?;
    let Some(policy) = policies::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    policies::update(
        tx,
        &Policy {
            name: common.name,
            execution_logging: common.execution_logging,
            settings: settings_of::<PolicyCommon>(fields),
            ..policy
        },
        now,
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyBindingRecord {
    /// A flow, a stage binding or an application.
    target: String,
    #[serde(default)]
    policy: Option<PolicyId>,
    #[serde(default)]
    group: Option<GroupId>,
    #[serde(default)]
    user: Option<UserId>,
    order: i32,
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    negate: bool,
    /// Seconds.
    #[serde(default = "thirty")]
    timeout: u32,
    #[serde(default)]
    failure_result: bool,
}

fn thirty() -> u32 {
    30
}

impl PolicyBindingRecord {
    fn subject(&self) -> Result<PolicyBindingSubject, FieldError> {
        match (self.policy, self.group, self.user) {
            (Some(id), None, None) => Ok(PolicyBindingSubject::Policy(id)),
            (None, Some(id), None) => Ok(PolicyBindingSubject::Group(id)),
            (None, None, Some(id)) => Ok(PolicyBindingSubject::User(id)),
            _ => Err(FieldError {
                path: String::new(),
                message: "a policy binding names exactly one of `policy`, `group` or `user`".into(),
            }),
        }
    }

    fn timeout_ms(&self) -> Result<i32, FieldError> {
        self.timeout
            .checked_mul(1000)
            .and_then(|ms| i32::try_from(ms).ok())
            .ok_or_else(|| FieldError {
                path: "timeout".into(),
                message: "too long".into(),
            })
    }
}

pub(super) fn normalize_policy_binding(fields: Fields) -> Result<Fields, FieldError> {
    let record: PolicyBindingRecord = typed(&fields)?;
    record.subject()?;
    record.timeout_ms()?;
    Ok(untyped(&record))
}

/// Which kind of object `id` is.
async fn target_of(tx: &mut Tx, id: &str) -> Result<BindingTarget, WriteError> {
    let missing = || FieldError {
        path: "target".into(),
        message: format!("{id:?} is not a flow, stage binding or application"),
    };
    let uuid: uuid::Uuid = id.parse().map_err(|_| missing())?;
    if flows::get(tx, FlowId(uuid)).await?.is_some() {
        return Ok(BindingTarget::Flow(FlowId(uuid)));
    }
    if flows::get_binding(tx, StageBindingId(uuid))
        .await?
        .is_some()
    {
        return Ok(BindingTarget::StageBinding(StageBindingId(uuid)));
    }
    if applications::get(tx, ApplicationId(uuid)).await?.is_some() {
        return Ok(BindingTarget::Application(ApplicationId(uuid)));
    }
    Err(missing().into())
}

fn target_id(target: BindingTarget) -> String {
    match target {
        BindingTarget::Flow(id) => id.to_string(),
        BindingTarget::StageBinding(id) => id.to_string(),
        BindingTarget::Application(id) => id.to_string(),
    }
}

pub(super) async fn list_policy_bindings(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(policies::list_bindings(tx)
        .await?
        .into_iter()
        .map(|b: PolicyBinding| {
            let (policy, group, user) = match b.subject {
                PolicyBindingSubject::Policy(id) => (Some(id), None, None),
                PolicyBindingSubject::Group(id) => (None, Some(id), None),
                PolicyBindingSubject::User(id) => (None, None, Some(id)),
            };
            Object {
                id: b.id.to_string(),
                fields: untyped(&PolicyBindingRecord {
                    target: target_id(b.target),
                    policy,
                    group,
                    user,
                    order: b.sort_order,
                    enabled: b.enabled,
                    negate: b.negate,
                    timeout: u32::try_from(b.timeout_ms / 1000).unwrap_or(0),
                    failure_result: b.failure_result,
                }),
            }
        })
        .collect())
}

pub(super) async fn create_policy_binding(
    tx: &mut Tx,
    fields: &Fields,
) -> Result<String, WriteError> {
    let r: PolicyBindingRecord = typed(fields)?;
    let target = target_of(tx, &r.target).await?;
    let binding = policies::create_binding(
        tx,
        NewPolicyBinding {
            target,
            subject: r.subject()?,
            sort_order: r.order,
            enabled: r.enabled,
            negate: r.negate,
            timeout_ms: r.timeout_ms()?,
            failure_result: r.failure_result,
        },
    )
    .await?;
    Ok(binding.id.to_string())
}

pub(super) async fn update_policy_binding(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
) -> Result<(), WriteError> {
    let r: PolicyBindingRecord = typed(fields)?;
    let id: PolicyBindingId = parse_id(id)?;
    let target = target_of(tx, &r.target).await?;
    policies::update_binding(
        tx,
        &PolicyBinding {
            id,
            target,
            subject: r.subject()?,
            sort_order: r.order,
            enabled: r.enabled,
            negate: r.negate,
            timeout_ms: r.timeout_ms()?,
            failure_result: r.failure_result,
        },
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ApplicationRecord {
    slug: String,
    name: String,
    #[serde(default)]
    provider: Option<ProviderId>,
    #[serde(default)]
    group: String,
    #[serde(default)]
    meta_launch_url: String,
    #[serde(default)]
    meta_icon: String,
    #[serde(default)]
    meta_description: String,
    #[serde(default)]
    meta_publisher: String,
    #[serde(default)]
    open_in_new_tab: bool,
    #[serde(default = "any")]
    policy_engine_mode: PolicyEngineMode,
}

pub(super) async fn list_applications(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(applications::list(tx)
        .await?
        .into_iter()
        .map(|a: Application| Object {
            id: a.id.to_string(),
            fields: untyped(&ApplicationRecord {
                slug: a.slug,
                name: a.name,
                provider: a.provider_id,
                group: a.group_name,
                meta_launch_url: a.launch_url,
                meta_icon: a.icon,
                meta_description: a.description,
                meta_publisher: a.publisher,
                open_in_new_tab: a.open_in_new_tab,
                policy_engine_mode: a.policy_engine_mode,
            }),
        })
        .collect())
}

pub(super) async fn create_application(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: ApplicationRecord = typed(fields)?;
    let app = applications::create(
        tx,
        NewApplication {
            slug: r.slug,
            name: r.name,
            provider_id: r.provider,
            group_name: r.group,
            launch_url: r.meta_launch_url,
            icon: r.meta_icon,
            description: r.meta_description,
            publisher: r.meta_publisher,
            open_in_new_tab: r.open_in_new_tab,
            policy_engine_mode: r.policy_engine_mode,
        },
        now,
    )
    .await?;
    Ok(app.id.to_string())
}

pub(super) async fn update_application(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: ApplicationRecord = typed(fields)?;
    let Some(app) = applications::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    applications::update(
        tx,
        &Application {
            slug: r.slug,
            name: r.name,
            provider_id: r.provider,
            group_name: r.group,
            launch_url: r.meta_launch_url,
            icon: r.meta_icon,
            description: r.meta_description,
            publisher: r.meta_publisher,
            open_in_new_tab: r.open_in_new_tab,
            policy_engine_mode: r.policy_engine_mode,
            ..app
        },
        now,
    )
    .await?;
    Ok(())
}
