//! Writing a [`Blueprint`] back as YAML (what `gatehouse blueprint export` prints),
//! such that [`super::parse`] reads back the same values. Strings are written
//! double-quoted (JSON escapes are valid YAML escapes), or as a literal block when
//! they span lines and a block keeps them exactly (PEM certificates).

use std::fmt::Write as _;

use super::model::{Blueprint, ConditionOp, EntryState, Value, ValueKind};

/// The YAML text of `blueprint`.
pub fn to_yaml(blueprint: &Blueprint) -> String {
    let mut out = String::from("version: 1\n");
    if !blueprint.metadata.name.is_empty() || !blueprint.metadata.labels.is_empty() {
        out.push_str("metadata:\n");
        if !blueprint.metadata.name.is_empty() {
            let _ = writeln!(out, "  name: {}", quote(&blueprint.metadata.name));
        }
        if !blueprint.metadata.labels.is_empty() {
            out.push_str("  labels:\n");
            for (k, v) in &blueprint.metadata.labels {
                let _ = writeln!(out, "    {}: {}", key(k), quote(v));
            }
        }
    }
    if !blueprint.context.is_empty() {
        out.push_str("context:\n");
        for (k, v) in &blueprint.context {
            field(&mut out, 2, k, v);
        }
    }
    if blueprint.entries.is_empty() {
        out.push_str("entries: []\n");
        return out;
    }
    out.push_str("entries:\n");
    for entry in &blueprint.entries {
        let model = if entry
            .model
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '.')
            && entry.model.starts_with(|c: char| c.is_ascii_lowercase())
        {
            entry.model.clone()
        } else {
            quote(&entry.model)
        };
        let _ = writeln!(out, "  - model: {model}");
        if let Some(id) = &entry.id {
            let _ = writeln!(out, "    id: {}", quote(id));
        }
        match entry.state {
            EntryState::Present => {}
            EntryState::Created => out.push_str("    state: created\n"),
            EntryState::Absent => out.push_str("    state: absent\n"),
        }
        for (name, pairs) in [("identifiers", &entry.identifiers), ("attrs", &entry.attrs)] {
            if !pairs.is_empty() {
                let _ = writeln!(out, "    {name}:");
                for (k, v) in pairs {
                    field(&mut out, 6, k, v);
                }
            }
        }
        if !entry.conditions.is_empty() {
            out.push_str("    conditions:\n");
            for condition in &entry.conditions {
                item(&mut out, 6, condition);
            }
        }
    }
    out
}

/// `name: value` at `indent`, block style for non-empty collections.
fn field(out: &mut String, indent: usize, name: &str, value: &Value) {
    let pad = " ".repeat(indent);
    match &value.kind {
        ValueKind::Map(pairs) if !pairs.is_empty() => {
            let _ = writeln!(out, "{pad}{}:", key(name));
            for (k, v) in pairs {
                field(out, indent + 2, k, v);
            }
        }
        ValueKind::Seq(items) if !items.is_empty() => {
            let _ = writeln!(out, "{pad}{}:", key(name));
            for v in items {
                item(out, indent + 2, v);
            }
        }
        ValueKind::Str(s) if literal_block(s) => {
            let _ = writeln!(out, "{pad}{}: {}", key(name), block(s, indent + 2));
        }
        _ => {
            let _ = writeln!(out, "{pad}{}: {}", key(name), inline(value));
        }
    }
}

/// `- value` at `indent`.
fn item(out: &mut String, indent: usize, value: &Value) {
    let pad = " ".repeat(indent);
    match &value.kind {
        ValueKind::Map(pairs) if !pairs.is_empty() => {
            // The first field goes on the dash's line, the rest line up under it.
            let mut nested = String::new();
            for (k, v) in pairs {
                field(&mut nested, indent + 2, k, v);
            }
            let _ = write!(out, "{pad}- {}", nested.trim_start());
        }
        ValueKind::Str(s) if literal_block(s) => {
            let _ = writeln!(out, "{pad}- {}", block(s, indent + 2));
        }
        _ => {
            let _ = writeln!(out, "{pad}- {}", inline(value));
        }
    }
}

/// A value on one line (flow style).
fn inline(value: &Value) -> String {
    let list = |items: &[Value]| items.iter().map(inline).collect::<Vec<_>>().join(", ");
    match &value.kind {
        ValueKind::Null => "null".into(),
        ValueKind::Bool(b) => b.to_string(),
        ValueKind::Int(i) => i.to_string(),
        ValueKind::Float(f) if f.is_nan() => ".nan".into(),
        ValueKind::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        ValueKind::Float(f) => {
            let text = format!("{f:?}");
            if text.contains(['.', 'e', 'E']) {
                text
            } else {
                format!("{text}.0")
            }
        }
        ValueKind::Str(s) => quote(s),
        ValueKind::Seq(items) => format!("[{}]", list(items)),
        ValueKind::Map(pairs) => format!(
            "{{{}}}",
            pairs
                .iter()
                .map(|(k, v)| format!("{}: {}", key(k), inline(v)))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        ValueKind::KeyOf(id) => format!("!KeyOf {}", quote(id)),
        ValueKind::Find { model, query } => {
            let mut parts = vec![quote(model)];
            parts.extend(
                query
                    .iter()
                    .map(|(f, v)| format!("[{}, {}]", quote(f), inline(v))),
            );
            format!("!Find [{}]", parts.join(", "))
        }
        ValueKind::Context { key, default } => with_default("!Context", key, default.as_deref()),
        ValueKind::Env { var, default } => with_default("!Env", var, default.as_deref()),
        ValueKind::Format { format, args } => {
            let mut parts = vec![quote(format)];
            parts.extend(args.iter().map(inline));
            format!("!Format [{}]", parts.join(", "))
        }
        ValueKind::If {
            condition,
            then,
            otherwise,
        } => format!(
            "!If [{}, {}, {}]",
            inline(condition),
            inline(then),
            inline(otherwise)
        ),
        ValueKind::Condition { op, args } => {
            let op = match op {
                ConditionOp::And => "AND",
                ConditionOp::Or => "OR",
                ConditionOp::Nand => "NAND",
                ConditionOp::Nor => "NOR",
                ConditionOp::Xor => "XOR",
            };
            format!("!Condition [{op}, {}]", list(args))
        }
    }
}

fn with_default(tag: &str, name: &str, default: Option<&Value>) -> String {
    match default {
        None => format!("{tag} {}", quote(name)),
        Some(d) => format!("{tag} [{}, {}]", quote(name), inline(d)),
    }
}

/// A mapping key: bare when it is a plain identifier YAML reads as a string.
fn key(name: &str) -> String {
    let plain = name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !matches!(name, "null" | "true" | "false");
    if plain { name.to_owned() } else { quote(name) }
}

/// A double-quoted scalar.
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("{s:?}"))
}

/// Whether `s` reads back exactly from a `|` or `|-` literal block: several lines,
/// printable, no trailing blanks, no leading space, at most one final newline.
fn literal_block(s: &str) -> bool {
    let body = s.strip_suffix('\n').unwrap_or(s);
    body.contains('\n')
        && !body.ends_with('\n')
        && !body.starts_with([' ', '\n'])
        && body
            .chars()
            .all(|c| c == '\n' || (!c.is_control() && c != '\u{feff}'))
        && body.lines().all(|l| !l.ends_with(' '))
}

/// The literal block of `s`, its lines at `indent`.
fn block(s: &str, indent: usize) -> String {
    let pad = " ".repeat(indent);
    let (header, body) = match s.strip_suffix('\n') {
        Some(body) => ("|", body),
        None => ("|-", s),
    };
    let mut out = header.to_owned();
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    out
}

#[cfg(test)]
mod tests;
