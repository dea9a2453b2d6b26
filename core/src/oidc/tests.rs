use super::*;
use crate::storage::testing::{storage_test, t0};

storage_test!(the_self_signed_pair_is_made_once, |store| {
    let generate = || async {
        keys::generate_rsa_pair(crate::bootstrap::SELF_SIGNED_NAME, t0().as_datetime())
    };
    assert!(ensure_self_signed(&store, t0(), generate()).await.unwrap());
    assert!(!ensure_self_signed(&store, t0(), generate()).await.unwrap());
    let mut db = store.acquire().await.unwrap();
    let pair = certificates::find_by_managed(&mut db, SELF_SIGNED_MANAGED)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(pair.name, "gatehouse Self-signed Certificate");
    let key = keys::SigningKey::from_pem(pair.key_pem.as_deref().unwrap()).unwrap();
    assert_eq!(key.kid().len(), 32);
});
