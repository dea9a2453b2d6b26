//! The model registry: every kind of stored object a blueprint can write, under its
//! blueprint name, with the same five operations each (list, normalize, create,
//! update, delete) over a JSON view of its fields.
//!
//! Names follow authentik's `<app>.<model>` scheme with `gatehouse_` in place of
//! `authentik_` (`gatehouse_core.user`, `gatehouse_flows.flow`,
//! `gatehouse_stages_password.passwordstage`), so a blueprint ported from authentik
//! mostly needs its model names renamed. The fields of a model are the blueprint's
//! `attrs`; [`Model::normalize`] checks them against a typed record (unknown fields
//! and wrong types are refused, defaults filled in) and gives a canonical form, so an
//! object whose canonical fields equal the stored ones is left untouched.

use gatehouse_config::objects::{
    self, FieldError, Kind, POLICY_KINDS, PROPERTY_MAPPING_KINDS, PROVIDER_KINDS, STAGE_KINDS,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value as Json};

use crate::Timestamp;
use crate::secrets::PasswordCost;
use crate::storage::{StorageError, Tx};

mod access;
mod flows;
mod identity;
mod providers;

/// The fields of an object, by name.
pub type Fields = Map<String, Json>;

/// A stored object as blueprints see it.
#[derive(Debug, Clone, PartialEq)]
pub struct Object {
    /// Its primary key.
    pub id: String,
    /// Its fields in canonical form.
    pub fields: Fields,
}

/// Why a write was refused.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// A field's value does not fit (a reference to nothing, a bad combination).
    #[error(transparent)]
    Field(#[from] FieldError),
    /// The database refused it (a name taken) or failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A model a blueprint can write.
#[derive(Debug, Clone, Copy)]
pub enum Model {
    /// `gatehouse_core.user`.
    User,
    /// `gatehouse_core.group`.
    Group,
    /// `gatehouse_core.token`.
    Token,
    /// `gatehouse_brands.brand`.
    Brand,
    /// `gatehouse_flows.flow`.
    Flow,
    /// `gatehouse_flows.flowstagebinding`.
    StageBinding,
    /// `gatehouse_stages_<kind>.<kind>stage`.
    Stage(Kind),
    /// `gatehouse_policies_<kind>.<kind>policy`.
    Policy(Kind),
    /// `gatehouse_policies.policybinding`.
    PolicyBinding,
    /// `gatehouse_core.application`.
    Application,
    /// `gatehouse_providers_<kind>.<kind>provider`.
    Provider(Kind),
    /// A property mapping, e.g. `gatehouse_providers_oauth2.scopemapping`.
    PropertyMapping(Kind),
    /// `gatehouse_crypto.certificatekeypair`.
    CertificateKeyPair,
    /// `gatehouse_outposts.outpost`.
    Outpost,
}

impl PartialEq for Model {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for Model {}

impl std::hash::Hash for Model {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state);
    }
}

/// How values that need more than the blueprint are produced.
#[derive(Debug, Clone, Copy, Default)]
pub struct WriteOptions {
    /// argon2id cost for `password` fields.
    pub password_cost: PasswordCost,
}

impl Model {
    /// Every model, in the order export writes them (referenced before referencing).
    pub fn all() -> Vec<Model> {
        let mut all = vec![Model::CertificateKeyPair, Model::Flow];
        all.extend(STAGE_KINDS.iter().copied().map(Model::Stage));
        all.push(Model::StageBinding);
        all.extend(POLICY_KINDS.iter().copied().map(Model::Policy));
        all.extend(
            PROPERTY_MAPPING_KINDS
                .iter()
                .copied()
                .map(Model::PropertyMapping),
        );
        all.extend(PROVIDER_KINDS.iter().copied().map(Model::Provider));
        all.extend([
            Model::Application,
            Model::Group,
            Model::User,
            Model::PolicyBinding,
            Model::Token,
            Model::Brand,
            Model::Outpost,
        ]);
        all
    }

    /// The model with this blueprint name.
    pub fn by_name(name: &str) -> Option<Model> {
        Self::all().into_iter().find(|m| m.name() == name)
    }

    /// The blueprint name.
    pub fn name(self) -> &'static str {
        match self {
            Model::User => "gatehouse_core.user",
            Model::Group => "gatehouse_core.group",
            Model::Token => "gatehouse_core.token",
            Model::Brand => "gatehouse_brands.brand",
            Model::Flow => "gatehouse_flows.flow",
            Model::StageBinding => "gatehouse_flows.flowstagebinding",
            Model::PolicyBinding => "gatehouse_policies.policybinding",
            Model::Application => "gatehouse_core.application",
            Model::CertificateKeyPair => "gatehouse_crypto.certificatekeypair",
            Model::Outpost => "gatehouse_outposts.outpost",
            Model::Stage(kind)
            | Model::Policy(kind)
            | Model::Provider(kind)
            | Model::PropertyMapping(kind) => kind.model,
        }
    }

    /// The fields that identify an object for people (export writes them as
    /// `identifiers`); the first that is set is enough to find it again.
    pub fn natural_keys(self) -> &'static [&'static str] {
        match self {
            Model::User => &["username"],
            Model::Group
            | Model::Stage(_)
            | Model::Policy(_)
            | Model::Provider(_)
            | Model::PropertyMapping(_)
            | Model::CertificateKeyPair
            | Model::Outpost => &["name"],
            Model::Token => &["identifier"],
            Model::Brand => &["domain"],
            Model::Flow | Model::Application => &["slug"],
            Model::StageBinding => &["target", "stage", "order"],
            Model::PolicyBinding => &["target", "policy", "group", "user", "order"],
        }
    }

    /// Fields whose value is the id of another object, or a list of ids.
    pub fn references(self) -> Vec<&'static str> {
        let common: &[&str] = match self {
            Model::User => &["groups"],
            Model::Group => &["parent", "users"],
            Model::Token => &["user"],
            Model::Brand => &[
                "flow_authentication",
                "flow_invalidation",
                "flow_recovery",
                "flow_user_settings",
            ],
            Model::StageBinding => &["target", "stage"],
            Model::PolicyBinding => &["target", "policy", "group", "user"],
            Model::Application => &["provider"],
            Model::Provider(_) => &[
                "authorization_flow",
                "invalidation_flow",
                "property_mappings",
            ],
            Model::Outpost => &["providers"],
            Model::Flow
            | Model::Stage(_)
            | Model::Policy(_)
            | Model::PropertyMapping(_)
            | Model::CertificateKeyPair => &[],
        };
        let mut all = common.to_vec();
        if let Model::Stage(kind)
        | Model::Policy(kind)
        | Model::Provider(kind)
        | Model::PropertyMapping(kind) = self
        {
            all.extend(kind.references);
        }
        all
    }

    /// Fields left out of an export because another model carries the same fact
    /// (a user's groups are written on the groups).
    pub fn export_skips(self) -> &'static [&'static str] {
        match self {
            Model::User => &["groups"],
            _ => &[],
        }
    }

    /// Every stored object of the model, by natural key.
    pub async fn list(self, tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
        match self {
            Model::User => identity::list_users(tx).await,
            Model::Group => identity::list_groups(tx).await,
            Model::Token => identity::list_tokens(tx).await,
            Model::Brand => identity::list_brands(tx).await,
            Model::Flow => flows::list_flows(tx).await,
            Model::StageBinding => flows::list_stage_bindings(tx).await,
            Model::Stage(kind) => flows::list_stages(tx, kind).await,
            Model::Policy(kind) => access::list_policies(tx, kind).await,
            Model::PolicyBinding => access::list_policy_bindings(tx).await,
            Model::Application => access::list_applications(tx).await,
            Model::Provider(kind) => providers::list_providers(tx, kind).await,
            Model::PropertyMapping(kind) => providers::list_mappings(tx, kind).await,
            Model::CertificateKeyPair => providers::list_certificates(tx).await,
            Model::Outpost => providers::list_outposts(tx).await,
        }
    }

    /// Checks `fields` (the existing object's fields overlaid with the blueprint's)
    /// and returns their canonical form. Write-only fields (`password`, `key`,
    /// `token`) become their stored hashes here, reusing the existing hash when the
    /// secret still matches it so that re-applying changes nothing.
    pub fn normalize(
        self,
        fields: Fields,
        existing: Option<&Object>,
        options: &WriteOptions,
    ) -> Result<Fields, FieldError> {
        match self {
            Model::User => identity::normalize_user(fields, existing, options),
            Model::Group => canonical::<identity::GroupRecord>(fields),
            Model::Token => identity::normalize_token(fields, existing),
            Model::Brand => canonical::<identity::BrandRecord>(fields),
            Model::Flow => canonical::<flows::FlowRecord>(fields),
            Model::StageBinding => canonical::<flows::StageBindingRecord>(fields),
            Model::Stage(kind) => with_settings::<flows::StageCommon>(kind, fields),
            Model::Policy(kind) => {
                let fields = with_settings::<access::PolicyCommon>(kind, fields)?;
                if kind.name == "expression" {
                    check_expression(&fields, false)?;
                }
                Ok(fields)
            }
            Model::PolicyBinding => access::normalize_policy_binding(fields),
            Model::Application => canonical::<access::ApplicationRecord>(fields),
            Model::Provider(kind) => with_settings::<providers::ProviderCommon>(kind, fields),
            Model::PropertyMapping(kind) => {
                let fields = with_settings::<providers::MappingCommon>(kind, fields)?;
                check_expression(&fields, true)?;
                Ok(fields)
            }
            Model::CertificateKeyPair => providers::normalize_certificate(fields),
            Model::Outpost => providers::normalize_outpost(fields, existing),
        }
    }

    /// Creates an object from canonical fields; returns its id.
    pub async fn create(
        self,
        tx: &mut Tx,
        fields: &Fields,
        now: Timestamp,
    ) -> Result<String, WriteError> {
        match self {
            Model::User => identity::create_user(tx, fields, now).await,
            Model::Group => identity::create_group(tx, fields, now).await,
            Model::Token => identity::create_token(tx, fields, now).await,
            Model::Brand => identity::create_brand(tx, fields, now).await,
            Model::Flow => flows::create_flow(tx, fields, now).await,
            Model::StageBinding => flows::create_stage_binding(tx, fields).await,
            Model::Stage(kind) => flows::create_stage(tx, kind, fields, now).await,
            Model::Policy(kind) => access::create_policy(tx, kind, fields, now).await,
            Model::PolicyBinding => access::create_policy_binding(tx, fields).await,
            Model::Application => access::create_application(tx, fields, now).await,
            Model::Provider(kind) => providers::create_provider(tx, kind, fields, now).await,
            Model::PropertyMapping(kind) => providers::create_mapping(tx, kind, fields, now).await,
            Model::CertificateKeyPair => providers::create_certificate(tx, fields, now).await,
            Model::Outpost => providers::create_outpost(tx, fields, now).await,
        }
    }

    /// Writes canonical fields over the object `id`.
    pub async fn update(
        self,
        tx: &mut Tx,
        id: &str,
        fields: &Fields,
        now: Timestamp,
    ) -> Result<(), WriteError> {
        match self {
            Model::User => identity::update_user(tx, id, fields, now).await,
            Model::Group => identity::update_group(tx, id, fields, now).await,
            Model::Token => identity::update_token(tx, id, fields).await,
            Model::Brand => identity::update_brand(tx, id, fields, now).await,
            Model::Flow => flows::update_flow(tx, id, fields, now).await,
            Model::StageBinding => flows::update_stage_binding(tx, id, fields).await,
            Model::Stage(kind) => flows::update_stage(tx, kind, id, fields, now).await,
            Model::Policy(kind) => access::update_policy(tx, kind, id, fields, now).await,
            Model::PolicyBinding => access::update_policy_binding(tx, id, fields).await,
            Model::Application => access::update_application(tx, id, fields, now).await,
            Model::Provider(kind) => providers::update_provider(tx, kind, id, fields, now).await,
            Model::PropertyMapping(kind) => {
                providers::update_mapping(tx, kind, id, fields, now).await
            }
            Model::CertificateKeyPair => providers::update_certificate(tx, id, fields, now).await,
            Model::Outpost => providers::update_outpost(tx, id, fields, now).await,
        }
    }

    /// Deletes the object `id` (and what the database cascades to) at `now`.
    pub async fn delete(self, tx: &mut Tx, id: &str, now: Timestamp) -> Result<(), WriteError> {
        use crate::storage as s;
        match self {
            Model::User => identity::delete_user(tx, parse_id(id)?, now).await?,
            Model::Group => identity::delete_group(tx, parse_id(id)?, now).await?,
            Model::Token => s::tokens::delete(tx, parse_id(id)?).await?,
            Model::Brand => s::brands::delete(tx, parse_id(id)?).await?,
            Model::Flow => s::flows::delete(tx, parse_id(id)?).await?,
            Model::StageBinding => s::flows::delete_binding(tx, parse_id(id)?).await?,
            Model::Stage(_) => s::stages::delete(tx, parse_id(id)?).await?,
            Model::Policy(_) => s::policies::delete(tx, parse_id(id)?).await?,
            Model::PolicyBinding => s::policies::delete_binding(tx, parse_id(id)?).await?,
            Model::Application => s::applications::delete(tx, parse_id(id)?).await?,
            Model::Provider(_) => s::providers::delete(tx, parse_id(id)?).await?,
            Model::PropertyMapping(_) => s::property_mappings::delete(tx, parse_id(id)?).await?,
            Model::CertificateKeyPair => s::certificates::delete(tx, parse_id(id)?).await?,
            Model::Outpost => s::outposts::delete(tx, parse_id(id)?).await?,
        };
        Ok(())
    }
}

/// Parses a stored id; ids come from the registry's own listing, so a failure means
/// a corrupt row.
/// Compiles the `expression` field, so that a broken expression is refused when the
/// blueprint applies (with its position), not found out at request time.
fn check_expression(fields: &Fields, may_be_empty: bool) -> Result<(), FieldError> {
    let source = fields
        .get("expression")
        .and_then(Json::as_str)
        .unwrap_or_default();
    if may_be_empty && source.trim().is_empty() {
        return Ok(());
    }
    crate::expr::Expression::compile(source)
        .map(|_| ())
        .map_err(|e| FieldError {
            path: "expression".into(),
            message: e.to_string(),
        })
}

fn parse_id<T: std::str::FromStr>(id: &str) -> Result<T, FieldError> {
    id.parse().map_err(|_| FieldError {
        path: String::new(),
        message: format!("{id:?} is not an id"),
    })
}

/// The typed record of `fields`.
fn typed<T: DeserializeOwned>(fields: &Fields) -> Result<T, FieldError> {
    objects::deserialize(Json::Object(fields.clone()))
}

/// The fields of a typed record.
fn untyped<T: Serialize>(record: &T) -> Fields {
    match serde_json::to_value(record) {
        Ok(Json::Object(map)) => map,
        // Records are structs; they always serialize to an object.
        _ => Fields::new(),
    }
}

/// Round trip through the record type: validation plus defaults.
fn canonical<T: Serialize + DeserializeOwned>(fields: Fields) -> Result<Fields, FieldError> {
    Ok(untyped(&typed::<T>(&fields)?))
}

/// Splits `fields` into the common fields of record `C` and the kind's settings,
/// checks both, and joins them again.
fn with_settings<C: Serialize + DeserializeOwned + CommonFields>(
    kind: Kind,
    mut fields: Fields,
) -> Result<Fields, FieldError> {
    let mut common = Fields::new();
    for name in C::NAMES {
        if let Some(value) = fields.remove(*name) {
            common.insert((*name).to_owned(), value);
        }
    }
    let common = canonical::<C>(common)?;
    let settings = match kind.normalize(Json::Object(fields))? {
        Json::Object(map) => map,
        _ => Fields::new(),
    };
    let mut joined = common;
    joined.extend(settings);
    Ok(joined)
}

/// The settings part of canonical fields: everything but the common fields.
fn settings_of<C: CommonFields>(fields: &Fields) -> Json {
    Json::Object(
        fields
            .iter()
            .filter(|(k, _)| !C::NAMES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    )
}

/// Stored settings joined with the common fields, normalized when they still fit the
/// kind (rows written by an older version gain the new defaults).
fn join_settings(kind: Kind, common: Fields, settings: &Json) -> Fields {
    let settings = kind.normalize(settings.clone()).unwrap_or(settings.clone());
    let mut joined = common;
    if let Json::Object(map) = settings {
        joined.extend(map);
    }
    joined
}

/// A record of the fields every kind of a family shares.
trait CommonFields {
    /// Their names.
    const NAMES: &'static [&'static str];
}

fn empty_object() -> Json {
    Json::Object(Map::new())
}

fn yes() -> bool {
    true
}

/// Refuses a non-object `attributes`.
fn check_object(name: &str, value: &Json) -> Result<(), FieldError> {
    if value.is_object() {
        Ok(())
    } else {
        Err(FieldError {
            path: name.to_owned(),
            message: "must be a mapping".into(),
        })
    }
}
