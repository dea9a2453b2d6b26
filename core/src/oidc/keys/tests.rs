use openidconnect::JsonWebKey;

use super::*;

fn now() -> time::OffsetDateTime {
    time::macros::datetime!(2026-11-29 12:00 UTC)
}

#[test]
fn a_generated_pair_signs_and_its_jwks_verifies() {
    let pair = generate_rsa_pair("gatehouse Self-signed Certificate", now()).unwrap();
    assert!(
        pair.certificate_pem
            .starts_with("-----BEGIN CERTIFICATE-----")
    );
    assert!(pair.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
    assert!(!format!("{pair:?}").contains("PRIVATE"));
    let key = SigningKey::from_pem(&pair.key_pem).unwrap();
    assert_eq!(key.kid().len(), 32);
    // The same key read again (or in PKCS#1 form) has the same id.
    let pkcs1 = rsa::RsaPrivateKey::from_pkcs8_pem(&pair.key_pem)
        .unwrap()
        .to_pkcs1_pem(LineEnding::LF)
        .unwrap();
    assert_eq!(SigningKey::from_pem(&pkcs1).unwrap().kid(), key.kid());

    let set = serde_json::to_value(jwks(&[&key])).unwrap();
    let jwk = &set["keys"][0];
    assert_eq!(jwk["kty"], "RSA");
    assert_eq!(jwk["use"], "sig");
    assert_eq!(jwk["kid"], key.kid());
    assert_eq!(jwk["e"], "AQAB");
    assert!(jwk.get("d").is_none(), "no private part in a JWKS: {jwk}");

    let message = b"header.payload";
    let signature = key.private().sign(&key.algorithm(), message).unwrap();
    let public: CoreJsonWebKey = serde_json::from_value(jwk.clone()).unwrap();
    public
        .verify_signature(&key.algorithm(), message, &signature)
        .unwrap();
    assert!(
        public
            .verify_signature(&key.algorithm(), b"header.other", &signature)
            .is_err()
    );
}

#[test]
fn what_is_not_an_rsa_key_is_refused_with_a_reason() {
    let ec = rcgen::KeyPair::generate().unwrap().serialize_pem();
    for pem in ["", "not a key", ec.as_str()] {
        let err = SigningKey::from_pem(pem).unwrap_err();
        assert!(err.to_string().contains("cannot sign tokens"), "{err}");
    }
}
