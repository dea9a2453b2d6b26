//! Policy bindings: what a flow, stage binding or application is checked against (a
//! policy, a group or a user), in which order and with which options.
//!
//! The table keeps the target as a kind and an id without a foreign key, because the
//! policy engine treats the three kinds alike; the subject is three nullable foreign
//! keys of which a CHECK lets exactly one be set. Both become enums here, so a binding
//! without a target or a subject cannot be written through this API.

use uuid::Uuid;

use crate::ids::{
    ApplicationId, FlowId, GroupId, PolicyBindingId, PolicyId, StageBindingId, UserId,
};
use crate::storage::{Db, Result, StorageError, dispatch};
use crate::text_enum::text_enum;

/// How long a policy may run when the binding does not say (the column default).
pub const DEFAULT_TIMEOUT_MS: i32 = 30_000;

text_enum!(
    /// What kind of object a binding applies to.
    BindingTargetKind {
        /// A flow: checked before the flow is planned.
        Flow = "flow",
        /// A stage in a flow: checked when the plan reaches it.
        StageBinding = "stage_binding",
        /// An application: checked before access is granted.
        Application = "application",
    }
);

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
    /// The stored kind.
    pub fn kind(self) -> BindingTargetKind {
        match self {
            Self::Flow(_) => BindingTargetKind::Flow,
            Self::StageBinding(_) => BindingTargetKind::StageBinding,
            Self::Application(_) => BindingTargetKind::Application,
        }
    }

    /// The target's id, whatever its kind.
    pub fn id(self) -> Uuid {
        match self {
            Self::Flow(id) => id.0,
            Self::StageBinding(id) => id.0,
            Self::Application(id) => id.0,
        }
    }

    fn from_parts(kind: BindingTargetKind, id: Uuid) -> Self {
        match kind {
            BindingTargetKind::Flow => Self::Flow(FlowId(id)),
            BindingTargetKind::StageBinding => Self::StageBinding(StageBindingId(id)),
            BindingTargetKind::Application => Self::Application(ApplicationId(id)),
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
    target_kind: BindingTargetKind,
    target_id: String,
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
        let target_id = Uuid::parse_str(&row.target_id).map_err(|e| {
            sqlx::Error::Decode(format!("policy binding {}: target id: {e}", row.id).into())
        })?;
        let subject = PolicyBindingSubject::from_columns(row.policy_id, row.group_id, row.user_id)
            .ok_or_else(|| {
                sqlx::Error::Decode(
                    format!(
                        "policy binding {} must name exactly one of policy, group, user",
                        row.id
                    )
                    .into(),
                )
            })?;
        Ok(Self {
            id: row.id,
            target: BindingTarget::from_parts(row.target_kind, target_id),
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
        "id, target_kind, target_id, policy_id, group_id, user_id, sort_order, enabled, \
         negate, timeout_ms, failure_result"
    };
}

/// The insert, kept only when the target exists in `$table`: the target has no
/// foreign key, so this is where a binding to nothing is refused.
macro_rules! insert_if_target_in {
    ($table:literal) => {
        concat!(
            "INSERT INTO policy_bindings (",
            columns!(),
            ") SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11 \
             WHERE EXISTS (SELECT 1 FROM ",
            $table,
            " WHERE id = $3)"
        )
    };
}

/// Creates a binding. A target, policy, group or user that does not exist is
/// [`StorageError::MissingReference`].
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
    let sql = match binding.target {
        BindingTarget::Flow(_) => insert_if_target_in!("flows"),
        BindingTarget::StageBinding(_) => insert_if_target_in!("stage_bindings"),
        BindingTarget::Application(_) => insert_if_target_in!("applications"),
    };
    let (policy_id, group_id, user_id) = binding.subject.columns();
    let done = dispatch!(db, |c| {
        sqlx::query(sql)
            .bind(binding.id)
            .bind(binding.target.kind())
            .bind(binding.target.id().to_string())
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
    if done != 1 {
        return Err(StorageError::MissingReference(format!(
            "no {} {}",
            binding.target.kind(),
            binding.target.id()
        )));
    }
    Ok(binding)
}

/// The bindings of `target`, in evaluation order (`sort_order`, then id).
pub async fn bindings_of_target(
    db: &mut impl Db,
    target: BindingTarget,
) -> Result<Vec<PolicyBinding>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM policy_bindings WHERE target_id = $1 AND target_kind = $2 \
         ORDER BY sort_order, id"
    );
    Ok(dispatch!(db, |c| sqlx::query_as(sql)
        .bind(target.id().to_string())
        .bind(target.kind())
        .fetch_all(c)
        .await)?)
}

/// Deletes a binding. Returns whether it existed.
pub async fn delete_binding(db: &mut impl Db, id: PolicyBindingId) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query("DELETE FROM policy_bindings WHERE id = $1")
            .bind(id)
            .execute(c)
            .await
            .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes the bindings whose target was deleted since (the target has no foreign key
/// to cascade from); returns how many. Such bindings are inert, ids are never reused,
/// so this is housekeeping, run with the other expiry sweeps.
pub async fn delete_orphaned_bindings(db: &mut impl Db) -> Result<u64> {
    Ok(dispatch!(db, |c| {
        sqlx::query(
            "DELETE FROM policy_bindings WHERE \
             (target_kind = 'flow' AND target_id NOT IN (SELECT id FROM flows)) OR \
             (target_kind = 'stage_binding' \
              AND target_id NOT IN (SELECT id FROM stage_bindings)) OR \
             (target_kind = 'application' AND target_id NOT IN (SELECT id FROM applications))",
        )
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?)
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
            target_kind: BindingTargetKind::StageBinding,
            target_id: StageBindingId::new().to_string(),
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
        assert_eq!(decoded.target.kind(), BindingTargetKind::StageBinding);
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
    fn a_row_with_a_malformed_target_id_is_a_decode_error() {
        let mut bad = row(Some(PolicyId::new()), None, None);
        bad.target_id = "not-a-uuid".into();
        let err = PolicyBinding::try_from(bad).unwrap_err();
        assert!(matches!(err, sqlx::Error::Decode(_)), "{err:?}");
    }
}
