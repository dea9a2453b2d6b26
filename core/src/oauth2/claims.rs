//! What a token says about its user: `sub` per the provider's subject mode, and the
//! claims of the scope mappings the granted scopes select.

use std::sync::{Arc, LazyLock};

use gatehouse_config::objects::{OAuth2Provider, ScopeMapping, SubMode};
use serde_json::{Map, Value as Json};
use sha2::{Digest, Sha256};

use super::Client;
use crate::Timestamp;
use crate::expr::{ApplicationInput, Expression, Input};
use crate::ids::{PropertyMappingId, ProviderId};
use crate::policies::Who;
use crate::storage::property_mappings::{self, PropertyMapping};
use crate::storage::providers::ProviderKind;
use crate::storage::{Db, StorageError, providers};

/// The scope every OpenID Connect request carries; it needs no mapping.
pub const OPENID: &str = "openid";
/// The scope that asks for a refresh token.
pub const OFFLINE_ACCESS: &str = "offline_access";

/// `sub` for the user `uid` (with this username and email) at provider `provider`.
pub fn subject(
    settings: &OAuth2Provider,
    provider: ProviderId,
    uid: &str,
    username: &str,
    email: &str,
) -> String {
    match settings.sub_mode {
        // Per provider, so that two applications cannot match their users up.
        SubMode::HashedUserId => {
            let digest = Sha256::digest(format!("{provider}:{uid}").as_bytes());
            digest.iter().map(|b| format!("{b:02x}")).collect()
        }
        SubMode::UserUuid => uid.to_owned(),
        SubMode::UserUsername => username.to_owned(),
        SubMode::UserEmail => email.to_owned(),
    }
}

/// A provider's scope mappings, with their scope names.
async fn scope_mappings(
    db: &mut impl Db,
    provider: ProviderId,
) -> Result<Vec<(PropertyMapping, ScopeMapping)>, StorageError> {
    let mut found = Vec::new();
    for id in providers::property_mappings_of(db, provider).await? {
        if let Some(mapping) = property_mappings::get(db, id).await?
            && mapping.kind == "scope"
        {
            let settings: ScopeMapping =
                gatehouse_config::objects::deserialize(mapping.settings.clone())
                    .unwrap_or_default();
            found.push((mapping, settings));
        }
    }
    Ok(found)
}

/// Of the `requested` scopes, those the provider grants: `openid`, and every scope one
/// of its scope mappings names. The others are dropped, as OAuth 2.0 allows.
pub async fn granted_scopes(
    db: &mut impl Db,
    provider: ProviderId,
    requested: &[String],
) -> Result<Vec<String>, StorageError> {
    let mappings = scope_mappings(db, provider).await?;
    Ok(requested
        .iter()
        .filter(|s| *s == OPENID || mappings.iter().any(|(_, m)| &m.scope_name == *s))
        .cloned()
        .collect())
}

/// What the consent page lists for `scopes`: each mapping's description (its scope
/// name when it has none), once.
pub async fn scope_descriptions(
    db: &mut impl Db,
    provider: ProviderId,
    scopes: &[String],
) -> Result<Vec<(String, String)>, StorageError> {
    let mut shown: Vec<(String, String)> = Vec::new();
    for (_, mapping) in scope_mappings(db, provider).await? {
        if !scopes.contains(&mapping.scope_name) || mapping.scope_name == OPENID {
            continue;
        }
        let text = if mapping.description.is_empty() {
            mapping.scope_name.clone()
        } else {
            mapping.description.clone()
        };
        if !shown.iter().any(|(_, t)| *t == text) {
            shown.push((mapping.scope_name, text));
        }
    }
    Ok(shown)
}

/// The claim in which a proxy provider's tokens carry what its outposts need beyond
/// the standard claims (authentik calls it `ak_proxy`).
pub const PROXY_CLAIM: &str = "gatehouse_proxy";

/// The claims `scopes` give about `who`: the maps of the provider's mappings for those
/// scopes, merged in mapping-name order (a later mapping wins a shared claim). A
/// mapping that fails is logged and left out; the others still count. A proxy
/// provider's client (an outpost) always gets [`proxy_claims`] too.
pub async fn scope_claims(
    db: &mut impl Db,
    client: &Client,
    scopes: &[String],
    who: &Who,
) -> Result<Map<String, Json>, StorageError> {
    let provider = client.provider.id;
    let application = client.application.as_ref();
    let mut input = Input::default();
    if let Some(user) = &who.user {
        input = input.with_user(user);
    }
    if let Some(app) = application {
        input = input.with_application(&ApplicationInput {
            slug: app.slug.clone(),
            name: app.name.clone(),
            group: app.group_name.clone(),
        });
    }
    let mut claims = Map::new();
    for (mapping, settings) in scope_mappings(db, provider).await? {
        if !scopes.contains(&settings.scope_name) {
            continue;
        }
        let Some(expression) = compiled(&mapping) else {
            continue;
        };
        match expression.eval_map(&input) {
            Ok(map) => claims.extend(map),
            Err(err) => {
                tracing::warn!(mapping = %mapping.name, error = %err, "scope mapping failed");
            }
        }
    }
    if client.provider.kind == ProviderKind::Proxy {
        claims.extend(proxy_claims(who));
    }
    // These are the token's own; a mapping cannot override them.
    for reserved in [
        "iss",
        "sub",
        "aud",
        "exp",
        "iat",
        "nbf",
        "jti",
        "nonce",
        "auth_time",
        "azp",
        "at_hash",
        "sid",
        "scope",
        "amr",
        "acr",
    ] {
        claims.remove(reserved);
    }
    Ok(claims)
}

/// What an outpost puts in its session cookie to decide requests without the core:
/// the user's names, groups (inherited ones too, by name, as bindings and CEL see
/// them) and attributes.
fn proxy_claims(who: &Who) -> Map<String, Json> {
    let Some(user) = &who.user else {
        return Map::new();
    };
    let mut claims = Map::new();
    claims.insert(
        "preferred_username".into(),
        Json::from(user.username.clone()),
    );
    claims.insert("email".into(), Json::from(user.email.clone()));
    claims.insert("name".into(), Json::from(user.name.clone()));
    claims.insert("groups".into(), Json::from(user.groups.clone()));
    claims.insert(
        PROXY_CLAIM.into(),
        serde_json::json!({
            "user_attributes": user.attributes,
            "is_superuser": who.superuser,
        }),
    );
    claims
}

/// The compiled expression of `mapping`, compiled once per version.
fn compiled(mapping: &PropertyMapping) -> Option<Arc<Expression>> {
    type Key = (PropertyMappingId, Timestamp);
    static COMPILED: LazyLock<moka::sync::Cache<Key, Arc<Expression>>> =
        LazyLock::new(|| moka::sync::Cache::new(1024));
    let key = (mapping.id, mapping.updated_at);
    if let Some(found) = COMPILED.get(&key) {
        return Some(found);
    }
    match Expression::compile(&mapping.expression) {
        Ok(expression) => {
            let expression = Arc::new(expression);
            COMPILED.insert(key, expression.clone());
            Some(expression)
        }
        Err(err) => {
            // Blueprints refuse a broken expression, so this is a row from elsewhere.
            tracing::warn!(mapping = %mapping.name, error = %err, "scope mapping does not compile");
            None
        }
    }
}
