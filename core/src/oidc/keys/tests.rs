use openidconnect::JsonWebKey;

use super::*;
use rsa::pkcs1::EncodeRsaPrivateKey;

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
    let signature = key.sign(&key.algorithm(), message).unwrap();
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
fn a_p256_key_signs_es256_and_its_jwk_verifies() {
    let pem = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
        .unwrap()
        .serialize_pem();
    let key = SigningKey::from_pem(&pem).unwrap();
    assert_eq!(key.algorithm(), CoreJwsSigningAlgorithm::EcdsaP256Sha256);
    assert_eq!(key.kid().len(), 32);
    let jwk = serde_json::to_value(key.public_jwk()).unwrap();
    assert_eq!(jwk["kty"], "EC");
    assert_eq!(jwk["crv"], "P-256");
    assert!(jwk.get("d").is_none(), "{jwk}");
    let message = b"header.payload";
    let signature = key.sign(&key.algorithm(), message).unwrap();
    assert_eq!(signature.len(), 64, "raw r || s");
    let public: CoreJsonWebKey = serde_json::from_value(jwk).unwrap();
    public
        .verify_signature(&key.algorithm(), message, &signature)
        .unwrap();
    assert!(
        public
            .verify_signature(&key.algorithm(), b"header.other", &signature)
            .is_err()
    );
    // An RSA algorithm with an EC key is refused, not silently changed.
    assert!(
        key.sign(&CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256, message)
            .is_err()
    );
}

#[test]
fn what_is_not_an_rsa_or_p256_key_is_refused_with_a_reason() {
    let ed25519 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519)
        .unwrap()
        .serialize_pem();
    let p384 = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
        .unwrap()
        .serialize_pem();
    for pem in ["", "not a key", ed25519.as_str(), p384.as_str()] {
        let err = SigningKey::from_pem(pem).unwrap_err();
        assert!(err.to_string().contains("cannot sign tokens"), "{err}");
    }
}
