//! Applying a parsed blueprint: entries in dependency order (each after the entries
//! its `!KeyOf` tags name), all in one transaction, so a blueprint applies whole or
//! not at all. Re-applying an unchanged blueprint writes nothing: an entry's fields
//! are compared in canonical form with what is stored.

use std::collections::{BTreeMap, HashMap};

use gatehouse_config::Environment;
use gatehouse_config::blueprint::yaml::Pos;
use gatehouse_config::blueprint::{Blueprint, BlueprintError, Entry, EntryState, Value};
use gatehouse_config::objects::FieldError;
use serde_json::Value as Json;

use self::listed::Listed;
use self::order::dependency_order;
use super::eval::{EvalError, Resolver, Scope, evaluate, truthy};
use super::models::{Fields, Model, Object, WriteError, WriteOptions};
use crate::Timestamp;
use crate::storage::{StorageError, Store, Tx};

mod listed;
mod order;

/// The advisory lock key blueprint applies take on PostgreSQL ("GHBLUEPR").
const BLUEPRINT_LOCK: i64 = 0x4748_424c_5545_5052;

/// Fields whose values never appear in an error message.
const SECRET_FIELDS: &[&str] = &[
    "password",
    "password_hash",
    "key",
    "key_hash",
    "token",
    "token_hash",
    "client_secret",
    "cookie_secret",
    "key_data",
];

/// Why a blueprint was not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The blueprint is wrong; the error names file, line and entry.
    #[error(transparent)]
    Invalid(#[from] BlueprintError),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// What applying did to one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// The object was created.
    Created,
    /// These fields of the object changed.
    Updated(Vec<String>),
    /// The object was deleted.
    Deleted,
    /// The object already had these fields (or exists and `state: created`).
    Unchanged,
    /// `state: absent` and there was nothing to delete.
    AlreadyAbsent,
    /// A condition was false.
    Skipped,
}

/// One line of an apply's report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    /// Index of the entry in the file.
    pub entry: usize,
    /// The model's blueprint name.
    pub model: &'static str,
    /// How people recognise the object (its name, slug…).
    pub label: String,
    /// What happened.
    pub action: Action,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = format!("{} {}", self.model, self.label);
        match &self.action {
            Action::Created => write!(f, "create {what}"),
            Action::Updated(fields) => write!(f, "update {what}: {}", fields.join(", ")),
            Action::Deleted => write!(f, "delete {what}"),
            Action::Unchanged => write!(f, "unchanged {what}"),
            Action::AlreadyAbsent => write!(f, "already absent {what}"),
            Action::Skipped => write!(f, "skip {what} (condition false)"),
        }
    }
}

/// What an apply did, entry by entry, in the order entries were applied.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// One per entry.
    pub changes: Vec<Change>,
}

impl Report {
    /// Whether anything was (or in a dry run, would be) written.
    pub fn wrote_anything(&self) -> bool {
        self.changes.iter().any(|c| {
            matches!(
                c.action,
                Action::Created | Action::Updated(_) | Action::Deleted
            )
        })
    }

    /// Counts as `N created, N updated, N deleted, N unchanged`.
    pub fn summary(&self) -> String {
        let count = |f: fn(&Action) -> bool| self.changes.iter().filter(|c| f(&c.action)).count();
        format!(
            "{} created, {} updated, {} deleted, {} unchanged",
            count(|a| matches!(a, Action::Created)),
            count(|a| matches!(a, Action::Updated(_))),
            count(|a| matches!(a, Action::Deleted)),
            count(|a| !matches!(a, Action::Created | Action::Updated(_) | Action::Deleted)),
        )
    }
}

/// How to apply.
#[derive(Debug, Clone, Copy, Default)]
pub struct ApplyOptions {
    /// Roll back at the end: report what would change, write nothing.
    pub dry_run: bool,
    /// How secrets are hashed.
    pub write: WriteOptions,
}

/// Applies `blueprint` (read from `file`, named in errors) in one transaction.
pub async fn apply<E: Environment + Sync>(
    store: &Store,
    file: &str,
    blueprint: &Blueprint,
    env: &E,
    options: ApplyOptions,
    now: Timestamp,
) -> Result<Report, ApplyError> {
    let order = dependency_order(file, &blueprint.entries)?;
    let mut tx = store.begin().await?;
    // Replicas starting together apply the same files: one at a time, so the second
    // finds what the first made instead of failing on a taken name.
    tx.lock(BLUEPRINT_LOCK).await?;
    let outcome = apply_in(&mut tx, file, blueprint, &order, env, options, now).await;
    match outcome {
        Ok(report) if !options.dry_run => {
            tx.commit().await?;
            Ok(report)
        }
        other => {
            tx.rollback().await?;
            other
        }
    }
}

async fn apply_in<E: Environment + Sync>(
    tx: &mut Tx,
    file: &str,
    blueprint: &Blueprint,
    order: &[usize],
    env: &E,
    options: ApplyOptions,
    now: Timestamp,
) -> Result<Report, ApplyError> {
    let mut session = Session {
        tx,
        cache: HashMap::new(),
        keys: HashMap::new(),
        failed: None,
    };
    // Context defaults may use tags themselves (`!Env`); they see no context.
    let mut context = BTreeMap::new();
    let empty = BTreeMap::new();
    for (key, value) in &blueprint.context {
        let scope = Scope {
            context: &empty,
            env,
        };
        let evaluated = evaluate(value, &scope, &mut session)
            .await
            .map_err(|e| session.eval_error(file, None, e))?;
        context.insert(key.clone(), evaluated);
    }
    let scope = Scope {
        context: &context,
        env,
    };
    let mut report = Report::default();
    for index in order {
        let Some(entry) = blueprint.entries.get(*index) else {
            continue;
        };
        let change = apply_entry(&mut session, file, entry, &scope, &options, now).await?;
        report.changes.push(change);
    }
    Ok(report)
}

/// The state an apply carries from entry to entry.
struct Session<'t> {
    tx: &'t mut Tx,
    /// Objects of each model listed so far, kept current as entries write.
    cache: HashMap<Model, Listed>,
    /// `id` of each applied entry → primary key, for `!KeyOf`.
    keys: HashMap<String, String>,
    /// A storage failure inside `!Find`, which the evaluator can only report as text.
    failed: Option<StorageError>,
}

impl Session<'_> {
    async fn objects(&mut self, model: Model) -> Result<&mut Listed, StorageError> {
        if !self.cache.contains_key(&model) {
            let listed = Listed::new(model.list(self.tx).await?);
            self.cache.insert(model, listed);
        }
        Ok(self
            .cache
            .entry(model)
            .or_insert_with(|| Listed::new(Vec::new())))
    }

    /// Keeps the cache true after a write to `model`.
    fn wrote(&mut self, model: Model, object: Option<Object>, deleted: Option<&str>) {
        if deleted.is_some() {
            // Deletes cascade to other models; list everything afresh.
            self.cache.clear();
            return;
        }
        // Memberships show on both sides.
        match model {
            Model::User => {
                self.cache.remove(&Model::Group);
            }
            Model::Group => {
                self.cache.remove(&Model::User);
            }
            _ => {}
        }
        if let (Some(object), Some(listed)) = (object, self.cache.get_mut(&model)) {
            listed.upsert(object);
        }
    }

    /// References inside a kind's settings have no foreign key: check each names a
    /// stored flow, stage, certificate pair, group, user or policy.
    async fn check_settings_references(
        &mut self,
        model: Model,
        fields: &Fields,
    ) -> Result<Option<FieldError>, StorageError> {
        let (Model::Stage(kind)
        | Model::Policy(kind)
        | Model::Provider(kind)
        | Model::PropertyMapping(kind)) = model
        else {
            return Ok(None);
        };
        let candidates: Vec<Model> = Model::all()
            .into_iter()
            .filter(|m| {
                matches!(
                    m,
                    Model::Flow
                        | Model::Stage(_)
                        | Model::CertificateKeyPair
                        | Model::Group
                        | Model::User
                        | Model::Policy(_)
                )
            })
            .collect();
        for field in kind.references {
            let ids: Vec<&str> = match fields.get(*field) {
                Some(Json::String(id)) => vec![id.as_str()],
                Some(Json::Array(items)) => items.iter().filter_map(Json::as_str).collect(),
                _ => continue,
            };
            for id in ids {
                let mut found = false;
                for candidate in &candidates {
                    if self.objects(*candidate).await?.positions.contains_key(id) {
                        found = true;
                        break;
                    }
                }
                if !found {
                    return Ok(Some(FieldError {
                        path: (*field).to_owned(),
                        message: format!("{id} is not a stored object"),
                    }));
                }
            }
        }
        Ok(None)
    }

    fn eval_error(&mut self, file: &str, entry: Option<usize>, e: EvalError) -> ApplyError {
        if let Some(err) = self.failed.take() {
            return ApplyError::Storage(err);
        }
        ApplyError::Invalid(BlueprintError {
            file: file.to_owned(),
            pos: e.pos,
            entry,
            message: e.message,
        })
    }
}

impl Resolver for Session<'_> {
    fn key_of(&self, id: &str) -> Option<String> {
        self.keys.get(id).cloned()
    }

    async fn find(
        &mut self,
        model: &str,
        query: &[(String, Json)],
    ) -> Result<Option<String>, String> {
        let model =
            Model::by_name(model).ok_or_else(|| format!("!Find: unknown model {model:?}"))?;
        let objects = match self.objects(model).await {
            Ok(objects) => objects,
            Err(err) => {
                let message = err.to_string();
                self.failed = Some(err);
                return Err(message);
            }
        };
        let found = objects.find(query);
        match found.as_slice() {
            [] => Ok(None),
            [one] => Ok(Some(one.id.clone())),
            many => Err(format!(
                "!Find {}: {} objects match; add fields to the query",
                model.name(),
                many.len()
            )),
        }
    }
}

/// Evaluated `(field, value, position)` triples of a mapping.
type Evaluated = Vec<(String, Json, Pos)>;

async fn apply_entry<E: Environment + Sync>(
    session: &mut Session<'_>,
    file: &str,
    entry: &Entry,
    scope: &Scope<'_, E>,
    options: &ApplyOptions,
    now: Timestamp,
) -> Result<Change, ApplyError> {
    let invalid = |pos: Pos, message: String| {
        ApplyError::Invalid(BlueprintError {
            file: file.to_owned(),
            pos,
            entry: Some(entry.index),
            message,
        })
    };
    let model = Model::by_name(&entry.model).ok_or_else(|| {
        invalid(
            entry.pos,
            format!(
                "unknown model {:?}; models are listed in the README (e.g. gatehouse_core.user)",
                entry.model
            ),
        )
    })?;
    let mut change = Change {
        entry: entry.index,
        model: model.name(),
        label: String::new(),
        action: Action::Skipped,
    };
    for condition in &entry.conditions {
        let value = evaluate(condition, scope, session)
            .await
            .map_err(|e| session.eval_error(file, Some(entry.index), e))?;
        if !truthy(&value) {
            change.label = entry.id.clone().unwrap_or_default();
            return Ok(change);
        }
    }
    let identifiers = evaluate_pairs(session, file, entry, &entry.identifiers, scope).await?;
    let attrs = evaluate_pairs(session, file, entry, &entry.attrs, scope).await?;
    change.label = label(model, &identifiers, &attrs);
    // Without identifiers, the model's natural keys among the attrs find the object,
    // so that re-applying such an entry updates rather than duplicates.
    let lookup: Vec<&(String, Json, Pos)> = if identifiers.is_empty() {
        attrs
            .iter()
            .filter(|(k, v, _)| model.natural_keys().contains(&k.as_str()) && !v.is_null())
            .collect()
    } else {
        identifiers.iter().collect()
    };
    let query: Vec<(String, Json)> = lookup
        .iter()
        .map(|(k, v, _)| (k.clone(), canonical_ids(v)))
        .collect();
    let existing = if query.is_empty() {
        None
    } else {
        let objects = session.objects(model).await?;
        let found: Vec<Object> = objects.find(&query).into_iter().cloned().collect();
        if found.len() > 1 {
            return Err(invalid(
                entry.pos,
                format!(
                    "the identifiers match {} objects; add fields to them",
                    found.len()
                ),
            ));
        }
        found.into_iter().next()
    };
    let field_error = |e: FieldError| {
        let pos = attrs
            .iter()
            .chain(&identifiers)
            .find(|(k, _, _)| k == e.field())
            .map_or(entry.pos, |(_, _, p)| *p);
        // serde names the unknown field itself; a path in front would repeat it.
        let message = if SECRET_FIELDS.contains(&e.field()) {
            format!("{}: invalid value (not shown: it is a secret)", e.path)
        } else if e.message.starts_with("unknown field") {
            e.message
        } else {
            e.to_string()
        };
        invalid(pos, message)
    };
    let write_error = |e: WriteError| match e {
        WriteError::Field(e) => field_error(e),
        WriteError::Storage(
            e @ (StorageError::Conflict(_) | StorageError::MissingReference(_)),
        ) => invalid(entry.pos, e.to_string()),
        WriteError::Storage(e) => ApplyError::Storage(e),
    };
    let overlay = |mut fields: Fields| {
        for (k, v, _) in identifiers.iter().chain(&attrs) {
            if k != "pk" {
                fields.insert(k.clone(), v.clone());
            }
        }
        fields
    };
    if existing.is_none()
        && entry.state != EntryState::Absent
        && let Some((_, pk, pos)) = identifiers.iter().find(|(k, _, _)| k == "pk")
    {
        return Err(invalid(
            *pos,
            format!("pk {pk} matches nothing; `pk` can only find objects that exist"),
        ));
    }
    let object = match (entry.state, existing) {
        (EntryState::Absent, None) => {
            change.action = Action::AlreadyAbsent;
            return Ok(change);
        }
        (EntryState::Absent, Some(found)) => {
            model
                .delete(session.tx, &found.id, now)
                .await
                .map_err(write_error)?;
            session.wrote(model, None, Some(&found.id));
            change.action = Action::Deleted;
            return Ok(change);
        }
        (EntryState::Created, Some(found)) => {
            change.action = Action::Unchanged;
            found
        }
        (EntryState::Present | EntryState::Created, None) => {
            let fields = model
                .normalize(overlay(Fields::new()), None, &options.write)
                .map_err(field_error)?;
            session
                .check_settings_references(model, &fields)
                .await?
                .map_or(Ok(()), |e| Err(field_error(e)))?;
            let id = model
                .create(session.tx, &fields, now)
                .await
                .map_err(write_error)?;
            let object = Object { id, fields };
            session.wrote(model, Some(object.clone()), None);
            change.action = Action::Created;
            object
        }
        (EntryState::Present, Some(found)) => {
            let fields = model
                .normalize(overlay(found.fields.clone()), Some(&found), &options.write)
                .map_err(field_error)?;
            session
                .check_settings_references(model, &fields)
                .await?
                .map_or(Ok(()), |e| Err(field_error(e)))?;
            let changed: Vec<String> = fields
                .iter()
                .filter(|(k, v)| found.fields.get(*k) != Some(*v))
                .map(|(k, _)| k.clone())
                .collect();
            if changed.is_empty() {
                change.action = Action::Unchanged;
                found
            } else {
                model
                    .update(session.tx, &found.id, &fields, now)
                    .await
                    .map_err(write_error)?;
                let object = Object {
                    id: found.id,
                    fields,
                };
                session.wrote(model, Some(object.clone()), None);
                change.action = Action::Updated(changed);
                object
            }
        }
    };
    if let Some(id) = &entry.id {
        session.keys.insert(id.clone(), object.id);
    }
    Ok(change)
}

async fn evaluate_pairs<E: Environment + Sync>(
    session: &mut Session<'_>,
    file: &str,
    entry: &Entry,
    pairs: &[(String, Value)],
    scope: &Scope<'_, E>,
) -> Result<Evaluated, ApplyError> {
    let mut out = Vec::with_capacity(pairs.len());
    for (key, value) in pairs {
        let evaluated = evaluate(value, scope, session)
            .await
            .map_err(|e| session.eval_error(file, Some(entry.index), e))?;
        if contains_nul(&evaluated) {
            return Err(ApplyError::Invalid(BlueprintError {
                file: file.to_owned(),
                pos: value.pos,
                entry: Some(entry.index),
                message: "text cannot contain the NUL character".into(),
            }));
        }
        out.push((key.clone(), evaluated, value.pos));
    }
    Ok(out)
}

/// Whether any string (or key) in `value` holds a NUL, which PostgreSQL cannot store.
fn contains_nul(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(contains_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        Json::Null | Json::Bool(_) | Json::Number(_) => false,
    }
}

/// `value` with every string that is a UUID in its stored form (lower case,
/// hyphenated), so an id written in capitals still finds its object.
fn canonical_ids(value: &Json) -> Json {
    match value {
        Json::String(s) => match uuid::Uuid::parse_str(s) {
            Ok(id) => Json::String(id.hyphenated().to_string()),
            Err(_) => value.clone(),
        },
        Json::Array(items) => Json::Array(items.iter().map(canonical_ids).collect()),
        other => other.clone(),
    }
}

/// The object's natural key as people read it: `"akadmin"`, `slug=default-login`.
fn label(model: Model, identifiers: &Evaluated, attrs: &Evaluated) -> String {
    let value_of = |key: &str| {
        identifiers
            .iter()
            .chain(attrs)
            .find(|(k, _, _)| k == key)
            .map(|(_, v, _)| v.clone())
    };
    let parts: Vec<String> = model
        .natural_keys()
        .iter()
        .filter_map(|key| {
            value_of(key)
                .filter(|v| !v.is_null())
                .map(|v| format!("{key}={v}"))
        })
        .collect();
    if parts.is_empty() {
        identifiers
            .iter()
            .map(|(k, v, _)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    } else {
        parts.join(" ")
    }
}

/// Test support: applies a blueprint given as text, hashing passwords at the lowest
/// cost, and panics with the reason if it is refused.
#[cfg(test)]
pub(crate) async fn apply_text_cheaply(store: &Store, file: &str, text: &str) {
    let blueprint = gatehouse_config::blueprint::parse(file, text)
        .unwrap_or_else(|e| panic!("{e}"))
        .unwrap_or_else(|| panic!("{file} is empty"));
    let env: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    let options = ApplyOptions {
        dry_run: false,
        write: crate::blueprints::models::WriteOptions {
            password_cost: crate::secrets::PasswordCost {
                memory_kib: 1024,
                iterations: 1,
                parallelism: 1,
            },
        },
    };
    apply(
        store,
        file,
        &blueprint,
        &env,
        options,
        crate::storage::testing::t0(),
    )
    .await
    .unwrap_or_else(|e| panic!("{e}"));
}

/// Test support: applies every shipped default blueprint, in order.
#[cfg(test)]
pub(crate) async fn apply_shipped_cheaply(store: &Store) {
    for (file, text) in gatehouse_config::blueprint::shipped::SHIPPED {
        apply_text_cheaply(store, file, text).await;
    }
}

#[cfg(test)]
pub(crate) mod tests;
