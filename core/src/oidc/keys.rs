//! Token signing keys from certificate key pairs, and the JWKS that publishes them.
//!
//! RS256 with RSA keys (PKCS#1 or PKCS#8 PEM). The key id is derived from the public
//! key, so it is stable across restarts and replicas and changes with the key.

use openidconnect::core::{
    CoreJsonWebKey, CoreJsonWebKeySet, CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey,
};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};
use rsa::pkcs1::{EncodeRsaPrivateKey, EncodeRsaPublicKey};
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

/// A key that signs tokens.
pub struct SigningKey {
    key: CoreRsaPrivateSigningKey,
    kid: String,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

impl SigningKey {
    /// Reads an RSA private key (PKCS#8 `BEGIN PRIVATE KEY` or PKCS#1 `BEGIN RSA
    /// PRIVATE KEY`).
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let unusable = |e: &dyn std::fmt::Display| KeyError::Unusable(e.to_string());
        let key = match rsa::RsaPrivateKey::from_pkcs8_pem(pem) {
            Ok(key) => key,
            Err(_) => rsa::pkcs1::DecodeRsaPrivateKey::from_pkcs1_pem(pem)
                .map_err(|_| KeyError::Unusable("not an RSA private key in PEM".into()))?,
        };
        let public = key
            .to_public_key()
            .to_pkcs1_der()
            .map_err(|e| unusable(&e))?;
        let digest = Sha256::digest(public.as_bytes());
        let kid: String = digest.iter().take(16).map(|b| format!("{b:02x}")).collect();
        let pkcs1 = key.to_pkcs1_pem(LineEnding::LF).map_err(|e| unusable(&e))?;
        let key = CoreRsaPrivateSigningKey::from_pem(&pkcs1, Some(JsonWebKeyId::new(kid.clone())))
            .map_err(|e| unusable(&e))?;
        Ok(Self { key, kid })
    }

    /// The key id (`kid`) tokens carry.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm tokens are signed with.
    pub fn algorithm(&self) -> CoreJwsSigningAlgorithm {
        CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256
    }

    /// The public half, as a JWK.
    pub fn public_jwk(&self) -> CoreJsonWebKey {
        self.key.as_verification_key()
    }

    /// The private key, for signing.
    pub fn private(&self) -> &CoreRsaPrivateSigningKey {
        &self.key
    }
}

/// The JWKS publishing `keys`.
pub fn jwks(keys: &[&SigningKey]) -> CoreJsonWebKeySet {
    CoreJsonWebKeySet::new(keys.iter().map(|k| k.public_jwk()).collect())
}

#[cfg(test)]
mod tests;
