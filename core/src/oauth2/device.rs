//! RFC 8628 device authorization: a device without a browser gets a device code to
//! poll with and a user code its user types on `/if/device/`, where they sign in, pass
//! the application's policies and the provider's authorization flow, and approve.

use serde::Serialize;

use super::authorize::PendingAuthorization;
use super::claims;
use super::grants::{ClientAuth, authenticate};
use super::{Client, OAuthError, client_of, split_scopes};
use crate::Timestamp;
use crate::secrets::{hash_key, random_key};
use crate::storage::oauth2::{self, DeviceCode};
use crate::storage::{Db, StorageError, Store, providers};

/// The grant type a device polls the token endpoint with.
pub const DEVICE_CODE_GRANT: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// Path of the page where users type their code.
pub const DEVICE_PAGE: &str = "/if/device/";

/// How long a device authorization waits for its user.
const LIFETIME: time::Duration = time::Duration::minutes(10);

/// Seconds a device waits between polls (RFC 8628 §3.2 `interval`).
pub const POLL_INTERVAL: i64 = 5;

/// Letters a user code is made of: consonants without look-alikes, so that codes are
/// easy to read out and type and spell no words (RFC 8628 §6.1).
const ALPHABET: &[u8; 20] = b"BCDFGHJKLMNPQRSTVWXZ";

/// The answer of the device authorization endpoint (RFC 8628 §3.2).
#[derive(Debug, Clone, Serialize)]
pub struct DeviceAuthorization {
    /// What the device polls with.
    pub device_code: String,
    /// What the user types.
    pub user_code: String,
    /// Where the user types it.
    pub verification_uri: String,
    /// The same, with the code filled in (for a QR code).
    pub verification_uri_complete: String,
    /// Seconds both codes last.
    pub expires_in: i64,
    /// Seconds between polls.
    pub interval: i64,
}

/// A fresh user code, `XXXX-XXXX`.
fn new_user_code() -> Result<String, OAuthError> {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes)
        .map_err(|e| OAuthError::ServerError(format!("no randomness: {e}")))?;
    let letters: String = bytes
        .iter()
        .map(|b| {
            char::from(
                ALPHABET
                    .get(usize::from(*b) % ALPHABET.len())
                    .copied()
                    .unwrap_or(b'B'),
            )
        })
        .collect();
    Ok(format!(
        "{}-{}",
        letters.get(..4).unwrap_or_default(),
        letters.get(4..).unwrap_or_default()
    ))
}

/// What the user typed, as stored: case, spaces and dashes do not matter.
pub fn normalize_user_code(typed: &str) -> Option<String> {
    let letters: String = typed
        .chars()
        .filter(|c| c.is_ascii_alphabetic())
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (letters.len() == 8 && letters.bytes().all(|b| ALPHABET.contains(&b))).then(|| {
        format!(
            "{}-{}",
            letters.get(..4).unwrap_or_default(),
            letters.get(4..).unwrap_or_default()
        )
    })
}

/// RFC 8628 §3.1: starts a device authorization for the client `auth`.
pub async fn device_authorize(
    store: &Store,
    caches: &super::Caches,
    auth: &ClientAuth,
    scope: Option<&str>,
    base_url: &str,
    now: Timestamp,
) -> Result<DeviceAuthorization, OAuthError> {
    let mut lazy = super::LazyConn::new(store);
    let client = authenticate(&mut lazy, caches, auth).await?;
    let requested = split_scopes(scope.unwrap_or_default());
    let scopes = claims::granted_scopes(lazy.get().await?, client.provider.id, &requested).await?;
    drop(lazy);
    let mut tx = store.begin().await?;
    let device_code =
        random_key().map_err(|e| OAuthError::ServerError(format!("no randomness: {e}")))?;
    // 20^8 codes: a clash with a live one is rare; draw again a few times.
    let mut attempt = 0;
    let user_code = loop {
        let user_code = new_user_code()?;
        match oauth2::create_device_code(
            &mut tx,
            hash_key(&device_code),
            user_code.clone(),
            client.provider.id,
            scopes.join(" "),
            now,
            now + LIFETIME,
        )
        .await
        {
            Ok(_) => break user_code,
            Err(StorageError::Conflict(_)) if attempt < 3 => attempt += 1,
            Err(err) => return Err(err.into()),
        }
    };
    tx.commit().await?;
    let verification_uri = format!("{base_url}{DEVICE_PAGE}");
    Ok(DeviceAuthorization {
        device_code,
        verification_uri_complete: format!("{verification_uri}?code={user_code}"),
        user_code,
        verification_uri,
        expires_in: LIFETIME.whole_seconds(),
        interval: POLL_INTERVAL,
    })
}

/// The device authorization waiting for the code a user typed, with its client.
/// `None` when the code is unknown, expired, or already answered.
pub async fn waiting_device(
    db: &mut impl Db,
    typed: &str,
    now: Timestamp,
) -> Result<Option<(DeviceCode, Client)>, StorageError> {
    let Some(code) = normalize_user_code(typed) else {
        return Ok(None);
    };
    let Some(device) = oauth2::find_user_code(db, &code).await? else {
        return Ok(None);
    };
    if device.expires_at <= now || device.approved_at.is_some() || device.denied_at.is_some() {
        return Ok(None);
    }
    let Some(provider) = providers::get(db, device.provider_id).await? else {
        return Ok(None);
    };
    Ok(client_of(db, provider)
        .await?
        .map(|client| (device, client)))
}

/// The authorization a device's user goes through: no redirect URI; fulfilling it
/// approves the device.
pub fn pending_for_device(
    device: &DeviceCode,
    client: &Client,
    base_url: &str,
) -> Option<PendingAuthorization> {
    let application = client.application.as_ref()?;
    Some(PendingAuthorization {
        provider_id: client.provider.id,
        application_id: application.id,
        application_name: application.name.clone(),
        redirect_uri: String::new(),
        scopes: split_scopes(&device.scope),
        state: None,
        nonce: None,
        code_challenge: None,
        force_consent: false,
        issuer: client.issuer(base_url),
        device: Some(device.id),
    })
}
