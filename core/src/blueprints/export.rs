//! Export: the stored objects as a blueprint that `apply` accepts on a fresh
//! instance. References become `!KeyOf` to the exported entry (or `!Find` by name
//! when the object is outside the export), and entry ids are built from natural keys
//! rather than database ids, so exporting the instance the blueprint was applied to
//! gives the same text again.
//!
//! Objects alike in every natural key (two equal policy bindings, which the database
//! allows) export under distinct entry ids (`…#2`); applied elsewhere they are one
//! object, since their identifiers cannot tell them apart.
//!
//! An export contains what is needed to recreate the objects, secrets included:
//! password hashes, token hashes and certificate private keys. Treat it as a secret.

use std::collections::{BTreeSet, HashMap};

use gatehouse_config::blueprint::yaml::Pos;
use gatehouse_config::blueprint::{Blueprint, Entry, EntryState, Value, ValueKind};
use serde_json::Value as Json;

use super::models::{Model, Object};
use crate::storage::{StorageError, Store};

/// What to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExportScope {
    /// Every object.
    All,
    /// One flow with its stage bindings, their stages (and the stages those refer
    /// to), and the policy bindings and policies on the flow and its bindings.
    Flow(String),
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// No flow has that slug.
    #[error("no flow has the slug {0:?}")]
    UnknownFlow(String),
    /// The database failed.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// Reads the objects in `scope` and returns them as a blueprint.
pub async fn export(store: &Store, scope: &ExportScope) -> Result<Blueprint, ExportError> {
    let mut tx = store.begin().await?;
    let mut all: Vec<(Model, Object)> = Vec::new();
    for model in Model::all() {
        for object in model.list(&mut tx).await? {
            all.push((model, object));
        }
    }
    tx.rollback().await?;
    let selected = select(&all, scope)?;
    let by_id: HashMap<&str, (Model, &Object)> =
        all.iter().map(|(m, o)| (o.id.as_str(), (*m, o))).collect();
    // Entry ids in registry order: what an entry's natural key refers to comes
    // earlier, so its entry id is known.
    let mut entry_ids: HashMap<&str, String> = HashMap::new();
    let mut taken: HashMap<String, usize> = HashMap::new();
    for (model, object) in sorted_within_models(&all) {
        let mut id = entry_id(model, object, &entry_ids);
        // Objects alike in every natural key (two equal policy bindings) get a suffix;
        // they are sorted by their fields, so the suffixes do not depend on ids.
        let seen = taken.entry(id.clone()).or_insert(0);
        *seen += 1;
        if *seen > 1 {
            id = format!("{id}#{seen}");
        }
        entry_ids.insert(object.id.as_str(), id);
    }
    let convert = Converter {
        by_id: &by_id,
        entry_ids: &entry_ids,
        selected: &selected,
    };
    let rank: HashMap<Model, usize> = Model::all()
        .into_iter()
        .enumerate()
        .map(|(i, m)| (m, i))
        .collect();
    let mut chosen: Vec<&(Model, Object)> = all
        .iter()
        .filter(|(_, o)| selected.contains(o.id.as_str()))
        .collect();
    chosen.sort_by_key(|(m, o)| (rank.get(m).copied(), entry_ids.get(o.id.as_str()).cloned()));
    let mut entries = Vec::with_capacity(chosen.len());
    for (index, (model, object)) in chosen.into_iter().enumerate() {
        let references = model.references();
        let mut identifiers = Vec::new();
        let mut attrs = Vec::new();
        for (field, value) in &object.fields {
            if model.export_skips().contains(&field.as_str()) {
                continue;
            }
            let is_ref = references.contains(&field.as_str());
            let value = convert.value(value, is_ref);
            if model.natural_keys().contains(&field.as_str()) {
                if !matches!(value.kind, ValueKind::Null) {
                    identifiers.push((field.clone(), value));
                }
            } else {
                attrs.push((field.clone(), value));
            }
        }
        entries.push(Entry {
            index,
            pos: Pos::default(),
            model: model.name().to_owned(),
            state: EntryState::Present,
            id: entry_ids.get(object.id.as_str()).cloned(),
            identifiers,
            attrs,
            conditions: Vec::new(),
        });
    }
    Ok(Blueprint {
        metadata: gatehouse_config::blueprint::model::Metadata {
            name: match scope {
                ExportScope::All => "Gatehouse export".into(),
                ExportScope::Flow(slug) => format!("Flow {slug}"),
            },
            labels: Default::default(),
        },
        context: Default::default(),
        entries,
    })
}

/// The objects in registry order, and within a model by natural key and then fields,
/// so that the order does not depend on database ids.
fn sorted_within_models(all: &[(Model, Object)]) -> Vec<(Model, &Object)> {
    let mut out: Vec<(Model, &Object)> = Vec::with_capacity(all.len());
    for model in Model::all() {
        let mut objects: Vec<&Object> = all
            .iter()
            .filter(|(m, _)| *m == model)
            .map(|(_, o)| o)
            .collect();
        objects.sort_by_cached_key(|o| Json::Object(o.fields.clone()).to_string());
        out.extend(objects.into_iter().map(|o| (model, o)));
    }
    out
}

/// The ids of the objects in `scope`.
fn select<'a>(
    all: &'a [(Model, Object)],
    scope: &ExportScope,
) -> Result<BTreeSet<&'a str>, ExportError> {
    let ExportScope::Flow(slug) = scope else {
        return Ok(all.iter().map(|(_, o)| o.id.as_str()).collect());
    };
    let field = |o: &'a Object, name: &str| o.fields.get(name).and_then(Json::as_str);
    let flow = all
        .iter()
        .find(|(m, o)| *m == Model::Flow && field(o, "slug") == Some(slug.as_str()))
        .map(|(_, o)| o.id.as_str())
        .ok_or_else(|| ExportError::UnknownFlow(slug.clone()))?;
    let mut chosen: BTreeSet<&str> = BTreeSet::from([flow]);
    for (model, object) in all {
        if *model == Model::StageBinding && field(object, "target") == Some(flow) {
            chosen.insert(object.id.as_str());
            if let Some(stage) = field(object, "stage") {
                chosen.insert(stage);
            }
        }
    }
    // Stages the chosen stages refer to (an inline password stage), transitively.
    loop {
        let mut more = Vec::new();
        for (model, object) in all {
            if matches!(model, Model::Stage(_)) && chosen.contains(object.id.as_str()) {
                for name in model.references() {
                    if let Some(target) = field(object, name)
                        && all
                            .iter()
                            .any(|(m, o)| matches!(m, Model::Stage(_)) && o.id == target)
                        && !chosen.contains(target)
                    {
                        more.push(target);
                    }
                }
            }
        }
        if more.is_empty() {
            break;
        }
        chosen.extend(more);
    }
    for (model, object) in all {
        if *model == Model::PolicyBinding
            && field(object, "target").is_some_and(|t| chosen.contains(t))
        {
            chosen.insert(object.id.as_str());
            if let Some(policy) = field(object, "policy") {
                chosen.insert(policy);
            }
        }
    }
    Ok(chosen)
}

/// `<model>:<natural key>`, e.g. `flow:default-authentication-flow`; references in
/// the natural key use the referenced entry's id.
fn entry_id(model: Model, object: &Object, known: &HashMap<&str, String>) -> String {
    let short = model.name().rsplit('.').next().unwrap_or(model.name());
    let references = model.references();
    let parts: Vec<String> = model
        .natural_keys()
        .iter()
        .filter_map(|key| {
            let value = object.fields.get(*key)?;
            let text = match value {
                Json::Null => return None,
                Json::String(s) if references.contains(key) => {
                    known.get(s.as_str()).cloned().unwrap_or_else(|| s.clone())
                }
                Json::String(s) => s.clone(),
                other => other.to_string(),
            };
            Some(text)
        })
        .collect();
    format!("{short}:{}", parts.join(":"))
}

struct Converter<'a> {
    by_id: &'a HashMap<&'a str, (Model, &'a Object)>,
    entry_ids: &'a HashMap<&'a str, String>,
    selected: &'a BTreeSet<&'a str>,
}

impl Converter<'_> {
    fn value(&self, json: &Json, is_ref: bool) -> Value {
        let kind = match json {
            Json::String(id) if is_ref => return self.reference(id),
            Json::Array(items) if is_ref => {
                let mut refs: Vec<Value> = items.iter().map(|v| self.value(v, true)).collect();
                // Stored order is by database id, which differs between instances.
                refs.sort_by_key(|v| format!("{:?}", v.kind));
                ValueKind::Seq(refs)
            }
            Json::Null => ValueKind::Null,
            Json::Bool(b) => ValueKind::Bool(*b),
            Json::Number(n) => match n.as_i64() {
                Some(i) => ValueKind::Int(i),
                None => ValueKind::Float(n.as_f64().unwrap_or_default()),
            },
            Json::String(s) => ValueKind::Str(s.clone()),
            Json::Array(items) => {
                ValueKind::Seq(items.iter().map(|v| self.value(v, false)).collect())
            }
            Json::Object(map) => ValueKind::Map(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.value(v, false)))
                    .collect(),
            ),
        };
        plain(kind)
    }

    /// `!KeyOf` inside the export, `!Find` by natural key outside it.
    fn reference(&self, id: &str) -> Value {
        if self.selected.contains(id)
            && let Some(entry) = self.entry_ids.get(id)
        {
            return plain(ValueKind::KeyOf(entry.clone()));
        }
        let Some((model, object)) = self.by_id.get(id) else {
            return plain(ValueKind::Str(id.to_owned()));
        };
        let references = model.references();
        let query: Vec<(String, Value)> = model
            .natural_keys()
            .iter()
            .filter(|k| !references.contains(*k))
            .filter_map(|k| {
                object
                    .fields
                    .get(*k)
                    .map(|v| ((*k).to_owned(), self.value(v, false)))
            })
            .collect();
        let query = if query.is_empty() {
            vec![("pk".to_owned(), plain(ValueKind::Str(id.to_owned())))]
        } else {
            query
        };
        plain(ValueKind::Find {
            model: model.name().to_owned(),
            query,
        })
    }
}

fn plain(kind: ValueKind) -> Value {
    Value {
        kind,
        pos: Pos::default(),
    }
}

#[cfg(test)]
mod tests;
