//! Blueprints in the running server: the shipped defaults overlaid by the files of
//! the blueprints folder, applied at start and again whenever a file changes.
//!
//! A file is identified by its path relative to the folder; a folder file at the same
//! relative path as a shipped default (`default/default-brand.yaml`) replaces it, and
//! an empty one disables it. Each file applies in its own transaction, whole or not at
//! all, and is recorded as a blueprint instance. A file that disappears stops being
//! applied; what it made stays.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gatehouse_config::ProcessEnv;
use gatehouse_config::blueprint::{parse, shipped::SHIPPED};
use gatehouse_core::Timestamp;
use gatehouse_core::blueprints::apply::{ApplyError, ApplyOptions, Report, apply};
use gatehouse_core::secrets::hash_key;
use gatehouse_core::storage::Store;
use gatehouse_core::storage::blueprint_instances::{self, BlueprintInstance, InstanceStatus};
use time::OffsetDateTime;

use crate::shutdown::Shutdown;

pub mod cli;

/// How long the folder must stay quiet after a change before it is re-read: editors
/// and `kubectl` write a file in several steps.
const DEBOUNCE: Duration = Duration::from_millis(500);

/// One blueprint file to apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// Path relative to the blueprints folder (or of a shipped default).
    pub key: String,
    /// What errors name: the file's path, or `builtin:<key>`.
    pub origin: String,
    /// The YAML.
    pub text: String,
}

/// The shipped defaults overlaid by the folder's `*.yaml`/`*.yml` files, by key.
/// Hidden files and folders (`.git`, Kubernetes' `..data`) are skipped. A missing
/// folder means only the shipped defaults.
pub fn discover(dir: &Path) -> std::io::Result<Vec<Source>> {
    let mut sources: std::collections::BTreeMap<String, Source> = SHIPPED
        .iter()
        .map(|(key, text)| {
            (
                (*key).to_owned(),
                Source {
                    key: (*key).to_owned(),
                    origin: format!("builtin:{key}"),
                    text: (*text).to_owned(),
                },
            )
        })
        .collect();
    if dir.is_dir() {
        let mut files = Vec::new();
        walk(dir, &mut files)?;
        for path in files {
            let key = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let text = std::fs::read_to_string(&path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
            })?;
            sources.insert(
                key.clone(),
                Source {
                    key,
                    origin: path.display().to_string(),
                    text,
                },
            );
        }
    }
    Ok(sources.into_values().collect())
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        // metadata() follows symlinks, as ConfigMap mounts need.
        let meta = std::fs::metadata(&path)?;
        if meta.is_dir() {
            walk(&path, out)?;
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            out.push(path);
        }
    }
    Ok(())
}

/// Applies sources and remembers what it applied, so a re-scan applies only the files
/// whose content changed.
pub struct Applier {
    store: Store,
    options: ApplyOptions,
    /// Content hash of each key as last applied (or refused).
    applied: HashMap<String, String>,
}

/// The outcome of applying one source.
#[derive(Debug)]
pub enum Outcome {
    /// Applied; what changed.
    Applied(Report),
    /// The file is empty: it disables the shipped default of the same path.
    Disabled,
    /// Refused (nothing written), or the database failed.
    Failed(ApplyError),
}

impl Applier {
    /// An applier writing to `store`.
    pub fn new(store: Store, options: ApplyOptions) -> Self {
        Self {
            store,
            options,
            applied: HashMap::new(),
        }
    }

    /// Applies every source whose content differs from what was last applied under
    /// its key, and marks the keys that disappeared as orphaned.
    pub async fn apply_changed(&mut self, sources: &[Source]) {
        for source in sources {
            let hash = hash_key(&source.text);
            if self.applied.get(&source.key) == Some(&hash) {
                continue;
            }
            let outcome = apply_source(&self.store, source, self.options).await;
            log_outcome(source, &outcome);
            self.applied.insert(source.key.clone(), hash);
        }
        let gone: Vec<String> = self
            .applied
            .keys()
            .filter(|k| !sources.iter().any(|s| &s.key == *k))
            .cloned()
            .collect();
        for key in gone {
            self.applied.remove(&key);
            tracing::info!(blueprint = %key, "blueprint file removed; what it made stays");
            if let Err(err) = self.mark_orphaned(&key).await {
                tracing::warn!(blueprint = %key, error = %err, "cannot record the removal");
            }
        }
    }

    async fn mark_orphaned(&self, key: &str) -> Result<(), gatehouse_core::storage::StorageError> {
        let mut conn = self.store.acquire().await?;
        blueprint_instances::mark_orphaned(&mut conn, key).await?;
        Ok(())
    }
}

/// The current time, for the records blueprints write.
fn now() -> Timestamp {
    Timestamp::from_datetime(OffsetDateTime::now_utc())
}

/// Parses and applies one source in one transaction and records the instance (not in
/// a dry run).
pub async fn apply_source(store: &Store, source: &Source, options: ApplyOptions) -> Outcome {
    let now = now();
    let (name, result) = match parse(&source.origin, &source.text) {
        Ok(None) => return Outcome::Disabled,
        Ok(Some(blueprint)) => {
            let name = blueprint.metadata.name.clone();
            let result = apply(store, &source.origin, &blueprint, &ProcessEnv, options, now).await;
            (name, result)
        }
        Err(err) => (String::new(), Err(ApplyError::Invalid(err))),
    };
    if !options.dry_run {
        let instance = BlueprintInstance {
            path: source.key.clone(),
            name,
            content_hash: hash_key(&source.text),
            status: if result.is_ok() {
                InstanceStatus::Successful
            } else {
                InstanceStatus::Error
            },
            error: result
                .as_ref()
                .err()
                .map(ToString::to_string)
                .unwrap_or_default(),
            last_applied_at: now,
            created_at: now,
        };
        let recorded = match store.acquire().await {
            Ok(mut conn) => blueprint_instances::record(&mut conn, &instance).await,
            Err(err) => Err(err),
        };
        if let Err(err) = recorded {
            tracing::warn!(blueprint = %source.key, error = %err, "cannot record the blueprint instance");
        }
    }
    match result {
        Ok(report) => Outcome::Applied(report),
        Err(err) => Outcome::Failed(err),
    }
}

fn log_outcome(source: &Source, outcome: &Outcome) {
    match outcome {
        Outcome::Applied(report) if report.wrote_anything() => {
            for change in report.changes.iter().filter(|c| {
                !matches!(
                    c.action,
                    gatehouse_core::blueprints::apply::Action::Unchanged
                        | gatehouse_core::blueprints::apply::Action::AlreadyAbsent
                        | gatehouse_core::blueprints::apply::Action::Skipped
                )
            }) {
                tracing::debug!(blueprint = %source.key, "{change}");
            }
            tracing::info!(blueprint = %source.key, summary = %report.summary(), "applied blueprint");
        }
        Outcome::Applied(report) => {
            tracing::debug!(blueprint = %source.key, summary = %report.summary(), "blueprint unchanged");
        }
        Outcome::Disabled => {
            tracing::info!(blueprint = %source.key, "blueprint file is empty: disabled");
        }
        Outcome::Failed(err) => {
            tracing::error!(blueprint = %source.key, error = %err, "blueprint not applied");
        }
    }
}

/// Applies the sources of `dir` now, then again on every change until `stop`.
pub async fn run(mut applier: Applier, dir: PathBuf, stop: Shutdown) {
    match discover(&dir) {
        Ok(sources) => applier.apply_changed(&sources).await,
        Err(err) => {
            tracing::error!(folder = %dir.display(), error = %err, "cannot read the blueprints folder")
        }
    }
    if !dir.is_dir() {
        tracing::info!(
            folder = %dir.display(),
            "no blueprints folder; only the shipped defaults apply (set GATEHOUSE_BLUEPRINTS_DIR)"
        );
        return;
    }
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        // Every event only means "look again"; errors are reported the same way.
        let _ = events_tx.send(event.map(|_| ()));
    });
    let mut watcher = match watcher {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::error!(error = %err, "cannot watch the blueprints folder; changes need a restart");
            return;
        }
    };
    if let Err(err) = notify::Watcher::watch(&mut watcher, &dir, notify::RecursiveMode::Recursive) {
        tracing::error!(folder = %dir.display(), error = %err, "cannot watch the blueprints folder; changes need a restart");
        return;
    }
    tracing::info!(folder = %dir.display(), "watching blueprints");
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        tokio::select! {
            () = &mut stopped => return,
            event = events.recv() => {
                match event {
                    None => return,
                    Some(Err(err)) => tracing::warn!(error = %err, "blueprint watcher"),
                    Some(Ok(())) => {}
                }
                // Wait for the folder to go quiet.
                while let Ok(Some(_)) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
                match discover(&dir) {
                    Ok(sources) => applier.apply_changed(&sources).await,
                    Err(err) => tracing::error!(folder = %dir.display(), error = %err, "cannot read the blueprints folder"),
                }
            }
        }
    }
}
