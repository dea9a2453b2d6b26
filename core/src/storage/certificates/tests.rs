use super::*;
use crate::storage::StorageError;
use crate::storage::testing::{storage_test, t0};

const KEY: &str = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0\n-----END PRIVATE KEY-----\n";

fn new_pair(name: &str, key: Option<&str>) -> NewCertificateKeyPair {
    NewCertificateKeyPair {
        name: name.into(),
        managed: None,
        certificate_pem: "-----BEGIN CERTIFICATE-----\nY2VydA==\n-----END CERTIFICATE-----\n"
            .into(),
        key_pem: key.map(Into::into),
    }
}

#[test]
fn debug_never_prints_the_private_key() {
    let pair = CertificateKeyPair {
        id: CertificateKeyPairId::new(),
        name: "signing".into(),
        managed: None,
        certificate_pem: "CERT".into(),
        key_pem: Some(KEY.into()),
        created_at: t0(),
        updated_at: t0(),
    };
    let text = format!("{pair:?}");
    assert!(!text.contains("c2VjcmV0"), "{text}");
    assert!(text.contains("\"***\"") && text.contains("CERT"), "{text}");
    let text = format!("{:?}", new_pair("n", Some(KEY)));
    assert!(
        !text.contains("c2VjcmV0") && text.contains("\"***\""),
        "{text}"
    );
    let without = format!("{:?}", new_pair("n", None));
    assert!(without.contains("key_pem: None"), "{without}");
}

storage_test!(stored_pair_reads_back_equal_with_its_key, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = new_pair("gatehouse Self-signed Certificate", Some(KEY));
    new.managed = Some("gatehouse/self-signed".into());
    let pair = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, pair.id).await.unwrap(), Some(pair.clone()));
    assert_eq!(
        find_by_name(&mut db, "gatehouse Self-signed Certificate")
            .await
            .unwrap(),
        Some(pair.clone())
    );
    let found = find_by_managed(&mut db, "gatehouse/self-signed")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(found.key_pem.as_deref(), Some(KEY));
    let verify_only = create(&mut db, new_pair("upstream CA", None), t0())
        .await
        .unwrap();
    assert_eq!(
        get(&mut db, verify_only.id).await.unwrap().unwrap().key_pem,
        None
    );
});

storage_test!(name_and_managed_key_are_unique_and_pairs_delete, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = new_pair("b", None);
    new.managed = Some("m".into());
    let b = create(&mut db, new.clone(), t0()).await.unwrap();
    new.name = "other".into();
    let err = create(&mut db, new, t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let err = create(&mut db, new_pair("b", None), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let a = create(&mut db, new_pair("a", Some(KEY)), t0())
        .await
        .unwrap();
    assert_eq!(list(&mut db).await.unwrap(), vec![a.clone(), b.clone()]);
    assert!(delete(&mut db, a.id).await.unwrap());
    assert!(!delete(&mut db, a.id).await.unwrap());
    assert_eq!(list(&mut db).await.unwrap(), vec![b]);
});
