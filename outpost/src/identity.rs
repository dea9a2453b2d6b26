//! What the upstream is told about the user: the `X-Gatehouse-*` headers (and
//! authentik's `X-authentik-*` names when the provider asks for them), the headers the
//! provider's property mappings compute, and HTTP Basic credentials from user
//! attributes when the provider passes them on.
//!
//! Every name under `x-gatehouse-` and `x-authentik-` is reserved: a client's own are
//! removed before a request goes upstream (proxy mode), and a forward-auth answer
//! always carries every identity name (authentik's too, empty unless the provider
//! asks for them), empty when nobody signed in, so a front proxy that copies them
//! over the request replaces what the client sent.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use serde_json::Value as Json;

use crate::decide::CompiledProvider;
use crate::session::OutpostSession;

/// Gatehouse's identity headers, in the order of [`values`].
pub const GATEHOUSE: [&str; 5] = [
    "x-gatehouse-username",
    "x-gatehouse-groups",
    "x-gatehouse-email",
    "x-gatehouse-name",
    "x-gatehouse-uid",
];

/// authentik's names for the same, sent too when the provider asks
/// (`authentik_headers`), so apps set up for authentik keep working.
pub const AUTHENTIK: [&str; 5] = [
    "x-authentik-username",
    "x-authentik-groups",
    "x-authentik-email",
    "x-authentik-name",
    "x-authentik-uid",
];

/// Whether only the outpost may send `name` upstream.
pub fn is_reserved(name: &str) -> bool {
    let name = name.as_bytes();
    [b"x-gatehouse-".as_slice(), b"x-authentik-".as_slice()]
        .iter()
        .any(|prefix| {
            name.get(..prefix.len())
                .is_some_and(|head| head.eq_ignore_ascii_case(prefix))
        })
}

/// Every identity name, each with an empty value (a skipped path).
pub fn blank() -> Vec<(HeaderName, HeaderValue)> {
    GATEHOUSE
        .into_iter()
        .chain(AUTHENTIK)
        .map(|name| (HeaderName::from_static(name), HeaderValue::from_static("")))
        .collect()
}

/// The identity values of `session`, in the order of [`GATEHOUSE`]; groups are
/// joined with `|` as authentik does.
fn values(session: &OutpostSession) -> [String; 5] {
    [
        session.username.clone(),
        session.groups.join("|"),
        session.email.clone(),
        session.name.clone(),
        session.uid.to_string(),
    ]
}

/// Every header telling the upstream who `session` is, for `provider`.
pub fn headers(
    provider: &CompiledProvider,
    session: &OutpostSession,
) -> Vec<(HeaderName, HeaderValue)> {
    let settings = &provider.snapshot.settings;
    let values = values(session);
    // authentik's names carry the values only when the provider asks; otherwise
    // they go empty, so a front proxy that copies them clears a client's own.
    let authentik = AUTHENTIK.into_iter().zip(values.iter().map(|v| {
        if settings.authentik_headers {
            v.as_str()
        } else {
            ""
        }
    }));
    let mut out: Vec<(HeaderName, HeaderValue)> = GATEHOUSE
        .into_iter()
        .zip(values.iter().map(String::as_str))
        .chain(authentik)
        .filter_map(|(name, value)| Some((HeaderName::from_static(name), value_of(name, value)?)))
        .collect();
    if settings.basic_auth_enabled
        && let Some(value) = basic(provider, session)
    {
        out.push((AUTHORIZATION, value));
    }
    if !provider.mappings.is_empty() {
        let input = provider.input_of(session);
        for (mapping, expression) in &provider.mappings {
            let map = match expression.eval_map(&input) {
                Ok(map) => map,
                Err(err) => {
                    tracing::warn!(%mapping, error = %err, "header mapping failed; its headers are not sent");
                    continue;
                }
            };
            for (name, value) in map {
                let text = match value {
                    Json::String(s) => s,
                    Json::Null => continue,
                    other => other.to_string(),
                };
                match HeaderName::from_bytes(name.as_bytes()) {
                    Ok(header) if !is_reserved(header.as_str()) && header != AUTHORIZATION => {
                        if let Some(value) = value_of(&name, &text) {
                            out.push((header, value));
                        }
                    }
                    _ => {
                        tracing::warn!(%mapping, header = %name, "header mapping names a header it may not set; left out")
                    }
                }
            }
        }
    }
    out
}

/// `Authorization: Basic` from the user's attributes: the username attribute
/// (the email when the provider names none) and the password attribute.
fn basic(provider: &CompiledProvider, session: &OutpostSession) -> Option<HeaderValue> {
    let settings = &provider.snapshot.settings;
    let attribute = |name: &str| match session.attributes.get(name) {
        Some(Json::String(s)) => Some(s.clone()),
        _ => None,
    };
    let username = if settings.basic_auth_user_attribute.is_empty() {
        Some(session.email.clone())
    } else {
        attribute(&settings.basic_auth_user_attribute)
    };
    let password = attribute(&settings.basic_auth_password_attribute);
    let (Some(username), Some(password)) = (username, password) else {
        tracing::debug!(user = %session.username, provider = %provider.snapshot.name, "no Basic credentials in the user's attributes");
        return None;
    };
    value_of(
        "authorization",
        &format!(
            "Basic {}",
            STANDARD.encode(format!("{username}:{password}"))
        ),
    )
}

/// A header value of `text` (UTF-8 passes as its bytes); `None`, logged, when it
/// holds a control character.
fn value_of(name: &str, text: &str) -> Option<HeaderValue> {
    match HeaderValue::from_bytes(text.as_bytes()) {
        Ok(value) => Some(value),
        Err(_) => {
            tracing::warn!(header = %name, "value holds a control character; header left out");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use gatehouse_config::control::HeaderMapping;
    use gatehouse_config::objects::ProxyMode;
    use uuid::Uuid;

    use super::*;
    use crate::testing::{session, snapshot};

    fn provider(
        edit: impl FnOnce(&mut gatehouse_config::control::ProviderSnapshot),
    ) -> CompiledProvider {
        let mut snapshot = snapshot(ProxyMode::Proxy).providers.remove(0);
        edit(&mut snapshot);
        CompiledProvider::compile(&snapshot, 1)
    }

    fn get<'a>(headers: &'a [(HeaderName, HeaderValue)], name: &str) -> Vec<&'a [u8]> {
        headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_bytes())
            .collect()
    }

    #[test]
    fn the_identity_headers_name_the_user_and_authentiks_come_when_asked() {
        let mut ada = session("ada", &["ops", "dev"], 0);
        ada.name = "Ada Lovelace-Zoë".into();
        let plain = headers(&provider(|_| {}), &ada);
        assert_eq!(get(&plain, "x-gatehouse-username"), [b"ada"]);
        assert_eq!(get(&plain, "x-gatehouse-groups"), [b"ops|dev"]);
        assert_eq!(get(&plain, "x-gatehouse-email"), [b"ada@example.org"]);
        assert_eq!(
            get(&plain, "x-gatehouse-name"),
            ["Ada Lovelace-Zoë".as_bytes()]
        );
        assert_eq!(
            get(&plain, "x-gatehouse-uid"),
            [ada.uid.to_string().as_bytes()]
        );
        assert_eq!(get(&plain, "x-authentik-username"), [b""]);
        let both = headers(&provider(|p| p.settings.authentik_headers = true), &ada);
        assert_eq!(get(&both, "x-authentik-username"), [b"ada"]);
        assert_eq!(get(&both, "x-authentik-groups"), [b"ops|dev"]);
        assert_eq!(both.len(), 10);
        // A value with a line break is left out rather than sent.
        ada.name = "Ada\r\nX-Evil: 1".into();
        assert!(get(&headers(&provider(|_| {}), &ada), "x-gatehouse-name").is_empty());
    }

    #[test]
    fn basic_credentials_come_from_the_users_attributes() {
        let mut ada = session("ada", &["ops"], 0);
        ada.attributes = serde_json::json!({"prom_user": "ada-basic", "prom_password": "s3cret"});
        let basic = provider(|p| {
            p.settings.basic_auth_enabled = true;
            p.settings.basic_auth_user_attribute = "prom_user".into();
            p.settings.basic_auth_password_attribute = "prom_password".into();
        });
        assert_eq!(
            get(&headers(&basic, &ada), "authorization"),
            [format!("Basic {}", STANDARD.encode("ada-basic:s3cret")).as_bytes()]
        );
        ada.attributes = serde_json::json!({"prom_user": "ada-basic"});
        assert!(get(&headers(&basic, &ada), "authorization").is_empty());
        assert!(get(&headers(&provider(|_| {}), &ada), "authorization").is_empty());
    }

    #[test]
    fn mappings_add_headers_but_not_reserved_ones() {
        let mapping = |expression: &str| HeaderMapping {
            id: Uuid::new_v4(),
            name: "m".into(),
            expression: expression.into(),
        };
        let mapped = provider(|p| {
            p.header_mappings = vec![
                mapping(
                    r#"{"X-Team": user.username + "-team", "X-Count": 2, "X-Gatehouse-Username": "root", "Authorization": "x"}"#,
                ),
                mapping("not a map ("),
                mapping(r#""not a map""#),
            ];
        });
        let out = headers(&mapped, &session("ada", &["ops"], 0));
        assert_eq!(get(&out, "x-team"), [b"ada-team"]);
        assert_eq!(get(&out, "x-count"), [b"2"]);
        assert_eq!(get(&out, "x-gatehouse-username"), [b"ada"]);
        assert!(get(&out, "authorization").is_empty());
    }

    #[test]
    fn reserved_names_are_recognised_in_any_case() {
        assert!(is_reserved("X-Gatehouse-Username"));
        assert!(is_reserved("x-authentik-meta-app"));
        assert!(!is_reserved("x-gatehouse"));
        assert!(!is_reserved("x-forwarded-user"));
        assert_eq!(blank().len(), 10);
        assert!(blank().iter().all(|(_, v)| v.is_empty()));
    }
}
