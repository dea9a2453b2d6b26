//! The policy engine's interface: whether a target's bindings let a subject through.
//!
//! Group and user bindings are decided here from the subject's groups (with their
//! ancestors) and id. Bindings to policies need the evaluators of the policy engine
//! (issue "Policy engine"); until then such a binding yields its `failure_result`
//! with a message, so a flow that names one fails closed unless told otherwise.

use std::collections::HashSet;

use crate::ids::{GroupId, UserId};
use crate::storage::policies::{PolicyBinding, PolicyBindingSubject, PolicyEngineMode};

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

/// Decides `bindings` (one target's, any order) for `subject` under `mode`. No enabled
/// binding means pass.
pub fn decide(bindings: &[PolicyBinding], mode: PolicyEngineMode, subject: &Subject) -> Decision {
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
                PolicyBindingSubject::Policy(_) => {
                    messages.push("This policy cannot be evaluated yet.".to_owned());
                    return binding.failure_result;
                }
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
