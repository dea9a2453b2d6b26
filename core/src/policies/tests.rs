use super::*;
use crate::ids::{FlowId, PolicyBindingId, PolicyId};
use crate::storage::policies::{BindingTarget, DEFAULT_TIMEOUT_MS};

fn binding(subject: PolicyBindingSubject, order: i32) -> PolicyBinding {
    PolicyBinding {
        id: PolicyBindingId::new(),
        target: BindingTarget::Flow(FlowId::new()),
        subject,
        sort_order: order,
        enabled: true,
        negate: false,
        timeout_ms: DEFAULT_TIMEOUT_MS,
        failure_result: false,
    }
}

fn none() -> Verdicts {
    Verdicts::new()
}

fn member_of(groups: &[GroupId], user: UserId) -> Subject {
    Subject {
        user: Some(user),
        groups: groups.iter().copied().collect(),
    }
}

#[test]
fn no_enabled_binding_passes() {
    let subject = Subject::default();
    assert!(decide(&[], PolicyEngineMode::All, &subject, &none()).passing);
    let mut off = binding(PolicyBindingSubject::User(UserId::new()), 0);
    off.enabled = false;
    assert!(decide(&[off], PolicyEngineMode::Any, &subject, &none()).passing);
}

#[test]
fn group_and_user_bindings_with_negate_and_modes() {
    let (admins, users) = (GroupId::new(), GroupId::new());
    let alice = UserId::new();
    let in_users = member_of(&[users], alice);
    let bindings = [
        binding(PolicyBindingSubject::Group(admins), 0),
        binding(PolicyBindingSubject::Group(users), 1),
    ];
    assert!(decide(&bindings, PolicyEngineMode::Any, &in_users, &none()).passing);
    assert!(!decide(&bindings, PolicyEngineMode::All, &in_users, &none()).passing);
    let nobody = member_of(&[], UserId::new());
    assert!(!decide(&bindings, PolicyEngineMode::Any, &nobody, &none()).passing);

    let mut not_alice = binding(PolicyBindingSubject::User(alice), 0);
    not_alice.negate = true;
    assert!(
        !decide(
            &[not_alice.clone()],
            PolicyEngineMode::All,
            &in_users,
            &none()
        )
        .passing
    );
    assert!(decide(&[not_alice], PolicyEngineMode::All, &nobody, &none()).passing);
    // Without a user (before identification), a user binding does not match.
    let only_alice = binding(PolicyBindingSubject::User(alice), 0);
    assert!(
        !decide(
            &[only_alice],
            PolicyEngineMode::All,
            &Subject::default(),
            &none()
        )
        .passing
    );
}

#[test]
fn a_policy_without_a_result_yields_the_bindings_failure_result() {
    let subject = Subject::default();
    let closed = binding(PolicyBindingSubject::Policy(PolicyId::new()), 0);
    let decision = decide(
        std::slice::from_ref(&closed),
        PolicyEngineMode::All,
        &subject,
        &none(),
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages.len(), 1);
    let mut open = closed;
    open.failure_result = true;
    assert!(decide(&[open], PolicyEngineMode::All, &subject, &none()).passing);
}

fn result(passing: bool, took_ms: u64) -> PolicyResult {
    PolicyResult {
        result: Ok(Verdict {
            passing,
            messages: if passing {
                vec![]
            } else {
                vec!["closed".into()]
            },
        }),
        took: std::time::Duration::from_millis(took_ms),
    }
}

#[test]
fn a_verdict_decides_its_binding_with_negate_and_messages() {
    let subject = Subject::default();
    let policy = PolicyId::new();
    let bound = binding(PolicyBindingSubject::Policy(policy), 0);
    let failed = Verdicts::from([(policy, result(false, 1))]);
    let decision = decide(
        std::slice::from_ref(&bound),
        PolicyEngineMode::All,
        &subject,
        &failed,
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages, ["closed"]);
    // failure_result is only for a policy that gave no usable answer.
    let mut lenient = bound.clone();
    lenient.failure_result = true;
    assert!(!decide(&[lenient], PolicyEngineMode::All, &subject, &failed).passing);
    let mut negated = bound;
    negated.negate = true;
    let decision = decide(&[negated], PolicyEngineMode::All, &subject, &failed);
    assert!(decision.passing);
    assert!(decision.messages.is_empty());
}

#[test]
fn an_error_or_a_slow_answer_yields_failure_result() {
    let subject = Subject::default();
    let policy = PolicyId::new();
    let mut bound = binding(PolicyBindingSubject::Policy(policy), 0);
    bound.timeout_ms = 50;
    let slow = Verdicts::from([(policy, result(true, 51))]);
    let decision = decide(
        std::slice::from_ref(&bound),
        PolicyEngineMode::All,
        &subject,
        &slow,
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages, ["A policy took too long to decide."]);
    let in_time = Verdicts::from([(policy, result(true, 50))]);
    assert!(
        decide(
            std::slice::from_ref(&bound),
            PolicyEngineMode::All,
            &subject,
            &in_time
        )
        .passing
    );
    let broken = Verdicts::from([(
        policy,
        PolicyResult {
            result: Err("no such key: team".into()),
            took: std::time::Duration::ZERO,
        },
    )]);
    let decision = decide(
        std::slice::from_ref(&bound),
        PolicyEngineMode::All,
        &subject,
        &broken,
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages, ["A policy could not be evaluated."]);
    bound.failure_result = true;
    assert!(
        decide(
            std::slice::from_ref(&bound),
            PolicyEngineMode::All,
            &subject,
            &broken
        )
        .passing
    );
    assert!(
        decide(
            std::slice::from_ref(&bound),
            PolicyEngineMode::All,
            &subject,
            &slow
        )
        .passing
    );
}

#[test]
fn order_decides_which_messages_come_first() {
    let subject = Subject::default();
    let (first, second) = (PolicyId::new(), PolicyId::new());
    let failing = |messages: &[&str]| PolicyResult {
        result: Ok(Verdict {
            passing: false,
            messages: messages.iter().map(|m| (*m).to_owned()).collect(),
        }),
        took: std::time::Duration::ZERO,
    };
    let verdicts = Verdicts::from([(first, failing(&["one"])), (second, failing(&["two"]))]);
    let bindings = [
        binding(PolicyBindingSubject::Policy(second), 20),
        binding(PolicyBindingSubject::Policy(first), 10),
    ];
    let decision = decide(&bindings, PolicyEngineMode::All, &subject, &verdicts);
    assert_eq!(decision.messages, ["one", "two"]);
}
