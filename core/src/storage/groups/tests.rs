use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};
use crate::storage::users::{self, NewUser};

fn names(groups: Vec<Group>) -> Vec<String> {
    groups.into_iter().map(|g| g.name).collect()
}

storage_test!(created_group_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let parent = create(&mut db, NewGroup::new("staff"), t0()).await.unwrap();
    let mut new = NewGroup::new("admins");
    new.parent_id = Some(parent.id);
    new.is_superuser = true;
    new.attributes = json!({"quota": 5, "tags": ["a"]});
    let group = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, group.id).await.unwrap(), Some(group.clone()));
    assert_eq!(find_by_name(&mut db, "admins").await.unwrap(), Some(group));
    assert_eq!(find_by_name(&mut db, "Admins").await.unwrap(), None);
});

storage_test!(group_name_is_unique_and_parent_must_exist, |store| {
    let mut db = store.acquire().await.unwrap();
    create(&mut db, NewGroup::new("ops"), t0()).await.unwrap();
    let err = create(&mut db, NewGroup::new("ops"), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let mut orphan = NewGroup::new("orphan");
    orphan.parent_id = Some(GroupId::new());
    let err = create(&mut db, orphan, t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");
    assert_eq!(names(list(&mut db).await.unwrap()), ["ops"]);
});

storage_test!(update_list_and_delete_orphans_children, |store| {
    let mut db = store.acquire().await.unwrap();
    let parent = create(&mut db, NewGroup::new("b-parent"), t0())
        .await
        .unwrap();
    let mut child = create(&mut db, NewGroup::new("c-child"), t0())
        .await
        .unwrap();
    create(&mut db, NewGroup::new("a-other"), t0())
        .await
        .unwrap();
    let later = t0() + time::Duration::minutes(1);
    child.parent_id = Some(parent.id);
    child.attributes = json!({"k": "v"});
    assert!(update(&mut db, &child, later).await.unwrap());
    let got = get(&mut db, child.id).await.unwrap().unwrap();
    assert_eq!(got.parent_id, Some(parent.id));
    assert_eq!(got.attributes, json!({"k": "v"}));
    assert_eq!(got.updated_at, later);
    assert_eq!(
        names(list(&mut db).await.unwrap()),
        ["a-other", "b-parent", "c-child"]
    );
    assert!(delete(&mut db, parent.id).await.unwrap());
    assert!(!delete(&mut db, parent.id).await.unwrap());
    let got = get(&mut db, child.id).await.unwrap().unwrap();
    assert_eq!(got.parent_id, None);
});

storage_test!(membership_is_idempotent_and_follows_deletes, |store| {
    let mut db = store.acquire().await.unwrap();
    let group = create(&mut db, NewGroup::new("g"), t0()).await.unwrap();
    let bob = users::create(&mut db, NewUser::new("bob"), t0())
        .await
        .unwrap();
    let amy = users::create(&mut db, NewUser::new("amy"), t0())
        .await
        .unwrap();
    assert!(add_member(&mut db, group.id, bob.id).await.unwrap());
    assert!(!add_member(&mut db, group.id, bob.id).await.unwrap());
    assert!(add_member(&mut db, group.id, amy.id).await.unwrap());
    assert_eq!(
        members(&mut db, group.id).await.unwrap(),
        vec![amy.clone(), bob.clone()]
    );
    assert_eq!(
        groups_of_user(&mut db, bob.id).await.unwrap(),
        vec![group.clone()]
    );
    let err = add_member(&mut db, group.id, UserId::new())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::MissingReference(_)), "{err:?}");

    assert!(remove_member(&mut db, group.id, amy.id).await.unwrap());
    assert!(!remove_member(&mut db, group.id, amy.id).await.unwrap());
    assert!(users::delete(&mut db, bob.id).await.unwrap());
    assert_eq!(members(&mut db, group.id).await.unwrap(), vec![]);

    assert!(add_member(&mut db, group.id, amy.id).await.unwrap());
    assert!(delete(&mut db, group.id).await.unwrap());
    assert_eq!(groups_of_user(&mut db, amy.id).await.unwrap(), vec![]);
});

storage_test!(ancestors_are_included_once_and_siblings_are_not, |store| {
    let mut db = store.acquire().await.unwrap();
    let root = create(&mut db, NewGroup::new("root"), t0()).await.unwrap();
    let mut new = NewGroup::new("mid");
    new.parent_id = Some(root.id);
    let mid = create(&mut db, new, t0()).await.unwrap();
    let mut new = NewGroup::new("leaf");
    new.parent_id = Some(mid.id);
    let leaf = create(&mut db, new, t0()).await.unwrap();
    let mut new = NewGroup::new("sibling");
    new.parent_id = Some(root.id);
    create(&mut db, new, t0()).await.unwrap();
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    add_member(&mut db, leaf.id, user.id).await.unwrap();
    // Also a direct member of an ancestor: it must not appear twice.
    add_member(&mut db, root.id, user.id).await.unwrap();
    assert_eq!(
        names(groups_of_user(&mut db, user.id).await.unwrap()),
        ["leaf", "root"]
    );
    assert_eq!(
        names(
            groups_of_user_with_ancestors(&mut db, user.id)
                .await
                .unwrap()
        ),
        ["leaf", "mid", "root"]
    );
});

storage_test!(parent_cycle_does_not_loop, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut a = create(&mut db, NewGroup::new("a"), t0()).await.unwrap();
    let mut new = NewGroup::new("b");
    new.parent_id = Some(a.id);
    let b = create(&mut db, new, t0()).await.unwrap();
    a.parent_id = Some(b.id);
    assert!(update(&mut db, &a, t0()).await.unwrap());
    let user = users::create(&mut db, NewUser::new("u"), t0())
        .await
        .unwrap();
    add_member(&mut db, b.id, user.id).await.unwrap();
    assert_eq!(
        names(
            groups_of_user_with_ancestors(&mut db, user.id)
                .await
                .unwrap()
        ),
        ["a", "b"]
    );
});

storage_test!(
    superusers_with_password_counts_nested_admins_only,
    |store| {
        let mut db = store.acquire().await.unwrap();
        let mut admins = NewGroup::new("admins");
        admins.is_superuser = true;
        let admins = create(&mut db, admins, t0()).await.unwrap();
        let mut nested = NewGroup::new("ops");
        nested.parent_id = Some(admins.id);
        let nested = create(&mut db, nested, t0()).await.unwrap();
        let staff = create(&mut db, NewGroup::new("staff"), t0()).await.unwrap();
        let akadmin = users::create(&mut db, NewUser::new("akadmin"), t0())
            .await
            .unwrap();
        add_member(&mut db, admins.id, akadmin.id).await.unwrap();
        let mut worker = NewUser::new("worker");
        worker.password_hash = Some("$argon2id$stand-in".into());
        let worker = users::create(&mut db, worker, t0()).await.unwrap();
        add_member(&mut db, staff.id, worker.id).await.unwrap();
        // An admin without a password and a non-admin with one: setup stays open.
        assert_eq!(superusers_with_password(&mut db).await.unwrap(), 0);
        // A member of a group nested under a superuser group counts.
        add_member(&mut db, nested.id, worker.id).await.unwrap();
        assert_eq!(superusers_with_password(&mut db).await.unwrap(), 1);
        remove_member(&mut db, nested.id, worker.id).await.unwrap();
        users::set_password_hash(&mut db, akadmin.id, Some("$argon2id$x"), t0())
            .await
            .unwrap();
        assert_eq!(superusers_with_password(&mut db).await.unwrap(), 1);
    }
);
