//! Blueprints in the running server: the shipped defaults overlaid by the files of
//! the blueprints folder, applied at start and again whenever a file changes.
//!
//! A file is identified by its path relative to the folder; a folder file at the same
//! relative path as a shipped default (`default/20-default-brand.yaml`) replaces it, and
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

/// The shipped defaults overlaid by the folder's `*.yaml`/`*.yml` files: the
/// defaults' keys first, then the folder's others, each group by key.
/// Hidden files and folders (`.git`, Kubernetes' `..data`) are skipped. A missing
/// folder means only the shipped defaults. A file or folder that cannot be read is
/// logged and left out; the others still apply.
pub fn discover(dir: &Path) -> Vec<Source> {
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
        walk(dir, &mut files, 0);
        for path in files {
            let key = path
                .strip_prefix(dir)
                .unwrap_or(&path)
                .to_string_lossy()
                .into_owned();
            let text = match std::fs::read_to_string(&path) {
                Ok(text) => text,
                Err(err) => {
                    tracing::error!(file = %path.display(), error = %err, "cannot read blueprint; skipped");
                    continue;
                }
            };
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
    // The shipped defaults first: the folder's own files may `!Find` what they make
    // (flows, scope mappings), and would otherwise be refused on the first pass.
    let (mut ordered, rest): (Vec<Source>, Vec<Source>) = sources
        .into_values()
        .partition(|s| SHIPPED.iter().any(|(key, _)| *key == s.key));
    ordered.extend(rest);
    ordered
}

/// How deep sub-folders are followed: deep enough for any layout, and a symlink loop
/// ends here.
const MAX_DEPTH: usize = 16;

fn walk(dir: &Path, out: &mut Vec<PathBuf>, depth: usize) {
    let skip = |path: &Path, err: std::io::Error| {
        tracing::error!(path = %path.display(), error = %err, "cannot read blueprints; skipped");
    };
    if depth > MAX_DEPTH {
        skip(
            dir,
            std::io::Error::other("folders nested too deep (a symlink loop?)"),
        );
        return;
    }
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) => return skip(dir, err),
    };
    for entry in entries {
        let entry = match entry {
            Ok(entry) => entry,
            Err(err) => {
                skip(dir, err);
                continue;
            }
        };
        let path = entry.path();
        if !is_blueprint_path(&path) && !path.is_dir() || is_hidden(&path) {
            continue;
        }
        // metadata() follows symlinks, as ConfigMap mounts need.
        match std::fs::metadata(&path) {
            Ok(meta) if meta.is_dir() => walk(&path, out, depth + 1),
            Ok(_) => out.push(path),
            Err(err) => skip(&path, err),
        }
    }
}

fn is_hidden(path: &Path) -> bool {
    path.file_name()
        .is_some_and(|name| name.to_string_lossy().starts_with('.'))
}

fn is_blueprint_path(path: &Path) -> bool {
    path.extension()
        .is_some_and(|ext| ext == "yaml" || ext == "yml")
}

/// Applies sources and remembers what it applied, so a re-scan applies only the files
/// whose content changed.
pub struct Applier {
    store: Store,
    options: ApplyOptions,
    /// Content hash of each key as last applied (or refused).
    applied: HashMap<String, String>,
    /// Told when a pass wrote anything, for the outposts.
    hub: Option<crate::outposts::Hub>,
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
            hub: None,
        }
    }

    /// Tells `hub` whenever a pass writes anything: a blueprint can change what
    /// outposts enforce and whom they let in.
    pub fn telling(mut self, hub: crate::outposts::Hub) -> Self {
        self.hub = Some(hub);
        self
    }

    /// Applies every source whose content differs from what was last applied under
    /// its key, and marks the keys that disappeared as orphaned. A file refused while
    /// another applied in the same pass is tried again (it may `!Find` what the other
    /// made); one that failed on the database stays pending. Returns whether any
    /// source is pending a retry.
    pub async fn apply_changed(&mut self, sources: &[Source]) -> bool {
        let mut pending: Vec<&Source> = sources
            .iter()
            .filter(|s| self.applied.get(&s.key) != Some(&hash_key(&s.text)))
            .collect();
        let mut retry_later = false;
        let mut wrote = false;
        loop {
            let mut progressed = false;
            let mut refused = Vec::new();
            for source in pending {
                let outcome = apply_source(&self.store, source, self.options).await;
                match &outcome {
                    Outcome::Applied(_) | Outcome::Disabled => {
                        progressed = true;
                        wrote |= matches!(&outcome, Outcome::Applied(r) if r.wrote_anything());
                        self.applied
                            .insert(source.key.clone(), hash_key(&source.text));
                    }
                    Outcome::Failed(ApplyError::Invalid(_)) => refused.push(source),
                    Outcome::Failed(ApplyError::Storage(_)) => retry_later = true,
                }
                log_outcome(source, &outcome);
            }
            if !progressed || refused.is_empty() {
                // What is still refused waits for an edit.
                for source in refused {
                    self.applied
                        .insert(source.key.clone(), hash_key(&source.text));
                }
                break;
            }
            pending = refused;
        }
        if wrote && let Some(hub) = &self.hub {
            hub.publish(crate::outposts::Change::Config).await;
            hub.publish(crate::outposts::Change::Revocations).await;
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
        retry_later
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

/// How long to wait before trying again a file the database failed on.
const RETRY: Duration = Duration::from_secs(30);

/// Applies the sources of `dir` now, then again on every change until `stop`.
/// `first_pass` hears when the first pass is over (whatever its outcome).
pub async fn run(
    mut applier: Applier,
    dir: PathBuf,
    stop: Shutdown,
    first_pass: tokio::sync::oneshot::Sender<()>,
) {
    // Watch before the first scan, so an edit made meanwhile is not missed.
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let watcher = if dir.is_dir() {
        watch(&dir, events_tx)
    } else {
        tracing::info!(
            folder = %dir.display(),
            "no blueprints folder; only the shipped defaults apply (set GATEHOUSE_BLUEPRINTS_DIR)"
        );
        None
    };
    let mut pending = applier.apply_changed(&discover(&dir)).await;
    let _ = first_pass.send(());
    let Some(_watcher) = watcher else {
        while pending {
            tokio::time::sleep(RETRY).await;
            pending = applier.apply_changed(&discover(&dir)).await;
        }
        return;
    };
    tracing::info!(folder = %dir.display(), "watching blueprints");
    let stopped = stop.wait();
    tokio::pin!(stopped);
    loop {
        let retry = async {
            if pending {
                tokio::time::sleep(RETRY).await;
            } else {
                std::future::pending::<()>().await;
            }
        };
        tokio::select! {
            () = &mut stopped => return,
            () = retry => {}
            event = events.recv() => {
                if event.is_none() {
                    return;
                }
                // Wait for the folder to go quiet.
                while let Ok(Some(())) = tokio::time::timeout(DEBOUNCE, events.recv()).await {}
            }
        }
        tracing::debug!(folder = %dir.display(), "rescanning blueprints");
        pending = applier.apply_changed(&discover(&dir)).await;
    }
}

/// Starts watching `dir`; every change sends `()`, reads do not (each scan opens the
/// files, and must not trigger the next). Hidden paths count: Kubernetes updates a
/// mounted ConfigMap by swapping its `..data` link.
fn watch(
    dir: &Path,
    events: tokio::sync::mpsc::UnboundedSender<()>,
) -> Option<notify::RecommendedWatcher> {
    let handler = move |event: notify::Result<notify::Event>| match event {
        Ok(event) => {
            if !matches!(event.kind, notify::EventKind::Access(_)) {
                let _ = events.send(());
            }
        }
        Err(err) => tracing::warn!(error = %err, "blueprint watcher"),
    };
    let mut watcher = match notify::recommended_watcher(handler) {
        Ok(watcher) => watcher,
        Err(err) => {
            tracing::error!(error = %err, "cannot watch the blueprints folder; changes need a restart");
            return None;
        }
    };
    if let Err(err) = notify::Watcher::watch(&mut watcher, dir, notify::RecursiveMode::Recursive) {
        tracing::error!(folder = %dir.display(), error = %err, "cannot watch the blueprints folder; changes need a restart");
        return None;
    }
    Some(watcher)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_defaults_come_before_the_folders_own_files() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.yaml"), "version: 1\n").unwrap();
        std::fs::create_dir(dir.path().join("default")).unwrap();
        // Overriding a default keeps the default's place.
        std::fs::write(
            dir.path().join("default/20-default-brand.yaml"),
            "version: 1\n",
        )
        .unwrap();
        let keys: Vec<String> = discover(dir.path()).into_iter().map(|s| s.key).collect();
        let shipped: Vec<&str> = SHIPPED.iter().map(|(key, _)| *key).collect();
        assert_eq!(keys.len(), shipped.len() + 1, "{keys:?}");
        assert_eq!(&keys[..shipped.len()], shipped.as_slice());
        assert_eq!(keys.last().map(String::as_str), Some("app.yaml"));
        let brand = discover(dir.path())
            .into_iter()
            .find(|s| s.key == "default/20-default-brand.yaml")
            .unwrap();
        assert_eq!(brand.text, "version: 1\n");
    }
}
