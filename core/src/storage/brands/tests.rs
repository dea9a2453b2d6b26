use serde_json::json;

use super::*;
use crate::storage::StorageError;
use crate::storage::flows::{self, FlowDesignation, NewFlow};
use crate::storage::testing::{storage_test, t0};

fn brand(domain: &str, is_default: bool) -> Brand {
    Brand {
        id: BrandId::new(),
        domain: domain.into(),
        is_default,
        title: domain.into(),
        logo: String::new(),
        favicon: String::new(),
        custom_css: String::new(),
        flow_authentication: None,
        flow_invalidation: None,
        flow_recovery: None,
        flow_user_settings: None,
        attributes: json!({}),
        created_at: t0(),
        updated_at: t0(),
    }
}

fn picked<'a>(brands: &'a [Brand], host: &str) -> Option<&'a str> {
    pick_brand(brands, host).map(|b| b.domain.as_str())
}

#[test]
fn exact_domain_and_parent_domains_match_at_dot_boundaries_only() {
    let brands = [brand("example.org", false), brand("fallback", true)];
    assert_eq!(picked(&brands, "example.org"), Some("example.org"));
    assert_eq!(picked(&brands, "auth.example.org"), Some("example.org"));
    assert_eq!(picked(&brands, "a.b.example.org"), Some("example.org"));
    assert_eq!(picked(&brands, "badexample.org"), Some("fallback"));
    assert_eq!(picked(&brands, "example.org.evil.net"), Some("fallback"));
    assert_eq!(picked(&brands, "org"), Some("fallback"));
}

#[test]
fn the_longest_matching_domain_wins_whatever_the_order() {
    let mut brands = vec![
        brand("example.org", true),
        brand("sso.example.org", false),
        brand("a.sso.example.org", false),
    ];
    for _ in 0..3 {
        assert_eq!(
            picked(&brands, "x.sso.example.org"),
            Some("sso.example.org")
        );
        assert_eq!(
            picked(&brands, "a.sso.example.org"),
            Some("a.sso.example.org")
        );
        assert_eq!(picked(&brands, "www.example.org"), Some("example.org"));
        brands.rotate_left(1);
    }
}

#[test]
fn case_port_and_trailing_dot_are_ignored() {
    let brands = [brand("Auth.Example.org", false), brand("[::1]", false)];
    assert_eq!(
        picked(&brands, "AUTH.example.ORG:8443"),
        Some("Auth.Example.org")
    );
    assert_eq!(
        picked(&brands, "auth.example.org."),
        Some("Auth.Example.org")
    );
    assert_eq!(picked(&brands, "[::1]:9443"), Some("[::1]"));
    assert_eq!(picked(&brands, "[::1]"), Some("[::1]"));
}

#[test]
fn without_a_match_the_default_or_nothing() {
    let no_default = [brand("example.org", false)];
    assert_eq!(picked(&no_default, "other.net"), None);
    assert_eq!(picked(&[], "example.org"), None);
    let with_default = [
        brand("example.org", false),
        brand("authentik-default", true),
    ];
    assert_eq!(
        picked(&with_default, "other.net"),
        Some("authentik-default")
    );
    assert_eq!(picked(&with_default, ""), Some("authentik-default"));
    // An empty domain is not a suffix of every host.
    let empty = [brand("", false)];
    assert_eq!(picked(&empty, "example.org"), None);
}

storage_test!(created_brand_reads_back_equal, |store| {
    let mut db = store.acquire().await.unwrap();
    let flow = flows::create(
        &mut db,
        NewFlow::new("login", FlowDesignation::Authentication),
        t0(),
    )
    .await
    .unwrap();
    let mut new = NewBrand::new("example.org");
    new.title = "Example".into();
    new.custom_css = "body { color: red }".into();
    new.flow_authentication = Some(flow.id);
    new.attributes = json!({"settings": {"locale": "de"}});
    let brand = create(&mut db, new, t0()).await.unwrap();
    assert_eq!(get(&mut db, brand.id).await.unwrap(), Some(brand.clone()));
    assert_eq!(list(&mut db).await.unwrap(), vec![brand.clone()]);
    assert!(flows::delete(&mut db, flow.id).await.unwrap());
    assert_eq!(
        get(&mut db, brand.id)
            .await
            .unwrap()
            .unwrap()
            .flow_authentication,
        None
    );
});

storage_test!(domain_is_unique_and_only_one_brand_is_default, |store| {
    let mut db = store.acquire().await.unwrap();
    assert_eq!(find_default(&mut db).await.unwrap(), None);
    let mut new = NewBrand::new("default");
    new.is_default = true;
    let default = create(&mut db, new, t0()).await.unwrap();
    let mut second = NewBrand::new("other");
    second.is_default = true;
    let err = create(&mut db, second, t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let err = create(&mut db, NewBrand::new("default"), t0())
        .await
        .unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    let mut plain = create(&mut db, NewBrand::new("plain"), t0()).await.unwrap();
    plain.is_default = true;
    let err = update(&mut db, &plain, t0()).await.unwrap_err();
    assert!(matches!(err, StorageError::Conflict(_)), "{err:?}");
    assert_eq!(find_default(&mut db).await.unwrap(), Some(default.clone()));

    // Moving the default: unset the old one first.
    let mut old = default;
    old.is_default = false;
    assert!(update(&mut db, &old, t0()).await.unwrap());
    assert!(update(&mut db, &plain, t0()).await.unwrap());
    assert_eq!(
        find_default(&mut db).await.unwrap().map(|b| b.id),
        Some(plain.id)
    );
});

storage_test!(host_lookup_reads_brands_from_the_store, |store| {
    let mut db = store.acquire().await.unwrap();
    let mut new = NewBrand::new("gatehouse-default");
    new.is_default = true;
    let default = create(&mut db, new, t0()).await.unwrap();
    let corp = create(&mut db, NewBrand::new("corp.example"), t0())
        .await
        .unwrap();
    assert_eq!(
        find_for_host(&mut db, "sso.corp.example:443")
            .await
            .unwrap(),
        Some(corp.clone())
    );
    assert_eq!(
        find_for_host(&mut db, "elsewhere.test").await.unwrap(),
        Some(default.clone())
    );
    assert!(delete(&mut db, default.id).await.unwrap());
    assert!(!delete(&mut db, default.id).await.unwrap());
    assert_eq!(
        find_for_host(&mut db, "elsewhere.test").await.unwrap(),
        None
    );
});
