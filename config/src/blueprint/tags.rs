//! The YAML tags of blueprints, checked for shape and arity when the file is parsed
//! (evaluating them needs the store and the context, and happens in core).

use super::model::{ConditionOp, Value, ValueKind, node_value};
use super::yaml::{Node, NodeValue, Pos};

type Fail = (Pos, String);

const KNOWN: &str = "!KeyOf, !Find, !Context, !Env, !Format, !If, !Condition";

/// Turns a node tagged `!tag` into its value.
pub(super) fn parse(tag: &str, node: &Node) -> Result<ValueKind, Fail> {
    match tag {
        "KeyOf" => Ok(ValueKind::KeyOf(own_text(
            node,
            "!KeyOf takes an entry id",
        )?)),
        "Find" => find(node),
        "Context" => {
            let (key, default) = key_with_default(node, "!Context")?;
            Ok(ValueKind::Context { key, default })
        }
        "Env" => {
            let (var, default) = key_with_default(node, "!Env")?;
            Ok(ValueKind::Env { var, default })
        }
        "Format" => {
            let items = list(node, "!Format takes [format, args…]")?;
            let (first, rest) = items
                .split_first()
                .ok_or((node.pos, "!Format takes [format, args…]".to_owned()))?;
            Ok(ValueKind::Format {
                format: scalar_string(first, "the format of !Format")?,
                args: rest.iter().map(node_value).collect::<Result<_, _>>()?,
            })
        }
        "If" => match list(node, "!If takes [condition, then, else]")? {
            [condition, then, otherwise] => Ok(ValueKind::If {
                condition: Box::new(node_value(condition)?),
                then: Box::new(node_value(then)?),
                otherwise: Box::new(node_value(otherwise)?),
            }),
            _ => Err((node.pos, "!If takes exactly [condition, then, else]".into())),
        },
        "Condition" => {
            let items = list(node, "!Condition takes [AND|OR|NAND|NOR|XOR, values…]")?;
            let (first, rest) = items
                .split_first()
                .ok_or((node.pos, "!Condition takes [operator, values…]".to_owned()))?;
            let op = match scalar_string(first, "the operator of !Condition")?.as_str() {
                "AND" => ConditionOp::And,
                "OR" => ConditionOp::Or,
                "NAND" => ConditionOp::Nand,
                "NOR" => ConditionOp::Nor,
                "XOR" => ConditionOp::Xor,
                other => {
                    return Err((
                        first.pos,
                        format!(
                            "unknown !Condition operator {other:?}; expected AND, OR, NAND, NOR or XOR"
                        ),
                    ));
                }
            };
            if rest.is_empty() {
                return Err((node.pos, "!Condition needs at least one value".into()));
            }
            Ok(ValueKind::Condition {
                op,
                args: rest.iter().map(node_value).collect::<Result<_, _>>()?,
            })
        }
        other => Err((
            node.pos,
            format!("unknown tag !{other}; expected one of {KNOWN}"),
        )),
    }
}

/// `!Find [model, [field, value], …]`.
fn find(node: &Node) -> Result<ValueKind, Fail> {
    const SHAPE: &str = "!Find takes [model, [field, value], …]";
    let items = list(node, SHAPE)?;
    let (first, rest) = items.split_first().ok_or((node.pos, SHAPE.to_owned()))?;
    let model = scalar_string(first, "the model of !Find")?;
    if rest.is_empty() {
        return Err((
            node.pos,
            format!("{SHAPE}: give at least one [field, value]"),
        ));
    }
    let query = rest
        .iter()
        .map(|pair| match list(pair, SHAPE)? {
            [field, value] => Ok((scalar_string(field, "a !Find field")?, node_value(value)?)),
            _ => Err((
                pair.pos,
                format!("{SHAPE}: each query is a [field, value] pair"),
            )),
        })
        .collect::<Result<_, Fail>>()?;
    Ok(ValueKind::Find { model, query })
}

/// `!Tag key` or `!Tag [key, default]`.
fn key_with_default(node: &Node, tag: &str) -> Result<(String, Option<Box<Value>>), Fail> {
    match &node.value {
        NodeValue::Seq(items) => match items.as_slice() {
            [key] => Ok((scalar_string(key, tag)?, None)),
            [key, default] => Ok((
                scalar_string(key, tag)?,
                Some(Box::new(node_value(default)?)),
            )),
            _ => Err((node.pos, format!("{tag} takes a name or [name, default]"))),
        },
        _ => Ok((own_text(node, tag)?, None)),
    }
}

fn list<'a>(node: &'a Node, shape: &str) -> Result<&'a [Node], Fail> {
    match &node.value {
        NodeValue::Seq(items) => Ok(items),
        _ => Err((node.pos, shape.to_owned())),
    }
}

/// The string content of the tagged node itself (`!KeyOf admins` → `admins`).
fn own_text(node: &Node, what: &str) -> Result<String, Fail> {
    match &node.value {
        NodeValue::Str(s) if !s.is_empty() => Ok(s.clone()),
        _ => Err((
            node.pos,
            format!("{what}: expected a name, not {}", node.kind()),
        )),
    }
}

/// An untagged, non-empty string argument of a tag.
fn scalar_string(node: &Node, what: &str) -> Result<String, Fail> {
    match (&node.value, &node.tag) {
        (NodeValue::Str(s), None) if !s.is_empty() => Ok(s.clone()),
        _ => Err((
            node.pos,
            format!("{what}: expected a plain string, not {}", node.kind()),
        )),
    }
}
