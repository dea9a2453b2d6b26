//! Certificate key pairs: PEM certificates, with their private key when Gatehouse
//! signs with them (OIDC tokens, TLS). The one Gatehouse generates carries a
//! `managed` key so later starts find it.

use super::{Db, Result, delete_one, dispatch, fetch_all, fetch_optional};
use crate::Timestamp;
use crate::ids::CertificateKeyPairId;

/// A stored certificate with its optional private key. `Debug` hides the key.
#[derive(Clone, PartialEq, sqlx::FromRow)]
pub struct CertificateKeyPair {
    /// Stable id.
    pub id: CertificateKeyPairId,
    /// Unique name.
    pub name: String,
    /// Unique key of a pair Gatehouse manages; `None` for one an admin uploaded.
    pub managed: Option<String>,
    /// The certificate (chain), PEM.
    pub certificate_pem: String,
    /// The private key, PEM; `None` for a certificate used only to verify.
    pub key_pem: Option<String>,
    /// Creation time.
    pub created_at: Timestamp,
    /// Last change.
    pub updated_at: Timestamp,
}

impl std::fmt::Debug for CertificateKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Logs and panics print `Debug`; a private key must never reach them.
        f.debug_struct("CertificateKeyPair")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("managed", &self.managed)
            .field("certificate_pem", &self.certificate_pem)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "***"))
            .field("created_at", &self.created_at)
            .field("updated_at", &self.updated_at)
            .finish()
    }
}

/// What is needed to store a certificate key pair.
#[derive(Clone)]
pub struct NewCertificateKeyPair {
    /// Unique name.
    pub name: String,
    /// Managed key, if Gatehouse owns the pair.
    pub managed: Option<String>,
    /// The certificate (chain), PEM.
    pub certificate_pem: String,
    /// The private key, PEM, if any.
    pub key_pem: Option<String>,
}

impl std::fmt::Debug for NewCertificateKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewCertificateKeyPair")
            .field("name", &self.name)
            .field("managed", &self.managed)
            .field("certificate_pem", &self.certificate_pem)
            .field("key_pem", &self.key_pem.as_ref().map(|_| "***"))
            .finish()
    }
}

/// The columns of [`CertificateKeyPair`], as a literal so queries stay `&'static str`.
macro_rules! columns {
    () => {
        "id, name, managed, certificate_pem, key_pem, created_at, updated_at"
    };
}

/// Stores a certificate key pair. A taken name or managed key is
/// [`super::StorageError::Conflict`].
pub async fn create(
    db: &mut impl Db,
    new: NewCertificateKeyPair,
    now: Timestamp,
) -> Result<CertificateKeyPair> {
    let pair = CertificateKeyPair {
        id: CertificateKeyPairId::new(),
        name: new.name,
        managed: new.managed,
        certificate_pem: new.certificate_pem,
        key_pem: new.key_pem,
        created_at: now,
        updated_at: now,
    };
    dispatch!(db, |c| {
        sqlx::query(concat!(
            "INSERT INTO certificate_key_pairs (",
            columns!(),
            ") VALUES ($1, $2, $3, $4, $5, $6, $7)"
        ))
        .bind(pair.id)
        .bind(&pair.name)
        .bind(&pair.managed)
        .bind(&pair.certificate_pem)
        .bind(&pair.key_pem)
        .bind(pair.created_at)
        .bind(pair.updated_at)
        .execute(c)
        .await
        .map(|_| ())
    })?;
    Ok(pair)
}

/// The pair with this id.
pub async fn get(db: &mut impl Db, id: CertificateKeyPairId) -> Result<Option<CertificateKeyPair>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM certificate_key_pairs WHERE id = $1"
    );
    fetch_optional!(db, sql, id)
}

/// The pair with exactly this name.
pub async fn find_by_name(db: &mut impl Db, name: &str) -> Result<Option<CertificateKeyPair>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM certificate_key_pairs WHERE name = $1"
    );
    fetch_optional!(db, sql, name)
}

/// The managed pair with this key.
pub async fn find_by_managed(
    db: &mut impl Db,
    managed: &str,
) -> Result<Option<CertificateKeyPair>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM certificate_key_pairs WHERE managed = $1"
    );
    fetch_optional!(db, sql, managed)
}

/// Every pair, ordered by name.
pub async fn list(db: &mut impl Db) -> Result<Vec<CertificateKeyPair>> {
    let sql = concat!(
        "SELECT ",
        columns!(),
        " FROM certificate_key_pairs ORDER BY name"
    );
    fetch_all!(db, sql)
}

/// Writes the name, managed key and PEMs of `pair`. Returns whether it existed.
pub async fn update(db: &mut impl Db, pair: &CertificateKeyPair, now: Timestamp) -> Result<bool> {
    let done = dispatch!(db, |c| {
        sqlx::query(
            "UPDATE certificate_key_pairs SET name = $2, managed = $3, certificate_pem = $4, \
             key_pem = $5, updated_at = $6 WHERE id = $1",
        )
        .bind(pair.id)
        .bind(&pair.name)
        .bind(&pair.managed)
        .bind(&pair.certificate_pem)
        .bind(&pair.key_pem)
        .bind(now)
        .execute(c)
        .await
        .map(|r| r.rows_affected())
    })?;
    Ok(done == 1)
}

/// Deletes a pair. Returns whether it existed.
pub async fn delete(db: &mut impl Db, id: CertificateKeyPairId) -> Result<bool> {
    delete_one!(db, "DELETE FROM certificate_key_pairs WHERE id = $1", id)
}

#[cfg(test)]
mod tests;
