//! The objects of a model listed once per apply, with indexes on the fields entries
//! look them up by.

use std::collections::HashMap;

use serde_json::Value as Json;

use crate::blueprints::models::Object;

/// The listed objects of one model, indexed by the fields queries have used so far,
/// so that finding an entry's object does not scan the whole model each time.
pub(super) struct Listed {
    pub(super) objects: Vec<Object>,
    /// Position of each object by id.
    pub(super) positions: HashMap<String, usize>,
    /// field → JSON text of its value → positions.
    by_field: HashMap<String, HashMap<String, Vec<usize>>>,
}

impl Listed {
    pub(super) fn new(objects: Vec<Object>) -> Self {
        let positions = objects
            .iter()
            .enumerate()
            .map(|(i, o)| (o.id.clone(), i))
            .collect();
        Self {
            objects,
            positions,
            by_field: HashMap::new(),
        }
    }

    /// The index key of `field` in `object`.
    fn key(object: &Object, field: &str) -> String {
        if field == "pk" {
            return Json::String(object.id.clone()).to_string();
        }
        object.fields.get(field).unwrap_or(&Json::Null).to_string()
    }

    /// The objects matching every `(field, value)` of `query`.
    pub(super) fn find(&mut self, query: &[(String, Json)]) -> Vec<&Object> {
        let Some((field, value)) = query.first() else {
            return self.objects.iter().collect();
        };
        let objects = &self.objects;
        let index = self.by_field.entry(field.clone()).or_insert_with(|| {
            let mut index: HashMap<String, Vec<usize>> = HashMap::new();
            for (i, object) in objects.iter().enumerate() {
                index.entry(Self::key(object, field)).or_default().push(i);
            }
            index
        });
        index
            .get(&value.to_string())
            .into_iter()
            .flatten()
            .filter_map(|i| objects.get(*i))
            .filter(|o| matches(o, query))
            .collect()
    }

    /// Adds `object`, or replaces the object with its id, keeping the indexes true.
    pub(super) fn upsert(&mut self, object: Object) {
        let position = match self.positions.get(&object.id) {
            Some(&i) => {
                for (field, index) in &mut self.by_field {
                    if let Some(old) = self.objects.get(i)
                        && let Some(list) = index.get_mut(&Self::key(old, field))
                    {
                        list.retain(|p| *p != i);
                    }
                }
                if let Some(slot) = self.objects.get_mut(i) {
                    *slot = object;
                }
                i
            }
            None => {
                self.positions.insert(object.id.clone(), self.objects.len());
                self.objects.push(object);
                self.objects.len() - 1
            }
        };
        if let Some(object) = self.objects.get(position) {
            for (field, index) in &mut self.by_field {
                index
                    .entry(Self::key(object, field))
                    .or_default()
                    .push(position);
            }
        }
    }
}

/// Whether every `(field, value)` holds for `object`; `pk` is its primary key.
fn matches(object: &Object, query: &[(String, Json)]) -> bool {
    query.iter().all(|(field, value)| {
        if field == "pk" {
            value.as_str() == Some(object.id.as_str())
        } else {
            object.fields.get(field).unwrap_or(&Json::Null) == value
        }
    })
}
