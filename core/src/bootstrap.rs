//! What a first start creates and every later start reuses, kept in the data dir:
//! the root secret key and the self-signed certificate for the HTTPS listener.
//!
//! Files holding secrets are written with mode 0600, through a temporary file and a
//! rename, so a crash mid-write never leaves a half key that a restart would trust.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use base64::Engine;
use gatehouse_config::Secret;
use time::{Duration, OffsetDateTime};

/// File in the data dir holding the generated secret key.
pub const SECRET_KEY_FILE: &str = "secret_key";
/// Folder in the data dir holding the generated TLS pair.
pub const TLS_DIR: &str = "tls";
/// Common name of the generated certificate, as authentik names its own.
pub const SELF_SIGNED_NAME: &str = "gatehouse Self-signed Certificate";
/// Shortest key accepted from the file, as from the setting.
const MIN_SECRET_KEY_LEN: usize = 32;
/// Random bytes in a generated secret key (384 bits).
const SECRET_KEY_BYTES: usize = 48;
/// Lifetime of the generated certificate. Browsers warn about any self-signed
/// certificate anyway; production deployments set `tls.certificate`.
const SELF_SIGNED_VALIDITY: Duration = Duration::days(3650);

/// Why a start-up file could not be read or made.
#[derive(Debug, thiserror::Error)]
pub enum BootstrapError {
    /// Reading or writing a file failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A stored file is not what it should be.
    #[error("{path}: {message}")]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        message: String,
    },
    /// The operating system's random source failed.
    #[error("no randomness available: {0}")]
    Random(getrandom::Error),
    /// Certificate generation failed.
    #[error("cannot generate a certificate: {0}")]
    Certificate(#[from] rcgen::Error),
}

/// Whether a start-up file was found or made just now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Read from the data dir.
    Loaded,
    /// Generated and written to the data dir.
    Created,
}

/// The secret key in `data_dir`, generated and stored (mode 0600) when missing.
pub fn load_or_create_secret_key(data_dir: &Path) -> Result<(Secret, Origin), BootstrapError> {
    let path = data_dir.join(SECRET_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let key = text.trim();
            if key.chars().count() < MIN_SECRET_KEY_LEN {
                return Err(BootstrapError::Invalid {
                    path,
                    message: format!(
                        "holds fewer than {MIN_SECRET_KEY_LEN} characters; \
                         delete it to have a new key generated"
                    ),
                });
            }
            Ok((Secret::new(key), Origin::Loaded))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut bytes = [0u8; SECRET_KEY_BYTES];
            getrandom::fill(&mut bytes).map_err(BootstrapError::Random)?;
            let key = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            write_private(&path, key.as_bytes())?;
            Ok((Secret::new(key), Origin::Created))
        }
        Err(source) => Err(BootstrapError::Io { path, source }),
    }
}

/// A PEM certificate chain and its private key.
#[derive(Clone)]
pub struct TlsPair {
    /// PEM certificate(s), leaf first.
    pub certificate_pem: String,
    /// PEM private key.
    pub key_pem: Secret,
}

impl std::fmt::Debug for TlsPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsPair").finish_non_exhaustive()
    }
}

/// Reads an operator-provided pair.
pub fn load_tls_pair(certificate: &Path, key: &Path) -> Result<TlsPair, BootstrapError> {
    let read = |path: &Path| {
        std::fs::read_to_string(path).map_err(|source| BootstrapError::Io {
            path: path.to_owned(),
            source,
        })
    };
    Ok(TlsPair {
        certificate_pem: read(certificate)?,
        key_pem: Secret::new(read(key)?),
    })
}

/// The self-signed pair in `data_dir/tls/`, generated (ECDSA P-256, valid from a day
/// before `now` for ten years, for `names`) when missing.
pub fn load_or_create_self_signed(
    data_dir: &Path,
    names: &[String],
    now: OffsetDateTime,
) -> Result<(TlsPair, Origin), BootstrapError> {
    let dir = data_dir.join(TLS_DIR);
    let cert_path = dir.join("certificate.pem");
    let key_path = dir.join("private_key.pem");
    if cert_path.exists() && key_path.exists() {
        return Ok((load_tls_pair(&cert_path, &key_path)?, Origin::Loaded));
    }
    let mut params = rcgen::CertificateParams::new(names.to_vec())?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, SELF_SIGNED_NAME);
    params.not_before = now - Duration::days(1);
    params.not_after = now + SELF_SIGNED_VALIDITY;
    let key = rcgen::KeyPair::generate()?;
    let cert = params.self_signed(&key)?;
    let pair = TlsPair {
        certificate_pem: cert.pem(),
        key_pem: Secret::new(key.serialize_pem()),
    };
    std::fs::create_dir_all(&dir).map_err(|source| BootstrapError::Io {
        path: dir.clone(),
        source,
    })?;
    // Key first: a certificate without its key is never left behind to be "loaded".
    write_private(&key_path, pair.key_pem.expose().as_bytes())?;
    write_private(&cert_path, pair.certificate_pem.as_bytes())?;
    Ok((pair, Origin::Created))
}

/// Writes `bytes` to `path` with mode 0600 via a temporary file and a rename.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), BootstrapError> {
    let io = |source| BootstrapError::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io)?;
    // `mode` applies only when the file is created; make sure of it either way.
    file.set_permissions(std::fs::Permissions::from_mode(0o600))
        .map_err(io)?;
    file.write_all(bytes).map_err(io)?;
    file.sync_all().map_err(io)?;
    std::fs::rename(&tmp, path).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn secret_key_is_generated_once_with_private_mode() {
        let dir = tempfile::tempdir().unwrap();
        let (first, origin) = load_or_create_secret_key(dir.path()).unwrap();
        assert_eq!(origin, Origin::Created);
        assert_eq!(first.expose().len(), 64);
        let mode = std::fs::metadata(dir.path().join(SECRET_KEY_FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let (second, origin) = load_or_create_secret_key(dir.path()).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(first, second);
    }

    #[test]
    fn two_data_dirs_get_different_keys() {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let (ka, _) = load_or_create_secret_key(a.path()).unwrap();
        let (kb, _) = load_or_create_secret_key(b.path()).unwrap();
        assert_ne!(ka, kb);
    }

    #[test]
    fn short_secret_key_file_is_an_error_not_a_key() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(SECRET_KEY_FILE), "\n").unwrap();
        let err = load_or_create_secret_key(dir.path()).unwrap_err();
        assert!(err.to_string().contains("fewer than 32"), "{err}");
    }

    #[test]
    fn self_signed_pair_is_made_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let names = vec!["localhost".to_owned()];
        let now = datetime!(2026-11-28 12:00 UTC);
        let (pair, origin) = load_or_create_self_signed(dir.path(), &names, now).unwrap();
        assert_eq!(origin, Origin::Created);
        assert!(
            pair.certificate_pem
                .starts_with("-----BEGIN CERTIFICATE-----")
        );
        assert!(pair.key_pem.expose().contains("PRIVATE KEY"));
        let key_mode = std::fs::metadata(dir.path().join("tls/private_key.pem"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(key_mode & 0o777, 0o600);
        let (again, origin) = load_or_create_self_signed(dir.path(), &names, now).unwrap();
        assert_eq!(origin, Origin::Loaded);
        assert_eq!(again.certificate_pem, pair.certificate_pem);
        assert_eq!(again.key_pem, pair.key_pem);
    }
}
