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

fn member_of(groups: &[GroupId], user: UserId) -> Subject {
    Subject {
        user: Some(user),
        groups: groups.iter().copied().collect(),
    }
}

#[test]
fn no_enabled_binding_passes() {
    let subject = Subject::default();
    assert!(decide(&[], PolicyEngineMode::All, &subject).passing);
    let mut off = binding(PolicyBindingSubject::User(UserId::new()), 0);
    off.enabled = false;
    assert!(decide(&[off], PolicyEngineMode::Any, &subject).passing);
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
    assert!(decide(&bindings, PolicyEngineMode::Any, &in_users).passing);
    assert!(!decide(&bindings, PolicyEngineMode::All, &in_users).passing);
    let nobody = member_of(&[], UserId::new());
    assert!(!decide(&bindings, PolicyEngineMode::Any, &nobody).passing);

    let mut not_alice = binding(PolicyBindingSubject::User(alice), 0);
    not_alice.negate = true;
    assert!(!decide(&[not_alice.clone()], PolicyEngineMode::All, &in_users).passing);
    assert!(decide(&[not_alice], PolicyEngineMode::All, &nobody).passing);
    // Without a user (before identification), a user binding does not match.
    let only_alice = binding(PolicyBindingSubject::User(alice), 0);
    assert!(!decide(&[only_alice], PolicyEngineMode::All, &Subject::default()).passing);
}

#[test]
fn a_policy_binding_yields_its_failure_result_until_policies_are_evaluated() {
    let subject = Subject::default();
    let closed = binding(PolicyBindingSubject::Policy(PolicyId::new()), 0);
    let decision = decide(
        std::slice::from_ref(&closed),
        PolicyEngineMode::All,
        &subject,
    );
    assert!(!decision.passing);
    assert_eq!(decision.messages.len(), 1);
    let mut open = closed;
    open.failure_result = true;
    assert!(decide(&[open], PolicyEngineMode::All, &subject).passing);
}
