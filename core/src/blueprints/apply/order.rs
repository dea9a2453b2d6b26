//! The order entries apply in: after the entries their `!KeyOf` tags name.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use gatehouse_config::blueprint::yaml::Pos;
use gatehouse_config::blueprint::{BlueprintError, Entry, Value, ValueKind};

/// Entry indices in an order where every entry comes after the entries its `!KeyOf`
/// tags name, file order otherwise. A `!KeyOf` naming no entry, or a cycle, is an error.
pub(super) fn dependency_order(
    file: &str,
    entries: &[Entry],
) -> Result<Vec<usize>, BlueprintError> {
    let by_id: HashMap<&str, usize> = entries
        .iter()
        .filter_map(|e| e.id.as_deref().map(|id| (id, e.index)))
        .collect();
    let mut deps: Vec<BTreeMap<usize, Pos>> = Vec::with_capacity(entries.len());
    for entry in entries {
        let mut refs = Vec::new();
        for value in entry
            .identifiers
            .iter()
            .chain(&entry.attrs)
            .map(|(_, v)| v)
            .chain(&entry.conditions)
        {
            key_of_refs(value, &mut refs);
        }
        let mut mine = BTreeMap::new();
        for (id, pos) in refs {
            let Some(&target) = by_id.get(id.as_str()) else {
                return Err(BlueprintError {
                    file: file.to_owned(),
                    pos,
                    entry: Some(entry.index),
                    message: format!("!KeyOf {id}: no entry has `id: {id}`"),
                });
            };
            if target == entry.index {
                return Err(BlueprintError {
                    file: file.to_owned(),
                    pos,
                    entry: Some(entry.index),
                    message: format!("!KeyOf {id}: an entry cannot refer to itself"),
                });
            }
            mine.entry(target).or_insert(pos);
        }
        deps.push(mine);
    }
    // Kahn's algorithm, always taking the lowest ready index: file order where the
    // references allow it.
    let mut waiting: Vec<usize> = deps.iter().map(BTreeMap::len).collect();
    let mut dependents: Vec<Vec<usize>> = vec![Vec::new(); entries.len()];
    for (i, mine) in deps.iter().enumerate() {
        for dep in mine.keys() {
            if let Some(list) = dependents.get_mut(*dep) {
                list.push(i);
            }
        }
    }
    let mut ready: BTreeSet<usize> = (0..entries.len())
        .filter(|i| waiting.get(*i) == Some(&0))
        .collect();
    let mut done: BTreeSet<usize> = BTreeSet::new();
    let mut order = Vec::with_capacity(entries.len());
    while let Some(i) = ready.pop_first() {
        done.insert(i);
        order.push(i);
        for dependent in dependents.get(i).into_iter().flatten() {
            if let Some(count) = waiting.get_mut(*dependent) {
                *count -= 1;
                if *count == 0 {
                    ready.insert(*dependent);
                }
            }
        }
    }
    if order.len() < entries.len() {
        return Err(cycle_error(file, entries, &deps, &done));
    }
    Ok(order)
}

/// Names one cycle among the entries not yet ordered.
fn cycle_error(
    file: &str,
    entries: &[Entry],
    deps: &[BTreeMap<usize, Pos>],
    done: &BTreeSet<usize>,
) -> BlueprintError {
    let start = (0..entries.len()).find(|i| !done.contains(i)).unwrap_or(0);
    let mut path = vec![start];
    let mut current = start;
    loop {
        let next = deps
            .get(current)
            .and_then(|d| d.keys().find(|dep| !done.contains(*dep)).copied());
        let Some(next) = next else { break };
        if let Some(at) = path.iter().position(|p| *p == next) {
            path.drain(..at);
            path.push(next);
            break;
        }
        path.push(next);
        current = next;
    }
    let first = path.first().copied().unwrap_or(start);
    let second = path.get(1).copied().unwrap_or(first);
    let pos = deps
        .get(first)
        .and_then(|d| d.get(&second))
        .copied()
        .or_else(|| entries.get(first).map(|e| e.pos))
        .unwrap_or_default();
    let names: Vec<String> = path
        .iter()
        .map(|i| {
            let id = entries.get(*i).and_then(|e| e.id.as_deref()).unwrap_or("?");
            format!("entry {i} ({id})")
        })
        .collect();
    BlueprintError {
        file: file.to_owned(),
        pos,
        entry: Some(first),
        message: format!("cyclic reference: {}", names.join(" → ")),
    }
}

fn key_of_refs(value: &Value, out: &mut Vec<(String, Pos)>) {
    match &value.kind {
        ValueKind::KeyOf(id) => out.push((id.clone(), value.pos)),
        ValueKind::Seq(items) | ValueKind::Format { args: items, .. } => {
            for item in items {
                key_of_refs(item, out);
            }
        }
        ValueKind::Map(pairs) | ValueKind::Find { query: pairs, .. } => {
            for (_, item) in pairs {
                key_of_refs(item, out);
            }
        }
        ValueKind::Context { default, .. } | ValueKind::Env { default, .. } => {
            if let Some(default) = default {
                key_of_refs(default, out);
            }
        }
        ValueKind::If {
            condition,
            then,
            otherwise,
        } => {
            for item in [condition, then, otherwise] {
                key_of_refs(item, out);
            }
        }
        ValueKind::Condition { args, .. } => {
            for item in args {
                key_of_refs(item, out);
            }
        }
        ValueKind::Null
        | ValueKind::Bool(_)
        | ValueKind::Int(_)
        | ValueKind::Float(_)
        | ValueKind::Str(_) => {}
    }
}
