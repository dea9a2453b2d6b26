//! OpenID Connect provider logic: token signing keys and their JWKS (more of the
//! provider lands with the rest of the OAuth2/OIDC issue).
//!
//! Tokens are signed with a certificate key pair's private key. A fresh install has
//! one, "gatehouse Self-signed Certificate" (RSA 2048, RS256, which every relying
//! party accepts), made at first start and found again by its `managed` key.

pub mod keys;

#[cfg(feature = "storage")]
use crate::storage::certificates::{self, NewCertificateKeyPair};
#[cfg(feature = "storage")]
use crate::storage::{StorageError, Store};

/// `managed` key of the generated signing pair.
pub const SELF_SIGNED_MANAGED: &str = "gatehouse.dev/crypto/self-signed";

/// Makes the self-signed signing pair unless it exists; `generate` makes the PEMs
/// (slow: an RSA key). Returns whether it was made now.
#[cfg(feature = "storage")]
pub async fn ensure_self_signed<F>(
    store: &Store,
    now: crate::Timestamp,
    generate: F,
) -> Result<bool, EnsureError>
where
    F: std::future::Future<Output = Result<keys::GeneratedPair, keys::KeyError>>,
{
    {
        let mut db = store.acquire().await?;
        if certificates::find_by_managed(&mut db, SELF_SIGNED_MANAGED)
            .await?
            .is_some()
        {
            return Ok(false);
        }
    }
    let pair = generate.await?;
    let mut tx = store.begin().await?;
    // Another replica may have made it meanwhile: keep theirs.
    tx.lock(SELF_SIGNED_LOCK).await?;
    if certificates::find_by_managed(&mut tx, SELF_SIGNED_MANAGED)
        .await?
        .is_some()
    {
        tx.rollback().await?;
        return Ok(false);
    }
    certificates::create(
        &mut tx,
        NewCertificateKeyPair {
            name: crate::bootstrap::SELF_SIGNED_NAME.to_owned(),
            managed: Some(SELF_SIGNED_MANAGED.to_owned()),
            certificate_pem: pair.certificate_pem,
            key_pem: Some(pair.key_pem),
        },
        now,
    )
    .await?;
    tx.commit().await?;
    Ok(true)
}

#[cfg(feature = "storage")]
const SELF_SIGNED_LOCK: i64 = 0x6761_7465_0003;

/// Why the signing pair could not be ensured.
#[cfg(feature = "storage")]
#[derive(Debug, thiserror::Error)]
pub enum EnsureError {
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// The key could not be made.
    #[error(transparent)]
    Key(#[from] keys::KeyError),
}

#[cfg(all(test, feature = "storage"))]
mod tests;
