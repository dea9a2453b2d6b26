//! YAML into a tree that remembers where every node stood and which tag it carried,
//! so that a blueprint error can name the line and column of the node at fault, and
//! `!KeyOf`-style tags survive parsing. Built on saphyr-parser's event stream.
//!
//! Plain scalars are resolved with the YAML 1.2 core schema (`null`, `true`, `42`,
//! `1.5`); quoted scalars are always strings. Aliases expand to a copy of their
//! anchor. A document holds one node; several documents in one file are refused.

use std::borrow::Cow;
use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// A 1-based line and column in the source file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl Pos {
    fn of(span: &Span) -> Self {
        Self {
            line: span.start.line(),
            column: span.start.col() + 1,
        }
    }
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.column)
    }
}

/// A parsed YAML node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// What the node holds.
    pub value: NodeValue,
    /// A local tag such as `KeyOf` for `!KeyOf` (the leading `!` removed); core-schema
    /// tags (`!!str`) are applied during parsing and not kept.
    pub tag: Option<String>,
    /// Where the node starts.
    pub pos: Pos,
}

/// The content of a node.
#[derive(Debug, Clone, PartialEq)]
pub enum NodeValue {
    /// `null`, `~` or nothing.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// A floating-point number.
    Float(f64),
    /// Any other scalar.
    Str(String),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, keys in file order.
    Map(Vec<(Node, Node)>),
}

impl Node {
    /// The value of `key` when this node is a mapping with a string key `key`.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match &self.value {
            NodeValue::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(&k.value, NodeValue::Str(s) if s == key))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    /// A short name of the node's kind, for error messages.
    pub fn kind(&self) -> &'static str {
        match self.value {
            NodeValue::Null => "null",
            NodeValue::Bool(_) => "a boolean",
            NodeValue::Int(_) => "an integer",
            NodeValue::Float(_) => "a number",
            NodeValue::Str(_) => "a string",
            NodeValue::Seq(_) => "a list",
            NodeValue::Map(_) => "a mapping",
        }
    }
}

/// A YAML syntax error, or YAML this format does not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct YamlError {
    /// Where.
    pub pos: Pos,
    /// What.
    pub message: String,
}

/// Parses one YAML document. An empty file is `Ok(None)`.
pub fn parse(text: &str) -> Result<Option<Node>, YamlError> {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let (event, span) = event.map_err(|e| YamlError {
            pos: Pos {
                line: e.marker().line(),
                column: e.marker().col() + 1,
            },
            message: e.info().to_owned(),
        })?;
        builder.event(event, &span)?;
    }
    Ok(builder.root)
}

/// A collection being filled, with the anchor it will be registered under.
enum Open {
    Seq(Node, usize),
    Map(Node, usize, Option<Node>),
}

#[derive(Default)]
struct Builder {
    stack: Vec<Open>,
    anchors: HashMap<usize, Node>,
    root: Option<Node>,
    documents: usize,
}

impl Builder {
    fn event(&mut self, event: Event<'_>, span: &Span) -> Result<(), YamlError> {
        let pos = Pos::of(span);
        match event {
            Event::DocumentStart(_) => {
                self.documents += 1;
                if self.documents > 1 {
                    return Err(YamlError {
                        pos,
                        message: "one YAML document per file; split this file at `---`".into(),
                    });
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let (value, tag) = scalar(text, style, tag, pos)?;
                let node = Node { value, tag, pos };
                self.remember(anchor, &node);
                self.push(node)?;
            }
            Event::Alias(anchor) => {
                let node = self.anchors.get(&anchor).cloned().ok_or(YamlError {
                    pos,
                    message: "alias to an unknown anchor".into(),
                })?;
                self.push(node)?;
            }
            Event::SequenceStart(anchor, tag) => {
                let node = Node {
                    value: NodeValue::Seq(Vec::new()),
                    tag: local_tag(tag.as_deref()),
                    pos,
                };
                self.stack.push(Open::Seq(node, anchor));
            }
            Event::MappingStart(anchor, tag) => {
                let node = Node {
                    value: NodeValue::Map(Vec::new()),
                    tag: local_tag(tag.as_deref()),
                    pos,
                };
                self.stack.push(Open::Map(node, anchor, None));
            }
            Event::SequenceEnd | Event::MappingEnd => {
                let node = match self.stack.pop() {
                    Some(Open::Seq(node, anchor)) | Some(Open::Map(node, anchor, None)) => {
                        self.remember(anchor, &node);
                        node
                    }
                    Some(Open::Map(_, _, Some(key))) => {
                        return Err(YamlError {
                            pos: key.pos,
                            message: "mapping key without a value".into(),
                        });
                    }
                    None => {
                        return Err(YamlError {
                            pos,
                            message: "unbalanced collection end".into(),
                        });
                    }
                };
                self.push(node)?;
            }
            Event::StreamStart | Event::StreamEnd | Event::DocumentEnd | Event::Nothing => {}
        }
        Ok(())
    }

    fn remember(&mut self, anchor: usize, node: &Node) {
        if anchor != 0 {
            self.anchors.insert(anchor, node.clone());
        }
    }

    /// Adds a finished node to the collection being filled, or makes it the root.
    fn push(&mut self, node: Node) -> Result<(), YamlError> {
        match self.stack.last_mut() {
            None => self.root = Some(node),
            Some(Open::Seq(seq, _)) => {
                if let NodeValue::Seq(items) = &mut seq.value {
                    items.push(node);
                }
            }
            Some(Open::Map(map, _, pending)) => match pending.take() {
                None => *pending = Some(node),
                Some(key) => {
                    if let NodeValue::Map(entries) = &mut map.value {
                        if entries.iter().any(|(k, _)| k.value == key.value) {
                            return Err(YamlError {
                                pos: key.pos,
                                message: format!("duplicate key {}", describe_key(&key)),
                            });
                        }
                        entries.push((key, node));
                    }
                }
            },
        }
        Ok(())
    }
}

fn describe_key(key: &Node) -> String {
    match &key.value {
        NodeValue::Str(s) => format!("{s:?}"),
        other => format!("{other:?}"),
    }
}

/// `!KeyOf` → `Some("KeyOf")`; core-schema and absent tags → `None`.
fn local_tag(tag: Option<&Tag>) -> Option<String> {
    let tag = tag?;
    (tag.handle == "!").then(|| tag.suffix.clone())
}

fn scalar(
    text: Cow<'_, str>,
    style: ScalarStyle,
    tag: Option<Cow<'_, Tag>>,
    pos: Pos,
) -> Result<(NodeValue, Option<String>), YamlError> {
    if let Some(tag) = tag.as_deref()
        && tag.is_yaml_core_schema()
    {
        let value = match tag.suffix.as_str() {
            "str" => NodeValue::Str(text.into_owned()),
            "int" | "float" | "bool" | "null" => {
                let resolved = resolve_plain(&text);
                if matches!(resolved, NodeValue::Str(_)) {
                    return Err(YamlError {
                        pos,
                        message: format!("{text:?} is not a valid !!{}", tag.suffix),
                    });
                }
                resolved
            }
            other => {
                return Err(YamlError {
                    pos,
                    message: format!("unsupported tag !!{other}"),
                });
            }
        };
        return Ok((value, None));
    }
    let value = match style {
        ScalarStyle::Plain => resolve_plain(&text),
        _ => NodeValue::Str(text.into_owned()),
    };
    Ok((value, local_tag(tag.as_deref())))
}

/// YAML 1.2 core schema resolution of a plain scalar.
fn resolve_plain(text: &str) -> NodeValue {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return NodeValue::Null,
        "true" | "True" | "TRUE" => return NodeValue::Bool(true),
        "false" | "False" | "FALSE" => return NodeValue::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return NodeValue::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return NodeValue::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return NodeValue::Float(f64::NAN),
        _ => {}
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    let int = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().ok()
    } else if let Some(hex) = text.strip_prefix("0x") {
        i64::from_str_radix(hex, 16).ok()
    } else if let Some(oct) = text.strip_prefix("0o") {
        i64::from_str_radix(oct, 8).ok()
    } else {
        None
    };
    if let Some(i) = int {
        return NodeValue::Int(i);
    }
    if looks_like_float(digits)
        && let Ok(f) = text.parse::<f64>()
    {
        return NodeValue::Float(f);
    }
    NodeValue::Str(text.to_owned())
}

/// `[0-9]*\.?[0-9]+([eE][-+]?[0-9]+)?` without the sign, as the core schema has it.
fn looks_like_float(s: &str) -> bool {
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(i) => (s.get(..i).unwrap_or(""), s.get(i + 1..)),
        None => (s, None),
    };
    let mantissa_ok = !mantissa.is_empty()
        && mantissa.bytes().filter(|b| *b == b'.').count() <= 1
        && mantissa.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        && mantissa.bytes().any(|b| b.is_ascii_digit());
    let exponent_ok = exponent.is_none_or(|e| {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        !e.is_empty() && e.bytes().all(|b| b.is_ascii_digit())
    });
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests;
