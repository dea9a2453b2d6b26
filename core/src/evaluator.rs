//! The policy kinds, compiled from their stored settings and evaluated without the
//! store: the outpost links this (core without the `storage` feature) and gets the
//! policies as `(kind, settings)` over the control channel, compiling them once.
//!
//! What only the core can know (recent failed sign-ins, whether initial setup is
//! open, a password being chosen right now) comes in [`Facts`]; a kind whose fact is
//! missing fails with an error, so its binding yields its `failure_result`.

use std::time::{Duration, Instant};

use gatehouse_config::objects::{ExpiryPolicy, PasswordPolicy, ReputationPolicy};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use crate::Timestamp;
use crate::expr::{CompileError, EvalError, Expression, Input};

/// What one policy said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verdict {
    /// Whether it passed.
    pub passing: bool,
    /// Messages for the user when it did not.
    pub messages: Vec<String>,
}

impl Verdict {
    fn pass() -> Self {
        Self {
            passing: true,
            messages: Vec::new(),
        }
    }

    fn fail(messages: Vec<String>) -> Self {
        Self {
            passing: false,
            messages,
        }
    }
}

/// A policy ready to evaluate.
#[derive(Debug)]
pub enum CompiledPolicy {
    /// A CEL expression that must be true.
    Expression(Expression),
    /// Rules for a new password.
    Password(PasswordPolicy),
    /// Recent failed sign-ins.
    Reputation(ReputationPolicy),
    /// Password age.
    Expiry(ExpiryPolicy),
    /// Initial setup still open.
    Setup,
}

/// Why stored settings do not make a policy.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyCompileError {
    /// The expression does not compile.
    #[error("expression: {0}")]
    Expression(#[from] CompileError),
    /// The settings do not fit the kind.
    #[error("{0}")]
    Settings(String),
    /// No such kind.
    #[error("unknown policy kind {0:?}")]
    UnknownKind(String),
}

impl CompiledPolicy {
    /// Compiles a policy of `kind` with its stored `settings`.
    pub fn compile(kind: &str, settings: &Json) -> Result<Self, PolicyCompileError> {
        fn typed<T: serde::de::DeserializeOwned>(settings: &Json) -> Result<T, PolicyCompileError> {
            serde_json::from_value(settings.clone())
                .map_err(|e| PolicyCompileError::Settings(e.to_string()))
        }
        Ok(match kind {
            "expression" => {
                let settings: gatehouse_config::objects::ExpressionPolicy = typed(settings)?;
                Self::Expression(Expression::compile(&settings.expression)?)
            }
            "password" => Self::Password(typed(settings)?),
            "reputation" => Self::Reputation(typed(settings)?),
            "expiry" => Self::Expiry(typed(settings)?),
            "setup" => Self::Setup,
            other => return Err(PolicyCompileError::UnknownKind(other.to_owned())),
        })
    }
}

impl CompiledPolicy {
    /// Whether the verdict depends on nothing but the user and the application: an
    /// expression that reads neither `request` nor `flow`. Only such verdicts may be
    /// reused for the same user and application; every other kind reads facts that
    /// change (failed sign-ins, the clock, the password being typed).
    pub fn depends_only_on_user(&self) -> bool {
        match self {
            Self::Expression(expr) => expr.reads_only(&["user", "application"]),
            _ => false,
        }
    }
}

/// A policy as it travels (in the control channel's snapshot, on the outpost's disk):
/// its kind and stored settings, compiled where it is used.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicySource {
    /// The kind (`expression`, `password`…).
    pub kind: String,
    /// Its settings, as stored.
    pub settings: Json,
}

impl PolicySource {
    /// Compiles it.
    pub fn compile(&self) -> Result<CompiledPolicy, PolicyCompileError> {
        CompiledPolicy::compile(&self.kind, &self.settings)
    }
}

/// Verdicts kept for reuse, bounded in size and age, and only where that is safe:
/// policies whose verdict [depends only on the user](CompiledPolicy::depends_only_on_user),
/// keyed by the caller's policy key (id and version) and subject key (a session, or
/// a user and the version of their groups). Errors are never kept.
pub struct VerdictCache {
    kept: moka::sync::Cache<(String, String), Verdict>,
}

impl std::fmt::Debug for VerdictCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VerdictCache")
            .field("entries", &self.kept.entry_count())
            .finish()
    }
}

impl VerdictCache {
    /// At most `capacity` verdicts, each kept at most `max_age`.
    pub fn new(capacity: u64, max_age: Duration) -> Self {
        Self {
            kept: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_live(max_age)
                .build(),
        }
    }

    /// [`evaluate`], reusing a kept verdict where allowed.
    pub fn evaluate(
        &self,
        policy_key: &str,
        policy: &CompiledPolicy,
        subject_key: &str,
        input: &Input,
        facts: &Facts,
    ) -> Evaluation {
        if !policy.depends_only_on_user() {
            return evaluate(policy, input, facts);
        }
        let key = (policy_key.to_owned(), subject_key.to_owned());
        if let Some(verdict) = self.kept.get(&key) {
            return Evaluation {
                result: Ok(verdict),
                took: Duration::ZERO,
            };
        }
        let evaluation = evaluate(policy, input, facts);
        if let Ok(verdict) = &evaluation.result {
            self.kept.insert(key, verdict.clone());
        }
        evaluation
    }
}

/// What the core knows beyond the expression input. Each is `None` where unknown.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts {
    /// The password being chosen, in the clear (only while a prompt is validated).
    pub new_password: Option<String>,
    /// Other values a new password must not resemble (username, email).
    pub user_inputs: Vec<String>,
    /// Consecutive failed sign-ins of the login name, within the reputation window.
    pub failures_of_user: Option<u32>,
    /// Consecutive failed sign-ins from the client address, within the window.
    pub failures_of_ip: Option<u32>,
    /// When the user's password was last set (`None` inside: never).
    pub password_changed_at: Option<Option<Timestamp>>,
    /// Whether no superuser has a usable password yet.
    pub setup_open: Option<bool>,
    /// The time of the request.
    pub now: Option<Timestamp>,
}

/// One evaluation: its verdict or error, and how long it took (for binding timeouts).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evaluation {
    /// The answer.
    pub result: Result<Verdict, EvalError>,
    /// Time spent.
    pub took: Duration,
}

/// Evaluates `policy`.
pub fn evaluate(policy: &CompiledPolicy, input: &Input, facts: &Facts) -> Evaluation {
    // A stopwatch for binding timeouts, not the time of day the engine otherwise takes
    // as a parameter: nothing here depends on when it runs, only on how long.
    #[allow(clippy::disallowed_methods)]
    let started = Instant::now();
    let result = match policy {
        CompiledPolicy::Expression(expr) => expr.eval_bool(input).map(|passing| {
            if passing {
                Verdict::pass()
            } else {
                Verdict::fail(Vec::new())
            }
        }),
        CompiledPolicy::Password(rules) => match &facts.new_password {
            Some(password) => Ok(check_password(rules, password, &facts.user_inputs)),
            None => Err(missing("the password being chosen")),
        },
        CompiledPolicy::Reputation(rules) => reputation(rules, facts),
        CompiledPolicy::Expiry(rules) => match (facts.password_changed_at, facts.now) {
            (Some(changed), Some(now)) => Ok(expiry(rules, changed, now)),
            _ => Err(missing("when the password was set")),
        },
        CompiledPolicy::Setup => match facts.setup_open {
            Some(true) => Ok(Verdict::pass()),
            Some(false) => Ok(Verdict::fail(vec![
                "Initial setup is done already: sign in instead.".to_owned(),
            ])),
            None => Err(missing("whether initial setup is open")),
        },
    };
    Evaluation {
        result,
        took: started.elapsed(),
    }
}

fn missing(what: &str) -> EvalError {
    EvalError::Failed(format!("this policy needs {what}, which is not known here"))
}

fn check_password(rules: &PasswordPolicy, password: &str, user_inputs: &[String]) -> Verdict {
    let mut problems = Vec::new();
    let count = |f: fn(&char) -> bool| password.chars().filter(f).count();
    let length = password.chars().count();
    if length < rules.length_min as usize {
        problems.push(format!("Use at least {} characters.", rules.length_min));
    }
    let classes: [(u32, usize, &str); 4] = [
        (
            rules.amount_uppercase,
            count(char::is_ascii_uppercase),
            "upper-case letters",
        ),
        (
            rules.amount_lowercase,
            count(char::is_ascii_lowercase),
            "lower-case letters",
        ),
        (rules.amount_digits, count(char::is_ascii_digit), "digits"),
        (
            rules.amount_symbols,
            count(|c| !c.is_alphanumeric() && !c.is_whitespace()),
            "symbols",
        ),
    ];
    for (wanted, found, what) in classes {
        if found < wanted as usize {
            problems.push(format!("Use at least {wanted} {what}."));
        }
    }
    if rules
        .forbidden_passwords
        .iter()
        .any(|f| f.eq_ignore_ascii_case(password))
    {
        problems.push("This password is not allowed.".to_owned());
    }
    if rules.zxcvbn_score_threshold > 0 {
        let inputs: Vec<&str> = user_inputs.iter().map(String::as_str).collect();
        let score = u8::from(zxcvbn::zxcvbn(password, &inputs).score());
        if score < rules.zxcvbn_score_threshold {
            problems.push("This password is too easy to guess.".to_owned());
        }
    }
    if problems.is_empty() {
        Verdict::pass()
    } else if rules.error_message.is_empty() {
        Verdict::fail(problems)
    } else {
        Verdict::fail(vec![rules.error_message.clone()])
    }
}

fn reputation(rules: &ReputationPolicy, facts: &Facts) -> Result<Verdict, EvalError> {
    let mut scores = Vec::new();
    if rules.check_username {
        scores.push(
            facts
                .failures_of_user
                .ok_or_else(|| missing("recent failed sign-ins"))?,
        );
    }
    if rules.check_ip {
        scores.push(
            facts
                .failures_of_ip
                .ok_or_else(|| missing("recent failed sign-ins"))?,
        );
    }
    // Each failure lowers a score by one from zero; at or under the threshold fails.
    let bad = scores
        .iter()
        .any(|failures| -i64::from(*failures) <= i64::from(rules.threshold));
    Ok(if bad {
        Verdict::fail(vec!["Too many failed sign-ins recently.".to_owned()])
    } else {
        Verdict::pass()
    })
}

fn expiry(rules: &ExpiryPolicy, changed: Option<Timestamp>, now: Timestamp) -> Verdict {
    let expired = match changed {
        Some(changed) => now > changed + time::Duration::days(i64::from(rules.days)),
        None => false,
    };
    if expired {
        Verdict::fail(vec!["Your password has expired.".to_owned()])
    } else {
        Verdict::pass()
    }
}

#[cfg(test)]
mod tests;
