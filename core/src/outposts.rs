//! The core's half of the control channel, without the transport: who a connecting
//! outpost is, the snapshot it enforces, and the revocations it must hear. The
//! server's hub carries these over the WebSocket (`gatehouse_config::control` has the
//! protocol).

use gatehouse_config::control::{
    AccessBinding, ApplicationSnapshot, BindingSubject, EngineMode, HeaderMapping, OutpostInfo,
    ProviderSnapshot, Revocations, RevokedSession, RevokedUser, Snapshot,
};
use gatehouse_config::objects::{self, ProxyProvider};
use sha2::{Digest, Sha256};

use crate::Timestamp;
use crate::oauth2::{find_client, signing_key_of};
use crate::oidc::keys::jwks;
use crate::secrets::hash_key;
use crate::storage::outposts::{self, Outpost};
use crate::storage::policies::{
    self, BindingTarget, PolicyBinding, PolicyBindingSubject, PolicyEngineMode,
};
use crate::storage::providers::{self, Provider, ProviderKind};
use crate::storage::{
    Db, StorageError, applications, groups, property_mappings, sessions, user_revocations,
};

/// The outpost whose token is `token`, if any. Only the token's hash is stored; an
/// unknown token and a removed outpost look the same.
pub async fn authenticate(db: &mut impl Db, token: &str) -> Result<Option<Outpost>, StorageError> {
    if token.is_empty() {
        return Ok(None);
    }
    outposts::find_by_token_hash(db, &hash_key(token)).await
}

/// The name of the outpost that runs inside the server (`embedded_outpost`), as
/// authentik names its own. Blueprints find it by this name to give it providers.
pub const EMBEDDED_NAME: &str = "gatehouse Embedded Outpost";

/// Makes sure the embedded outpost exists and connects with `token` (derived from
/// the server's secret key, so every replica sharing that key agrees on it).
pub async fn ensure_embedded(
    db: &mut impl Db,
    token: &str,
    now: Timestamp,
) -> Result<Outpost, StorageError> {
    let hash = hash_key(token);
    if let Some(found) = outposts::find_by_name(db, EMBEDDED_NAME).await? {
        if found.token_hash != hash {
            outposts::set_token_hash(db, found.id, &hash, now).await?;
        }
        return Ok(Outpost {
            token_hash: hash,
            ..found
        });
    }
    match outposts::create(db, outposts::NewOutpost::new(EMBEDDED_NAME, hash), now).await {
        // Another replica starting at the same time made it first.
        Err(StorageError::Conflict(_)) => outposts::find_by_name(db, EMBEDDED_NAME)
            .await?
            .ok_or(StorageError::Conflict(EMBEDDED_NAME.into())),
        made => made,
    }
}

/// The snapshot `outpost` enforces now, and its version (a digest of its content, so
/// that every replica names the same snapshot alike).
pub async fn snapshot(
    db: &mut impl Db,
    outpost: &Outpost,
) -> Result<(String, Snapshot), StorageError> {
    let mut providers = Vec::new();
    for provider in outposts::providers_of(db, outpost.id).await? {
        if provider.kind == ProviderKind::Proxy {
            providers.push(provider_snapshot(db, provider).await?);
        }
    }
    let snapshot = Snapshot {
        outpost: OutpostInfo {
            id: outpost.id.0,
            name: outpost.name.clone(),
            // Stored settings were checked when written.
            config: objects::deserialize(outpost.settings.clone()).unwrap_or_default(),
        },
        providers,
    };
    Ok((version_of(&snapshot), snapshot))
}

/// A digest of the snapshot's JSON: equal content, equal version.
fn version_of(snapshot: &Snapshot) -> String {
    let bytes = serde_json::to_vec(snapshot).unwrap_or_default();
    let digest = Sha256::digest(&bytes);
    digest.iter().take(12).map(|b| format!("{b:02x}")).collect()
}

async fn provider_snapshot(
    db: &mut impl Db,
    provider: Provider,
) -> Result<ProviderSnapshot, StorageError> {
    let settings: ProxyProvider =
        objects::deserialize(provider.settings.clone()).unwrap_or_default();
    let application = match applications::find_by_provider(db, provider.id).await? {
        Some(app) => {
            let bindings =
                policies::bindings_of_target(db, BindingTarget::Application(app.id)).await?;
            let mut access = Vec::new();
            for binding in bindings.into_iter().filter(|b| b.enabled) {
                if let Some(found) = access_binding(db, binding).await? {
                    access.push(found);
                }
            }
            Some(ApplicationSnapshot {
                id: app.id.0,
                slug: app.slug,
                name: app.name,
                group: app.group_name,
                policy_engine_mode: match app.policy_engine_mode {
                    PolicyEngineMode::All => EngineMode::All,
                    PolicyEngineMode::Any => EngineMode::Any,
                },
                bindings: access,
            })
        }
        None => None,
    };
    let mut header_mappings = Vec::new();
    for id in providers::property_mappings_of(db, provider.id).await? {
        if let Some(m) = property_mappings::get(db, id).await? {
            header_mappings.push(HeaderMapping {
                id: m.id.0,
                name: m.name,
                expression: m.expression,
            });
        }
    }
    // The outpost verifies the core's tokens with the key its client's tokens are
    // signed with.
    let key = match find_client(db, &settings.client_id).await? {
        Some(client) => signing_key_of(db, &client.settings).await?,
        None => None,
    };
    let jwks = serde_json::to_value(jwks(&key.iter().map(|k| &**k).collect::<Vec<_>>()))
        .unwrap_or_default();
    Ok(ProviderSnapshot {
        id: provider.id.0,
        name: provider.name,
        settings,
        application,
        header_mappings,
        jwks,
    })
}

/// A binding as the outpost evaluates it; `None` when what it names is gone (the
/// database cascades deletes, so only a race gets here).
async fn access_binding(
    db: &mut impl Db,
    binding: PolicyBinding,
) -> Result<Option<AccessBinding>, StorageError> {
    let subject = match binding.subject {
        PolicyBindingSubject::Group(id) => match groups::get(db, id).await? {
            Some(group) => BindingSubject::Group {
                id: id.0,
                name: group.name,
            },
            None => return Ok(None),
        },
        PolicyBindingSubject::User(id) => BindingSubject::User { id: id.0 },
        PolicyBindingSubject::Policy(id) => match policies::get(db, id).await? {
            Some(policy) => BindingSubject::Policy {
                id: id.0,
                name: policy.name,
                policy_kind: policy.kind,
                settings: policy.settings,
            },
            None => return Ok(None),
        },
    };
    Ok(Some(AccessBinding {
        id: binding.id.0,
        order: binding.sort_order,
        negate: binding.negate,
        timeout_ms: i64::from(binding.timeout_ms),
        failure_result: binding.failure_result,
        subject,
    }))
}

/// Every revocation made at or after `since` (all the store keeps when `None`): what
/// an outpost that was away, or a hub told that something was revoked, sends on.
pub async fn revocations_since(
    db: &mut impl Db,
    since: Option<Timestamp>,
) -> Result<Revocations, StorageError> {
    let since = since.unwrap_or(Timestamp::EPOCH);
    Ok(Revocations {
        sessions: sessions::revoked_since(db, since)
            .await?
            .into_iter()
            .map(|(id, at)| RevokedSession {
                id: id.0,
                at: at.as_datetime(),
            })
            .collect(),
        users: user_revocations::revoked_since(db, since)
            .await?
            .into_iter()
            .map(|(id, at)| RevokedUser {
                id: id.0,
                at: at.as_datetime(),
            })
            .collect(),
    })
}

#[cfg(test)]
mod tests;
