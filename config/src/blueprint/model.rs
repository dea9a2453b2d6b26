//! A blueprint file as typed data: `version`, `metadata`, `context` and `entries`, with
//! every YAML tag turned into a [`Value`] variant and every value keeping its position.
//! Checks that need no database happen here (shape, types, tag arity, duplicate ids);
//! checks that need the model registry or stored objects happen when core applies it.

use std::collections::BTreeMap;

use super::yaml::{self, Node, NodeValue, Pos};

/// The only format version.
pub const VERSION: i64 = 1;

/// A parsed blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Blueprint {
    /// Name and labels.
    pub metadata: Metadata,
    /// Defaults that `!Context` reads, overridable per instance.
    pub context: BTreeMap<String, Value>,
    /// The objects, in file order.
    pub entries: Vec<Entry>,
}

/// `metadata:` of a blueprint.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Metadata {
    /// Human-readable name.
    pub name: String,
    /// Free-form labels.
    pub labels: BTreeMap<String, String>,
}

/// What applying an entry does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum EntryState {
    /// Create, or update the attributes given.
    #[default]
    Present,
    /// Create when missing; never touch an existing object.
    Created,
    /// Delete when present.
    Absent,
}

/// One object of a blueprint.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Position in `entries`, from 0.
    pub index: usize,
    /// Where the entry starts.
    pub pos: Pos,
    /// The model, e.g. `gatehouse_core.user`.
    pub model: String,
    /// Create, update or delete.
    pub state: EntryState,
    /// Name for `!KeyOf` references.
    pub id: Option<String>,
    /// How to find an existing object.
    pub identifiers: Vec<(String, Value)>,
    /// Fields to set.
    pub attrs: Vec<(String, Value)>,
    /// All must hold for the entry to apply.
    pub conditions: Vec<Value>,
}

/// A value in a blueprint, before tags are evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct Value {
    /// What it is.
    pub kind: ValueKind,
    /// Where it stands.
    pub pos: Pos,
}

/// The kinds of value, tags included.
#[derive(Debug, Clone, PartialEq)]
pub enum ValueKind {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float.
    Float(f64),
    /// A string.
    Str(String),
    /// A list.
    Seq(Vec<Value>),
    /// A mapping with string keys, in file order.
    Map(Vec<(String, Value)>),
    /// `!KeyOf id`: the primary key of the entry with that `id`.
    KeyOf(String),
    /// `!Find [model, [field, value], …]`: the primary key of a stored object.
    Find {
        /// The model searched.
        model: String,
        /// Field/value pairs that must all match.
        query: Vec<(String, Value)>,
    },
    /// `!Context key` or `!Context [key, default]`.
    Context {
        /// Context key.
        key: String,
        /// Used when the context lacks the key.
        default: Option<Box<Value>>,
    },
    /// `!Env VAR` or `!Env [VAR, default]`.
    Env {
        /// Environment variable.
        var: String,
        /// Used when the variable is unset.
        default: Option<Box<Value>>,
    },
    /// `!Format [format, args…]`: `%s` placeholders filled in order.
    Format {
        /// The format string.
        format: String,
        /// Its arguments.
        args: Vec<Value>,
    },
    /// `!If [condition, then, else]`.
    If {
        /// Truthiness decides.
        condition: Box<Value>,
        /// Value when true.
        then: Box<Value>,
        /// Value when false.
        otherwise: Box<Value>,
    },
    /// `!Condition [AND|OR|NAND|NOR|XOR, values…]`.
    Condition {
        /// How the values combine.
        op: ConditionOp,
        /// The values, by truthiness.
        args: Vec<Value>,
    },
}

/// Boolean operators of `!Condition`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(missing_docs)]
pub enum ConditionOp {
    And,
    Or,
    Nand,
    Nor,
    Xor,
}

/// Why a blueprint was refused: file, line and column, and the entry when inside one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{pos}: {}{message}", entry.map(|i| format!("entry {i}: ")).unwrap_or_default())]
pub struct BlueprintError {
    /// The file, as given.
    pub file: String,
    /// Where.
    pub pos: Pos,
    /// Index of the entry, when the error is inside one.
    pub entry: Option<usize>,
    /// What is wrong.
    pub message: String,
}

/// Parses the text of blueprint `file`. An empty file is `Ok(None)`: mounted over a
/// shipped default, it disables it.
pub fn parse(file: &str, text: &str) -> Result<Option<Blueprint>, BlueprintError> {
    let err = |pos, entry, message| BlueprintError {
        file: file.to_owned(),
        pos,
        entry,
        message,
    };
    let root = match yaml::parse(text) {
        Ok(Some(root)) => root,
        Ok(None) => return Ok(None),
        Err(e) => return Err(err(e.pos, None, e.message)),
    };
    let fields = mapping(
        &root,
        "a blueprint",
        &["version", "metadata", "context", "entries"],
    )
    .map_err(|(pos, m)| err(pos, None, m))?;
    let version = fields
        .get("version")
        .ok_or_else(|| err(root.pos, None, format!("missing `version: {VERSION}`")))?;
    if version.value != NodeValue::Int(VERSION) {
        return Err(err(
            version.pos,
            None,
            format!("unsupported version, expected {VERSION}"),
        ));
    }
    let metadata = match fields.get("metadata") {
        Some(node) => parse_metadata(node).map_err(|(pos, m)| err(pos, None, m))?,
        None => Metadata::default(),
    };
    let mut context = BTreeMap::new();
    if let Some(node) = fields.get("context") {
        for (key, value) in string_map(node, "context").map_err(|(pos, m)| err(pos, None, m))? {
            context.insert(key, value);
        }
    }
    let mut entries = Vec::new();
    if let Some(node) = fields.get("entries") {
        let NodeValue::Seq(items) = &node.value else {
            return Err(err(
                node.pos,
                None,
                format!("`entries` must be a list, not {}", node.kind()),
            ));
        };
        for (index, item) in items.iter().enumerate() {
            entries.push(parse_entry(index, item).map_err(|(pos, m)| err(pos, Some(index), m))?);
        }
    }
    let mut ids: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &entries {
        if let Some(id) = &entry.id
            && let Some(first) = ids.insert(id, entry.index)
        {
            return Err(err(
                entry.pos,
                Some(entry.index),
                format!("id {id:?} is already used by entry {first}"),
            ));
        }
    }
    Ok(Some(Blueprint {
        metadata,
        context,
        entries,
    }))
}

type Fail = (Pos, String);

/// The mapping's fields by name, refusing keys outside `allowed`.
fn mapping<'a>(
    node: &'a Node,
    what: &str,
    allowed: &[&str],
) -> Result<BTreeMap<&'a str, &'a Node>, Fail> {
    let NodeValue::Map(entries) = &node.value else {
        return Err((
            node.pos,
            format!("{what} must be a mapping, not {}", node.kind()),
        ));
    };
    let mut fields = BTreeMap::new();
    for (key, value) in entries {
        let NodeValue::Str(name) = &key.value else {
            return Err((key.pos, format!("keys of {what} must be strings")));
        };
        if !allowed.contains(&name.as_str()) {
            return Err((
                key.pos,
                format!(
                    "unknown field `{name}` in {what}; expected one of: {}",
                    allowed.join(", ")
                ),
            ));
        }
        fields.insert(name.as_str(), value);
    }
    Ok(fields)
}

fn string(node: &Node, what: &str) -> Result<String, Fail> {
    match &node.value {
        NodeValue::Str(s) if node.tag.is_none() => Ok(s.clone()),
        _ => Err((
            node.pos,
            format!("{what} must be a plain string, not {}", node.kind()),
        )),
    }
}

fn parse_metadata(node: &Node) -> Result<Metadata, Fail> {
    let fields = mapping(node, "metadata", &["name", "labels"])?;
    let name = fields
        .get("name")
        .map(|n| string(n, "metadata.name"))
        .transpose()?;
    let mut labels = BTreeMap::new();
    if let Some(node) = fields.get("labels") {
        let NodeValue::Map(pairs) = &node.value else {
            return Err((node.pos, "metadata.labels must be a mapping".into()));
        };
        for (k, v) in pairs {
            let value = match &v.value {
                NodeValue::Str(s) => s.clone(),
                NodeValue::Bool(b) => b.to_string(),
                NodeValue::Int(i) => i.to_string(),
                _ => return Err((v.pos, "label values must be scalars".into())),
            };
            labels.insert(string(k, "a label name")?, value);
        }
    }
    Ok(Metadata {
        name: name.unwrap_or_default(),
        labels,
    })
}

fn parse_entry(index: usize, node: &Node) -> Result<Entry, Fail> {
    let fields = mapping(
        node,
        "an entry",
        &["model", "state", "id", "identifiers", "attrs", "conditions"],
    )?;
    let model = fields
        .get("model")
        .ok_or((node.pos, "missing `model`".to_owned()))
        .and_then(|n| string(n, "model"))?;
    let state = match fields.get("state") {
        None => EntryState::Present,
        Some(n) => match string(n, "state")?.as_str() {
            "present" => EntryState::Present,
            "created" => EntryState::Created,
            "absent" => EntryState::Absent,
            other => {
                return Err((
                    n.pos,
                    format!("unknown state {other:?}; expected present, created or absent"),
                ));
            }
        },
    };
    let id = fields.get("id").map(|n| string(n, "id")).transpose()?;
    let identifiers = match fields.get("identifiers") {
        Some(n) => string_map(n, "identifiers")?,
        None => Vec::new(),
    };
    let attrs = match fields.get("attrs") {
        Some(n) => string_map(n, "attrs")?,
        None => Vec::new(),
    };
    let conditions = match fields.get("conditions") {
        None => Vec::new(),
        Some(n) => match &n.value {
            NodeValue::Seq(items) if n.tag.is_none() => {
                items.iter().map(node_value).collect::<Result<_, _>>()?
            }
            _ => return Err((n.pos, "conditions must be a list".into())),
        },
    };
    if identifiers.is_empty() && attrs.is_empty() {
        return Err((node.pos, "an entry needs `identifiers` or `attrs`".into()));
    }
    Ok(Entry {
        index,
        pos: node.pos,
        model,
        state,
        id,
        identifiers,
        attrs,
        conditions,
    })
}

fn string_map(node: &Node, what: &str) -> Result<Vec<(String, Value)>, Fail> {
    match node_value(node)?.kind {
        ValueKind::Map(pairs) => Ok(pairs),
        _ => Err((
            node.pos,
            format!("{what} must be a mapping, not {}", node.kind()),
        )),
    }
}

/// Converts a node, tags included.
pub(super) fn node_value(node: &Node) -> Result<Value, Fail> {
    let pos = node.pos;
    let kind = match node.tag.as_deref() {
        None => match &node.value {
            NodeValue::Null => ValueKind::Null,
            NodeValue::Bool(b) => ValueKind::Bool(*b),
            NodeValue::Int(i) => ValueKind::Int(*i),
            NodeValue::Float(f) => ValueKind::Float(*f),
            NodeValue::Str(s) => ValueKind::Str(s.clone()),
            NodeValue::Seq(items) => {
                ValueKind::Seq(items.iter().map(node_value).collect::<Result<_, _>>()?)
            }
            NodeValue::Map(pairs) => ValueKind::Map(
                pairs
                    .iter()
                    .map(|(k, v)| Ok((string(k, "a mapping key")?, node_value(v)?)))
                    .collect::<Result<_, Fail>>()?,
            ),
        },
        Some(tag) => super::tags::parse(tag, node)?,
    };
    Ok(Value { kind, pos })
}

#[cfg(test)]
mod tests;
