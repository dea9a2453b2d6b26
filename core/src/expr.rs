//! CEL expressions (Common Expression Language, as in Kubernetes and Envoy): compiled
//! once when configuration loads, evaluated against an [`Input`] many times.
//!
//! CEL has no loops or recursion, so an evaluation ends; its cost grows with the size
//! of the input (comprehensions over `user.groups`) and of the source, which is capped
//! at [`MAX_SOURCE_LEN`]. Nothing here reads the store or the clock: the caller puts
//! everything an expression may see into the input, so the outpost can evaluate
//! without a database. The parser and interpreter are the `cel` crate's; a panic inside
//! it is caught and becomes an error, never a crash.
//!
//! Besides CEL's standard library (`in`, `startsWith`, `matches` for regular
//! expressions, `exists`, `has()`, `size`, timestamps with `getHours()`…), expressions
//! get:
//! * `in_cidr(ip, "10.0.0.0/8")` or `ip.in_cidr("10.0.0.0/8")`: whether an address is
//!   in a network (IPv4 or IPv6; a v4-mapped v6 address counts as v4);
//! * `time_of_day(ts)`: `"HH:MM"` of a timestamp in its own offset (UTC for
//!   `request.time`), so `time_of_day(request.time) >= "08:00"` reads as it should.

use std::collections::BTreeMap;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, OnceLock};

use cel::extractors::This;
use cel::{Context, ExecutionError, Program, Value};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json};

use crate::Timestamp;

/// Longest accepted source, in bytes.
pub const MAX_SOURCE_LEN: usize = 8 * 1024;

/// Why a source does not compile; `line` and `column` count from 1 within the source.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct CompileError {
    /// Line in the source.
    pub line: usize,
    /// Column in the line.
    pub column: usize,
    /// What is wrong.
    pub message: String,
}

/// Why an evaluation gave no usable answer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    /// The expression failed (an unknown field, a wrong type, a bad CIDR…).
    #[error("{0}")]
    Failed(String),
    /// It returned something other than what the caller needs.
    #[error("the expression returned {found}, not {wanted}")]
    WrongType {
        /// What was needed (`a boolean`, `a map`).
        wanted: &'static str,
        /// What came back.
        found: String,
    },
    /// The interpreter panicked (a defect of the `cel` crate, contained here).
    #[error("the expression could not be evaluated (interpreter failure)")]
    Panicked,
}

/// A compiled expression.
pub struct Expression {
    source: String,
    program: Program,
}

impl std::fmt::Debug for Expression {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Expression").field(&self.source).finish()
    }
}

impl Expression {
    /// Compiles `source`.
    pub fn compile(source: &str) -> Result<Self, CompileError> {
        if source.len() > MAX_SOURCE_LEN {
            return Err(CompileError {
                line: 1,
                column: 1,
                message: format!("longer than {MAX_SOURCE_LEN} bytes"),
            });
        }
        if source.trim().is_empty() {
            return Err(CompileError {
                line: 1,
                column: 1,
                message: "empty expression".into(),
            });
        }
        let compiled = catch_unwind(|| Program::compile(source)).map_err(|_| CompileError {
            line: 1,
            column: 1,
            message: "the parser failed on this source".into(),
        })?;
        match compiled {
            Ok(program) => Ok(Self {
                source: source.to_owned(),
                program,
            }),
            Err(errors) => {
                let first = errors.errors.first();
                let (line, column) = first.map_or((1, 1), |e| e.pos);
                Err(CompileError {
                    line: usize::try_from(line).unwrap_or(1).max(1),
                    column: usize::try_from(column).unwrap_or(0) + 1,
                    message: first.map_or_else(|| "syntax error".to_owned(), |e| e.msg.clone()),
                })
            }
        }
    }

    /// The source it was compiled from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Whether the expression reads no variable but those in `names` (what makes a
    /// cached result safe to reuse for the same values of those).
    pub fn reads_only(&self, names: &[&str]) -> bool {
        VARIABLES
            .iter()
            .filter(|v| !names.contains(v))
            .all(|v| !self.program.references().has_variable(v))
    }

    /// Evaluates against `input`.
    pub fn eval(&self, input: &Input) -> Result<Value, EvalError> {
        match catch_unwind(AssertUnwindSafe(|| self.program.execute(&input.scope))) {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => Err(EvalError::Failed(err.to_string())),
            Err(_) => Err(EvalError::Panicked),
        }
    }

    /// Evaluates to a boolean (a policy's answer).
    pub fn eval_bool(&self, input: &Input) -> Result<bool, EvalError> {
        match self.eval(input)? {
            Value::Bool(b) => Ok(b),
            other => Err(EvalError::WrongType {
                wanted: "a boolean",
                found: type_name(&other),
            }),
        }
    }

    /// Evaluates to a map with string keys, as JSON (a property mapping's claims).
    pub fn eval_map(&self, input: &Input) -> Result<Map<String, Json>, EvalError> {
        let value = self.eval(input)?;
        if !matches!(value, Value::Map(_)) {
            return Err(EvalError::WrongType {
                wanted: "a map",
                found: type_name(&value),
            });
        }
        match value.json() {
            Ok(Json::Object(map)) => Ok(map),
            Ok(other) => Err(EvalError::WrongType {
                wanted: "a map",
                found: other.to_string(),
            }),
            Err(err) => Err(EvalError::Failed(err.to_string())),
        }
    }
}

fn type_name(value: &Value) -> String {
    match value {
        Value::String(s) => format!("the string {s:?}"),
        Value::Null => "null".into(),
        other => format!("a value of type {}", other.type_of()),
    }
}

/// The functions every expression gets, registered once.
fn base_context() -> &'static Context<'static> {
    static BASE: OnceLock<Context<'static>> = OnceLock::new();
    BASE.get_or_init(|| {
        let mut ctx = Context::default();
        ctx.add_function("in_cidr", in_cidr);
        ctx.add_function("time_of_day", time_of_day);
        ctx
    })
}

fn in_cidr(This(ip): This<Arc<String>>, cidr: Arc<String>) -> Result<bool, ExecutionError> {
    let net: ipnet::IpNet = cidr.parse().map_err(|_| {
        ExecutionError::function_error(
            "in_cidr",
            format!("{cidr:?} is not a network such as 10.0.0.0/8"),
        )
    })?;
    let Ok(addr) = ip.parse::<std::net::IpAddr>() else {
        return Ok(false);
    };
    Ok(net.contains(&addr.to_canonical()))
}

fn time_of_day(ts: chrono::DateTime<chrono::FixedOffset>) -> String {
    ts.format("%H:%M").to_string()
}

/// A user as expressions see it (`user.username`, `"admins" in user.groups`…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserInput {
    /// Stable id, as text.
    pub uid: String,
    /// Login name.
    pub username: String,
    /// Email address.
    pub email: String,
    /// Display name.
    pub name: String,
    /// Names of the groups, direct and inherited.
    pub groups: Vec<String>,
    /// Free-form attributes.
    pub attributes: Json,
    /// May sign in.
    pub is_active: bool,
    /// In a superuser group.
    pub is_superuser: bool,
    /// Folder-like path.
    pub path: String,
}

/// The request (`request.ip`, `request.path`, `request.headers["x-…"]`…).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RequestInput {
    /// Client address.
    pub ip: String,
    /// `Host`.
    pub host: String,
    /// Path (without the query).
    pub path: String,
    /// Method.
    pub method: String,
    /// `User-Agent`.
    pub user_agent: String,
    /// Headers by lower-case name (several values joined with `, `).
    pub headers: BTreeMap<String, String>,
    /// When the request came.
    pub time: Timestamp,
}

/// The flow in progress (`flow.slug`, `flow.prompt_data.email`…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct FlowInput {
    /// Slug.
    pub slug: String,
    /// Designation (`authentication`, `enrollment`…).
    pub designation: String,
    /// Answers of prompt stages so far (passwords only as their hash).
    pub prompt_data: Map<String, Json>,
    /// The user the flow is about, once known.
    pub pending_user: Option<UserInput>,
}

/// The application being opened (`application.slug`…).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ApplicationInput {
    /// Slug.
    pub slug: String,
    /// Name.
    pub name: String,
    /// Group shown in the launcher.
    pub group: String,
}

/// What an evaluation sees: each variable converted once into the interpreter's own
/// form and then only borrowed, so evaluating several expressions (or one many times)
/// against the same input costs no conversion. A variable the caller has not set is
/// `null`.
pub struct Input {
    scope: Context<'static>,
}

impl std::fmt::Debug for Input {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Input").finish_non_exhaustive()
    }
}

impl Default for Input {
    fn default() -> Self {
        let mut scope = base_context().new_inner_scope();
        for name in VARIABLES {
            scope.add_variable_from_value(name, Value::Null);
        }
        Self { scope }
    }
}

/// The variables every expression may read.
const VARIABLES: [&str; 4] = ["user", "request", "flow", "application"];

fn to_cel<T: Serialize>(value: &T) -> Value {
    // Every input type is plain data (strings, numbers, maps with string keys), which
    // always converts; null is the safe stand-in should that ever change.
    cel::to_value(value).unwrap_or(Value::Null)
}

impl Input {
    /// Sets `user`.
    pub fn with_user(mut self, user: &UserInput) -> Self {
        self.scope.add_variable_from_value("user", to_cel(user));
        self
    }

    /// Sets `request`, with `request.time` as a CEL timestamp.
    pub fn with_request(mut self, request: &RequestInput) -> Self {
        let mut value = to_cel(request);
        if let Value::Map(map) = &mut value {
            let t = request.time.as_datetime();
            if let Some(time) = chrono::DateTime::from_timestamp(t.unix_timestamp(), t.nanosecond())
            {
                let mut entries: std::collections::HashMap<cel::objects::Key, Value> =
                    map.map.as_ref().clone();
                entries.insert("time".into(), Value::Timestamp(time.fixed_offset()));
                map.map = Arc::new(entries);
            }
        }
        self.scope.add_variable_from_value("request", value);
        self
    }

    /// Sets `flow`.
    pub fn with_flow(mut self, flow: &FlowInput) -> Self {
        self.scope.add_variable_from_value("flow", to_cel(flow));
        self
    }

    /// Sets `application`.
    pub fn with_application(mut self, application: &ApplicationInput) -> Self {
        self.scope
            .add_variable_from_value("application", to_cel(application));
        self
    }
}

#[cfg(test)]
mod tests;
