use super::*;
use crate::ids::StageId;
use crate::storage::StorageError;
use crate::storage::stages::{self, NewStage};
use crate::storage::testing::{storage_test, t0};

storage_test!(created_flow_reads_back_equal_and_slug_is_unique, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewFlow::new(
        "default-authentication-flow",
        FlowDesignation::Authentication,
    );
    new.title = "Welcome".into();
    new.authentication = FlowAuthentication::RequireUnauthenticated;
    new.denied_action = DeniedAction::Continue;
    new.policy_engine_mode = PolicyEngineMode::All;
    new.layout = FlowLayout::SidebarRight;
    new.compatibility_mode = true;
    let flow = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, flow.id).await.unwrap(), Some(flow.clone()));
    assert_eq!(
        find_by_slug(&mut db, "default-authentication-flow")
            .await
            .unwrap(),
        Some(flow)
    );
    let again = NewFlow::new("default-authentication-flow", FlowDesignation::Recovery);
    let err = create(&mut db, again, t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
});

storage_test!(flows_update_list_by_slug_and_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut z = create(
        &mut db,
        NewFlow::new("z", FlowDesignation::Enrollment),
        t0(),
    )
    .await
    .unwrap();
    let a = create(
        &mut db,
        NewFlow::new("a", FlowDesignation::Invalidation),
        t0(),
    )
    .await
    .unwrap();
    let later = t0() + time::Duration::hours(1);
    z.designation = FlowDesignation::Unenrollment;
    z.authentication = FlowAuthentication::RequireSuperuser;
    z.background = "/static/bg.jpg".into();
    assert!(update(&mut db, &z, later).await.unwrap());
    z.updated_at = later;
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), z.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![z]);
});

storage_test!(stage_bindings_come_in_order_and_follow_deletes, |store| {
    let mut db = store.acquire().await.unwrap();
    let flow = create(
        &mut db,
        NewFlow::new("f", FlowDesignation::Authentication),
        t0(),
    )
    .await
    .unwrap();
    let other = create(
        &mut db,
        NewFlow::new("g", FlowDesignation::Authentication),
        t0(),
    )
    .await
    .unwrap();
    let ident = stages::create(&mut db, NewStage::new("ident", "identification"), t0())
        .await
        .unwrap();
    let pwd = stages::create(&mut db, NewStage::new("pwd", "password"), t0())
        .await
        .unwrap();
    let mut new = NewStageBinding::new(flow.id, pwd.id, 20);
    new.invalid_response_action = InvalidResponseAction::RestartWithContext;
    new.policy_engine_mode = PolicyEngineMode::All;
    new.evaluate_on_plan = true;
    let second = create_binding(&mut db, new).await.unwrap();
    let first = create_binding(&mut db, NewStageBinding::new(flow.id, ident.id, 10))
        .await
        .unwrap();
    let elsewhere = create_binding(&mut db, NewStageBinding::new(other.id, pwd.id, 0))
        .await
        .unwrap();
    assert_eq!(
        bindings_of_flow(&mut db, flow.id).await.unwrap(),
        vec![first.clone(), second.clone()]
    );

    let err = create_binding(&mut db, NewStageBinding::new(flow.id, ident.id, 10))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let err = create_binding(&mut db, NewStageBinding::new(flow.id, StageId::new(), 30))
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");

    assert!(delete_binding(&mut db, first.id).await.unwrap());
    assert!(!delete_binding(&mut db, first.id).await.unwrap());
    // Deleting a stage unbinds it from every flow; deleting a flow drops its bindings.
    assert!(stages::delete(&mut db, pwd.id).await.unwrap());
    assert_eq!(bindings_of_flow(&mut db, flow.id).await.unwrap(), vec![]);
    assert_eq!(bindings_of_flow(&mut db, other.id).await.unwrap(), vec![]);
    let kept = create_binding(&mut db, NewStageBinding::new(other.id, ident.id, 0))
        .await
        .unwrap();
    assert_ne!(kept.id, elsewhere.id);
    assert!(delete(&mut db, other.id).await.unwrap());
    assert_eq!(bindings_of_flow(&mut db, other.id).await.unwrap(), vec![]);
});
