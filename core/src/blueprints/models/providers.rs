//! Providers of every kind, property mappings, certificate key pairs and outposts.

use std::collections::BTreeSet;

use gatehouse_config::objects::{self, FieldError, Kind, OutpostConfig};
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::flows::common_part;
use super::{
    CommonFields, Fields, Object, WriteError, canonical, join_settings, parse_id, settings_of,
    typed, untyped,
};
use crate::Timestamp;
use crate::ids::{FlowId, PropertyMappingId, ProviderId};
use crate::secrets::{hash_key, random_key};
use crate::storage::certificates::{self, CertificateKeyPair, NewCertificateKeyPair};
use crate::storage::outposts::{self, NewOutpost, Outpost, OutpostKind};
use crate::storage::property_mappings::{self, NewPropertyMapping, PropertyMapping};
use crate::storage::providers::{self, NewProvider, Provider, ProviderKind};
use crate::storage::{StorageError, Tx};

/// The fields every provider has besides its kind's settings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct ProviderCommon {
    name: String,
    #[serde(default)]
    authorization_flow: Option<FlowId>,
    #[serde(default)]
    invalidation_flow: Option<FlowId>,
    #[serde(default)]
    property_mappings: BTreeSet<PropertyMappingId>,
}

impl CommonFields for ProviderCommon {
    const NAMES: &'static [&'static str] = &[
        "name",
        "authorization_flow",
        "invalidation_flow",
        "property_mappings",
    ];
}

fn provider_kind(kind: Kind) -> Result<ProviderKind, FieldError> {
    kind.name.parse().map_err(|e| FieldError {
        path: String::new(),
        message: format!("{e}"),
    })
}

pub(super) async fn list_providers(tx: &mut Tx, kind: Kind) -> Result<Vec<Object>, StorageError> {
    let links = providers::all_property_mappings(tx).await?;
    Ok(providers::list(tx)
        .await?
        .into_iter()
        .filter(|p| p.kind.as_str() == kind.name)
        .map(|p: Provider| Object {
            id: p.id.to_string(),
            fields: join_settings(
                kind,
                untyped(&ProviderCommon {
                    property_mappings: links
                        .iter()
                        .filter(|(provider, _)| *provider == p.id)
                        .map(|(_, m)| *m)
                        .collect(),
                    name: p.name,
                    authorization_flow: p.authorization_flow_id,
                    invalidation_flow: p.invalidation_flow_id,
                }),
                &p.settings,
            ),
        })
        .collect())
}

pub(super) async fn create_provider(
    tx: &mut Tx,
    kind: Kind,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let common: ProviderCommon = typed(&common_part::<ProviderCommon>(fields))?;
    let kind = provider_kind(kind)?;
    let mut settings = settings_of::<ProviderCommon>(fields);
    match kind {
        ProviderKind::OAuth2 => generate_credentials(&mut settings)?,
        ProviderKind::Proxy => {
            generate_credentials(&mut settings)?;
            generate_cookie_secret(&mut settings)?;
        }
    }
    let provider = providers::create(
        tx,
        NewProvider {
            name: common.name,
            kind,
            authorization_flow_id: common.authorization_flow,
            invalidation_flow_id: common.invalidation_flow,
            settings,
        },
        now,
    )
    .await?;
    let mappings: Vec<_> = common.property_mappings.into_iter().collect();
    providers::set_property_mappings(tx, provider.id, &mappings).await?;
    Ok(provider.id.to_string())
}

/// Fills in what a new OAuth2 provider leaves out, as authentik does: a random client
/// id, and a random secret for a confidential client (high-entropy, so it is checked
/// with a fast hash). Later applies keep them unless the blueprint sets them.
fn generate_credentials(settings: &mut Json) -> Result<(), WriteError> {
    let Some(map) = settings.as_object_mut() else {
        return Ok(());
    };
    let empty = |value: Option<&Json>| value.and_then(|v| v.as_str()).is_none_or(str::is_empty);
    if empty(map.get("client_id")) {
        // Letters and digits only (some clients put the id in URLs unescaped). One
        // key's 43 base64url characters can hold fewer than 40 of them; two keys' 86
        // hold about 83.
        let id: String = format!("{}{}", random("client_id")?, random("client_id")?)
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(40)
            .collect();
        map.insert("client_id".into(), id.into());
    }
    let public = map.get("client_type").and_then(|v| v.as_str()) == Some("public");
    if !public && empty(map.get("client_secret")) {
        let secret = format!("{}{}", random("client_secret")?, random("client_secret")?);
        map.insert("client_secret".into(), secret.into());
    }
    Ok(())
}

/// A random key for `field`.
fn random(field: &str) -> Result<String, WriteError> {
    random_key().map_err(|e| {
        WriteError::Field(FieldError {
            path: field.to_owned(),
            message: format!("cannot be generated: {e}"),
        })
    })
}

/// A proxy provider's key for sealing its outposts' cookies, made once like its
/// client credentials.
fn generate_cookie_secret(settings: &mut Json) -> Result<(), WriteError> {
    let Some(map) = settings.as_object_mut() else {
        return Ok(());
    };
    if map
        .get("cookie_secret")
        .and_then(Json::as_str)
        .is_none_or(str::is_empty)
    {
        let key = format!("{}{}", random("cookie_secret")?, random("cookie_secret")?);
        map.insert("cookie_secret".into(), key.into());
    }
    Ok(())
}

pub(super) async fn update_provider(
    tx: &mut Tx,
    _kind: Kind,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let common: ProviderCommon = typed(&common_part::<ProviderCommon>(fields))?;
    let id: ProviderId = parse_id(id)?;
    let Some(provider) = providers::get(tx, id).await? else {
        return Ok(());
    };
    providers::update(
        tx,
        &Provider {
            name: common.name,
            authorization_flow_id: common.authorization_flow,
            invalidation_flow_id: common.invalidation_flow,
            settings: settings_of::<ProviderCommon>(fields),
            ..provider
        },
        now,
    )
    .await?;
    let mappings: Vec<_> = common.property_mappings.into_iter().collect();
    providers::set_property_mappings(tx, id, &mappings).await?;
    Ok(())
}

/// The fields every property mapping has besides its kind's settings.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct MappingCommon {
    name: String,
    /// Set on mappings Gatehouse ships, so they can be found whatever their name.
    #[serde(default)]
    managed: Option<String>,
    expression: String,
}

impl CommonFields for MappingCommon {
    const NAMES: &'static [&'static str] = &["name", "managed", "expression"];
}

pub(super) async fn list_mappings(tx: &mut Tx, kind: Kind) -> Result<Vec<Object>, StorageError> {
    Ok(property_mappings::list(tx)
        .await?
        .into_iter()
        .filter(|m| m.kind == kind.name)
        .map(|m: PropertyMapping| Object {
            id: m.id.to_string(),
            fields: join_settings(
                kind,
                untyped(&MappingCommon {
                    name: m.name,
                    managed: m.managed,
                    expression: m.expression,
                }),
                &m.settings,
            ),
        })
        .collect())
}

pub(super) async fn create_mapping(
    tx: &mut Tx,
    kind: Kind,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let common: MappingCommon = typed(&common_part::<MappingCommon>(fields))?;
    let mapping = property_mappings::create(
        tx,
        NewPropertyMapping {
            name: common.name,
            managed: common.managed,
            kind: kind.name.to_owned(),
            expression: common.expression,
            settings: settings_of::<MappingCommon>(fields),
        },
        now,
    )
    .await?;
    Ok(mapping.id.to_string())
}

pub(super) async fn update_mapping(
    tx: &mut Tx,
    _kind: Kind,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let common: MappingCommon = typed(&common_part::<MappingCommon>(fields))?;
    let Some(mapping) = property_mappings::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    property_mappings::update(
        tx,
        &PropertyMapping {
            name: common.name,
            managed: common.managed,
            expression: common.expression,
            settings: settings_of::<MappingCommon>(fields),
            ..mapping
        },
        now,
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificateRecord {
    name: String,
    #[serde(default)]
    managed: Option<String>,
    /// PEM of the certificate (chain).
    certificate_data: String,
    /// PEM of the private key; absent for a certificate used only to verify.
    #[serde(default)]
    key_data: Option<String>,
}

pub(super) fn normalize_certificate(fields: Fields) -> Result<Fields, FieldError> {
    let record: CertificateRecord = typed(&fields)?;
    if !record
        .certificate_data
        .contains("-----BEGIN CERTIFICATE-----")
    {
        return Err(FieldError {
            path: "certificate_data".into(),
            message: "must be a PEM certificate (-----BEGIN CERTIFICATE-----)".into(),
        });
    }
    if record
        .key_data
        .as_deref()
        .is_some_and(|k| !k.contains("-----BEGIN") || !k.contains("PRIVATE KEY-----"))
    {
        return Err(FieldError {
            path: "key_data".into(),
            message: "must be a PEM private key (-----BEGIN PRIVATE KEY-----)".into(),
        });
    }
    canonical::<CertificateRecord>(fields)
}

pub(super) async fn list_certificates(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(certificates::list(tx)
        .await?
        .into_iter()
        .map(|c: CertificateKeyPair| Object {
            id: c.id.to_string(),
            fields: untyped(&CertificateRecord {
                name: c.name,
                managed: c.managed,
                certificate_data: c.certificate_pem,
                key_data: c.key_pem,
            }),
        })
        .collect())
}

pub(super) async fn create_certificate(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: CertificateRecord = typed(fields)?;
    let pair = certificates::create(
        tx,
        NewCertificateKeyPair {
            name: r.name,
            managed: r.managed,
            certificate_pem: r.certificate_data,
            key_pem: r.key_data,
        },
        now,
    )
    .await?;
    Ok(pair.id.to_string())
}

pub(super) async fn update_certificate(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: CertificateRecord = typed(fields)?;
    let Some(pair) = certificates::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    certificates::update(
        tx,
        &CertificateKeyPair {
            name: r.name,
            managed: r.managed,
            certificate_pem: r.certificate_data,
            key_pem: r.key_data,
            ..pair
        },
        now,
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct OutpostRecord {
    name: String,
    #[serde(default = "proxy", rename = "type")]
    kind: OutpostKind,
    #[serde(default)]
    providers: BTreeSet<ProviderId>,
    #[serde(default)]
    config: OutpostConfig,
    /// SHA-256 of the outpost's token.
    #[serde(default)]
    token_hash: Option<String>,
    /// Write-only: hashed into `token_hash`.
    #[serde(default, skip_serializing)]
    token: Option<String>,
}

fn proxy() -> OutpostKind {
    OutpostKind::Proxy
}

pub(super) fn normalize_outpost(
    fields: Fields,
    existing: Option<&Object>,
) -> Result<Fields, FieldError> {
    let mut record: OutpostRecord = typed(&fields)?;
    if let Some(token) = record.token.take() {
        record.token_hash = Some(hash_key(&token));
    }
    if record.token_hash.is_none() {
        record.token_hash = existing
            .and_then(|e| e.fields.get("token_hash"))
            .and_then(Json::as_str)
            .map(str::to_owned);
    }
    if record.token_hash.is_none() {
        // A token nobody knows; an admin sets one before the outpost can connect.
        let token = random_key().map_err(|e| FieldError {
            path: "token".into(),
            message: e.to_string(),
        })?;
        record.token_hash = Some(hash_key(&token));
    }
    Ok(untyped(&record))
}

pub(super) async fn list_outposts(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    let links = outposts::all_providers(tx).await?;
    let mut out = Vec::new();
    for o in outposts::list(tx).await? {
        let o: Outpost = o;
        let config = objects::deserialize(o.settings.clone()).unwrap_or_default();
        out.push(Object {
            id: o.id.to_string(),
            fields: untyped(&OutpostRecord {
                providers: links
                    .iter()
                    .filter(|(outpost, _)| *outpost == o.id)
                    .map(|(_, p)| *p)
                    .collect(),
                name: o.name,
                kind: o.kind,
                config,
                token_hash: Some(o.token_hash),
                token: None,
            }),
        });
    }
    Ok(out)
}

pub(super) async fn create_outpost(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: OutpostRecord = typed(fields)?;
    let outpost = outposts::create(
        tx,
        NewOutpost {
            name: r.name,
            kind: r.kind,
            token_hash: r.token_hash.unwrap_or_default(),
            settings: serde_json::to_value(&r.config).unwrap_or(Json::Null),
        },
        now,
    )
    .await?;
    let providers: Vec<_> = r.providers.into_iter().collect();
    outposts::set_providers(tx, outpost.id, &providers).await?;
    Ok(outpost.id.to_string())
}

pub(super) async fn update_outpost(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: OutpostRecord = typed(fields)?;
    let Some(outpost) = outposts::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    let token_hash = r.token_hash.unwrap_or(outpost.token_hash.clone());
    if token_hash != outpost.token_hash {
        outposts::set_token_hash(tx, outpost.id, &token_hash, now).await?;
    }
    outposts::update(
        tx,
        &Outpost {
            name: r.name,
            kind: r.kind,
            settings: serde_json::to_value(&r.config).unwrap_or(Json::Null),
            ..outpost.clone()
        },
        now,
    )
    .await?;
    let providers: Vec<_> = r.providers.into_iter().collect();
    outposts::set_providers(tx, outpost.id, &providers).await?;
    Ok(())
}
