//! `gatehouse blueprint validate|apply|export`.

use std::path::{Path, PathBuf};

use gatehouse_config::Settings;
use gatehouse_config::blueprint::to_yaml;
use gatehouse_config::settings::DatabaseKind;
use gatehouse_core::blueprints::apply::{Action, ApplyOptions};
use gatehouse_core::blueprints::export::{ExportScope, export};
use gatehouse_core::storage::Store;

use super::{Outcome, Source, apply_source};
use crate::error::StartError;

/// Reads each file as a [`Source`] keyed by its absolute path.
fn read(file: &Path) -> Result<Source, String> {
    let text = std::fs::read_to_string(file)
        .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
    let key = std::path::absolute(file)
        .unwrap_or_else(|_| file.to_owned())
        .display()
        .to_string();
    Ok(Source {
        key,
        origin: file.display().to_string(),
        text,
    })
}

/// Prints what an outcome means; returns whether it succeeded.
fn report(file: &Path, outcome: &Outcome, dry_run: bool) -> bool {
    match outcome {
        Outcome::Applied(report) => {
            let note = if dry_run {
                " (dry run, nothing written)"
            } else {
                ""
            };
            println!("{}{note}: {}", file.display(), report.summary());
            for change in &report.changes {
                if !matches!(change.action, Action::Unchanged | Action::AlreadyAbsent) {
                    println!("  {change}");
                }
            }
            true
        }
        Outcome::Disabled => {
            println!("{}: empty, nothing to apply", file.display());
            true
        }
        Outcome::Failed(err) => {
            eprintln!("gatehouse: {err}");
            false
        }
    }
}

/// `validate`: every check apply makes, against the configured database in a
/// transaction that is rolled back. When the SQLite database does not exist yet, a
/// throwaway in-memory one stands in (nothing to find there, nothing created on disk).
pub async fn validate(settings: &Settings, files: &[PathBuf]) -> Result<bool, StartError> {
    let store = validation_store(settings).await?;
    let options = ApplyOptions {
        dry_run: true,
        ..ApplyOptions::default()
    };
    let mut ok = true;
    for file in files {
        let source = match read(file) {
            Ok(source) => source,
            Err(message) => {
                eprintln!("gatehouse: {message}");
                ok = false;
                continue;
            }
        };
        match apply_source(&store, &source, options).await {
            Outcome::Applied(report) => {
                println!(
                    "{}: valid ({} entries)",
                    file.display(),
                    report.changes.len()
                );
            }
            Outcome::Disabled => println!("{}: empty", file.display()),
            Outcome::Failed(err) => {
                eprintln!("gatehouse: {err}");
                ok = false;
            }
        }
    }
    store.close().await;
    Ok(ok)
}

async fn validation_store(settings: &Settings) -> Result<Store, StartError> {
    let url = settings.database_url();
    let missing_sqlite = url.kind() == DatabaseKind::Sqlite
        && sqlite_path(url.expose()).is_none_or(|path| !path.exists());
    if missing_sqlite {
        let store = Store::in_memory().await?;
        store.migrate().await?;
        return Ok(store);
    }
    crate::serve::open_store(settings).await
}

fn sqlite_path(url: &str) -> Option<PathBuf> {
    let rest = url
        .strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))?;
    let path = rest.split('?').next()?;
    (!path.is_empty() && path != ":memory:").then(|| PathBuf::from(path))
}

/// `apply [--dry-run]`: each file in its own transaction, in the order given.
pub async fn apply(
    settings: &Settings,
    files: &[PathBuf],
    dry_run: bool,
) -> Result<bool, StartError> {
    crate::serve::prepare_data_dir(&settings.data_dir)?;
    let store = crate::serve::open_store(settings).await?;
    let options = ApplyOptions {
        dry_run,
        ..ApplyOptions::default()
    };
    let mut ok = true;
    let mut wrote = false;
    for file in files {
        match read(file) {
            Ok(source) => {
                let outcome = apply_source(&store, &source, options).await;
                wrote |= !dry_run && matches!(&outcome, Outcome::Applied(r) if r.wrote_anything());
                ok &= report(file, &outcome, dry_run);
            }
            Err(message) => {
                eprintln!("gatehouse: {message}");
                ok = false;
            }
        }
    }
    if wrote {
        crate::outposts::hub::tell_replicas(&store).await;
    }
    store.close().await;
    Ok(ok)
}

/// `export [--flow SLUG]`: the blueprint on standard output.
pub async fn export_command(settings: &Settings, flow: Option<String>) -> Result<bool, StartError> {
    crate::serve::prepare_data_dir(&settings.data_dir)?;
    let store = crate::serve::open_store(settings).await?;
    let scope = match flow {
        Some(slug) => ExportScope::Flow(slug),
        None => ExportScope::All,
    };
    let result = export(&store, &scope).await;
    store.close().await;
    match result {
        Ok(blueprint) => {
            print!("{}", to_yaml(&blueprint));
            Ok(true)
        }
        Err(err) => {
            eprintln!("gatehouse: {err}");
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_paths_come_out_of_urls() {
        assert_eq!(
            sqlite_path("sqlite://./data/gatehouse.db"),
            Some(PathBuf::from("./data/gatehouse.db"))
        );
        assert_eq!(
            sqlite_path("sqlite:/var/lib/g.db?mode=rwc"),
            Some(PathBuf::from("/var/lib/g.db"))
        );
        assert_eq!(sqlite_path("sqlite::memory:"), None);
        assert_eq!(sqlite_path("postgres://x/y"), None);
    }
}
