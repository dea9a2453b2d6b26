//! The outpost's session cookie: who signed in, sealed with AEAD (the `cookie` crate's
//! private jar: AES-256-GCM, the cookie's name bound in) under the provider's cookie
//! key, which every outpost replica of the provider gets over the control channel.
//! Any replica opens any cookie; nobody without the key can read or forge one.

use cookie::{Cookie, CookieJar, Key};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha512};
use uuid::Uuid;

/// Prefix of the cookie's name; the provider's id makes the rest.
pub const COOKIE_PREFIX: &str = "gatehouse_proxy_";

/// What the cookie carries: enough to decide every request without the core.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutpostSession {
    /// The core session (`sid`): a revocation names it.
    pub sid: Uuid,
    /// The user's id (`uid`): a user revocation names it.
    pub uid: Uuid,
    /// Login name.
    pub username: String,
    /// Email address.
    #[serde(default)]
    pub email: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// Names of the user's groups at sign-in.
    #[serde(default)]
    pub groups: Vec<String>,
    /// The user attributes policies and header mappings read.
    #[serde(default)]
    pub attributes: serde_json::Value,
    /// When the core issued the sign-in (its clock, Unix seconds): a user revoked at
    /// or after this time is refused.
    pub issued_at: i64,
    /// When the cookie stops counting (Unix seconds).
    pub expires_at: i64,
}

/// The cookie key of a provider, from its `cookie_secret` (any length: SHA-512 makes
/// it the 64 bytes the private jar wants).
pub fn key_of(cookie_secret: &str) -> Key {
    Key::from(&Sha512::digest(cookie_secret.as_bytes()))
}

/// The cookie's name for the provider `id`.
pub fn cookie_name(provider: Uuid) -> String {
    format!("{COOKIE_PREFIX}{}", provider.simple())
}

/// Seals `session` into a cookie value for `name`.
pub fn seal(key: &Key, name: &str, session: &OutpostSession) -> String {
    seal_json(key, name, session)
}

/// Opens the cookie value `sealed` of `name`; `None` when it was not sealed with
/// `key` for that name, or does not hold a session.
pub fn open(key: &Key, name: &str, sealed: &str) -> Option<OutpostSession> {
    open_json(key, name, sealed)
}

/// Seals any value as JSON into a cookie value for `name` (sessions, pending logins).
pub fn seal_json<T: Serialize>(key: &Key, name: &str, value: &T) -> String {
    let mut jar = CookieJar::new();
    let json = serde_json::to_string(value).unwrap_or_default();
    jar.private_mut(key).add(Cookie::new(name.to_owned(), json));
    jar.get(name)
        .map(|c| c.value().to_owned())
        .unwrap_or_default()
}

/// Opens what [`seal_json`] sealed for `name` under `key`.
pub fn open_json<T: serde::de::DeserializeOwned>(key: &Key, name: &str, sealed: &str) -> Option<T> {
    let mut jar = CookieJar::new();
    jar.add_original(Cookie::new(name.to_owned(), sealed.to_owned()));
    let opened = jar.private(key).get(name)?;
    serde_json::from_str(opened.value()).ok()
}

/// The value of cookie `name` in a `Cookie` request header, if present.
pub fn find_cookie<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> OutpostSession {
        OutpostSession {
            sid: Uuid::new_v4(),
            uid: Uuid::new_v4(),
            username: "ada".into(),
            email: "ada@example.org".into(),
            name: "Ada".into(),
            groups: vec!["ops".into()],
            attributes: serde_json::json!({"team": "red"}),
            issued_at: 1_800_000_000,
            expires_at: 1_800_086_400,
        }
    }

    #[test]
    fn a_sealed_session_opens_with_its_key_and_name_only() {
        let key = key_of("a-cookie-secret");
        let name = cookie_name(Uuid::new_v4());
        let session = session();
        let sealed = seal(&key, &name, &session);
        assert!(!sealed.contains("ada"), "the value is encrypted: {sealed}");
        assert_eq!(open(&key, &name, &sealed), Some(session));
        assert_eq!(open(&key_of("another-secret"), &name, &sealed), None);
        assert_eq!(open(&key, "gatehouse_proxy_other", &sealed), None);
    }

    #[test]
    fn a_tampered_or_garbage_value_opens_to_nothing() {
        let key = key_of("a-cookie-secret");
        let sealed = seal(&key, "c", &session());
        let mut tampered = sealed.clone().into_bytes();
        if let Some(byte) = tampered.get_mut(20) {
            *byte = if *byte == b'A' { b'B' } else { b'A' };
        }
        let tampered = String::from_utf8(tampered).unwrap();
        assert_eq!(open(&key, "c", &tampered), None);
        for garbage in ["", "x", "%%%", "AAAA", &"A".repeat(10_000)] {
            assert_eq!(open(&key, "c", garbage), None, "{garbage}");
        }
    }

    #[test]
    fn cookies_are_found_by_exact_name() {
        let header = "a=1; gatehouse_proxy_x=\"v2\"; gatehouse_proxy_xy=3";
        assert_eq!(find_cookie(header, "gatehouse_proxy_x"), Some("v2"));
        assert_eq!(find_cookie(header, "gatehouse_proxy_xy"), Some("3"));
        assert_eq!(find_cookie(header, "gatehouse_proxy"), None);
        assert_eq!(find_cookie("", "a"), None);
    }
}
