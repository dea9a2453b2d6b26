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
fn a_policy_binding_yields_its_failure_result_until_policies_are_evaluated() {
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

#[test]
fn a_verdict_decides_its_binding_with_negate_and_messages() {
    let subject = Subject::default();
    let policy = PolicyId::new();
    let bound = binding(PolicyBindingSubject::Policy(policy), 0);
    let failed = Verdicts::from([(
        policy,
        Verdict {
            passing: false,
            messages: vec!["closed".into()],
        },
    )]);
    let decision = decide(
        std::slice::from_ref(&bound),
        PolicyEngineMode::All,
        &subject,
        &failed,
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages, ["closed"]);
    // failure_result is only for a policy that could not be evaluated.
    let mut lenient = bound.clone();
    lenient.failure_result = true;
    assert!(!decide(&[lenient], PolicyEngineMode::All, &subject, &failed).passing);
    let mut negated = bound;
    negated.negate = true;
    let decision = decide(&[negated], PolicyEngineMode::All, &subject, &failed);
    assert!(decision.passing);
    assert!(decision.messages.is_empty());
}
