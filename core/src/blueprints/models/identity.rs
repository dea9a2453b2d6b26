//! Users, groups, tokens and brands.

use std::collections::{BTreeSet, HashMap};

use gatehouse_config::objects::FieldError;
use serde::{Deserialize, Serialize};
use serde_json::Value as Json;

use super::{
    Fields, Object, WriteError, WriteOptions, check_object, empty_object, parse_id, typed, untyped,
    yes,
};
use crate::Timestamp;
use crate::ids::{FlowId, GroupId, UserId};
use crate::secrets::{hash_key, hash_password, random_key, verify_password};
use crate::storage::brands::{self, Brand, NewBrand};
use crate::storage::groups::{self, Group, NewGroup};
use crate::storage::tokens::{self, NewToken, Token, TokenIntent};
use crate::storage::users::{self, NewUser, User, UserType};
use crate::storage::{StorageError, Tx, sessions, user_revocations};

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct UserRecord {
    username: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    email: String,
    #[serde(default = "default_path")]
    path: String,
    #[serde(default = "yes")]
    is_active: bool,
    #[serde(default = "internal", rename = "type")]
    user_type: UserType,
    #[serde(default = "empty_object")]
    attributes: Json,
    /// A PHC string, or null for no usable password.
    #[serde(default)]
    password_hash: Option<String>,
    /// Write-only: hashed into `password_hash`.
    #[serde(default, skip_serializing)]
    password: Option<String>,
    #[serde(default)]
    groups: BTreeSet<GroupId>,
}

fn default_path() -> String {
    "users".into()
}

fn internal() -> UserType {
    UserType::Internal
}

pub(super) fn normalize_user(
    fields: Fields,
    existing: Option<&Object>,
    options: &WriteOptions,
) -> Result<Fields, FieldError> {
    let given_hash = fields.contains_key("password_hash")
        && existing.is_none_or(|e| e.fields.get("password_hash") != fields.get("password_hash"));
    let mut record: UserRecord = typed(&fields)?;
    check_object("attributes", &record.attributes)?;
    if let Some(password) = record.password.take() {
        if given_hash {
            return Err(FieldError {
                path: "password".into(),
                message: "give `password` or `password_hash`, not both".into(),
            });
        }
        let current = existing
            .and_then(|e| e.fields.get("password_hash"))
            .and_then(Json::as_str)
            .filter(|hash| verify_password(&password, hash));
        record.password_hash = Some(match current {
            Some(hash) => hash.to_owned(),
            None => hash_password(&password, options.password_cost).map_err(|e| FieldError {
                path: "password".into(),
                message: e.to_string(),
            })?,
        });
    }
    Ok(untyped(&record))
}

fn user_fields(user: &User, groups: &BTreeSet<GroupId>) -> Fields {
    untyped(&UserRecord {
        username: user.username.clone(),
        name: user.name.clone(),
        email: user.email.clone(),
        path: user.path.clone(),
        is_active: user.is_active,
        user_type: user.user_type,
        attributes: user.attributes.clone(),
        password_hash: user.password_hash.clone(),
        password: None,
        groups: groups.clone(),
    })
}

pub(super) async fn list_users(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    let mut groups_of: HashMap<UserId, BTreeSet<GroupId>> = HashMap::new();
    for (group, user) in groups::memberships(tx).await? {
        groups_of.entry(user).or_default().insert(group);
    }
    let mut out = Vec::new();
    let mut offset = 0;
    loop {
        let page = users::list(tx, 1000, offset).await?;
        let done = page.len() < 1000;
        offset += 1000;
        for user in page {
            let groups = groups_of.remove(&user.id).unwrap_or_default();
            out.push(Object {
                id: user.id.to_string(),
                fields: user_fields(&user, &groups),
            });
        }
        if done {
            return Ok(out);
        }
    }
}

/// Makes the user's direct groups exactly `wanted`. A change revokes the user's
/// outpost sessions, whose cookies carry the groups of their sign-in.
async fn set_groups_of_user(
    tx: &mut Tx,
    user: UserId,
    wanted: &BTreeSet<GroupId>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let current: BTreeSet<GroupId> = groups::groups_of_user(tx, user)
        .await?
        .into_iter()
        .map(|g| g.id)
        .collect();
    for group in wanted.difference(&current) {
        groups::add_member(tx, *group, user).await?;
    }
    for group in current.difference(wanted) {
        groups::remove_member(tx, *group, user).await?;
    }
    if current != *wanted {
        user_revocations::revoke(tx, user, now).await?;
    }
    Ok(())
}

pub(super) async fn create_user(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: UserRecord = typed(fields)?;
    let user = users::create(
        tx,
        NewUser {
            username: r.username,
            name: r.name,
            email: r.email,
            path: r.path,
            is_active: r.is_active,
            user_type: r.user_type,
            attributes: r.attributes,
            password_hash: r.password_hash,
        },
        now,
    )
    .await?;
    // A new user is in no group yet: add, nothing to compare.
    for group in &r.groups {
        groups::add_member(tx, *group, user.id).await?;
    }
    Ok(user.id.to_string())
}

pub(super) async fn update_user(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: UserRecord = typed(fields)?;
    let id: UserId = parse_id(id)?;
    let Some(mut user) = users::get(tx, id).await? else {
        return Ok(());
    };
    if user.password_hash != r.password_hash {
        users::set_password_hash(tx, id, r.password_hash.as_deref(), now).await?;
    }
    user.username = r.username;
    user.name = r.name;
    user.email = r.email;
    user.path = r.path;
    if user.is_active && !r.is_active {
        // A deactivated user is signed out everywhere.
        sessions::revoke_all_for_user(tx, id, now).await?;
    }
    // Only called when something changed. Outpost cookies carry the user's name,
    // email, attributes and groups of their sign-in: they sign in again.
    user_revocations::revoke(tx, id, now).await?;
    user.is_active = r.is_active;
    user.user_type = r.user_type;
    user.attributes = r.attributes;
    users::update(tx, &user, now).await?;
    set_groups_of_user(tx, id, &r.groups, now).await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct GroupRecord {
    name: String,
    #[serde(default)]
    parent: Option<GroupId>,
    #[serde(default)]
    is_superuser: bool,
    #[serde(default = "empty_object")]
    attributes: Json,
    /// Direct members.
    #[serde(default)]
    users: BTreeSet<UserId>,
}

pub(super) async fn list_groups(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    let mut members_of: HashMap<GroupId, BTreeSet<UserId>> = HashMap::new();
    for (group, user) in groups::memberships(tx).await? {
        members_of.entry(group).or_default().insert(user);
    }
    Ok(groups::list(tx)
        .await?
        .into_iter()
        .map(|g: Group| Object {
            id: g.id.to_string(),
            fields: untyped(&GroupRecord {
                users: members_of.remove(&g.id).unwrap_or_default(),
                name: g.name,
                parent: g.parent_id,
                is_superuser: g.is_superuser,
                attributes: g.attributes,
            }),
        })
        .collect())
}

/// Makes the group's direct members exactly `wanted`; every user who joins or leaves
/// has their outpost sessions revoked.
async fn set_members(
    tx: &mut Tx,
    group: GroupId,
    wanted: &BTreeSet<UserId>,
    now: Timestamp,
) -> Result<(), StorageError> {
    let current: BTreeSet<UserId> = groups::members(tx, group)
        .await?
        .into_iter()
        .map(|u| u.id)
        .collect();
    for user in wanted.difference(&current) {
        groups::add_member(tx, group, *user).await?;
        user_revocations::revoke(tx, *user, now).await?;
    }
    for user in current.difference(wanted) {
        groups::remove_member(tx, group, *user).await?;
        user_revocations::revoke(tx, *user, now).await?;
    }
    Ok(())
}

/// Deletes a user; outposts hear that the user's sessions are revoked (the
/// sessions themselves go with the user).
pub(super) async fn delete_user(
    tx: &mut Tx,
    id: UserId,
    now: Timestamp,
) -> Result<bool, StorageError> {
    user_revocations::revoke(tx, id, now).await?;
    users::delete(tx, id).await
}

/// Deletes a group; the outpost sessions of its members, and of the members of the
/// groups under it (who inherit its name), are revoked, as their cookies name it.
pub(super) async fn delete_group(
    tx: &mut Tx,
    id: GroupId,
    now: Timestamp,
) -> Result<bool, StorageError> {
    revoke_members_of_subtree(tx, id, now).await?;
    groups::delete(tx, id).await
}

/// Revokes the outpost sessions of every member of `root` and of the groups under it.
async fn revoke_members_of_subtree(
    tx: &mut Tx,
    root: GroupId,
    now: Timestamp,
) -> Result<(), StorageError> {
    let all = groups::list(tx).await?;
    let mut subtree = vec![root];
    let mut next = 0;
    while let Some(&group) = subtree.get(next) {
        next += 1;
        for child in all.iter().filter(|g| g.parent_id == Some(group)) {
            if !subtree.contains(&child.id) {
                subtree.push(child.id);
            }
        }
    }
    for group in subtree {
        for user in groups::members(tx, group).await? {
            user_revocations::revoke(tx, user.id, now).await?;
        }
    }
    Ok(())
}

pub(super) async fn create_group(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: GroupRecord = typed(fields)?;
    check_object("attributes", &r.attributes)?;
    let group = groups::create(
        tx,
        NewGroup {
            name: r.name,
            parent_id: r.parent,
            is_superuser: r.is_superuser,
            attributes: r.attributes,
        },
        now,
    )
    .await?;
    for user in &r.users {
        groups::add_member(tx, group.id, *user).await?;
    }
    Ok(group.id.to_string())
}

pub(super) async fn update_group(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: GroupRecord = typed(fields)?;
    check_object("attributes", &r.attributes)?;
    let id: GroupId = parse_id(id)?;
    if r.parent.is_some_and(|p| p == id) {
        return Err(FieldError {
            path: "parent".into(),
            message: "a group cannot be its own parent".into(),
        }
        .into());
    }
    let Some(mut group) = groups::get(tx, id).await? else {
        return Ok(());
    };
    if group.name != r.name || group.parent_id != r.parent || group.is_superuser != r.is_superuser {
        // Outpost cookies name the groups (inherited ones too) of their sign-in.
        revoke_members_of_subtree(tx, id, now).await?;
    }
    group.name = r.name;
    group.parent_id = r.parent;
    group.is_superuser = r.is_superuser;
    group.attributes = r.attributes;
    groups::update(tx, &group, now).await?;
    set_members(tx, id, &r.users, now).await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenRecord {
    identifier: String,
    #[serde(default = "api")]
    intent: TokenIntent,
    user: UserId,
    #[serde(default)]
    description: String,
    #[serde(default)]
    expires: Option<Timestamp>,
    /// SHA-256 of the key (see `secrets::hash_key`).
    #[serde(default)]
    key_hash: Option<String>,
    /// Write-only: hashed into `key_hash`.
    #[serde(default, skip_serializing)]
    key: Option<String>,
}

fn api() -> TokenIntent {
    TokenIntent::Api
}

pub(super) fn normalize_token(
    fields: Fields,
    existing: Option<&Object>,
) -> Result<Fields, FieldError> {
    let mut record: TokenRecord = typed(&fields)?;
    if let Some(key) = record.key.take() {
        let hash = hash_key(&key);
        let given = fields.get("key_hash").and_then(Json::as_str);
        let unchanged = existing
            .and_then(|e| e.fields.get("key_hash"))
            .and_then(Json::as_str);
        if given.is_some_and(|g| g != hash && Some(g) != unchanged) {
            return Err(FieldError {
                path: "key".into(),
                message: "give `key` or `key_hash`, not both".into(),
            });
        }
        record.key_hash = Some(hash);
    }
    if record.key_hash.is_none() {
        // No key given: a random one nobody knows, so the token exists but cannot
        // be used until it is given a key.
        let key = random_key().map_err(|e| FieldError {
            path: "key".into(),
            message: e.to_string(),
        })?;
        record.key_hash = Some(hash_key(&key));
    }
    Ok(untyped(&record))
}

pub(super) async fn list_tokens(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(tokens::list(tx)
        .await?
        .into_iter()
        .map(|t: Token| Object {
            id: t.id.to_string(),
            fields: untyped(&TokenRecord {
                identifier: t.identifier,
                intent: t.intent,
                user: t.user_id,
                description: t.description,
                expires: t.expires_at,
                key_hash: Some(t.key_hash),
                key: None,
            }),
        })
        .collect())
}

pub(super) async fn create_token(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: TokenRecord = typed(fields)?;
    let token = tokens::create(
        tx,
        NewToken {
            identifier: r.identifier,
            intent: r.intent,
            user_id: r.user,
            description: r.description,
            key_hash: r.key_hash.unwrap_or_default(),
            expires_at: r.expires,
        },
        now,
    )
    .await?;
    Ok(token.id.to_string())
}

pub(super) async fn update_token(tx: &mut Tx, id: &str, fields: &Fields) -> Result<(), WriteError> {
    let r: TokenRecord = typed(fields)?;
    let id = parse_id(id)?;
    let Some(stored) = tokens::list(tx).await?.into_iter().find(|t| t.id == id) else {
        return Ok(());
    };
    tokens::update(
        tx,
        &Token {
            identifier: r.identifier,
            intent: r.intent,
            user_id: r.user,
            description: r.description,
            key_hash: r.key_hash.unwrap_or(stored.key_hash),
            expires_at: r.expires,
            ..stored
        },
    )
    .await?;
    Ok(())
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct BrandRecord {
    domain: String,
    #[serde(default)]
    default: bool,
    #[serde(default = "default_title")]
    branding_title: String,
    #[serde(default)]
    branding_logo: String,
    #[serde(default)]
    branding_favicon: String,
    #[serde(default)]
    branding_custom_css: String,
    #[serde(default)]
    flow_authentication: Option<FlowId>,
    #[serde(default)]
    flow_invalidation: Option<FlowId>,
    #[serde(default)]
    flow_recovery: Option<FlowId>,
    #[serde(default)]
    flow_user_settings: Option<FlowId>,
    #[serde(default = "empty_object")]
    attributes: Json,
}

fn default_title() -> String {
    "Gatehouse".into()
}

pub(super) async fn list_brands(tx: &mut Tx) -> Result<Vec<Object>, StorageError> {
    Ok(brands::list(tx)
        .await?
        .into_iter()
        .map(|b: Brand| Object {
            id: b.id.to_string(),
            fields: untyped(&BrandRecord {
                domain: b.domain,
                default: b.is_default,
                branding_title: b.title,
                branding_logo: b.logo,
                branding_favicon: b.favicon,
                branding_custom_css: b.custom_css,
                flow_authentication: b.flow_authentication,
                flow_invalidation: b.flow_invalidation,
                flow_recovery: b.flow_recovery,
                flow_user_settings: b.flow_user_settings,
                attributes: b.attributes,
            }),
        })
        .collect())
}

pub(super) async fn create_brand(
    tx: &mut Tx,
    fields: &Fields,
    now: Timestamp,
) -> Result<String, WriteError> {
    let r: BrandRecord = typed(fields)?;
    check_object("attributes", &r.attributes)?;
    let brand = brands::create(
        tx,
        NewBrand {
            domain: r.domain,
            is_default: r.default,
            title: r.branding_title,
            logo: r.branding_logo,
            favicon: r.branding_favicon,
            custom_css: r.branding_custom_css,
            flow_authentication: r.flow_authentication,
            flow_invalidation: r.flow_invalidation,
            flow_recovery: r.flow_recovery,
            flow_user_settings: r.flow_user_settings,
            attributes: r.attributes,
        },
        now,
    )
    .await?;
    Ok(brand.id.to_string())
}

pub(super) async fn update_brand(
    tx: &mut Tx,
    id: &str,
    fields: &Fields,
    now: Timestamp,
) -> Result<(), WriteError> {
    let r: BrandRecord = typed(fields)?;
    check_object("attributes", &r.attributes)?;
    let Some(brand) = brands::get(tx, parse_id(id)?).await? else {
        return Ok(());
    };
    brands::update(
        tx,
        &Brand {
            domain: r.domain,
            is_default: r.default,
            title: r.branding_title,
            logo: r.branding_logo,
            favicon: r.branding_favicon,
            custom_css: r.branding_custom_css,
            flow_authentication: r.flow_authentication,
            flow_invalidation: r.flow_invalidation,
            flow_recovery: r.flow_recovery,
            flow_user_settings: r.flow_user_settings,
            attributes: r.attributes,
            ..brand
        },
        now,
    )
    .await?;
    Ok(())
}
