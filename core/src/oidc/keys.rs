//! Token signing keys from certificate key pairs, and the JWKS that publishes them.
//!
//! RS256 with RSA keys (PKCS#1 or PKCS#8 PEM). The key id is derived from the public
//! key, so it is stable across restarts and replicas and changes with the key.

use openidconnect::core::{
    CoreJsonCurveType, CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey, SigningError};
use rsa::pkcs1::EncodeRsaPublicKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use sha2::{Digest, Sha256};

/// Bits of a generated RSA key.
const RSA_BITS: usize = 2048;
/// Lifetime of the generated certificate (only its key matters for tokens).
const VALIDITY: time::Duration = time::Duration::days(3650);

/// Why a key could not be made or read.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// Making a key or certificate failed.
    #[error("cannot generate a signing key: {0}")]
    Generate(String),
    /// The PEM is not a usable private key.
    #[error("the private key cannot sign tokens: {0}")]
    Unusable(String),
}

/// A freshly made certificate and key, PEM.
pub struct GeneratedPair {
    /// Self-signed certificate.
    pub certificate_pem: String,
    /// PKCS#8 private key.
    pub key_pem: String,
}

impl std::fmt::Debug for GeneratedPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeneratedPair").finish_non_exhaustive()
    }
}

/// Makes an RSA 2048 key and a self-signed certificate named `common_name`, valid
/// from a day before `now`. Slow (a second or more in debug builds): run it off the
/// async threads.
pub fn generate_rsa_pair(
    common_name: &str,
    now: time::OffsetDateTime,
) -> Result<GeneratedPair, KeyError> {
    let generate = |e: &dyn std::fmt::Display| KeyError::Generate(e.to_string());
    let key =
        rsa::RsaPrivateKey::new(&mut rsa::rand_core::OsRng, RSA_BITS).map_err(|e| generate(&e))?;
    let key_pem = key.to_pkcs8_pem(LineEnding::LF).map_err(|e| generate(&e))?;
    let signer = rcgen::KeyPair::from_pkcs8_pem_and_sign_algo(&key_pem, &rcgen::PKCS_RSA_SHA256)
        .map_err(|e| generate(&e))?;
    let mut params =
        rcgen::CertificateParams::new(Vec::<String>::new()).map_err(|e| generate(&e))?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, common_name);
    params.not_before = now - time::Duration::days(1);
    params.not_after = now + VALIDITY;
    let certificate = params.self_signed(&signer).map_err(|e| generate(&e))?;
    Ok(GeneratedPair {
        certificate_pem: certificate.pem(),
        key_pem: key_pem.to_string(),
    })
}

/// A key that signs tokens: RSA (RS256, what every relying party accepts) or ECDSA
/// P-256 (ES256, shorter tokens and faster signing), chosen by the pair's key. The
/// keys are parsed with the `rsa` and `p256` crates and sign with ring, whose RSA
/// signature costs a fraction of the `rsa` crate's (bench/README.md, "signing").
pub struct SigningKey {
    signer: Signer,
    /// The public half, as published in the JWKS.
    jwk: CoreJsonWebKey,
    kid: String,
}

enum Signer {
    Rsa(ring::rsa::KeyPair),
    P256(ring::signature::EcdsaKeyPair),
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// The key id of a public key: hex of the first 16 bytes of the SHA-256 of its
/// encoding, so that the same key always has the same id.
fn key_id(public: &[u8]) -> String {
    let digest = Sha256::digest(public);
    digest.iter().take(16).map(|b| format!("{b:02x}")).collect()
}

impl SigningKey {
    /// Reads a private key: RSA (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA
    /// PRIVATE KEY`) or ECDSA P-256 (PKCS#8, or SEC1 `BEGIN EC PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let unusable = |e: &dyn std::fmt::Display| KeyError::Unusable(e.to_string());
        if let Some(key) = p256_from_pem(pem) {
            use p256::pkcs8::EncodePrivateKey as _;
            let point = key.verifying_key().to_sec1_point(false);
            let kid = key_id(point.as_bytes());
            let jwk = CoreJsonWebKey::new_ec(
                point.x().map(|x| x.to_vec()).unwrap_or_default(),
                point.y().map(|y| y.to_vec()).unwrap_or_default(),
                CoreJsonCurveType::P256,
                Some(JsonWebKeyId::new(kid.clone())),
            );
            let der = key.to_pkcs8_der().map_err(|e| unusable(&e))?;
            let pair = ring::signature::EcdsaKeyPair::from_pkcs8(
                &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                der.as_bytes(),
                &ring::rand::SystemRandom::new(),
            )
            .map_err(|e| unusable(&e))?;
            return Ok(Self {
                signer: Signer::P256(pair),
                jwk,
                kid,
            });
        }
        let key = match rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            Ok(key) => key,
            Err(_) => rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|_| KeyError::Unusable("not an RSA or P-256 private key in PEM".into()))?,
        };
        let public = key.to_public_key();
        let kid = key_id(public.to_pkcs1_der().map_err(|e| unusable(&e))?.as_bytes());
        let jwk = CoreJsonWebKey::new_rsa(
            rsa::traits::PublicKeyParts::n(&public).to_bytes_be(),
            rsa::traits::PublicKeyParts::e(&public).to_bytes_be(),
            Some(JsonWebKeyId::new(kid.clone())),
        );
        let der = key.to_pkcs8_der().map_err(|e| unusable(&e))?;
        let pair = ring::rsa::KeyPair::from_pkcs8(der.as_bytes()).map_err(|e| unusable(&e))?;
        Ok(Self {
            signer: Signer::Rsa(pair),
            jwk,
            kid,
        })
    }

    /// The key id (`kid`) tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> CoreJwsSigningAlgorithm {
        match self.signer {
            Signer::Rsa(_) => CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            Signer::P256(_) => CoreJwsSigningAlgorithm::EcdsaP256Sha256,
        }
    }

    /// The public half, as a JWK.
    pub fn public_jwk(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// A P-256 key in PKCS#8 or SEC1 PEM, if `pem` is one.
fn p256_from_pem(pem: &str) -> Option<p256::ecdsa::SigningKey> {
    use p256::pkcs8::DecodePrivateKey as _;
    p256::ecdsa::SigningKey::from_pkcs8_pem(pem)
        .ok()
        .or_else(|| {
            p256::SecretKey::from_sec1_pem(pem)
                .ok()
                .map(p256::ecdsa::SigningKey::from)
        })
}

impl PrivateSigningKey for SigningKey {
    type VerificationKey = CoreJsonWebKey;

    fn sign(
        &self,
        algorithm: &CoreJwsSigningAlgorithm,
        message: &[u8],
    ) -> Result<Vec<u8>, SigningError> {
        if *algorithm != self.algorithm() {
            return Err(SigningError::UnsupportedAlg(format!("{algorithm:?}")));
        }
        let rng = ring::rand::SystemRandom::new();
        match &self.signer {
            Signer::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut signature,
                )
                .map_err(|_| SigningError::CryptoError)?;
                Ok(signature)
            }
            // The FIXED encoding is JWS's raw 64-byte r || s (RFC 7518 §3.4), not DER.
            Signer::P256(pair) => pair
                .sign(&rng, message)
                .map(|signature| signature.as_ref().to_vec())
                .map_err(|_| SigningError::CryptoError),
        }
    }

    fn as_verification_key(&self) -> CoreJsonWebKey {
        self.jwk.clone()
    }
}

/// The JWKS publishing `keys`.
pub fn jwks(keys: &[&SigningKey]) -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(keys.iter().map(|k| k.public_jwk()).collect())
}

#[cfg(test)]
mod tests;
