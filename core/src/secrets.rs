//! Hashing what must not be stored in the clear: user passwords (argon2id, slow on
//! purpose) and high-entropy keys such as API tokens and outpost tokens (SHA-256,
//! fast, because guessing a 256-bit random key is hopeless anyway).

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// Why a password could not be hashed.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The system's random source failed.
    #[error("no randomness available: {0}")]
    Random(String),
    /// argon2 refused the input or parameters.
    #[error("cannot hash password: {0}")]
    Hash(String),
}

/// argon2id cost parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordCost {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordCost {
    /// OWASP's argon2id recommendation (19 MiB, 2 passes, 1 lane).
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// Hashes `password` into a PHC string (`$argon2id$v=19$…`).
pub fn hash_password(password: &str, cost: PasswordCost) -> Result<String, SecretError> {
    let params = Params::new(cost.memory_kib, cost.iterations, cost.parallelism, None)
        .map_err(|e| SecretError::Hash(e.to_string()))?;
    let argon = Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| SecretError::Random(e.to_string()))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| SecretError::Hash(e.to_string()))?;
    Ok(argon
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| SecretError::Hash(e.to_string()))?
        .to_string())
}

/// Whether `password` matches the PHC string `hash`. A malformed hash never matches.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|parsed| {
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    })
}

/// The stored form of a high-entropy key: SHA-256, base64url without padding.
pub fn hash_key(key: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(key.as_bytes()))
}

/// A fresh random key of 32 bytes, base64url: for tokens that are shown once.
pub fn random_key() -> Result<String, SecretError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| SecretError::Random(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHEAP: PasswordCost = PasswordCost {
        memory_kib: 1024,
        iterations: 1,
        parallelism: 1,
    };

    #[test]
    fn passwords_verify_only_against_their_own_hash() {
        let hash = hash_password("correct horse", CHEAP).unwrap();
        assert!(hash.starts_with("$argon2id$"), "{hash}");
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("correct horsf", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
        assert_ne!(hash, hash_password("correct horse", CHEAP).unwrap());
    }

    #[test]
    fn key_hashes_are_stable_and_distinct() {
        assert_eq!(hash_key("abc"), hash_key("abc"));
        assert_ne!(hash_key("abc"), hash_key("abd"));
        assert_eq!(hash_key("abc").len(), 43);
        assert_ne!(random_key().unwrap(), random_key().unwrap());
    }
}
