//! Evaluation of blueprint values: tags become plain JSON. `!KeyOf` and `!Find` ask a
//! [`Resolver`] (the applier, which knows the entries applied so far and the store);
//! everything else is pure, with the context and environment passed in.

use std::collections::BTreeMap;

use gatehouse_config::Environment;
use gatehouse_config::blueprint::yaml::Pos;
use gatehouse_config::blueprint::{ConditionOp, Value, ValueKind};
use serde_json::Value as Json;

/// Looks up primary keys for `!KeyOf` and `!Find`.
pub trait Resolver {
    /// The primary key of the entry whose `id` is `id`, if it has been applied.
    fn key_of(&self, id: &str) -> Option<String>;

    /// The primary key of the stored `model` object matching every `(field, value)`.
    fn find(
        &mut self,
        model: &str,
        query: &[(String, Json)],
    ) -> impl Future<Output = Result<Option<String>, String>> + Send;
}

/// A value that could not be evaluated, and where it stands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{pos}: {message}")]
pub struct EvalError {
    /// Where.
    pub pos: Pos,
    /// Why.
    pub message: String,
}

/// What tags read besides the resolver.
pub struct Scope<'a, E: Environment> {
    /// `!Context` values: the blueprint's defaults overlaid with the instance's.
    pub context: &'a BTreeMap<String, Json>,
    /// Where `!Env` reads.
    pub env: &'a E,
}

/// Evaluates `value` to JSON.
pub async fn evaluate<E: Environment + Sync, R: Resolver + Send>(
    value: &Value,
    scope: &Scope<'_, E>,
    resolver: &mut R,
) -> Result<Json, EvalError> {
    let fail = |message: String| EvalError {
        pos: value.pos,
        message,
    };
    Ok(match &value.kind {
        ValueKind::Null => Json::Null,
        ValueKind::Bool(b) => Json::Bool(*b),
        ValueKind::Int(i) => Json::from(*i),
        ValueKind::Float(f) => serde_json::Number::from_f64(*f)
            .map(Json::Number)
            .ok_or_else(|| fail("NaN and infinities cannot be stored".into()))?,
        ValueKind::Str(s) => Json::String(s.clone()),
        ValueKind::Seq(items) => {
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(Box::pin(evaluate(item, scope, resolver)).await?);
            }
            Json::Array(out)
        }
        ValueKind::Map(pairs) => {
            let mut out = serde_json::Map::new();
            for (key, item) in pairs {
                out.insert(
                    key.clone(),
                    Box::pin(evaluate(item, scope, resolver)).await?,
                );
            }
            Json::Object(out)
        }
        ValueKind::KeyOf(id) => Json::String(resolver.key_of(id).ok_or_else(|| {
            fail(format!(
                "!KeyOf {id}: no entry with that id has been applied before this one"
            ))
        })?),
        ValueKind::Find { model, query } => {
            let mut resolved = Vec::with_capacity(query.len());
            for (field, item) in query {
                resolved.push((
                    field.clone(),
                    Box::pin(evaluate(item, scope, resolver)).await?,
                ));
            }
            let found = resolver.find(model, &resolved).await.map_err(&fail)?;
            Json::String(found.ok_or_else(|| fail(format!("!Find {model}: nothing matches")))?)
        }
        ValueKind::Context { key, default } => match (scope.context.get(key), default) {
            (Some(found), _) => found.clone(),
            (None, Some(default)) => Box::pin(evaluate(default, scope, resolver)).await?,
            (None, None) => return Err(fail(format!("!Context {key}: not in the context"))),
        },
        ValueKind::Env { var, default } => {
            match scope.env.vars().into_iter().find(|(k, _)| k == var) {
                Some((_, found)) => Json::String(found),
                None => match default {
                    Some(default) => Box::pin(evaluate(default, scope, resolver)).await?,
                    None => return Err(fail(format!("!Env {var}: the variable is not set"))),
                },
            }
        }
        ValueKind::Format { format, args } => {
            let mut texts = Vec::with_capacity(args.len());
            for arg in args {
                texts.push(display(&Box::pin(evaluate(arg, scope, resolver)).await?));
            }
            Json::String(format_percent_s(format, &texts).map_err(fail)?)
        }
        ValueKind::If {
            condition,
            then,
            otherwise,
        } => {
            let chosen = if truthy(&Box::pin(evaluate(condition, scope, resolver)).await?) {
                then
            } else {
                otherwise
            };
            Box::pin(evaluate(chosen, scope, resolver)).await?
        }
        ValueKind::Condition { op, args } => {
            let mut truths = Vec::with_capacity(args.len());
            for arg in args {
                truths.push(truthy(&Box::pin(evaluate(arg, scope, resolver)).await?));
            }
            Json::Bool(combine(*op, &truths))
        }
    })
}

/// Truthiness as authentik's tags have it: null, false, 0, "", [] and {} are false.
pub fn truthy(value: &Json) -> bool {
    match value {
        Json::Null => false,
        Json::Bool(b) => *b,
        Json::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Json::String(s) => !s.is_empty(),
        Json::Array(a) => !a.is_empty(),
        Json::Object(o) => !o.is_empty(),
    }
}

fn combine(op: ConditionOp, truths: &[bool]) -> bool {
    let all = truths.iter().all(|t| *t);
    let any = truths.iter().any(|t| *t);
    match op {
        ConditionOp::And => all,
        ConditionOp::Or => any,
        ConditionOp::Nand => !all,
        ConditionOp::Nor => !any,
        ConditionOp::Xor => truths.iter().filter(|t| **t).count() % 2 == 1,
    }
}

/// How a value reads inside `!Format`: strings bare, everything else as JSON.
fn display(value: &Json) -> String {
    match value {
        Json::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// `%s` takes the next argument, `%%` is a literal `%`; the counts must match.
fn format_percent_s(format: &str, args: &[String]) -> Result<String, String> {
    let mut out = String::with_capacity(format.len());
    let mut next = args.iter();
    let mut chars = format.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('%') => out.push('%'),
            Some('s') => out.push_str(next.next().ok_or_else(|| {
                format!(
                    "!Format: {format:?} has more %s than the {} arguments",
                    args.len()
                )
            })?),
            other => {
                return Err(format!(
                    "!Format: only %s and %% are supported, found %{}",
                    other.map(String::from).unwrap_or_default()
                ));
            }
        }
    }
    if next.next().is_some() {
        return Err(format!(
            "!Format: {format:?} uses fewer %s than the {} arguments",
            args.len()
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests;
