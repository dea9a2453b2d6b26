//! Whether a target's bindings let a subject through: the store-side half of the
//! policy engine (the evaluators themselves are in [`crate::evaluator`] and need no
//! store).
//!
//! [`evaluate`] compiles (once per policy version, cached) and evaluates the policies
//! the enabled bindings name, reading from the store only the facts their kinds need
//! (recent failed sign-ins, password age, whether initial setup is open). [`decide`]
//! then combines group, user and policy bindings: order, negate, `all`/`any`, and a
//! binding's `failure_result` when its policy errs or outlasts the binding's timeout.
//! An error is also recorded as a `policy_exception` event.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use crate::Timestamp;
pub use crate::evaluator::Verdict;
use crate::evaluator::{CompiledPolicy, Facts, evaluate as evaluate_one};
use crate::expr::{Input, UserInput};
use crate::ids::{GroupId, PolicyId, UserId};
use crate::storage::events::{self, NewEvent};
use crate::storage::policies::{
    self, Policy, PolicyBinding, PolicyBindingSubject, PolicyEngineMode,
};
use crate::storage::{StorageError, Tx, groups, users};

/// Advisory lock taken while the `setup` policy is evaluated, so that two initial
/// setups run at once on PostgreSQL cannot both find setup open.
const SETUP_LOCK: i64 = 0x6761_7465_0002;
/// How long `policy_exception` events are kept.
const EXCEPTION_RETENTION: time::Duration = time::Duration::days(30);

/// Who is being checked.
#[derive(Debug, Clone, Default)]
pub struct Subject {
    /// The user, when one is known (a flow before identification has none).
    pub user: Option<UserId>,
    /// The user's groups, direct and inherited.
    pub groups: HashSet<GroupId>,
}

/// Who a check is about: the bindings' subject, and the user as expressions see it.
#[derive(Debug, Clone, Default)]
pub struct Who {
    /// For group and user bindings.
    pub subject: Subject,
    /// In a superuser group.
    pub superuser: bool,
    /// For expressions (`user`).
    pub user: Option<UserInput>,
}

/// Reads `user` (with its groups, inherited ones too) for a check; nobody when `None`
/// or unknown.
pub async fn who(
    db: &mut impl crate::storage::Db,
    user: Option<UserId>,
) -> Result<Who, StorageError> {
    let Some(id) = user else {
        return Ok(Who::default());
    };
    let Some(row) = users::get(db, id).await? else {
        return Ok(Who::default());
    };
    let groups = groups::groups_of_user_with_ancestors(db, id).await?;
    let superuser = groups.iter().any(|g| g.is_superuser);
    let user = UserInput {
        uid: row.id.to_string(),
        username: row.username,
        email: row.email,
        name: row.name,
        groups: groups.iter().map(|g| g.name.clone()).collect(),
        attributes: row.attributes,
        is_active: row.is_active,
        is_superuser: superuser,
        path: row.path,
    };
    Ok(Who {
        subject: Subject {
            user: Some(id),
            groups: groups.into_iter().map(|g| g.id).collect::<HashSet<_>>(),
        },
        superuser,
        user: Some(user),
    })
}

/// The decision over a target's bindings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// Whether the subject may go on.
    pub passing: bool,
    /// Messages for the user from the bindings that failed.
    pub messages: Vec<String>,
}

/// What evaluating one bound policy gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyResult {
    /// The verdict, or why there is none.
    pub result: Result<Verdict, String>,
    /// How long the evaluation took (checked against each binding's timeout).
    pub took: Duration,
}

/// Results of the policies some bindings name. A policy missing here was not
/// evaluated: its bindings yield their `failure_result`.
pub type Verdicts = HashMap<PolicyId, PolicyResult>;

/// What the policies of one check see.
#[derive(Debug)]
pub struct Situation {
    /// The expression input (user, request, flow, application).
    pub input: Input,
    /// The user being checked, for password age.
    pub user: Option<UserId>,
    /// The login name typed (or the user's), for reputation.
    pub login_name: Option<String>,
    /// Client address, for reputation.
    pub client_ip: String,
    /// How far back failed sign-ins count for reputation.
    pub reputation_window: time::Duration,
    /// The answers of the prompt being validated, in the clear (passwords too): what
    /// a password policy checks. `None` outside prompt validation.
    pub prompt_answer: Option<serde_json::Map<String, serde_json::Value>>,
    /// The request time.
    pub now: Timestamp,
}

/// Compiled policies by id and version: compiling CEL costs far more than running it.
fn compiled(policy: &Policy) -> Result<Arc<CompiledPolicy>, String> {
    type Cache = moka::sync::Cache<(PolicyId, Timestamp), Arc<CompiledPolicy>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(|| Cache::new(10_000));
    let key = (policy.id, policy.updated_at);
    if let Some(found) = cache.get(&key) {
        return Ok(found);
    }
    let fresh = Arc::new(
        CompiledPolicy::compile(&policy.kind, &policy.settings).map_err(|e| e.to_string())?,
    );
    cache.insert(key, fresh.clone());
    Ok(fresh)
}

/// Evaluates the policies the enabled `bindings` name, in `situation`.
pub async fn evaluate(
    tx: &mut Tx,
    bindings: &[PolicyBinding],
    situation: &Situation,
) -> Result<Verdicts, StorageError> {
    let ids: Vec<PolicyId> = bindings
        .iter()
        .filter(|b| b.enabled)
        .filter_map(|b| match b.subject {
            PolicyBindingSubject::Policy(id) => Some(id),
            _ => None,
        })
        .collect();
    evaluate_ids(tx, &ids, situation).await
}

/// Evaluates the policies `ids` (each once), in `situation`. A policy that no longer
/// exists is left out.
pub async fn evaluate_ids(
    tx: &mut Tx,
    ids: &[PolicyId],
    situation: &Situation,
) -> Result<Verdicts, StorageError> {
    let mut verdicts = Verdicts::new();
    for &id in ids {
        if verdicts.contains_key(&id) {
            continue;
        }
        let Some(policy) = policies::get(tx, id).await? else {
            continue;
        };
        let result = match compiled(&policy) {
            Ok(compiled) => {
                let facts = facts_for(tx, &compiled, situation).await?;
                let evaluation = evaluate_one(&compiled, &situation.input, &facts);
                PolicyResult {
                    result: evaluation.result.map_err(|e| e.to_string()),
                    took: evaluation.took,
                }
            }
            Err(message) => PolicyResult {
                result: Err(message),
                took: Duration::ZERO,
            },
        };
        if let Err(message) = &result.result {
            let mut event = NewEvent::new("policy_exception", EXCEPTION_RETENTION);
            event.user_id = situation.user;
            event.client_ip = situation.client_ip.clone();
            event.context = serde_json::json!({"policy": policy.name, "error": message});
            events::record(tx, event, situation.now).await?;
            tracing::warn!(policy = %policy.name, error = %message, "policy failed to evaluate");
        }
        verdicts.insert(id, result);
    }
    Ok(verdicts)
}

/// The facts `policy`'s kind needs, read from the store.
async fn facts_for(
    tx: &mut Tx,
    policy: &CompiledPolicy,
    situation: &Situation,
) -> Result<Facts, StorageError> {
    let mut facts = Facts {
        now: Some(situation.now),
        ..Facts::default()
    };
    match policy {
        CompiledPolicy::Setup => {
            tx.lock(SETUP_LOCK).await?;
            facts.setup_open = Some(groups::superusers_with_password(tx).await? == 0);
        }
        CompiledPolicy::Reputation(_) => {
            use crate::flows::{LOGIN_FAILED, LOGIN_SUCCEEDED, throttle_key};
            let since = situation.now + -situation.reputation_window;
            let count = |n: i64| u32::try_from(n).unwrap_or(u32::MAX);
            facts.failures_of_user = Some(match &situation.login_name {
                Some(name) => count(
                    events::count_failures_since_success(
                        tx,
                        LOGIN_FAILED,
                        LOGIN_SUCCEEDED,
                        &throttle_key(name),
                        false,
                        since,
                    )
                    .await?,
                ),
                None => 0,
            });
            facts.failures_of_ip = Some(count(
                events::count_failures_since_success(
                    tx,
                    LOGIN_FAILED,
                    LOGIN_SUCCEEDED,
                    &situation.client_ip,
                    true,
                    since,
                )
                .await?,
            ));
        }
        CompiledPolicy::Expiry(_) => {
            if let Some(id) = situation.user
                && let Some(user) = users::get(tx, id).await?
            {
                facts.password_changed_at = Some(user.password_changed_at);
            }
        }
        CompiledPolicy::Password(rules) => {
            facts.new_password = situation
                .prompt_answer
                .as_ref()
                .and_then(|a| a.get(&rules.password_field))
                .and_then(|v| v.as_str())
                .map(str::to_owned);
            if let Some(id) = situation.user
                && let Some(user) = users::get(tx, id).await?
            {
                facts.user_inputs = vec![user.username, user.email, user.name];
            }
        }
        CompiledPolicy::Expression(_) => {}
    }
    Ok(facts)
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
                PolicyBindingSubject::Policy(id) => {
                    let timeout =
                        Duration::from_millis(u64::try_from(binding.timeout_ms).unwrap_or(0));
                    match verdicts.get(&id) {
                        Some(r) if r.took > timeout => {
                            messages.push("A policy took too long to decide.".to_owned());
                            return binding.failure_result;
                        }
                        Some(PolicyResult {
                            result: Ok(verdict),
                            ..
                        }) => {
                            let result = verdict.passing != binding.negate;
                            if !result {
                                messages.extend(verdict.messages.iter().cloned());
                            }
                            return result;
                        }
                        Some(_) | None => {
                            messages.push("A policy could not be evaluated.".to_owned());
                            return binding.failure_result;
                        }
                    }
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
