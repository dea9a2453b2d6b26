//! The policy engine's interface: whether a target's bindings let a subject through.
//!
//! Group and user bindings are decided here from the subject's groups (with their
//! ancestors) and id. Bindings to policies are decided from [`Verdicts`] that
//! [`evaluate`] gathers first (it may read the store; [`decide`] never does). The
//! `setup` kind is evaluated; the other kinds need the evaluators of the policy engine
//! (issue "Policy engine"), and until then a binding to one yields its
//! `failure_result` with a message, so a flow that names one fails closed unless told
//! otherwise.

use std::collections::{HashMap, HashSet};

use crate::ids::{GroupId, PolicyId, UserId};
use crate::storage::policies::{self, PolicyBinding, PolicyBindingSubject, PolicyEngineMode};
use crate::storage::{StorageError, Tx, groups};

/// Advisory lock taken while the `setup` policy is evaluated, so that two initial
/// setups run at once on PostgreSQL cannot both find setup open.
const SETUP_LOCK: i64 = 0x6761_7465_0002;

/// Who is being checked.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The user, when one is known (a flow before identification has none).
    pub user: Option<UserId>,
    /// The user's groups, direct and inherited.
    pub groups: HashSet<GroupId>,
}

/// The decision over a target's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the subject may go on.
    pub passing: bool,
    /// Messages for the user from the bindings that failed.
    pub messages: Vec<String>,
}

/// What one policy said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether it passed.
    pub passing: bool,
    /// Messages for the user when it did not.
    pub messages: Vec<String>,
}

/// Verdicts of the policies some bindings name. A policy missing here could not be
/// evaluated: its bindings yield their `failure_result`.
pub type Verdicts = HashMap<PolicyId, Verdict>;

/// Evaluates the policies the enabled `bindings` name.
pub async fn evaluate(tx: &mut Tx, bindings: &[PolicyBinding]) -> Result<Verdicts, StorageError> {
    let mut verdicts = Verdicts::new();
    for binding in bindings.iter().filter(|b| b.enabled) {
        let PolicyBindingSubject::Policy(id) = binding.subject else {
            continue;
        };
        if verdicts.contains_key(&id) {
            continue;
        }
        let Some(policy) = policies::get(tx, id).await? else {
            continue;
        };
        if policy.kind == "setup" {
            tx.lock(SETUP_LOCK).await?;
            let open = groups::superusers_with_password(tx).await? == 0;
            let messages = if open {
                Vec::new()
            } else {
                vec!["Initial setup is done already: sign in instead.".to_owned()]
            };
            verdicts.insert(
                id,
                Verdict {
                    passing: open,
                    messages,
                },
            );
        }
    }
    Ok(verdicts)
}

/// Decides `bindings` (one target's, any order) for `subject` under `mode`, with the
/// `verdicts` of the policies they name. No enabled binding means pass.
pub fn decide(
    bindings: &[PolicyBinding],
    mode: PolicyEngineMode,
    subject: &Subject,
    verdicts: &Verdicts,
) -> Decision {
    let mut enabled: Vec<&PolicyBinding> = bindings.iter().filter(|b| b.enabled).collect();
    enabled.sort_by_key(|b| (b.sort_order, b.id));
    if enabled.is_empty() {
        return Decision {
            passing: true,
            messages: Vec::new(),
        };
    }
    let mut messages = Vec::new();
    let results: Vec<bool> = enabled
        .iter()
        .map(|binding| {
            let raw = match binding.subject {
                PolicyBindingSubject::Group(group) => subject.groups.contains(&group),
                PolicyBindingSubject::User(user) => subject.user == Some(user),
                PolicyBindingSubject::Policy(id) => match verdicts.get(&id) {
                    Some(verdict) => {
                        let result = verdict.passing != binding.negate;
                        if !result {
                            messages.extend(verdict.messages.iter().cloned());
                        }
                        return result;
                    }
                    None => {
                        messages.push("This policy cannot be evaluated yet.".to_owned());
                        return binding.failure_result;
                    }
                },
            };
            raw != binding.negate
        })
        .collect();
    let passing = match mode {
        PolicyEngineMode::All => results.iter().all(|r| *r),
        PolicyEngineMode::Any => results.iter().any(|r| *r),
    };
    if passing {
        messages.clear();
    }
    Decision { passing, messages }
}

#[cfg(test)]
mod tests;
