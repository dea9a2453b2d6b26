//! Policy bindings: what a flow, stage binding or application is checked against (a
//! policy, a group or a user), in which order and with which options.
//!
//! The table has one nullable foreign key per target kind and per subject kind, with
//! CHECKs that exactly one of each is set; deleting either end deletes the binding.
//! Here both become enums, so a binding without a target or a subject cannot be
//! written through this API.

use crate::ids::{
    ApplicationId, FlowId, GroupId, PolicyBindingId, PolicyId, StageBindingId, UserId,
};
use crate::storage::{Db, Result, delete_one, dispatch, fetch_all};

/// How long a policy may run when the binding does not say (the column default).
pub const DEFAULT_TIMEOUT_MS: i32 = 30_000;

/// The object a binding applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BindingTarget {
    /// A flow.
    Flow(FlowId),
    /// A stage binding of a flow.
    StageBinding(StageBindingId),
    /// An application.
    Application(ApplicationId),
}

impl BindingTarget {
    fn columns(
        self,
    ) -> (
        Option<FlowId>,
        Option<StageBindingId>,
        Option<ApplicationId>,
    ) {
        match self {
            Self::Flow(id) => (Some(id), None, None),
            Self::StageBinding(id) => (None, Some(id), None),
            Self::Application(id) => (None, None, Some(id)),
        }
    }

    fn from_columns(
        flow: Option<FlowId>,
        stage_binding: Option<StageBindingId>,
        application: Option<ApplicationId>,
    ) -> Option<Self> {
        match (flow, stage_binding, application) {
            (Some(id), None, None) => Some(Self::Flow(id)),
            (None, Some(id), None) => Some(Self::StageBinding(id)),
            (None, None, Some(id)) => Some(Self::Application(id)),
            _ => None,
        }
    }
}

/// What a binding checks: a policy's result, or membership of a group, or being a
/// given user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PolicyBindingSubject {
    /// Passes when the policy passes.
    Policy(PolicyId),
    /// Passes when the user is a member of the group.
    Group(GroupId),
    /// Passes for this user only.
    User(UserId),
}

impl PolicyBindingSubject {
    fn columns(self) -> (Option<PolicyId>, Option<GroupId>, Option<UserId>) {
        match self {
            Self::Policy(id) => (Some(id), None, None),
            Self::Group(id) => (None, Some(id), None),
            Self::User(id) => (None, None, Some(id)),
        }
    }

    fn from_columns(
        policy: Option<PolicyId>,
        group: Option<GroupId>,
        user: Option<UserId>,
    ) -> Option<Self> {
        match (policy, group, user) {
            (Some(id), None, None) => Some(Self::Policy(id)),
            (None, Some(id), None) => Some(Self::Group(id)),
            (None, None, Some(id)) => Some(Self::User(id)),
            _ => None,
        }
    }
}

/// A stored policy binding.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyBinding {
    /// Stable id.
    pub id: PolicyBindingId,
    /// What the binding applies to.
    pub target: BindingTarget,
    /// What it checks.
    pub subject: PolicyBindingSubject,
    /// Position among the target's bindings, lowest first.
    pub sort_order: i32,
    /// A disabled binding is skipped.
    pub enabled: bool,
    /// Inverts the result.
    pub negate: bool,
    /// How long a policy may run, in milliseconds.
    pub timeout_ms: i32,
    /// The result when the policy errors or times out.
    pub failure_result: bool,
}

/// What is needed to create a policy binding.
#[derive(Debug, Clone)]
pub struct NewPolicyBinding {
    /// What the binding applies to.
    pub target: BindingTarget,
    /// What it checks.
    pub subject: PolicyBindingSubject,
    /// Position among the target's bindings.
    pub sort_order: i32,
    /// Whether it is evaluated.
    pub enabled: bool,
    /// Inverts the result.
    pub negate: bool,
    /// Policy time limit in milliseconds.
    pub timeout_ms: i32,
    /// The result on error or timeout.
    pub failure_result: bool,
}

impl NewPolicyBinding {
    /// An enabled, non-negated binding with the default timeout that fails closed.
    pub fn new(target: BindingTarget, subject: PolicyBindingSubject, sort_order: i32) -> Self {
        Self {
            target,
            subject,
            sort_order,
            enabled: true,
            negate: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            failure_result: false,
        }
    }
}

/// A binding as stored, before its target and subject are checked.
#[derive(sqlx::FromRow)]
struct PolicyBindingRow {
    id: PolicyBindingId,
    flow_id: Option<FlowId>,
    stage_binding_id: Option<StageBindingId>,
    application_id: Option<ApplicationId>,
    policy_id: Option<PolicyId>,
    group_id: Option<GroupId>,
    user_id: Option<UserId>,
    sort_order: i32,
    enabled: bool,
    negate: bool,
    timeout_ms: i32,
    failure_result: bool,
}

impl TryFrom<PolicyBindingRow> for PolicyBinding {
    type Error = sqlx::Error;

    fn try_from(row: PolicyBindingRow) -> Result<Self, sqlx::Error> {
        let decode_err = |what: &str| {
            sqlx::Error::Decode(
                format!("policy binding {} must name exactly one {what}", row.id).into(),
            )
        };
        let target =
            BindingTarget::from_columns(row.flow_id, row.stage_binding_id, row.application_id)
                .ok_or_else(|| decode_err("flow, stage binding or application"))?;
        let subject = PolicyBindingSubject::from_columns(row.policy_id, row.group_id, row.user_id)
            .ok_or_else(|| decode_err("policy, group or user"))?;
        Ok(Self {
            id: row.id,
            target,
            subject,
            sort_order: row.sort_order,
            enabled: row.enabled,
            negate: row.negate,
            timeout_ms: row.timeout_ms,
            failure_result: row.failure_result,
        })
    }
}

impl<'r, R: sqlx::Row> sqlx::FromRow<'r, R> for PolicyBinding
where
    PolicyBindingRow: sqlx::FromRow<'r, R>,
{
    fn from_row(row: &'r R) -> Result<Self, sqlx::Error> {
        PolicyBindingRow::from_row(row)?.try_into()
    }
}

/// The columns of [`PolicyBindingRow`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, flow_id, stage_binding_id, application_id, policy_id, group_id, user_id, \
         sort_order, enabled, negate, timeout_ms, failure_result"
    };
}

/// Creates a binding. A target, policy, group or user that does not exist is
/// [`crate::storage::StorageError::MissingReference`].
pub async fn create_binding(db: &mut impl Db, new: NewPolicyBinding) -> Result<PolicyBinding> {
    let binding = PolicyBinding {
        id: PolicyBindingId::new(),
        target: new.target,
        subject: new.subject,
        sort_order: new.sort_order,
        enabled: new.enabled,
        negate: new.negate,
        timeout_ms: new.timeout_ms,
        failure_result: new.failure_result,
    };
    let sql = concat!(
        "INSERT INTO policy_bindings (",
        columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)"
    );
    let (flow_id, stage_binding_id, application_id) = binding.target.columns();
    let (policy_id, group_id, user_id) = binding.subject.columns();
    dispatch!(db, |c| {
        sqlx::query(sql)
            .bind(binding.id)
            .bind(flow_id)
            .bind(stage_binding_id)
            .bind(application_id)
            .bind(policy_id)
            .bind(group_id)
            .bind(user_id)
            .bind(binding.sort_order)
            .bind(binding.enabled)
            .bind(binding.negate)
            .bind(binding.timeout_ms)
            .bind(binding.failure_result)
            .execute(c)
            .await
            .map(|_| ())
    })?;
    Ok(binding)
}

/// The bindings of `target`, in evaluation order (`sort_order`, then id).
pub async fn bindings_of_target(
    db: &mut impl Db,
    target: BindingTarget,
) -> Result<Vec<PolicyBinding>> {
    macro_rules! of {
        ($column:literal) => {
            concat!(
                "SELECT ",
                columns!(),
                " FROM policy_bindings WHERE ",
                $column,
                " = $1 ORDER BY sort_order, id"
            )
        };
    }
    let (sql, id) = match target {
        BindingTarget::Flow(id) => (of!("flow_id"), id.0),
        BindingTarget::StageBinding(id) => (of!("stage_binding_id"), id.0),
        BindingTarget::Application(id) => (of!("application_id"), id.0),
    };
    fetch_all!(db, sql, id.to_string())
}

/// Every binding, by order and id.
pub async fn list_bindings(db: &mut impl Db) -> Result<Vec<PolicyBinding>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM policy_bindings ORDER BY sort_order, id"
    );
    fetch_all!(db, sql)
}

/// Writes every field of `binding` but its id. Returns whether it existed.
pub async fn update_binding(db: &mut impl Db, binding: &PolicyBinding) -> Result<bool> {
    let (flow_id, stage_binding_id, application_id) = binding.target.columns();
    let (policy_id, group_id, user_id) = binding.subject.columns();
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE policy_bindings SET flow_id = $2, stage_binding_id = $3, \
             application_id = $4, policy_id = $5, group_id = $6, user_id = $7, \
             sort_order = $8, enabled = $9, negate = $10, timeout_ms = $11, \
             failure_result = $12 WHERE id = $1",
        )
        .bind(binding.id)
        .bind(flow_id)
        .bind(stage_binding_id)
        .bind(application_id)
        .bind(policy_id)
        .bind(group_id)
        .bind(user_id)
        .bind(binding.sort_order)
        .bind(binding.enabled)
        .bind(binding.negate)
        .bind(binding.timeout_ms)
        .bind(binding.failure_result)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a binding. Returns whether it existed.
pub async fn delete_binding(db: &mut impl Db, id: PolicyBindingId) -> Result<bool> {
    delete_one!(db, "DELETE FROM policy_bindings WHERE id = $1", id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        policy_id: Option<PolicyId>,
        group_id: Option<GroupId>,
        user_id: Option<UserId>,
    ) -> PolicyBindingRow {
        PolicyBindingRow {
            id: PolicyBindingId::new(),
            flow_id: None,
            stage_binding_id: Some(StageBindingId::new()),
            application_id: None,
            policy_id,
            group_id,
            user_id,
            sort_order: 0,
            enabled: true,
            negate: false,
            timeout_ms: DEFAULT_TIMEOUT_MS,
            failure_result: false,
        }
    }

    #[test]
    fn a_row_with_exactly_one_subject_decodes() {
        let group = GroupId::new();
        let decoded = PolicyBinding::try_from(row(None, Some(group), None)).unwrap();
        assert_eq!(decoded.subject, PolicyBindingSubject::Group(group));
        assert!(matches!(decoded.target, BindingTarget::StageBinding(_)));
    }

    #[test]
    fn a_row_with_no_or_two_subjects_is_a_decode_error() {
        let none = PolicyBinding::try_from(row(None, None, None)).unwrap_err();
        assert!(matches!(none, sqlx::Error::Decode(_)), "{none:?}");
        let two = row(Some(PolicyId::new()), None, Some(UserId::new()));
        let two = PolicyBinding::try_from(two).unwrap_err();
        assert!(matches!(two, sqlx::Error::Decode(_)), "{two:?}");
    }

    #[test]
    fn a_row_with_no_or_two_targets_is_a_decode_error() {
        let mut none = row(Some(PolicyId::new()), None, None);
        none.stage_binding_id = None;
        let err = PolicyBinding::try_from(none).unwrap_err();
        assert!(matches!(err, sqlx::Error::Decode(_)), "{err:?}");
        let mut two = row(Some(PolicyId::new()), None, None);
        two.flow_id = Some(FlowId::new());
        let err = PolicyBinding::try_from(two).unwrap_err();
        assert!(matches!(err, sqlx::Error::Decode(_)), "{err:?}");
    }
}
