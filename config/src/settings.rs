//! Process settings: typed, with defaults that serve a first start, read once from an
//! optional TOML file and then from `GATEHOUSE_*` environment variables (`__` nests:
//! `GATEHOUSE_LISTEN__HTTP` is `listen.http`). Environment beats file.
//!
//! Every invalid setting fails loading with one line that names it the way the user
//! spelled it (`GATEHOUSE_LISTEN__HTTP`, or `listen.http` in the file) and the form
//! that was expected.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map, Value};
use figment::{Figment, Metadata, Profile, Provider, Source};
use serde::{Deserialize, Deserializer};

use crate::env::Environment;
use crate::secret::Secret;

/// Prefix of every environment variable Gatehouse reads.
pub const ENV_PREFIX: &str = "GATEHOUSE_";
/// Environment variable naming the settings file (it is not itself a setting).
pub const CONFIG_FILE_VAR: &str = "GATEHOUSE_CONFIG";
/// Separator of nested keys in environment variable names.
const ENV_NESTING: &str = "__";
/// Shortest secret key accepted: it seeds every cookie and signing key derived from it.
const MIN_SECRET_KEY_LEN: usize = 32;

/// Every setting of a Gatehouse process.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Folder for the SQLite database, the generated secret key and TLS pair.
    pub data_dir: PathBuf,
    /// Folder of blueprint files applied at start and whenever one changes.
    pub blueprints_dir: PathBuf,
    /// Root secret; generated and stored in `data_dir` when absent.
    #[serde(deserialize_with = "de_secret_key")]
    pub secret_key: Option<Secret>,
    /// Minimum level of log lines.
    pub log_level: LogLevel,
    /// Log line format.
    pub log_format: LogFormat,
    /// Listening addresses.
    pub listen: ListenSettings,
    /// Database connection.
    pub database: DatabaseSettings,
    /// The HTTPS listener's certificate; a self-signed pair is made when unset.
    pub tls: TlsSettings,
    /// argon2id cost of password hashes.
    pub password_hash: PasswordHashSettings,
    /// Sign-in throttling.
    pub login: LoginSettings,
    /// Run an outpost inside the server, on the server's own control channel (as
    /// authentik's embedded outpost).
    pub embedded_outpost: bool,
}

/// argon2id parameters for new password hashes (existing hashes keep theirs).
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PasswordHashSettings {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Passes over the memory.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl Default for PasswordHashSettings {
    /// OWASP's argon2id recommendation: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        Self {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

/// When failed sign-ins lock further attempts.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LoginSettings {
    /// Consecutive failures for one login name that lock it.
    pub lock_after: u32,
    /// Consecutive failures from one client address that lock it.
    pub lock_after_per_ip: u32,
    /// How long failures count, and so how long a lock lasts, in seconds.
    pub lock_seconds: u32,
}

impl Default for LoginSettings {
    fn default() -> Self {
        Self {
            lock_after: 5,
            lock_after_per_ip: 20,
            lock_seconds: 300,
        }
    }
}

impl Default for Settings {
    fn default() -> Self {
        Self {
            data_dir: PathBuf::from("./data"),
            blueprints_dir: PathBuf::from("./blueprints"),
            secret_key: None,
            log_level: LogLevel::default(),
            log_format: LogFormat::default(),
            listen: ListenSettings::default(),
            database: DatabaseSettings::default(),
            tls: TlsSettings::default(),
            password_hash: PasswordHashSettings::default(),
            login: LoginSettings::default(),
            embedded_outpost: true,
        }
    }
}

/// Where the listeners bind.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ListenSettings {
    /// Plain HTTP listener.
    #[serde(deserialize_with = "de_socket_addr")]
    pub http: SocketAddr,
    /// HTTPS listener (rustls).
    #[serde(deserialize_with = "de_socket_addr")]
    pub https: SocketAddr,
    /// Prometheus metrics listener.
    #[serde(deserialize_with = "de_socket_addr")]
    pub metrics: SocketAddr,
}

impl Default for ListenSettings {
    fn default() -> Self {
        Self {
            http: SocketAddr::from(([0, 0, 0, 0], 9000)),
            https: SocketAddr::from(([0, 0, 0, 0], 9443)),
            metrics: SocketAddr::from(([0, 0, 0, 0], 9300)),
        }
    }
}

/// The database Gatehouse stores everything in.
#[derive(Debug, Clone, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DatabaseSettings {
    /// `sqlite://PATH` or `postgres://…`; unset means `DATA_DIR/gatehouse.db`.
    #[serde(deserialize_with = "de_database_url")]
    pub url: Option<DatabaseUrl>,
    /// Most connections the pool opens.
    pub max_connections: u32,
}

impl Default for DatabaseSettings {
    fn default() -> Self {
        Self {
            url: None,
            max_connections: 10,
        }
    }
}

/// A certificate and key given by the operator.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TlsSettings {
    /// PEM file with the certificate chain.
    pub certificate: Option<PathBuf>,
    /// PEM file with the private key.
    pub key: Option<PathBuf>,
}

impl TlsSettings {
    /// A certificate needs its key and a key its certificate.
    pub(crate) fn validate(&self) -> Result<(), SettingsError> {
        match (&self.certificate, &self.key) {
            (Some(_), None) => Err(SettingsError::Invalid {
                name: env_name(&["tls", "key"]),
                message: "must be set when GATEHOUSE_TLS__CERTIFICATE is".into(),
            }),
            (None, Some(_)) => Err(SettingsError::Invalid {
                name: env_name(&["tls", "certificate"]),
                message: "must be set when GATEHOUSE_TLS__KEY is".into(),
            }),
            _ => Ok(()),
        }
    }
}

/// Minimum level of log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum LogLevel {
    Trace,
    Debug,
    #[default]
    Info,
    Warning,
    Error,
}

impl LogLevel {
    /// The level's name as `tracing` filters spell it.
    pub fn as_filter(self) -> &'static str {
        match self {
            Self::Trace => "trace",
            Self::Debug => "debug",
            Self::Info => "info",
            Self::Warning => "warn",
            Self::Error => "error",
        }
    }
}

/// Log line format.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which database backend a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DatabaseKind {
    /// Embedded, a file.
    Sqlite,
    /// Shared by several core replicas.
    Postgres,
}

/// A database URL whose scheme has been checked. `Debug` hides the password.
#[derive(Clone, PartialEq, Eq)]
pub struct DatabaseUrl {
    url: String,
    kind: DatabaseKind,
}

impl DatabaseUrl {
    /// Parses `sqlite:…`, `postgres://…` or `postgresql://…`.
    pub fn parse(url: &str) -> Result<Self, String> {
        let kind = if url.starts_with("sqlite:") {
            DatabaseKind::Sqlite
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            DatabaseKind::Postgres
        } else {
            return Err(format!(
                "expected a URL starting with sqlite:// or postgres://, got {:?}",
                redact_password(url)
            ));
        };
        Ok(Self {
            url: url.to_owned(),
            kind,
        })
    }

    /// The SQLite file `path`, created when missing.
    pub fn sqlite_file(path: &Path) -> Self {
        Self {
            url: format!("sqlite://{}", path.display()),
            kind: DatabaseKind::Sqlite,
        }
    }

    /// The backend.
    pub fn kind(&self) -> DatabaseKind {
        self.kind
    }

    /// The URL itself, for the database driver only.
    pub fn expose(&self) -> &str {
        &self.url
    }
}

impl std::fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}", redact_password(&self.url))
    }
}

impl std::fmt::Display for DatabaseUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&redact_password(&self.url))
    }
}

/// `scheme://user:password@host/db?password=x` → `scheme://user:***@host/db?password=***`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = match rest.find(['/', '?']) {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    // The password may itself contain `@`: the host follows the last one.
    let authority = match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{user}:***@{host}"),
            None => format!("{userinfo}@{host}"),
        },
        None => authority.to_owned(),
    };
    let tail = match tail.split_once('?') {
        Some((path, query)) => {
            let query: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((key, _)) if key.eq_ignore_ascii_case("password") => format!("{key}=***"),
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", query.join("&"))
        }
        None => tail.to_owned(),
    };
    format!("{scheme}://{authority}{tail}")
}

/// The TOML parser's message without the echoed source lines (which may hold a
/// secret): its first line (the position) and its last (what is wrong).
fn one_line_toml_error(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or_default();
    match lines.next_back() {
        Some(last) if !last.starts_with('|') && !last.starts_with('^') => {
            format!("{first}: {last}")
        }
        _ => first.to_owned(),
    }
}

/// Why settings could not be loaded. `Display` is one line that names the setting.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// A setting has a value of the wrong form, or is not a setting at all.
    #[error("invalid setting {name}: {message}")]
    Invalid {
        /// The setting as the user spelled it.
        name: String,
        /// What was wrong and what form was expected.
        message: String,
    },
    /// The settings file could not be read or parsed.
    #[error("cannot read settings file {path}: {message}")]
    File {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
}

impl Settings {
    /// Loads settings: defaults, then the file named by `GATEHOUSE_CONFIG` (if any),
    /// then the other `GATEHOUSE_*` variables of `env`.
    pub fn load(env: &impl Environment) -> Result<Self, SettingsError> {
        let (file, vars) = file_and_vars(env);
        Self::load_with_file(file.as_deref(), vars)
    }

    fn load_with_file(
        file: Option<&Path>,
        vars: Vec<(String, String)>,
    ) -> Result<Self, SettingsError> {
        let settings: Settings = extract(file, vars)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules that span several settings.
    fn validate(&self) -> Result<(), SettingsError> {
        self.tls.validate()
    }

    /// The database to use: the configured URL, or the SQLite file in the data dir.
    pub fn database_url(&self) -> DatabaseUrl {
        self.database
            .url
            .clone()
            .unwrap_or_else(|| DatabaseUrl::sqlite_file(&self.data_dir.join("gatehouse.db")))
    }
}

/// Defaults, then `file` (TOML) if any, then the `GATEHOUSE_*` variables.
fn extract<T: serde::de::DeserializeOwned>(
    file: Option<&Path>,
    vars: Vec<(String, String)>,
) -> Result<T, SettingsError> {
    let mut figment = Figment::new();
    if let Some(path) = file {
        // Read it ourselves: figment silently skips a missing file.
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::File {
            path: path.to_owned(),
            message: e.to_string(),
        })?;
        // Parse once here so a syntax error names the file, not a setting.
        Toml::string(&text)
            .data()
            .map_err(|e| SettingsError::File {
                path: path.to_owned(),
                message: one_line_toml_error(&e.to_string()),
            })?;
        figment = figment.merge(FileProvider {
            path: path.to_owned(),
            text,
        });
    }
    figment = figment.merge(EnvProvider { vars });
    figment.extract_lossy().map_err(describe)
}

/// The settings file `env` names with `GATEHOUSE_CONFIG`, and every variable.
fn file_and_vars(env: &impl Environment) -> (Option<PathBuf>, Vec<(String, String)>) {
    let vars = env.vars();
    let file = vars
        .iter()
        .find(|(k, _)| k == CONFIG_FILE_VAR)
        .map(|(_, v)| PathBuf::from(v));
    (file, vars)
}

/// `["listen", "http"]` → `GATEHOUSE_LISTEN__HTTP`.
fn env_name(keys: &[&str]) -> String {
    let joined: Vec<String> = keys.iter().map(|k| k.to_ascii_uppercase()).collect();
    format!("{ENV_PREFIX}{}", joined.join(ENV_NESTING))
}

/// Turns figment's error into one line naming the setting where the user wrote it.
fn describe(err: figment::Error) -> SettingsError {
    let path: Vec<&str> = err.path.iter().map(String::as_str).collect();
    let name = match err.metadata.as_ref().and_then(|m| m.source.as_ref()) {
        Some(Source::File(file)) => format!("{} (in {})", path.join("."), file.display()),
        Some(_) => env_name(&path),
        // No source means the value came from a default, which cannot be wrong;
        // name the key as the environment would spell it.
        None => env_name(&path),
    };
    let message = match &err.kind {
        figment::error::Kind::UnknownField(field, _) => {
            let mut full = path.clone();
            if full.last() != Some(&field.as_str()) {
                full.push(field);
            }
            return SettingsError::Invalid {
                name: match err.metadata.as_ref().and_then(|m| m.source.as_ref()) {
                    Some(Source::File(file)) => {
                        format!("{} (in {})", full.join("."), file.display())
                    }
                    _ => env_name(&full),
                },
                message: "no such setting".into(),
            };
        }
        kind => kind.to_string(),
    };
    SettingsError::Invalid { name, message }
}

/// The `GATEHOUSE_*` variables as nested settings. Values stay strings; figment's
/// lossy extraction turns `"9000"` or `"true"` into numbers and booleans only where
/// the setting asks for one, so a secret made of digits stays a string.
struct EnvProvider {
    vars: Vec<(String, String)>,
}

impl Provider for EnvProvider {
    fn metadata(&self) -> Metadata {
        Metadata::named("environment variables")
            .interpolater(|_: &Profile, keys: &[&str]| env_name(keys))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        let mut root = Dict::new();
        for (name, value) in &self.vars {
            let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
                continue;
            };
            if name == CONFIG_FILE_VAR || rest.is_empty() {
                continue;
            }
            let keys: Vec<String> = rest
                .split(ENV_NESTING)
                .map(|k| k.to_ascii_lowercase())
                .collect();
            insert_nested(&mut root, &keys, Value::from(value.clone()))
                .map_err(|m| figment::Error::from(format!("{name}: {m}")))?;
        }
        Ok(Profile::Default.collect(root))
    }
}

fn insert_nested(dict: &mut Dict, keys: &[String], value: Value) -> Result<(), String> {
    match keys {
        [] => Ok(()),
        [last] => {
            dict.insert(last.clone(), value);
            Ok(())
        }
        [first, rest @ ..] => {
            let entry = dict
                .entry(first.clone())
                .or_insert_with(|| Value::from(Dict::new()));
            match entry {
                Value::Dict(_, inner) => insert_nested(inner, rest, value),
                _ => Err(format!(
                    "{first} is a single value, not a group of settings"
                )),
            }
        }
    }
}

/// The settings file, TOML, already known to parse.
struct FileProvider {
    path: PathBuf,
    text: String,
}

impl Provider for FileProvider {
    fn metadata(&self) -> Metadata {
        Metadata::from("settings file", Source::File(self.path.clone()))
    }

    fn data(&self) -> Result<Map<Profile, Dict>, figment::Error> {
        Toml::string(&self.text).data()
    }
}

fn de_socket_addr<'de, D: Deserializer<'de>>(de: D) -> Result<SocketAddr, D::Error> {
    let raw = String::deserialize(de)?;
    raw.parse().map_err(|_| {
        serde::de::Error::custom(format!(
            "expected an IP address and port such as 0.0.0.0:9000 or [::1]:9000, got {raw:?}"
        ))
    })
}

fn de_database_url<'de, D: Deserializer<'de>>(de: D) -> Result<Option<DatabaseUrl>, D::Error> {
    let raw = String::deserialize(de)?;
    if raw.is_empty() {
        return Ok(None);
    }
    DatabaseUrl::parse(&raw)
        .map(Some)
        .map_err(serde::de::Error::custom)
}

fn de_secret_key<'de, D: Deserializer<'de>>(de: D) -> Result<Option<Secret>, D::Error> {
    let raw = String::deserialize(de)?;
    if raw.is_empty() {
        return Ok(None);
    }
    if raw.chars().count() < MIN_SECRET_KEY_LEN {
        return Err(serde::de::Error::custom(format!(
            "expected at least {MIN_SECRET_KEY_LEN} characters of random text, got {}; \
             leave it unset to have one generated",
            raw.chars().count()
        )));
    }
    Ok(Some(Secret::new(raw)))
}

mod outpost;
pub use outpost::OutpostSettings;

#[cfg(test)]
mod tests;
