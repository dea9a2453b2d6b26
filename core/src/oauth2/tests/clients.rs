//! Client set-up: signing keys (ES256) and generated credentials.

use super::*;

storage_test!(a_provider_with_a_p256_key_signs_es256, |store| {
    let caches = Caches::default();
    let (ada, session) = setup(&store).await;
    let pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let certificate = rcgen::CertificateParams::new(Vec::<String>::new())
        .unwrap()
        .self_signed(&pair)
        .unwrap();
    let mut db = store.acquire().await.unwrap();
    crate::storage::certificates::create(
        &mut db,
        crate::storage::certificates::NewCertificateKeyPair {
            name: "es".into(),
            managed: None,
            certificate_pem: certificate.pem(),
            key_pem: Some(pair.serialize_pem()),
        },
        t0(),
    )
    .await
    .unwrap();
    drop(db);
    apply_text(
        &store,
        "es.yaml",
        "version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: RP}
    attrs:
      signing_key: !Find [gatehouse_crypto.certificatekeypair, [name, es]]
",
    )
    .await;
    let answer = authorize_code(
        &store,
        ada,
        &session,
        &params("rp", "https://rp.test/cb", "openid email"),
    )
    .await;
    let tokens = token(
        &store,
        &caches,
        &auth("rp", RP_SECRET),
        &code_params(&answer["code"], "https://rp.test/cb", Some(VERIFIER)),
        BASE,
        t0(),
    )
    .await
    .unwrap();
    let mut db = store.acquire().await.unwrap();
    let client = find_client(&mut db, "rp").await.unwrap().unwrap();
    let key = signing_key_of(&mut db, &client.settings)
        .await
        .unwrap()
        .unwrap();
    drop(db);
    let id_token: CoreIdToken = tokens.id_token.as_deref().unwrap().parse().unwrap();
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new("rp".into()),
        IssuerUrl::new("https://id.test/application/o/rp/".into()).unwrap(),
        crate::oidc::keys::jwks(&[&key]),
    )
    .set_allowed_algs(vec![
        openidconnect::core::CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    ])
    .set_time_fn(|| chrono::DateTime::from_timestamp(t0().unix_timestamp(), 0).unwrap());
    let claims = id_token
        .claims(&verifier, &Nonce::new("n-1".into()))
        .unwrap();
    assert_eq!(claims.email().unwrap().as_str(), "ada@example.org");
    let header: Json = serde_json::from_slice(
        &URL_SAFE_NO_PAD
            .decode(tokens.access_token.split('.').next().unwrap())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(header["alg"], "ES256");
    assert_eq!(header["typ"], "at+jwt");
    assert_eq!(header["kid"], key.kid());
});

storage_test!(
    a_new_provider_gets_a_client_id_and_secret_that_stay,
    |store| {
        let text = "version: 1
entries:
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: Bare}
    attrs:
      redirect_uris: [{url: 'https://bare.test/cb'}]
  - model: gatehouse_providers_oauth2.oauth2provider
    identifiers: {name: Bare public}
    attrs:
      client_type: public
";
        let settings = |store: &Store, name: &'static str| {
            let store = store.clone();
            async move {
                let mut db = store.acquire().await.unwrap();
                crate::storage::providers::find_by_name(&mut db, name)
                    .await
                    .unwrap()
                    .unwrap()
                    .settings
            }
        };
        apply_text(&store, "bare.yaml", text).await;
        let first = settings(&store, "Bare").await;
        let client_id = first["client_id"].as_str().unwrap().to_owned();
        let secret = first["client_secret"].as_str().unwrap().to_owned();
        assert_eq!(client_id.len(), 40);
        assert!(secret.len() >= 80, "{secret}");
        assert_eq!(settings(&store, "Bare public").await["client_secret"], "");
        // Applying again (every start does) keeps them, and the client is found by its id.
        apply_text(&store, "bare.yaml", text).await;
        assert_eq!(settings(&store, "Bare").await, first);
        let mut db = store.acquire().await.unwrap();
        let client = find_client(&mut db, &client_id).await.unwrap().unwrap();
        assert!(client.authenticates_with(Some(&secret)));
        assert!(!client.authenticates_with(Some("guess")));
    }
);
