use serde_json::json;
use sqlx::error::ErrorKind;

use super::*;
use crate::ids::{ApplicationId, FlowId, PolicyBindingId, StageBindingId, UserId};
use crate::storage::applications::{self, NewApplication};
use crate::storage::flows::{self, FlowDesignation, NewFlow, NewStageBinding};
use crate::storage::groups::{self, NewGroup};
use crate::storage::stages::{self, NewStage};
use crate::storage::testing::{storage_test, t0};
use crate::storage::users::{self, NewUser};
use crate::storage::{StorageError, dispatch};

async fn flow(db: &mut impl Db, slug: &str) -> FlowId {
    flows::create(
        db,
        NewFlow::new(slug, FlowDesignation::Authentication),
        t0(),
    )
    .await
    .unwrap()
    .id
}

storage_test!(
    created_policy_reads_back_equal_and_name_is_unique,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let mut new = NewPolicy::new("default-password-policy", "password");
        new.settings = json!({"length_min": 12, "check_have_i_been_pwned": true});
        new.execution_logging = true;
        let policy = create(&mut db, new, t0()).await.unwrap();
        assert_eq!(get(&mut db, policy.id).await.unwrap(), Some(policy.clone()));
        assert_eq!(
            find_by_name(&mut db, "default-password-policy")
                .await
                .unwrap(),
            Some(policy)
        );
        let err = create(
            &mut db,
            NewPolicy::new("default-password-policy", "expression"),
            t0(),
        )
        .await
        .unwrap_err();
        assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    }
);

storage_test!(policies_update_list_by_name_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut z = create(&mut db, NewPolicy::new("z", "expression"), t0())
        .await
        .unwrap();
    let a = create(&mut db, NewPolicy::new("a", "reputation"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::minutes(2);
    z.settings = json!({"expression": "return True"});
    z.execution_logging = true;
    assert!(update(&mut db, &z, later).await.unwrap());
    z.updated_at = later;
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), z.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![z]);
});

storage_test!(
    bindings_of_each_subject_come_back_in_order_per_target,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let login = BindingTarget::Flow(flow(&mut db, "login").await);
        let other = BindingTarget::Flow(flow(&mut db, "other").await);
        let policy = create(&mut db, NewPolicy::new("p", "expression"), t0())
            .await
            .unwrap();
        let group = groups::create(&mut db, NewGroup::new("g"), t0())
            .await
            .unwrap();
        let user = users::create(&mut db, NewUser::new("u"), t0())
            .await
            .unwrap();

        let mut new = NewPolicyBinding::new(login, PolicyBindingSubject::User(user.id), 30);
        new.negate = true;
        new.timeout_ms = 500;
        new.failure_result = true;
        let by_user = create_binding(&mut db, new).await.unwrap();
        let by_policy = create_binding(
            &mut db,
            NewPolicyBinding::new(login, PolicyBindingSubject::Policy(policy.id), 10),
        )
        .await
        .unwrap();
        let mut new = NewPolicyBinding::new(login, PolicyBindingSubject::Group(group.id), 20);
        new.enabled = false;
        let by_group = create_binding(&mut db, new).await.unwrap();
        let elsewhere = create_binding(
            &mut db,
            NewPolicyBinding::new(other, PolicyBindingSubject::Group(group.id), 0),
        )
        .await
        .unwrap();

        assert_eq!(
            bindings_of_target(&mut db, login).await.unwrap(),
            vec![by_policy.clone(), by_group, by_user]
        );
        assert_eq!(
            bindings_of_target(&mut db, other).await.unwrap(),
            vec![elsewhere]
        );
        assert!(delete_binding(&mut db, by_policy.id).await.unwrap());
        assert!(!delete_binding(&mut db, by_policy.id).await.unwrap());
        assert_eq!(bindings_of_target(&mut db, login).await.unwrap().len(), 2);
    }
);

storage_test!(binding_to_something_missing_is_refused, |store| {
    let mut db = store.acquire().await.unwrap();
    let login = BindingTarget::Flow(flow(&mut db, "login").await);
    let group = groups::create(&mut db, NewGroup::new("g"), t0())
        .await
        .unwrap();
    let subject = PolicyBindingSubject::Group(group.id);
    for target in [
        BindingTarget::Flow(FlowId::new()),
        BindingTarget::StageBinding(StageBindingId::new()),
        BindingTarget::Application(ApplicationId::new()),
    ] {
        let err = create_binding(&mut db, NewPolicyBinding::new(target, subject, 0))
            .await
            .unwrap_err();
        assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
        assert_eq!(bindings_of_target(&mut db, target).await.unwrap(), vec![]);
    }
    let unknown = PolicyBindingSubject::User(UserId::new());
    let err = create_binding(&mut db, NewPolicyBinding::new(login, unknown, 0))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
    assert_eq!(bindings_of_target(&mut db, login).await.unwrap(), vec![]);
});

storage_test!(check_constraint_refuses_zero_or_two_subjects, |store| {
    // The typed API cannot express these rows; the database refuses them as well.
    let mut db = store.acquire().await.unwrap();
    let target = flow(&mut db, "login").await;
    let group = groups::create(&mut db, NewGroup::new("g"), t0())
        .await
        .unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    for (group_id, user_id) in [(None, None), (Some(group.id), Some(user.id))] {
        let err = dispatch!(&mut db, |c| sqlx::query(
            "INSERT INTO policy_bindings (id, flow_id, group_id, user_id, sort_order) \
             VALUES ($1, $2, $3, $4, 0)"
        )
        .bind(PolicyBindingId::new())
        .bind(target)
        .bind(group_id)
        .bind(user_id)
        .execute(c)
        .await
        .map(|_| ()))
        .unwrap_err();
        let kind = err.as_database_error().map(|e| e.kind());
        assert!(matches!(kind, Some(ErrorKind::CheckViolation)), "{err:?}");
    }
});

storage_test!(deleting_a_subject_deletes_its_bindings, |store| {
    let mut db = store.acquire().await.unwrap();
    let target = BindingTarget::Flow(flow(&mut db, "login").await);
    let policy = create(&mut db, NewPolicy::new("p", "expression"), t0())
        .await
        .unwrap();
    let group = groups::create(&mut db, NewGroup::new("g"), t0())
        .await
        .unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    for (order, subject) in [
        PolicyBindingSubject::Policy(policy.id),
        PolicyBindingSubject::Group(group.id),
        PolicyBindingSubject::User(user.id),
    ]
    .into_iter()
    .enumerate()
    {
        let order = i32::try_from(order).unwrap();
        create_binding(&mut db, NewPolicyBinding::new(target, subject, order))
            .await
            .unwrap();
    }
    let subjects =
        |bindings: Vec<PolicyBinding>| bindings.into_iter().map(|b| b.subject).collect::<Vec<_>>();
    assert!(groups::delete(&mut db, group.id).await.unwrap());
    assert_eq!(
        subjects(bindings_of_target(&mut db, target).await.unwrap()),
        [
            PolicyBindingSubject::Policy(policy.id),
            PolicyBindingSubject::User(user.id)
        ]
    );
    assert!(users::delete(&mut db, user.id).await.unwrap());
    assert!(delete(&mut db, policy.id).await.unwrap());
    assert_eq!(bindings_of_target(&mut db, target).await.unwrap(), vec![]);
});

storage_test!(deleting_a_target_deletes_its_bindings, |store| {
    let mut db = store.acquire().await.unwrap();
    let flow_id = flow(&mut db, "login").await;
    let kept_flow = flow(&mut db, "kept").await;
    let stage = stages::create(&mut db, NewStage::new("s", "password"), t0())
        .await
        .unwrap();
    let stage_binding = flows::create_binding(&mut db, NewStageBinding::new(flow_id, stage.id, 0))
        .await
        .unwrap();
    let app = applications::create(&mut db, NewApplication::new("app", "App"), t0())
        .await
        .unwrap();
    let group = groups::create(&mut db, NewGroup::new("g"), t0())
        .await
        .unwrap();
    let subject = PolicyBindingSubject::Group(group.id);
    let targets = [
        BindingTarget::Flow(flow_id),
        BindingTarget::StageBinding(stage_binding.id),
        BindingTarget::Application(app.id),
        BindingTarget::Flow(kept_flow),
    ];
    for target in targets {
        create_binding(&mut db, NewPolicyBinding::new(target, subject, 0))
            .await
            .unwrap();
    }
    // Deleting the flow also deletes its stage binding (foreign key cascade).
    assert!(flows::delete(&mut db, flow_id).await.unwrap());
    assert!(applications::delete(&mut db, app.id).await.unwrap());
    for target in &targets[..3] {
        assert_eq!(bindings_of_target(&mut db, *target).await.unwrap(), vec![]);
    }
    assert_eq!(
        bindings_of_target(&mut db, targets[3]).await.unwrap().len(),
        1
    );
});
